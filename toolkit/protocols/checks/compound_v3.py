"""``state_check`` of Compound v3 (Comet) absorb rows.

``absorbInternal`` values each seized collateral at the market's price feed before it emits
``AbsorbCollateral(absorber, borrower, asset, collateralAbsorbed, usdValue)``, with ``usdValue =
mulPrice(collateralAbsorbed, getPrice(priceFeed), scale) = amount x price / scale`` (truncating; 8-decimal
prices, ``scale`` = 10^asset decimals; compound-finance/comet ``contracts/Comet.sol``;
docs/sources/compound.md#comet-absorb). A collateral row (``collateral_seized_value_raw`` = that
``usdValue``) is ``exact`` when its amount times the price read, over the scale, gives it. The base leg
(``AbsorbDebt``) is split over the rows of one absorb, so it is not checked per row; an absorb without
collateral is ``unchecked``.
"""

from __future__ import annotations

from typing import Any

from toolkit.protocols.checks import EXACT, MISMATCH, UNCHECKED, Check


def check(row: dict[str, Any], inputs: dict[str, Any]) -> Check:
    """The row's check (module docstring)."""
    if row.get("collateral_asset") is None:
        return Check(UNCHECKED, "absorb without collateral: AbsorbDebt is split over rows, nothing to recompute")
    try:
        amount, value = int(row["collateral_seized_raw"]), int(row["collateral_seized_value_raw"])
        price, decimals = int(row["collateral_price_raw"]), int(row["collateral_decimals"])
    except (KeyError, TypeError, ValueError):
        return Check(UNCHECKED, "the collateral's price or scale was not read")
    expected = amount * price // 10**decimals
    what = f"AbsorbCollateral usdValue = {amount} x price {price} / 1e{decimals}"
    if expected == value:
        return Check(EXACT, f"{what} = {value}", expected, value)
    return Check(MISMATCH, f"{what} = {expected}, the event says {value}", expected, value)
