"""Liquidation / bankruptcy prices and margins of one account (what ``liqtk cex liquidation-price`` prints).

Formulas: :mod:`toolkit.cex.liquidation` (solved definition, docs/sources/venues.md#bitmex-liquidation-price),
:mod:`toolkit.cex.margin` (docs/sources/venues.md#bitmex-initial-and-maintenance-margin,
docs/sources/venues.md#bitmex-risk-limits). In a cross account every other position stays at its mark price.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from toolkit.cex.accounts import AccountSpec, Label, resolve_account
from toolkit.cex.instruments import ZERO, side_name
from toolkit.cex.margin import initial_margin
from toolkit.cex.state import equity, open_account, position_levels
from toolkit.cex.venues import VenueProfile, era_staleness


@dataclass(frozen=True)
class PositionQuote:
    """One position's prices (quote currency) and margins (settlement currency)."""

    symbol: str
    side: str
    size: Decimal
    entry_price: Decimal
    mark_price: Decimal
    leverage: Decimal
    era: str
    era_valid_from: datetime | None
    era_source: str
    settlement_currency: str
    collateral: Decimal
    initial_margin: Decimal
    maintenance_margin: Decimal
    maintenance_rate: Decimal
    maintenance_amount: Decimal
    tier: int | None
    liquidation_tier: int | None
    liquidation_price: Decimal | None
    liquidation_price_exact: Decimal | None
    bankruptcy_price: Decimal | None
    bankruptcy_price_exact: Decimal | None
    funding_rate: Decimal


@dataclass(frozen=True)
class AccountQuote:
    """An account's quote: margin mode, balances (settlement currency) and one entry per position."""

    venue: str
    margin_mode: str
    wallet_balance: Decimal
    equity: Decimal
    initial_margin: Decimal
    maintenance_margin: Decimal
    available_balance: Decimal
    price_rounding: str
    positions: tuple[PositionQuote, ...]
    warnings: tuple[str, ...] = ()


def quote_account(venue: VenueProfile, account: AccountSpec, label: Label, *, funding_rate: Decimal = ZERO,
                  as_of: datetime | None = None, era: str | None = None) -> AccountQuote:
    """Prices and margins of every position of ``account``.

    A position without ``mark_price`` is marked at its entry price. ``funding_rate`` is the next funding rate
    (it raises BitMEX's maintenance rate for the side that pays it). Isolated margin is ``isolated_margin`` or
    entry value / leverage; available balance is equity minus initial margins in cross mode, the free wallet in
    isolated mode. ``warnings``: an era applied more than a year after it was last known in force
    (:func:`toolkit.cex.venues.era_staleness`; not for positions that give their own ``mmr``).
    """
    resolved = resolve_account(venue, account, label, as_of, era)
    state = open_account(account, resolved)
    rules = venue.rules
    marks = {item.spec.symbol: item.spec.mark_price or item.spec.entry_price for item in resolved}
    rates = {item.spec.symbol: funding_rate for item in resolved}
    quotes = []
    for position, item in zip(state.positions, resolved, strict=True):
        spec, mark = item.spec, marks[item.spec.symbol]
        levels = position_levels(rules, position, marks, rates)
        requirement = position.requirement(rules, mark, funding_rate)
        collateral = position.margin if position.margin is not None else account.wallet_balance
        quotes.append(PositionQuote(
            symbol=spec.symbol, side=side_name(spec.side), size=spec.size, entry_price=spec.entry_price,
            mark_price=mark, leverage=spec.leverage, era=item.era.name, era_valid_from=item.era.valid_from,
            era_source=item.era.provenance.source,
            settlement_currency=item.instrument.settlement_currency, collateral=collateral,
            initial_margin=initial_margin(item.instrument, spec.size, spec.entry_price, spec.leverage),
            maintenance_margin=requirement.margin(position.basis_value(rules, mark)),
            maintenance_rate=requirement.rate, maintenance_amount=requirement.amount,
            tier=requirement.tier.number or None,
            liquidation_tier=levels.requirement.tier.number or None if levels.requirement else None,
            liquidation_price=levels.liquidation, liquidation_price_exact=levels.liquidation_exact,
            bankruptcy_price=levels.bankruptcy, bankruptcy_price_exact=levels.bankruptcy_exact,
            funding_rate=funding_rate,
        ))
    total_initial = sum((q.initial_margin for q in quotes), ZERO)
    warnings = [f"{item.spec.symbol}: {text}" for item in resolved if item.tiers == item.era.tiers
                for text in [era_staleness(item.era, as_of)] if text]
    if state.cross:
        total_equity = equity(state, marks)
        available = total_equity - total_initial
    else:
        total_equity = state.wallet + sum((p.margin + p.upnl(marks[p.symbol])  # type: ignore[operator]
                                           for p in state.positions), ZERO)
        available = state.wallet
    return AccountQuote(venue=venue.id, margin_mode=account.margin_mode.value, wallet_balance=account.wallet_balance,
                        equity=total_equity, initial_margin=total_initial,
                        maintenance_margin=sum((q.maintenance_margin for q in quotes), ZERO),
                        available_balance=available, price_rounding=rules.price_rounding.value,
                        positions=tuple(quotes), warnings=tuple(warnings))
