"""``state_check`` of Aave v2, v3 and Spark ``LiquidationCall`` rows.

The Pool computes the collateral to seize from the debt repaid (the event's ``debtToCover``), the two
oracle prices, the two reserves' decimals and the collateral's liquidation bonus, capped by the
borrower's collateral balance, then (v3) splits off the liquidation protocol fee; the event's
``liquidatedCollateralAmount`` is what the liquidator got (docs/sources/aave.md#liquidation-collateral):

* v3 (``LiquidationLogic._calculateAvailableCollateralToLiquidate``, @aave/core-v3 1.19.3 L466-526):
  ``base = debtPrice x debtToCover x 10^collDec / (collPrice x 10^debtDec)`` (one division),
  ``max = percentMul(base, bonus)``; when ``max`` exceeds the balance, the balance is seized and the
  debt needed is ``percentDiv(collPrice x balance x 10^debtDec / (debtPrice x 10^collDec), bonus)``;
  fee = ``percentMul(seized - percentDiv(seized, bonus), protocolFee)``, the liquidator gets seized - fee;
* v2 (``LendingPoolCollateralManager._calculateAvailableCollateralToLiquidate``, @aave/protocol-v2
  1.0.1 L272-316): ``max = percentMul(debtPrice x debtToCover x 10^collDec, bonus) / (collPrice x
  10^debtDec)`` (the bonus applied before the division), the same cap, no fee.

The event's ``debtToCover`` is the debt actually repaid, so when the seizure was capped it is the debt
needed for the balance: both ways are tried (the uncapped one from ``debtToCover``, the capped one from
the balance) and the row is ``exact`` when one gives the event's two amounts and the health factor
before (``getUserAccountData``) is below 1. ``DeficitCreated`` rows carry no computation: ``unchecked``.

Inputs from the adapter: ``aave_version`` and ``collateral_balance`` (the borrower's aToken balance of the
collateral at the state read; None when it could not be read: the capped way is then not tried).
"""

from __future__ import annotations

from typing import Any

from toolkit.protocols.aave_fees import PERCENTAGE_FACTOR, percent_div, percent_mul, protocol_fee_of
from toolkit.protocols.checks import EXACT, MISMATCH, UNCHECKED, Check

WAD = 10**18


def percent_div_ceil(value: int, bps: int) -> int:
    """``PercentageMath.percentDivCeil`` (aave-v3-origin 3.6.0): value x 10000 / bps, rounded up."""
    return -(-value * PERCENTAGE_FACTOR // bps)


def seized_for_debt(debt: int, debt_price: int, coll_price: int, debt_decimals: int, coll_decimals: int,
                    bonus: int, version: int) -> int:
    """Collateral (base units, bonus included, fee not taken yet) the Pool seizes for ``debt``, uncapped."""
    if version >= 3:
        return percent_mul(debt_price * debt * 10**coll_decimals // (coll_price * 10**debt_decimals), bonus)
    return percent_mul(debt_price * debt * 10**coll_decimals, bonus) // (coll_price * 10**debt_decimals)


def debts_for_collateral(collateral: int, debt_price: int, coll_price: int, debt_decimals: int,
                         coll_decimals: int, bonus: int) -> tuple[int, int]:
    """Debt (base units) the Pool takes when it seizes the whole balance ``collateral``: rounded half up
    (``percentDiv``: v2, v3.0-3.3) and rounded up (``percentDivCeil``: aave-v3-origin 3.6.0)."""
    value = coll_price * collateral * 10**debt_decimals // (debt_price * 10**coll_decimals)
    return percent_div(value, bonus), percent_div_ceil(value, bonus)


def fee_of(collateral: int, bonus: int, fee_bps: int) -> int:
    """v3 liquidation protocol fee taken from ``collateral`` seized."""
    return protocol_fee_of(collateral, bonus, fee_bps) if fee_bps else 0


def check(row: dict[str, Any], inputs: dict[str, Any]) -> Check:
    """The row's check (module docstring)."""
    if row.get("event") != "LiquidationCall":
        return Check(UNCHECKED, f"{row.get('event')} records a write-off, not a computation from prices")
    try:
        debt, received = int(row["debt_repaid_raw"]), int(row["collateral_seized_raw"])
        debt_price, coll_price = int(row["debt_price_raw"]), int(row["collateral_price_raw"])
        debt_decimals, coll_decimals = int(row["debt_decimals"]), int(row["collateral_decimals"])
        bonus, fee_bps = int(row["liquidation_bonus_bps"]), int(row["protocol_fee_bps"] or 0)
        health = int(row["health_factor_before_raw"])
        version = int(inputs["aave_version"])
    except (KeyError, TypeError, ValueError):
        return Check(UNCHECKED, "prices, decimals, bonus or health factor were not read")
    if not (debt_price and coll_price and bonus):
        return Check(UNCHECKED, "an oracle price or the liquidation bonus is 0 at the state read")
    balance = inputs.get("collateral_balance")
    uncapped = seized_for_debt(debt, debt_price, coll_price, debt_decimals, coll_decimals, bonus, version)
    ways = [("from debtToCover", uncapped, debt)]
    if balance is not None:
        half_up, ceiling = debts_for_collateral(int(balance), debt_price, coll_price, debt_decimals, coll_decimals,
                                                bonus)
        ways += [("capped at the borrower's collateral balance", int(balance), half_up),
                 ("capped at the borrower's collateral balance (debt rounded up, v3.4+)", int(balance), ceiling)]
    what = (f"liquidatedCollateralAmount recomputed {'' if version >= 3 else 'with the v2 rounding '}from "
            f"prices {debt_price}/{coll_price}, decimals {debt_decimals}/{coll_decimals}, bonus {bonus} bps"
            + (f", protocol fee {fee_bps} bps" if fee_bps else ""))
    below_one = health < WAD
    for how, seized, debt_needed in ways:
        net = seized - fee_of(seized, bonus, fee_bps)
        if net == received and debt_needed == debt:
            if below_one:
                return Check(EXACT, f"{what}, {how}; health factor before {health} < 1e18", net, received)
            return Check(MISMATCH, f"{what}, {how}: amounts exact, but the health factor before is {health} "
                                   ">= 1e18 (the position was not liquidatable at the state read)", net, received)
    net = uncapped - fee_of(uncapped, bonus, fee_bps)
    note = "" if below_one else f"; health factor before {health} >= 1e18"
    if balance is not None and uncapped > int(balance):
        capped_debt = ways[1][2]
        seized = int(balance)
        net = seized - fee_of(seized, bonus, fee_bps)
        return Check(MISMATCH, f"{what}, capped at the balance {balance}: {net} received for debt {capped_debt}, "
                               f"the event says {received} for debt {debt}{note}", net, received)
    return Check(MISMATCH, f"{what}, {ways[0][0]}: {net}, the event says {received}{note}", net, received)
