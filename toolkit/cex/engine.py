"""Event-driven simulation: a population of accounts over a mark-price path.

On every tick, in this order:

1. funding: for each funding time since the previous tick (venue schedule, docs/sources/venues.md#bitmex-funding and
the venues' funding entries), every position held pays
   or receives ``mark value * F`` at the tick's mark; then the next rate (part of BitMEX's maintenance margin)
   is set and isolated liquidation prices are recomputed;
2. liquidation: accounts in input order; an isolated position whose mark reached its rounded liquidation price,
   or a cross account whose equity is below its maintenance margin, goes through
   :class:`toolkit.cex.process.Clearing` (partial steps, takeover or market close, fund, ADL);
3. the insurance-fund balance is recorded.

Nothing is paid at the first tick (positions are opened then). The result is deterministic for a given
``seed`` (it only drives the random ADL ordering of venues that use it).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal

import numpy as np

from toolkit.cex.accounts import AccountSpec, resolve_account, settlement_currency
from toolkit.cex.events import PositionSnapshot, SimulationResult
from toolkit.cex.funding import FundingSchedule
from toolkit.cex.instruments import ZERO
from toolkit.cex.insurance import InsuranceFund
from toolkit.cex.liquidation import SlippageModel
from toolkit.cex.marking import PricePath, fair_path
from toolkit.cex.process import Clearing, rank_exact
from toolkit.cex.state import AccountState, PositionState, open_account, position_levels
from toolkit.cex.venues import VenueProfile
from toolkit.errors import UserInputError


class EventBook:
    """ADL counterparties straight from the live account objects."""

    def __init__(self, accounts: Sequence[AccountState]) -> None:
        self.accounts = accounts
        self.clearing: Clearing | None = None
        self.marks: Mapping[str, Decimal] = {}

    def ranked(self, symbol: str, side: int, mark: Decimal, exclude: AccountState,
               needed: Decimal) -> tuple[list[PositionState], Decimal]:
        assert self.clearing is not None
        candidates = [p for account in self.accounts if account is not exclude for p in account.positions
                      if p.symbol == symbol and p.side == side]
        for position in candidates:
            if position.margin is None:
                position.levels = position_levels(self.clearing.rules, position, self.marks, self.clearing.rates)
        ordered = rank_exact(self.clearing.rules.adl_ranking, candidates, mark, self.clearing.rng)
        return ordered, sum((p.qty for p in candidates), ZERO)

    def commit(self, position: PositionState) -> None:
        """Live objects: nothing to store."""


def prepare(venue: VenueProfile, accounts: Sequence[AccountSpec], path: PricePath, funding_rates:
            Mapping[datetime, Decimal] | None, era: str | None, index_prices: bool
            ) -> tuple[list[AccountState], dict[str, FundingSchedule], str, PricePath]:
    """Check the population against the venue and the path; open the accounts; one funding schedule per symbol;
    with ``index_prices`` the path holds index prices and becomes fair-price marks
    (docs/sources/venues.md#bitmex-fair-price-marking).

    The risk-tier era is the one in force at the path's first time unless ``era`` names one.
    """
    start = path.times[0]
    states, resolved_all, schedules = [], [], {}
    seen: set[str] = set()
    for account in accounts:
        if account.account_id in seen:
            raise UserInputError(f"positions: account {account.account_id!r} appears twice; give each account once")
        seen.add(account.account_id)
        def label(name: str, account_id: str = account.account_id) -> str:
            return f"account {account_id}: {name}"
        resolved = resolve_account(venue, account, label, start, era)
        for item in resolved:
            if item.spec.symbol not in path.marks:
                raise UserInputError(f"prices: no mark prices for {item.spec.symbol} (account {account.account_id})")
            schedules.setdefault(item.spec.symbol, venue.funding_schedule(item.era, funding_rates))
        resolved_all.extend(resolved)
        states.append(open_account(account, resolved))
    if not resolved_all:
        raise UserInputError("positions: the population is empty")
    if index_prices:
        path = fair_path(PricePath(path.times, {s: path.marks[s] for s in schedules}), schedules)
    return states, schedules, settlement_currency(resolved_all), path


def snapshot(accounts: Sequence[AccountState]) -> list[PositionSnapshot]:
    return [PositionSnapshot(a.account_id, p.symbol, p.side, p.qty, p.entry_value, p.margin)
            for a in accounts for p in a.positions]


def simulate(venue: VenueProfile, accounts: Sequence[AccountSpec], path: PricePath, *,
             insurance_fund: Decimal = ZERO, funding_rates: Mapping[datetime, Decimal] | None = None,
             slippage: SlippageModel = SlippageModel(), seed: int = 0, era: str | None = None,
             index_prices: bool = False) -> SimulationResult:
    """Run the event engine (module docstring). ``funding_rates``: rate paid at each funding time (else the
    venue's interest rate); ``insurance_fund``: starting balance in the settlement currency; ``index_prices``:
    the path holds index prices (marks are their fair prices)."""
    states, schedules, currency, path = prepare(venue, accounts, path, funding_rates, era, index_prices)
    start = path.times[0]
    rates = {symbol: s.rate_at(s.next_after(start)) for symbol, s in schedules.items()}
    book = EventBook(states)
    fund = InsuranceFund(insurance_fund, start, venue.rules.adl_drawdown_limit, venue.rules.adl_drawdown_window)
    clearing = Clearing(venue, fund, slippage, np.random.default_rng(seed), book, rates, [])
    book.clearing = clearing
    marks = path.at(0)
    book.marks = marks
    isolated = [p for a in states for p in a.positions if p.margin is not None]
    for position in isolated:
        clearing.refresh(position, marks)
    fund_path: list[tuple[datetime, Decimal]] = []
    previous = start
    for index, moment in enumerate(path.times):
        marks = path.at(index)
        book.marks = marks
        if index:
            _fund(clearing, states, schedules, previous, moment, marks)
        for account in states:
            if account.cross:
                if account.positions and clearing.account_triggered(account, marks):
                    clearing.liquidate_cross(moment, account, marks)
                continue
            for position in list(account.positions):
                if position.qty and clearing.triggered(position, marks[position.symbol]):
                    clearing.liquidate_isolated(moment, position, marks[position.symbol])
        fund_path.append((moment, fund.balance))
        previous = moment
    return SimulationResult(clearing.events, fund_path, snapshot(states),
                            {a.account_id: a.wallet for a in states},
                            {a.account_id: a.initial_collateral for a in states}, insurance_fund, currency,
                            path.at(len(path.times) - 1), clearing.venue_fees, fund.uncovered)


def _fund(clearing: Clearing, accounts: Sequence[AccountState], schedules: Mapping[str, FundingSchedule],
          previous: datetime, moment: datetime, marks: Mapping[str, Decimal]) -> None:
    """Step 1 of a tick: payments due since ``previous``, next rates, refreshed liquidation prices."""
    changed = False
    for symbol, schedule in schedules.items():
        for funding_time in schedule.times_between(previous, moment):
            rate = schedule.rate_at(funding_time)
            for account in accounts:
                for position in account.positions:
                    if position.symbol == symbol:
                        clearing.pay_funding(funding_time, position, marks[symbol], rate)
            changed = True
        upcoming = schedule.rate_at(schedule.next_after(moment))
        changed |= upcoming != clearing.rates[symbol]
        clearing.rates[symbol] = upcoming
    if changed:
        for account in accounts:
            for position in account.positions:
                if position.margin is not None:
                    clearing.refresh(position, marks)
