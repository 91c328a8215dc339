"""Price paths for the engines from price-bar files (the crash windows in ``fixtures/prices``).

A bar file (``fixtures/prices/README.md``) has a Unix-seconds column (``unix_s``) and OHLC columns; the chosen
column (default ``close``) becomes the mark price of every tick. The path is checked by
:func:`toolkit.cex.io.load_prices` (strictly increasing timestamps on one regular step: a file with missing
bars, like the Gemini minutes, is refused naming the gap), and ``start`` / ``end`` (UTC, inclusive) cut a
window out of it.
"""

from __future__ import annotations

from datetime import datetime
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
             end: datetime | None = None) -> PricePath:
    """The ``column`` of the bar file at ``path`` as a mark-price path (module docstring)."""
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
    return load_prices(frame)[0]


def rekeyed(path: PricePath, symbol: str) -> PricePath:
    """The path's single series under ``symbol`` (the contract an engine run trades)."""
    if len(path.marks) != 1:
        raise UserInputError(f"prices: expected one price series, got {', '.join(path.marks)}")
    (series,) = path.marks.values()
    return PricePath(path.times, {symbol: series})
