"""Mutable account and position state shared by the quote, the event engine and the vectorized engine.

Money is settlement currency (``Decimal``, base-unit exact). A position books its entry value once; PnL is always
``instrument.pnl(side, entry_value, value at exit)``, so what one party gains on a trade another loses exactly.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from toolkit.cex.accounts import AccountSpec, MarginMode, ResolvedPosition
from toolkit.cex.instruments import ZERO, Instrument
from toolkit.cex.liquidation import PriceLevels, price_levels
from toolkit.cex.margin import MarginBasis, Requirement, initial_margin
from toolkit.cex.tiers import RiskTier
from toolkit.cex.venues import VenueRules


@dataclass(eq=False, slots=True)
class PositionState:
    """An open position. ``margin`` is its isolated margin, ``None`` in a cross account."""

    account: AccountState
    instrument: Instrument
    tiers: tuple[RiskTier, ...]
    side: int
    qty: Decimal
    entry_price: Decimal
    entry_value: Decimal
    margin: Decimal | None
    leverage: Decimal
    levels: PriceLevels | None = None
    cooldown_until: datetime | None = None

    @property
    def symbol(self) -> str:
        return self.instrument.symbol

    def value(self, price: Decimal) -> Decimal:
        return self.instrument.value(self.qty, price)

    def upnl(self, mark: Decimal) -> Decimal:
        """Unrealised PnL at ``mark``."""
        return self.instrument.pnl(self.side, self.entry_value, self.value(mark))

    def basis_value(self, rules: VenueRules, mark: Decimal) -> Decimal:
        """Value the maintenance requirement is computed on: entry value or value at ``mark``."""
        return self.entry_value if rules.margin.basis is MarginBasis.ENTRY else self.value(mark)

    def requirement(self, rules: VenueRules, mark: Decimal, funding_rate: Decimal) -> Requirement:
        return rules.margin.requirement(self.instrument, self.tiers, self.side, self.qty,
                                        self.basis_value(rules, mark), funding_rate)

    def maintenance(self, rules: VenueRules, mark: Decimal, funding_rate: Decimal) -> Decimal:
        """Maintenance margin at ``mark`` (settlement currency)."""
        return self.requirement(rules, mark, funding_rate).margin(self.basis_value(rules, mark))

    def share(self, amount: Decimal, qty: Decimal) -> Decimal:
        """The part of ``amount`` (entry value, margin) that belongs to ``qty`` of the position's contracts."""
        return amount if qty == self.qty else self.instrument.money(amount * qty / self.qty)


@dataclass(eq=False, slots=True)
class AccountState:
    """An account. ``wallet`` is the cross collateral, or the free balance next to isolated margins."""

    account_id: str
    cross: bool
    wallet: Decimal
    initial_collateral: Decimal
    positions: list[PositionState] = field(default_factory=list)


def open_account(spec: AccountSpec, resolved: list[ResolvedPosition]) -> AccountState:
    """State of ``spec`` with its positions opened at their entry prices (margin = isolated margin or
    entry value / leverage, docs/sources/venues.md#bitmex-initial-and-maintenance-margin)."""
    cross = spec.margin_mode is MarginMode.CROSS
    account = AccountState(spec.account_id, cross, spec.wallet_balance, ZERO)
    for item in resolved:
        p, instrument = item.spec, item.instrument
        margin = None if cross else (p.isolated_margin if p.isolated_margin is not None
                                     else initial_margin(instrument, p.size, p.entry_price, p.leverage))
        account.positions.append(PositionState(account, instrument, item.tiers, p.side, p.size, p.entry_price,
                                               instrument.value(p.size, p.entry_price), margin, p.leverage))
    account.initial_collateral = account.wallet + sum((p.margin or ZERO for p in account.positions), ZERO)
    return account


def equity(account: AccountState, marks: Mapping[str, Decimal]) -> Decimal:
    """Cross equity: wallet plus the unrealised PnL of every position."""
    return account.wallet + sum((p.upnl(marks[p.symbol]) for p in account.positions), ZERO)


def position_levels(rules: VenueRules, position: PositionState, marks: Mapping[str, Decimal],
                    rates: Mapping[str, Decimal]) -> PriceLevels:
    """Liquidation and bankruptcy prices of ``position``; in a cross account the other positions stay at their
    marks (their PnL adds to the collateral, their maintenance to the requirement: Binance's UPNL_1 / TMM_1)."""
    account = position.account
    if position.margin is not None:
        collateral, other = position.margin, ZERO
    else:
        others = [p for p in account.positions if p is not position]
        collateral = account.wallet + sum((p.upnl(marks[p.symbol]) for p in others), ZERO)
        other = sum((p.maintenance(rules, marks[p.symbol], rates[p.symbol]) for p in others), ZERO)
    return price_levels(position.instrument, rules.margin, position.tiers, rules.price_rounding, position.side,
                        position.qty, position.entry_value, collateral, rates[position.symbol], other)
