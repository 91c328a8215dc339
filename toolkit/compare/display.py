"""Numbers and images as a reader sees them in a report: rounded for display, embedded in the page.

The CSV files next to a report keep the exact values; what a page shows is rounded once, here, by one rule
(:func:`display_number`): whole numbers as they are, other amounts to two decimals with thousands separators,
values below 1 to four significant digits. ``19471.61760984617166`` shows as ``19,471.62``; ``0E-8`` as ``0``.
"""

from __future__ import annotations

import base64
import math
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

#: Media types of the figure formats a page embeds.
MEDIA_TYPES = {".png": "image/png", ".svg": "image/svg+xml", ".pdf": "application/pdf", ".jpg": "image/jpeg"}


def _decimal(value: Any) -> Decimal | None:
    """``value`` as a finite Decimal when it is a number or the text of one (not a bool, not a hash)."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, int | float | Decimal):
        return Decimal(str(value)) if isinstance(value, float) else Decimal(value)
    text = str(value).strip()
    if not text or text.lower().startswith(("0x", "nan", "inf", "-inf", "+inf")) or any(c.isalpha() and c not in "eE"
                                                                                         for c in text):
        return None
    try:
        number = Decimal(text)
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def display_number(value: Any) -> str:
    """``value`` rounded for reading (module docstring); text that is not a number is returned as it is."""
    number = _decimal(value)
    if number is None:
        return "" if value is None or (isinstance(value, float) and math.isnan(value)) else str(value)
    if number == number.to_integral_value():
        return f"{int(number)}"
    if abs(number) >= 1:
        return f"{number:,.2f}"
    digits = max(0, 3 - number.adjusted())  # four significant digits below 1
    return f"{number:.{digits}f}".rstrip("0").rstrip(".")


def display_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` with every number (or text of one) rounded for display; other cells unchanged."""
    return frame.apply(lambda column: column.map(display_number)).astype(object)


def html_table(frame: pd.DataFrame, **kwargs: Any) -> str:
    """``frame`` as an HTML table with its numbers rounded for display (:func:`display_frame`), numbers
    right-aligned by the page's CSS class ``data``."""
    return display_frame(frame).to_html(index=False, border=0, classes="data", na_rep="", escape=True, **kwargs)


def data_uri(path: str | Path) -> str:
    """The file at ``path`` as a ``data:`` URI, so a page that shows it is one file to send."""
    path = Path(path)
    media = MEDIA_TYPES.get(path.suffix.lower(), "application/octet-stream")
    return f"data:{media};base64,{base64.b64encode(path.read_bytes()).decode('ascii')}"
