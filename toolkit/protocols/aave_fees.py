"""Aave v3 percentage math and the liquidation protocol fee, exact integers.

* ``PercentageMath.percentMul`` / ``percentDiv``: bps with 10000 = 100 %, rounded half up
  (docs/sources/aave.md#aave-percentage-math; the same in v3.0 and v3.6).
* The protocol fee is a share (``liquidationProtocolFee``, bps, the collateral reserve's configuration
  bits 152-167) of the *bonus* part of the collateral seized: with ``total`` seized,
  ``bonus = total - percentDiv(total, liquidationBonus)`` and ``fee = percentMul(bonus, feeBps)``; the
  liquidator receives ``total - fee`` (the ``LiquidationCall`` amount) and the treasury the fee, as
  aTokens (docs/sources/aave.md#aave-v3-protocol-fee). v3.0 and v3.6 compute it the same way; v3.6 may lower
  the fee by a unit when the borrower's scaled aToken balance is smaller than the fee's scaled amount.
* ``liquidationBonus`` is the reserve's, or the e-mode category's when the e-mode applies to the
  collateral (:mod:`toolkit.protocols.aave_rules`), so e-mode rows carry the category's bonus here too.
"""

from __future__ import annotations

#: PercentageMath: 100.00 % in bps.
PERCENTAGE_FACTOR = 10_000


def percent_mul(value: int, bps: int) -> int:
    """``PercentageMath.percentMul``: value x bps / 10000, rounded half up."""
    return (value * bps + PERCENTAGE_FACTOR // 2) // PERCENTAGE_FACTOR


def percent_div(value: int, bps: int) -> int:
    """``PercentageMath.percentDiv``: value x 10000 / bps, rounded half up."""
    return (value * PERCENTAGE_FACTOR + bps // 2) // bps


def protocol_fee_of(total_collateral: int, bonus_bps: int, fee_bps: int) -> int:
    """Protocol fee taken from ``total_collateral`` seized:
    ``percentMul(total - percentDiv(total, bonus), fee)``."""
    return percent_mul(total_collateral - percent_div(total_collateral, bonus_bps), fee_bps)


def seized_with_bonus(debt_raw: int, debt_price: int, debt_decimals: int, collateral_price: int,
                      collateral_decimals: int, bonus_bps: int) -> int | None:
    """Collateral (base units) the pool seizes for ``debt_raw`` repaid, before the fee and any cap by the
    borrower's balance: ``percentMul(debtPrice x debt x 10^collDec / (collPrice x 10^debtDec), bonus)``
    (``_calculateAvailableCollateralToLiquidate``); None without a collateral price."""
    if not collateral_price:
        return None
    base = (debt_price * debt_raw * 10**collateral_decimals) // (collateral_price * 10**debt_decimals)
    return percent_mul(base, bonus_bps)


def protocol_fee_from_event(received: int, bonus_bps: int, fee_bps: int, total_hint: int | None = None) -> int:
    """The v3 protocol fee, given what the liquidator received (the event amount).

    The contract seizes ``total`` and emits ``received = total - fee(total)``. ``total_hint`` is the
    contract's own computation of ``total`` from prices and the debt repaid (:func:`seized_with_bonus`);
    it is used when it reproduces ``received`` exactly. Otherwise (the seizure was capped by the
    borrower's balance, or prices moved within the block) ``total`` is recovered from ``received`` alone
    by the fixed-point iteration ``total = received + fee(total)``, which converges in a few steps because
    the fee is a small fraction of the total; where two totals one unit apart both fit, the smaller is
    taken (the fee is then uncertain by one base unit).
    """
    if fee_bps == 0:
        return 0
    if total_hint is not None and total_hint - protocol_fee_of(total_hint, bonus_bps, fee_bps) == received:
        return protocol_fee_of(total_hint, bonus_bps, fee_bps)
    total = received
    for _ in range(64):
        following = received + protocol_fee_of(total, bonus_bps, fee_bps)
        if following == total:
            break
        total = following
    for candidate in (total - 1, total, total + 1):
        if candidate - protocol_fee_of(candidate, bonus_bps, fee_bps) == received:
            return protocol_fee_of(candidate, bonus_bps, fee_bps)
    return protocol_fee_of(total, bonus_bps, fee_bps)
