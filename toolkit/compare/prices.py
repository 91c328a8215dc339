"""Price paths for the engines from price-bar files (the crash windows in ``fixtures/prices``).

A bar file (``fixtures/prices/README.md``) has a Unix-seconds column (``unix_s``) and OHLC columns; the chosen
column (default ``close``) becomes the mark price of every tick. The path is checked by
:func:`toolkit.cex.io.load_prices` (strictly increasing timestamps on one regular step: a file with missing
bars, like the Gemini minutes, is refused naming the gap), and ``start`` / ``end`` (UTC, inclusive) cut a
window out of it.

The engines only see the marks of the path's ticks: a move between two ticks is a gap, and a gap past a
position's bankruptcy price is a shortfall (docs/cex.md, "Fill prices"). Hourly bars therefore turn most
liquidations of a fast crash into shortfalls. ``steps_per_bar = n`` inserts ``n - 1`` ticks between two bars,
on the straight line between their prices (exact ``Decimal`` arithmetic): an assumption about the path between
bars, stated with every result that uses it.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pandas as pd

from toolkit.cex import PricePath
from toolkit.cex.io import load_prices
from toolkit.errors import UserInputError

#: Symbol the path's single series is stored under until an engine run re-keys it to a venue contract.
PATH_SYMBOL = "PATH"


def _utc(moment: datetime) -> pd.Timestamp:
    stamp = pd.Timestamp(moment)
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def bar_path(path: str | Path, *, column: str = "close", start: datetime | None = None,
             end: datetime | None = None, steps_per_bar: int = 1) -> PricePath:
    """The ``column`` of the bar file at ``path`` as a mark-price path, ``steps_per_bar`` ticks per bar
    (module docstring)."""
    try:
        bars = pd.read_csv(path, dtype=str, keep_default_na=False)
    except FileNotFoundError:
        raise UserInputError(f"prices: file {path} not found") from None
    for needed in ("unix_s", column):
        if needed not in bars.columns:
            raise UserInputError(f"prices: {path} has no column {needed!r} (have {', '.join(bars.columns)})")
    stamps = pd.to_datetime(bars["unix_s"].astype("int64"), unit="s", utc=True)
    keep = pd.Series(True, index=bars.index)
    if start is not None:
        keep &= stamps >= _utc(start)
    if end is not None:
        keep &= stamps <= _utc(end)
    if not keep.any():
        raise UserInputError(f"prices: {path} has no bars between {start} and {end}")
    frame = pd.DataFrame({"timestamp": bars.loc[keep, "unix_s"], "mark_price": bars.loc[keep, column],
                          "symbol": PATH_SYMBOL})
    return interpolated(load_prices(frame)[0], steps_per_bar)


def interpolated(path: PricePath, steps: int) -> PricePath:
    """``path`` with ``steps - 1`` ticks inserted between consecutive ticks on the straight line between them."""
    if steps < 1:
        raise UserInputError(f"prices: steps per bar must be at least 1, got {steps}")
    if steps == 1 or len(path.times) < 2:
        return path
    step = path.times[1] - path.times[0]
    if step % timedelta(microseconds=steps):
        raise UserInputError(f"prices: a step of {step} cannot be cut into {steps} equal ticks")
    times = [path.times[0] + step * k // steps for k in range((len(path.times) - 1) * steps + 1)]
    marks = {}
    for symbol, series in path.marks.items():
        points = [a + (b - a) * k / steps for a, b in zip(series, series[1:]) for k in range(steps)]
        marks[symbol] = (*points, series[-1])
    return PricePath(tuple(times), marks)


def rekeyed(path: PricePath, symbol: str) -> PricePath:
    """The path's single series under ``symbol`` (the contract an engine run trades)."""
    if len(path.marks) != 1:
        raise UserInputError(f"prices: expected one price series, got {', '.join(path.marks)}")
    (series,) = path.marks.values()
    return PricePath(path.times, {symbol: series})
