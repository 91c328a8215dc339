"""Leverage and the adverse price move to liquidation: the lending formulas, and the perpetual through the
venue engine's own solver.

Lending position (exact, :class:`fractions.Fraction`)
------------------------------------------------------
Collateral value ``C``, debt ``D`` (the debt asset's price held fixed), liquidation threshold ``LT``: the share
of the collateral value that may be owed before the position is liquidatable. Every protocol's native
parameter is this share or its inverse (docs/sources/store.md#common-axis:
maintenance margin <-> LT / liquidate CF / ``1/mat`` / MCR / LLTV).

* health factor ``HF = C x LT / D``, liquidatable below 1 (Aave ``getUserAccountData``,
  docs/sources/levels.md#health-factor);
* leverage ``L = C / (C - D)`` (exposure per unit of own capital), so ``D = C (1 - 1/L)``;
* adverse move: the fall ``d`` of the collateral price that brings ``HF`` to 1,
  ``C (1 - d) LT = D``  =>  ``d = 1 - (1 - 1/L) / LT``  (DERIVED from the two lines above);
* maximum leverage: a position may be opened (or looped) up to the borrow limit ``b`` (Aave LTV; Morpho LLTV,
  Compound collateral factor, Liquity MCR and Maker ``mat`` are both borrow limit and threshold):
  ``D <= b C``  =>  ``L <= 1 / (1 - b)``  (DERIVED). At that leverage ``d = 1 - b / LT``.

Assumptions: one collateral asset whose price moves, debt price fixed, no interest accrues, the oracle price
is the price.

Perpetual (exact, :class:`decimal.Decimal`)
-------------------------------------------
An isolated long at leverage ``L`` is quoted with :func:`toolkit.cex.quote_account` (the solver of
``toolkit.cex.liquidation``, docs/sources/venues.md#common-definitions); the adverse move is ``1 - LP / E`` with
the exact (unrounded) liquidation price ``LP`` and entry ``E``. Nothing is re-derived here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from fractions import Fraction

from toolkit.cex import AccountSpec, MarginMode, PositionSpec, load_venue, quote_account
from toolkit.cex.instruments import LONG, Kind
from toolkit.cex.margin import TierUnit
from toolkit.cex.tiers import RiskTier
from toolkit.compare.contracts import VenueContract, venue_era
from toolkit.errors import UserInputError

#: The common grid of leverages every comparison reports.
LEVERAGE_GRID: tuple[int, ...] = (2, 3, 5, 10, 20)


def lending_leverage(collateral: Fraction, debt: Fraction) -> Fraction | None:
    """``C / (C - D)``; ``None`` when the position has no equity left (``D >= C``)."""
    return None if debt >= collateral else collateral / (collateral - debt)


def lending_max_leverage(borrow_limit: Fraction) -> Fraction | None:
    """``1 / (1 - b)``; ``None`` when ``b >= 1`` (no bound)."""
    return None if borrow_limit >= 1 else 1 / (1 - borrow_limit)


def lending_adverse_move(leverage: Fraction, threshold: Fraction) -> Fraction:
    """``1 - (1 - 1/L) / LT``: the collateral price fall that brings the health factor to 1.

    Negative when the position is already liquidatable at that leverage (``L > 1 / (1 - LT)``).
    """
    if threshold <= 0:
        raise ValueError(f"liquidation threshold must be positive, got {threshold}")
    return 1 - (1 - 1 / Fraction(leverage)) / threshold


@dataclass(frozen=True)
class PerpMove:
    """An isolated long quoted by the venue engine: tier, its rates, and the adverse move to liquidation."""

    venue: str
    symbol: str
    era: str
    era_in_force: bool
    tier: int | None
    maintenance_rate: Decimal
    max_leverage: Decimal
    leverage: Decimal
    entry_price: Decimal
    liquidation_price: Decimal | None
    adverse_move: Decimal | None


def position_size(contract: VenueContract, tier: RiskTier | None, price: Decimal, notional: Decimal) -> Decimal:
    """Contracts of a long at ``price`` whose tier size is the tier's upper bound (the largest position of the
    tier), or worth ``notional`` quote units when the tier is unbounded; rounded down to the lot, at least one.

    Tier sizes are settlement-currency values (``value = qty x cv / P`` inverse, ``qty x cv x P`` otherwise) or
    contracts (:class:`toolkit.cex.margin.TierUnit`).
    """
    profile = load_venue(contract.venue)
    instrument = profile.instrument(contract.symbol).instrument
    cv = instrument.contract_value
    if tier is not None and tier.max_size is not None:
        if profile.rules.margin.tier_unit is TierUnit.CONTRACTS:
            qty = tier.max_size
        elif instrument.kind is Kind.INVERSE:
            qty = tier.max_size * price / cv
        else:
            qty = tier.max_size / (cv * price)
    elif instrument.kind is Kind.INVERSE:
        qty = notional / cv
    elif instrument.kind is Kind.QUANTO:
        qty = notional / price
    else:
        qty = notional / (cv * price)
    return max(instrument.floor_lots(qty), instrument.lot_size)


def perp_adverse_move(contract: VenueContract, leverage: Decimal | None, *, moment: datetime,
                      tier_number: int = 1, price: Decimal = Decimal(10_000), notional: Decimal = Decimal(10_000),
                      funding_rate: Decimal = Decimal(0)) -> PerpMove:
    """Quote an isolated long in tier ``tier_number`` of ``contract`` at ``moment`` (its era, see
    :func:`toolkit.compare.contracts.venue_era`) with ``leverage`` (``None``: the tier's maximum).

    The position is the largest of its tier (:func:`position_size`) at ``price``; within a tier without a
    maintenance amount the move depends on neither. ``adverse_move`` is ``None`` when the leverage is above the
    tier's maximum or no liquidation price exists. ``funding_rate`` is the next funding rate (BitMEX adds what
    the side pays to the maintenance rate, docs/sources/venues.md#bitmex-initial-and-maintenance-margin).
    """
    profile = load_venue(contract.venue)
    era, in_force = venue_era(profile, contract.symbol, moment)
    if not era.tiers:
        raise UserInputError(f"{contract.venue} {contract.symbol} has no tier table in era {era.name}; "
                             "choose another symbol")
    try:
        tier = era.tiers[tier_number - 1]
    except IndexError:
        raise UserInputError(f"{contract.venue} {contract.symbol} has {len(era.tiers)} tiers in era {era.name}, "
                             f"not {tier_number}") from None
    chosen = tier.max_leverage if leverage is None else Decimal(leverage)
    size = position_size(contract, tier, price, notional)
    base = PerpMove(contract.venue, contract.symbol, era.name, in_force, tier.number, tier.maintenance_rate,
                    tier.max_leverage, chosen, price, None, None)
    if chosen * tier.initial_rate > 1:
        return base
    account = AccountSpec("quote", MarginMode.ISOLATED, Decimal(0),
                          (PositionSpec(contract.symbol, LONG, size, price, chosen),))
    quote = quote_account(profile, account, lambda name: name, funding_rate=funding_rate, era=era.name).positions[0]
    lp = quote.liquidation_price_exact
    return PerpMove(contract.venue, contract.symbol, era.name, in_force, quote.liquidation_tier or tier.number,
                    quote.maintenance_rate, tier.max_leverage, chosen, price, lp,
                    None if lp is None else 1 - lp / price)
