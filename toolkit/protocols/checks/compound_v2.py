"""``state_check`` of Compound v2 and Venus ``LiquidateBorrow`` rows.

``liquidateBorrow`` accrues interest on both markets, then the Comptroller's
``liquidateCalculateSeizeTokens(cTokenBorrowed, cTokenCollateral, repayAmount)`` gives the cTokens seized
(docs/sources/compound.md#seize-tokens; ``ComptrollerLens.sol`` L47-L86 of
@venusprotocol/venus-protocol 9.2.0, the same arithmetic as compound-protocol ``Comptroller.sol``):
``seizeTokens = (incentive x priceBorrowed / 1e18) x 1e18 / (priceCollateral x exchangeRate / 1e18) x
repayAmount / 1e18``, truncating at each step, with the collateral's exchange rate after the accrual
(the adapter's ``collateral_exchange_rate_raw``: ``exchangeRateStored`` at the state read accrued to the
liquidation's block). The row is ``exact`` when that equals the event's ``seizeTokens``. The health
factor is not part of the check: Venus forced liquidations and deprecated Compound markets liquidate
healthy positions.
"""

from __future__ import annotations

from typing import Any

from toolkit.protocols.checks import EXACT, MISMATCH, UNCHECKED, Check

MANTISSA = 10**18


def seize_tokens(repay: int, incentive: int, price_borrowed: int, price_collateral: int, rate: int) -> int:
    """``liquidateCalculateSeizeTokens``: cTokens seized for ``repay`` (0 when a price or the rate is 0)."""
    numerator = incentive * price_borrowed // MANTISSA
    denominator = price_collateral * rate // MANTISSA
    return (numerator * MANTISSA // denominator) * repay // MANTISSA if denominator else 0


def check(row: dict[str, Any], inputs: dict[str, Any]) -> Check:
    """The row's check (module docstring)."""
    try:
        repay, seized = int(row["debt_repaid_raw"]), int(row["collateral_token_seized_raw"])
        incentive = int(row["liquidation_incentive_raw"])
        debt_price, coll_price = int(row["debt_price_raw"]), int(row["collateral_price_raw"])
        rate = int(row["collateral_exchange_rate_raw"])
    except (KeyError, TypeError, ValueError):
        return Check(UNCHECKED, "prices, incentive or exchange rate were not read")
    expected = seize_tokens(repay, incentive, debt_price, coll_price, rate)
    what = (f"liquidateCalculateSeizeTokens with prices {debt_price}/{coll_price}, incentive {incentive}, exchange "
            f"rate {rate} (accrued to block {row['block_number']})")
    if expected == seized:
        return Check(EXACT, f"{what} gives seizeTokens {seized}", expected, seized)
    return Check(MISMATCH, f"{what} gives {expected} cTokens, the event {seized}", expected, seized)
