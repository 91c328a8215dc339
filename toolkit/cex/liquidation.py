"""Liquidation and bankruptcy prices, partial-liquidation sizes, fill prices.

The documented model (docs/sources/venues.md#bitmex-liquidation-price: BitMEX defines the liquidation price as the
mark price "where only maintenance margin remains" and the bankruptcy price as where margin is zero,
https://testnet.bitmex.com/app/liquidationExamples ). BitMEX never published a closed form, so this module
solves that definition exactly for the one position whose price moves:

    collateral + PnL(P) = other_requirement + rate * value(basis price) - amount

* ``collateral``: isolated margin, or for cross margin the wallet plus the other positions' unrealised PnL
  at their marks (Binance's ``WB + UPNL_1``, docs/sources/venues.md#binance-liquidation-price);
* ``other_requirement``: 0, or for cross margin the other positions' maintenance margin (``TMM_1``);
* ``rate``: effective maintenance rate (:meth:`MarginRules.effective_rate`), ``amount``: maintenance amount;
* ``value(basis price)``: the entry value (BitMEX, Bybit) or the value at ``P`` (Binance, dYdX, Hyperliquid).

With ``rate = amount = other_requirement = 0`` the same equation gives the bankruptcy price.

Assumption, stated as the issue asks: for BitMEX this *is* the fitted model of
docs/sources/venues.md#bitmex-liquidation-price —
isolated inverse ``LP_long = E / (1 + 1/L - b)``, ``LP_short = E / (1 - 1/L + b)``, ``b = MMR + max(0, funding
paid by the side)``, no taker-fee term — which reproduces the three BitMEX UI values recorded in
binares/uxs:uxs/base/wrappers/bitmex.py; the same equation gives BitMEX's linear cross example (510 / 500,
https://www.bitmex.com/app/isolatedMarginExamples), Binance's formula
(docs/sources/venues.md#binance-liquidation-price), Bybit's (docs/sources/venues.md#bybit-liquidation-price), dYdX's
(docs/sources/venues.md#dydx-v4-liquidation) and
Hyperliquid's (docs/sources/venues.md#hyperliquid-liquidations). It is continuous: the booked values are rounded to
satoshis, so at the exact price the
booked equity and requirement agree to within one base unit per contract for inverse contracts.

Prices are then rounded to the tick (:meth:`Instrument.round_price`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from toolkit.cex.instruments import ZERO, Instrument, Kind, PriceRounding
from toolkit.cex.margin import MarginBasis, MarginRules, Requirement
from toolkit.cex.tiers import RiskTier, tier_for_size


def price_terms(inverse: bool, basis: MarginBasis, side: Any, qty_cv: Any, entry_value: Any, collateral: Any,
                other_requirement: Any, rate: Any, amount: Any) -> tuple[Any, Any]:
    """Numerator and denominator of the price solving the module equation.

    Written with arithmetic operators only so that it runs on ``Decimal`` scalars and, element-wise, on numpy
    arrays (the vectorized engine). ``qty_cv`` is ``qty * contract_value``; ``side`` is +1/-1.

    Linear/quanto (value = qty_cv * P):
      entry basis ``P = (s * (D + r V - A - C) + V) / qty_cv``; mark basis ``P = (D - A - C + s V) / ((s - r) qty_cv)``.
    Inverse (value = qty_cv / P):
      entry basis ``P = s qty_cv / (C - D + A + (s - r) V)``; mark basis ``P = (s + r) qty_cv / (C - D + A + s V)``.
    """
    c, d, r, a, v, s = collateral, other_requirement, rate, amount, entry_value, side
    if not inverse:
        if basis is MarginBasis.ENTRY:
            return s * (d + r * v - a - c) + v, qty_cv
        return d - a - c + s * v, (s - r) * qty_cv
    if basis is MarginBasis.ENTRY:
        return s * qty_cv, c - d + a + (s - r) * v
    return (s + r) * qty_cv, c - d + a + s * v


def solve_price(instrument: Instrument, basis: MarginBasis, side: int, qty: Decimal, entry_value: Decimal,
                collateral: Decimal, other_requirement: Decimal = ZERO, rate: Decimal = ZERO,
                amount: Decimal = ZERO) -> Decimal | None:
    """Exact (unrounded) solution price, or ``None`` when no positive price satisfies the equation."""
    numerator, denominator = price_terms(instrument.kind is Kind.INVERSE, basis, side,
                                         qty * instrument.contract_value, entry_value, collateral,
                                         other_requirement, rate, amount)
    if denominator == 0:
        return None
    price = numerator / denominator
    return price if price > 0 else None


@dataclass(frozen=True)
class PriceLevels:
    """Liquidation and bankruptcy prices of one position, exact and rounded to the tick."""

    liquidation_exact: Decimal | None
    liquidation: Decimal | None
    bankruptcy_exact: Decimal | None
    bankruptcy: Decimal | None
    requirement: Requirement | None


def price_levels(instrument: Instrument, rules: MarginRules, tiers: Sequence[RiskTier], rounding: PriceRounding,
                 side: int,
                 qty: Decimal, entry_value: Decimal, collateral: Decimal, funding_rate: Decimal,
                 other_requirement: Decimal = ZERO) -> PriceLevels:
    """Liquidation and bankruptcy prices for one position.

    Entry basis: the tier is fixed by the entry size. Mark basis: each tier is tried and the one whose range
    holds the position's size at the solved price is kept (Binance: "If LP falls in another bracket, recompute
    with that bracket's MMR/cum", docs/sources/venues.md#binance-liquidation-price); above the largest bounded tier
    the last tier applies.
    """
    if rules.basis is MarginBasis.ENTRY:
        candidates: Sequence[RiskTier] = [tier_for_size(tiers, rules.tier_size(instrument, qty, entry_value))
                                          or tiers[-1]]
    else:
        candidates = tiers
    liquidation, requirement = None, None
    for tier in candidates:
        rate = rules.effective_rate(tier, side, funding_rate)
        price = solve_price(instrument, rules.basis, side, qty, entry_value, collateral, other_requirement,
                            rate, tier.maintenance_amount)
        if price is None:
            continue
        if rules.basis is MarginBasis.MARK and len(tiers) > 1:
            size = rules.tier_size(instrument, qty, instrument.value(qty, price))
            if (tier_for_size(tiers, size) or tiers[-1]) is not tier:
                continue
        liquidation, requirement = price, Requirement(tier, rate, tier.maintenance_amount)
        break
    bankruptcy = solve_price(instrument, rules.basis, side, qty, entry_value, collateral)
    return PriceLevels(
        liquidation_exact=liquidation,
        liquidation=None if liquidation is None else instrument.round_price(liquidation, side, rounding),
        bankruptcy_exact=bankruptcy,
        bankruptcy=None if bankruptcy is None else instrument.round_price(bankruptcy, side, rounding),
        requirement=requirement,
    )


def at_least_as_good(side: int, price: Decimal, limit: Decimal) -> bool:
    """Whether closing a ``side`` position at ``price`` is no worse than at ``limit``
    (a long sells: higher is better; a short buys: lower is better)."""
    return side * (price - limit) >= 0


def reduction_to_tier(instrument: Instrument, qty: Decimal, size: Decimal, target: RiskTier) -> Decimal:
    """Contracts to close so that a position of ``qty`` contracts and tier size ``size`` fits ``target``.

    The size is assumed proportional to the quantity (value per contract fixed at the current basis price);
    the kept quantity is rounded down to the lot. BitMEX: "submit a FillOrKill order sized to drop into a
    lower risk-limit tier" (docs/sources/venues.md#bitmex-liquidation-process,
    https://testnet.bitmex.com/app/liquidationExamples); OKX: "reduce by two
    tiers" / old OKEx "down to Tier 1", e.g. 15,000 swaps - 2,000 = 13,000 closed
    (docs/sources/venues.md#okx-maintenance-and-liquidation).
    """
    keep = instrument.floor_lots(target.max_size * qty / size)  # type: ignore[operator]
    return qty - keep


def fraction_reduction(instrument: Instrument, qty: Decimal, fraction: Decimal) -> Decimal:
    """Hyperliquid: only ``fraction`` (20%) of a large position is sent to the book, rounded up to the lot
    (docs/sources/venues.md#hyperliquid-liquidations,
    https://hyperliquid.gitbook.io/hyperliquid-docs/trading/liquidations)."""
    return min(qty, instrument.ceil_lots(qty * fraction))


def fillable_price(oracle: Decimal, side: int, total_net_collateral: Decimal, total_maintenance: Decimal,
                   spread_to_maintenance_ratio: Decimal, maintenance_fraction: Decimal,
                   bankruptcy_adjustment: Decimal) -> Decimal:
    """dYdX v4 Fillable Price: the worst price a protocol liquidation order may fill at
    (docs/sources/venues.md#dydx-v4-liquidation).

    ``ABR = clamp(BA * (1 - TNC / TMMR), 0, 1)``; spread ``= ABR * SMMR * MMF``; a long is sold at
    ``P * (1 - spread)``, a short bought at ``P * (1 + spread)``
    (dydxprotocol/v4-chain:protocol/x/clob/keeper/liquidations.go ``GetFillablePrice``;
    https://help.dydx.exchange/en/articles/8580691-liquidations-on-dydx-chain ).
    """
    ratio = total_net_collateral / total_maintenance if total_maintenance else ZERO
    adjustment = min(Decimal(1), max(ZERO, bankruptcy_adjustment * (1 - ratio)))
    return oracle * (1 - side * adjustment * spread_to_maintenance_ratio * maintenance_fraction)


@dataclass(frozen=True)
class SlippageModel:
    """Where a liquidation order fills against the price path.

    The path's own jumps are the gap model: a position is only looked at on a tick, so a gap past its
    bankruptcy price is a shortfall. On top of that an order pays ``spread + impact * value`` (fractions of the
    mark; ``value`` in settlement currency), capped at ``cap`` so prices stay positive. The result is rounded
    to the tick against the trader.
    """

    spread: Decimal = ZERO
    impact: Decimal = ZERO
    cap: Decimal = Decimal("0.9")

    def fill_price(self, instrument: Instrument, closing_side: int, mark: Decimal, value: Decimal) -> Decimal:
        fraction = min(self.cap, self.spread + self.impact * value)
        return instrument.round_fill(mark * (1 - closing_side * fraction), closing_side)
