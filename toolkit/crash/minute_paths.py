"""Crash paths from 1-minute bars: a step every minute where the crash happens, every hour elsewhere.

2025-10-10 has 1-minute bars of both assets in ``fixtures/prices`` (Gemini BTCUSD and ETHUSD, aggregated from
every trade of the day; sources in ``fixtures/prices/README.md``). An hourly close hides that day's wick (ETH: hourly
closes 3,829-4,370 on Binance, the Gemini minutes down to 3,681 at 21:14 UTC), so the replay's default path is
built from the minutes (:func:`minute_paths`):

* steps: every hour (``hh:00``) of the window, and every minute of the dense window (default 20:00-22:30 UTC: the
  cascade from about 20:50 and the rebound), both bounds inclusive, on one time grid for both assets;
* the price at a step is the last close at that time: the close of the bar of the minute before (a bar closes when
  its minute ends), USD per coin, quantized to 1e-8 USD like every path price; a minute without a trade has no bar
  and keeps the last close (no trade, no new price), and a step before the first bar's start takes that bar's open.

Volume, highs and lows are not used: the oracles and the engines see one price per step, as with hourly closes.
The steps are irregular (hours, then minutes), which the oracle driver and the engines accept: every step is one
oracle update and one engine tick at its time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pandas as pd

from toolkit.cex import PricePath
from toolkit.compare.prices import PATH_SYMBOL
from toolkit.errors import UserInputError

MINUTE = timedelta(minutes=1)
HOUR = timedelta(hours=1)


@dataclass(frozen=True)
class MinuteBars:
    """The 1-minute files of one day (``files``: asset -> file name in the price directory), the day's first
    minute, and the default dense window (both bounds inclusive, minute starts)."""

    files: dict[str, str]
    day: datetime
    dense: tuple[datetime, datetime]

    @property
    def window(self) -> tuple[datetime, datetime]:
        """The whole day: 00:00 to 23:59 UTC."""
        return self.day, self.day + timedelta(days=1) - MINUTE


def step_times(start: datetime, end: datetime, dense: tuple[datetime, datetime]) -> tuple[datetime, ...]:
    """Every ``hh:00`` in ``[start, end]`` and every minute of ``dense`` inside it, with ``start`` and ``end``
    themselves, ascending."""
    times = {start, end}
    hour = start.replace(minute=0, second=0, microsecond=0)
    while hour <= end:
        if hour >= start:
            times.add(hour)
        hour += HOUR
    minute = max(start, dense[0])
    while minute <= min(end, dense[1]):
        times.add(minute)
        minute += MINUTE
    return tuple(sorted(times))


def _closes(path: Path) -> pd.Series:
    """The file's closes by the time they were the last price (the end of their minute, UTC), exact decimal
    strings; the first bar's open at its start."""
    try:
        bars = pd.read_csv(path, dtype=str, keep_default_na=False)
    except FileNotFoundError:
        raise UserInputError(f"prices: file {path} not found") from None
    for needed in ("unix_s", "open", "close"):
        if needed not in bars.columns:
            raise UserInputError(f"prices: {path} has no column {needed!r}")
    starts = pd.to_datetime(bars["unix_s"].astype("int64"), unit="s", utc=True)
    closes = pd.Series(bars["close"].to_numpy(), index=starts + MINUTE).sort_index()
    first = int(starts.to_numpy().argmin())
    return pd.concat([pd.Series([bars["open"].iloc[first]], index=[starts.iloc[first]]), closes])


def minute_paths(directory: Path, bars: MinuteBars, *, start: datetime | None = None, end: datetime | None = None,
                 quantum: Decimal = Decimal("1e-8")) -> dict[str, PricePath]:
    """The path of every asset of ``bars`` on :func:`step_times` of ``[start, end]`` (default the whole day;
    module docstring)."""
    first, last = bars.window
    start, end = start or first, end or last
    if start.tzinfo is None or end.tzinfo is None:
        raise UserInputError("--start/--end: give times in UTC (for example 2025-10-10T20:00Z)")
    if not first <= start < end <= last:
        raise UserInputError(f"--start/--end: the 1-minute bars cover {first:%Y-%m-%d %H:%M} .. {last:%H:%M} UTC; got "
                             f"{start:%Y-%m-%d %H:%M} .. {end:%Y-%m-%d %H:%M}")
    times = step_times(start, end, bars.dense)
    paths = {}
    for asset, name in bars.files.items():
        closes = _closes(directory / name)
        at = closes.reindex(closes.index.union(pd.DatetimeIndex(times))).ffill().bfill().loc[list(times)]
        series = tuple(Decimal(str(value)).quantize(quantum) for value in at.to_numpy())
        paths[asset] = PricePath(times, {PATH_SYMBOL: series})
    return paths
