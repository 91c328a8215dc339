"""The liquidation process, shared by the event engine and the vectorized engine.

Steps (docs/sources/venues.md#bitmex-liquidation-process, https://testnet.bitmex.com/app/liquidationExamples and
https://www.bitmex.com/app/liquidation ; venue variants: docs/sources/venues.md#loss-waterfall):

1. Backstop: below ``backstop_equity_fraction * MM`` (Hyperliquid 2/3) the position goes straight to step 4.
2. Partial liquidation (venue rule): close part of the position in the market to drop to a lower tier
   (BitMEX FillOrKill, OKX two tiers) or 20% of a large position then cool down (Hyperliquid). The order's
   limit is the bankruptcy price; a fill past it fails and the process moves on.
3. Market-style venues close the whole position in the market when the fill is no worse than the limit
   (bankruptcy price, or dYdX's Fillable Price); the trader keeps what is left after the liquidation fee.
   Between the bankruptcy price and the Fillable Price the dYdX order rests until the next tick.
4. Takeover: the engine takes the position at the bankruptcy price; the trader's remaining equity goes to the
   insurance fund. The fund closes the position at the fill price: a surplus is kept, a shortfall is paid
   when the fund can (:meth:`InsuranceFund.can_cover`), otherwise ADL closes ranked opposite positions at the
   bankruptcy price, or at the mark price (venue rule: OKX, Hyperliquid). At the mark the gap to the bankruptcy
   price is a loss the fund pays only as far as it can (:meth:`InsuranceFund.payable`); the rest is taken from
   the counterparties, who are then closed between the mark and the bankruptcy price. So the waterfall is the
   venue's documented one (docs/sources/venues.md#loss-waterfall): fund (Hyperliquid: the liquidator vault) first,
   then ADL, and the fund never goes below zero. Only a loss that no counterparty is left to take (ADL found
   too few opposite contracts) is booked beyond the fund's balance, and counted in ``InsuranceFund.uncovered``.

Assumptions: positions have no open orders (order cancellation is a no-op); an isolated position keeps its
margin plus the realised PnL of a partial close; a cross account's equity is shared among its positions in
proportion to their maintenance margin when they are taken over together.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Protocol

import numpy as np

from toolkit.cex.adl import Ranking, allocate, binance_score, bitmex_score, percentiles, rank_order
from toolkit.cex.events import (Deleverage, Event, Fill, FundingPayment, InsuranceFundChange,
                                PartialLiquidation, Takeover)
from toolkit.cex.funding import payment
from toolkit.cex.instruments import ZERO, Instrument, Kind
from toolkit.cex.insurance import InsuranceFund
from toolkit.cex.liquidation import (SlippageModel, at_least_as_good, fillable_price, fraction_reduction,
                                     reduction_to_tier, solve_price)
from toolkit.cex.state import AccountState, PositionState, equity, position_levels
from toolkit.cex.venues import AdlPrice, LiquidationStyle, MarketLimit, PartialRule, VenueProfile, VenueRules


def adl_bankruptcy(position: PositionState) -> Decimal:
    """Bankruptcy price used in the ADL score; a position that cannot go bankrupt has value 0 there
    (price 0 for a linear long, infinity for an inverse short)."""
    bankruptcy = position.levels.bankruptcy if position.levels else None
    if bankruptcy is not None:
        return bankruptcy
    return Decimal("Infinity") if position.instrument.kind is Kind.INVERSE else ZERO


def adl_score(ranking: Ranking, position: PositionState, mark: Decimal) -> Decimal:
    """Exact ADL score of ``position`` at ``mark`` (:mod:`toolkit.cex.adl`)."""
    inverse = position.instrument.kind is Kind.INVERSE
    if ranking is Ranking.BITMEX:
        return bitmex_score(inverse, position.side, position.entry_price, mark, adl_bankruptcy(position))
    collateral = position.margin if position.margin is not None else position.account.wallet
    return binance_score(inverse, position.side, position.entry_price, mark,
                         collateral / (position.qty * position.instrument.contract_value))


class CounterpartyBook(Protocol):
    """Where the clearing finds ADL counterparties; each engine keeps positions its own way."""

    def ranked(self, symbol: str, side: int, mark: Decimal, exclude: AccountState,
               needed: Decimal) -> tuple[list[PositionState], Decimal]:
        """Opposite-side positions of ``symbol`` in ADL order (at least a prefix covering ``needed``
        contracts) and the total quantity of that side."""
        ...

    def commit(self, position: PositionState) -> None:
        """Store a counterparty position the clearing changed (possibly to zero)."""
        ...


def rank_exact(ranking: Ranking, candidates: Sequence[PositionState], mark: Decimal,
               rng: np.random.Generator) -> list[PositionState]:
    """Candidates (given in account order) in ADL order: random draw, or exact scores highest first."""
    if ranking is Ranking.RANDOM:
        return [candidates[i] for i in rng.permutation(len(candidates))]
    scores = [adl_score(ranking, c, mark) for c in candidates]
    return [candidates[i] for i in rank_order(scores)]


@dataclass
class Clearing:
    """Applies a venue's liquidation process to positions and books every transfer.

    ``rates`` holds, per symbol, the funding rate of the next payment (it enters BitMEX's maintenance margin);
    the engine updates it. ``events`` collects what happened; ``venue_fees`` the taker fees of partial orders.
    """

    venue: VenueProfile
    fund: InsuranceFund
    slippage: SlippageModel
    rng: np.random.Generator
    book: CounterpartyBook
    rates: dict[str, Decimal]
    events: list[Event]
    venue_fees: Decimal = ZERO

    @property
    def rules(self) -> VenueRules:
        return self.venue.rules

    # ------------------------------------------------------------------ state helpers

    def refresh(self, position: PositionState, marks: Mapping[str, Decimal]) -> None:
        """Recompute the cached liquidation and bankruptcy prices of ``position``."""
        position.levels = position_levels(self.rules, position, marks, self.rates)

    def maintenance(self, position: PositionState, mark: Decimal) -> Decimal:
        return position.maintenance(self.rules, mark, self.rates[position.symbol])

    def triggered(self, position: PositionState, mark: Decimal) -> bool:
        """Isolated trigger: the mark reached the (rounded) liquidation price."""
        price = position.levels.liquidation if position.levels else None
        return price is not None and position.side * (mark - price) <= 0

    def account_triggered(self, account: AccountState, marks: Mapping[str, Decimal]) -> bool:
        """Cross trigger: equity below the summed maintenance margin."""
        return equity(account, marks) < self._account_maintenance(account, marks)

    def _fund_book(self, time: datetime, amount: Decimal, reason: str, account: AccountState | None,
                   symbol: str) -> None:
        entry = self.fund.book(time, amount, reason, account.account_id if account else None)
        if entry is not None:
            self.events.append(InsuranceFundChange(time, entry.account, symbol, amount, entry.balance, reason))

    def _pay_out(self, time: datetime, account: AccountState, amount: Decimal, symbol: str) -> None:
        """Credit ``amount`` to the wallet; a negative amount (a rounding-sized deficit) is the fund's."""
        if amount >= 0:
            account.wallet += amount
        else:
            self._fund_book(time, amount, "deficit", account, symbol)

    def _remove(self, position: PositionState) -> None:
        position.qty, position.entry_value = ZERO, ZERO
        position.margin = None if position.margin is None else ZERO
        position.account.positions.remove(position)

    def _fill_price(self, position: PositionState, qty: Decimal, mark: Decimal) -> Decimal:
        return self.slippage.fill_price(position.instrument, position.side, mark,
                                        position.instrument.value(qty, mark))

    # ------------------------------------------------------------------ funding

    def pay_funding(self, time: datetime, position: PositionState, mark: Decimal, rate: Decimal) -> None:
        """Funding of one position: from its isolated margin, or from the cross wallet
        (docs/sources/venues.md#bitmex-funding)."""
        amount = payment(position.instrument, position.side, position.qty, mark, rate)
        if position.margin is not None:
            position.margin -= amount
        else:
            position.account.wallet -= amount
        self.events.append(FundingPayment(time, position.account.account_id, position.symbol, position.side,
                                          position.qty, mark, rate, amount))

    # ------------------------------------------------------------------ liquidation

    def liquidate_isolated(self, time: datetime, position: PositionState, mark: Decimal) -> None:
        """Run the process (module docstring) on a triggered isolated position."""
        marks = {position.symbol: mark}
        if self._backstop(position, mark):
            self._takeover(time, position, mark, position.levels.bankruptcy)  # type: ignore[union-attr]
            return
        if position.cooldown_until is not None and time < position.cooldown_until:
            return
        if self._partial_steps(time, position, marks, lambda p: p.levels.bankruptcy,  # type: ignore[union-attr]
                               lambda: self.triggered(position, mark)):
            return
        self._close_out(time, position, marks, position.levels.bankruptcy)  # type: ignore[union-attr]

    def liquidate_cross(self, time: datetime, account: AccountState, marks: Mapping[str, Decimal]) -> None:
        """The process for a triggered cross account: partial steps on the largest position first, then every
        position closed out with the account's equity shared in proportion to maintenance margin."""
        fraction = self.rules.backstop_equity_fraction
        backstop = fraction is not None and equity(account, marks) < fraction * self._account_maintenance(
            account, marks)
        if not backstop:
            if any(p.cooldown_until is not None and time < p.cooldown_until for p in account.positions):
                return
            for position in sorted(account.positions, key=lambda p: -p.value(marks[p.symbol])):
                if self._partial_steps(time, position, marks,
                                       lambda p: position_levels(self.rules, p, marks, self.rates).bankruptcy,
                                       lambda: self.account_triggered(account, marks)):
                    return
        for position, price in self._equity_shares(account, marks):
            if backstop:
                self._takeover(time, position, marks[position.symbol], price, cross=True)
            else:
                self._close_out(time, position, marks, price, cross=True)
        if account.positions:
            return
        if account.wallet < 0:
            self._fund_book(time, account.wallet, "deficit", account, "")
            account.wallet = ZERO
        elif backstop or self.rules.liquidation_style is LiquidationStyle.TAKEOVER:
            self._fund_book(time, account.wallet, "takeover_margin", account, "")
            account.wallet = ZERO

    def _partial_steps(self, time: datetime, position: PositionState, marks: Mapping[str, Decimal],
                       bankruptcy: Callable[[PositionState], Decimal | None],
                       triggered: Callable[[], bool]) -> bool:
        """Step 2 on one position, repeated while it applies; ``True`` when the liquidation is over for now
        (healthy again, or cooling down after a Hyperliquid-style partial order)."""
        while self._reduce(time, position, marks[position.symbol], bankruptcy(position), marks):
            if self.rules.partial is PartialRule.FRACTION:
                position.cooldown_until = time + self.rules.partial_cooldown
                return True
            if not triggered():
                return True
        return False

    def _account_maintenance(self, account: AccountState, marks: Mapping[str, Decimal]) -> Decimal:
        return sum((self.maintenance(p, marks[p.symbol]) for p in account.positions), ZERO)

    def _equity_shares(self, account: AccountState,
                       marks: Mapping[str, Decimal]) -> list[tuple[PositionState, Decimal | None]]:
        """Each position's bankruptcy price when the account's equity is shared by maintenance margin."""
        total_equity = equity(account, marks)
        requirements = [self.maintenance(p, marks[p.symbol]) for p in account.positions]
        total_required = sum(requirements, ZERO)
        result = []
        for position, required in zip(list(account.positions), requirements, strict=True):
            share = (total_equity * required / total_required if total_required
                     else total_equity / len(account.positions))
            mark = marks[position.symbol]
            price = solve_price(position.instrument, self.rules.margin.basis, position.side, position.qty,
                                position.entry_value, share - position.upnl(mark))
            rounded = None if price is None else position.instrument.round_price(
                price, position.side, self.rules.price_rounding)
            result.append((position, rounded))
        return result

    def _backstop(self, position: PositionState, mark: Decimal) -> bool:
        fraction = self.rules.backstop_equity_fraction
        if fraction is None or position.margin is None:
            return False
        return position.margin + position.upnl(mark) < fraction * self.maintenance(position, mark)

    def _reduction(self, position: PositionState, mark: Decimal) -> Decimal:
        """Contracts the venue's partial rule closes now (0: none)."""
        rules = self.rules
        if rules.partial is PartialRule.TIER:
            requirement = position.requirement(rules, mark, self.rates[position.symbol])
            tier = requirement.tier
            if tier.number < rules.partial_min_tier:
                return ZERO
            target = position.tiers[max(1, tier.number - rules.partial_tiers_down) - 1]
            size = rules.margin.tier_size(position.instrument, position.qty, position.basis_value(rules, mark))
            close = reduction_to_tier(position.instrument, position.qty, size, target)
        elif rules.partial is PartialRule.FRACTION and position.value(mark) > rules.partial_min_value:
            close = fraction_reduction(position.instrument, position.qty, rules.partial_fraction)
        else:
            return ZERO
        return close if ZERO < close < position.qty else ZERO

    def _reduce(self, time: datetime, position: PositionState, mark: Decimal, bankruptcy: Decimal | None,
                marks: Mapping[str, Decimal]) -> bool:
        """One partial close in the market with the bankruptcy price as limit; ``False`` when none applies."""
        close = self._reduction(position, mark)
        if close == 0:
            return False
        price = self._fill_price(position, close, mark)
        if bankruptcy is not None and not at_least_as_good(position.side, price, bankruptcy):
            return False
        value = position.instrument.value(close, price)
        entry_part = position.share(position.entry_value, close)
        realized = position.instrument.pnl(position.side, entry_part, value)
        available = realized + (position.margin if position.margin is not None else position.account.wallet)
        fee = min(position.instrument.money(self.rules.margin.taker_fee * value), max(ZERO, available))
        position.qty -= close
        position.entry_value -= entry_part
        if position.margin is not None:
            position.margin += realized - fee
        else:
            position.account.wallet += realized - fee
        self.venue_fees += fee
        self.events.append(PartialLiquidation(time, position.account.account_id, position.symbol, position.side,
                                              close, price, value, realized, fee, position.qty))
        if position.margin is not None:
            self.refresh(position, marks)
        return True

    def _close_out(self, time: datetime, position: PositionState, marks: Mapping[str, Decimal],
                   bankruptcy: Decimal | None, cross: bool = False) -> None:
        """Step 3 (market-style venues) or step 4 for the whole remaining position."""
        rules, mark = self.rules, marks[position.symbol]
        if rules.liquidation_style is LiquidationStyle.MARKET:
            price = self._fill_price(position, position.qty, mark)
            solvent = bankruptcy is None or at_least_as_good(position.side, price, bankruptcy)
            if solvent and (rules.market_limit is MarketLimit.BANKRUPTCY
                            or at_least_as_good(position.side, price, self._fillable_price(position, marks))):
                self._market_close(time, position, price, cross)
                return
            if solvent:
                return  # dYdX: worse than the Fillable Price but not bankrupt: the order rests until the next tick
        self._takeover(time, position, mark, bankruptcy, cross)

    def _fillable_price(self, position: PositionState, marks: Mapping[str, Decimal]) -> Decimal:
        """dYdX's limit for this position: from the isolated position's, or the cross account's, collateral."""
        rules, account, mark = self.rules, position.account, marks[position.symbol]
        if position.margin is not None:
            net_collateral = position.margin + position.upnl(mark)
            required = self.maintenance(position, mark)
        else:
            net_collateral, required = equity(account, marks), self._account_maintenance(account, marks)
        mmf = position.requirement(rules, mark, self.rates[position.symbol]).rate
        return fillable_price(mark, position.side, net_collateral, required, rules.fillable_spread_to_mmr, mmf,
                              rules.fillable_bankruptcy_adjustment)

    def _market_close(self, time: datetime, position: PositionState, price: Decimal, cross: bool) -> None:
        """Close the whole position in the market; the liquidation fee (capped at what is left) goes to the
        fund, the rest of an isolated margin back to the wallet."""
        account, instrument = position.account, position.instrument
        value = instrument.value(position.qty, price)
        realized = instrument.pnl(position.side, position.entry_value, value)
        left = realized + (position.margin if position.margin is not None else account.wallet)
        fee = min(instrument.money(self.rules.liquidation_fee_rate * value), max(ZERO, left))
        self.events.append(Fill(time, account.account_id, position.symbol, position.side, position.qty, price,
                                value, realized, fee, "trader"))
        self._fund_book(time, fee, "liquidation_fee", account, position.symbol)
        if cross:
            account.wallet += realized - fee
            self._remove(position)
            return
        margin = position.margin
        self._remove(position)
        self._pay_out(time, account, margin + realized - fee, position.symbol)  # type: ignore[operator]

    def _takeover(self, time: datetime, position: PositionState, mark: Decimal, bankruptcy: Decimal | None,
                  cross: bool = False) -> None:
        """Step 4: transfer at the bankruptcy price (the mark when the position cannot go bankrupt)."""
        account, instrument = position.account, position.instrument
        price = bankruptcy if bankruptcy is not None else mark
        value = instrument.value(position.qty, price)
        realized = instrument.pnl(position.side, position.entry_value, value)
        side, qty = position.side, position.qty
        if cross:  # the account's leftover is booked once, after all its positions (liquidate_cross)
            account.wallet += realized
            transferred = ZERO
        else:
            transferred = position.margin + realized  # type: ignore[operator]
        self._remove(position)
        self.events.append(Takeover(time, account.account_id, instrument.symbol, side, qty, price, mark,
                                    transferred))
        self._fund_book(time, transferred, "takeover_margin", account, instrument.symbol)
        self._fund_close(time, account, instrument, side, qty, value, price, mark)

    def _fund_close(self, time: datetime, account: AccountState, instrument: Instrument, side: int,
                    qty: Decimal, entry_value: Decimal, bankruptcy: Decimal, mark: Decimal) -> None:
        """The fund closes what it took over: fill in the market, or ADL when it cannot pay the shortfall."""
        price = self.slippage.fill_price(instrument, side, mark, instrument.value(qty, mark))
        fill_value = instrument.value(qty, price)
        result = instrument.pnl(side, entry_value, fill_value)
        if result >= 0 or self.fund.can_cover(-result, time):
            self.events.append(Fill(time, account.account_id, instrument.symbol, side, qty, price, fill_value,
                                    result, ZERO, "insurance_fund"))
            self._fund_book(time, result, "fill_surplus" if result >= 0 else "fill_shortfall", account,
                            instrument.symbol)
            return
        adl_price = bankruptcy if self.rules.adl_price is AdlPrice.BANKRUPTCY else mark
        ranked, side_total = self.book.ranked(instrument.symbol, -side, mark, account, qty)
        ranks = percentiles([c.qty for c in ranked], side_total) if side_total else []
        remaining_qty, remaining_value = qty, entry_value
        for allocation in allocate([c.qty for c in ranked], qty):
            counterparty, take = ranked[allocation.index], allocation.qty
            part = (remaining_value if take == remaining_qty
                    else instrument.money(remaining_value * take / remaining_qty))
            exit_value, price_paid = self._adl_exit(time, instrument, side, take, part, adl_price)
            fund_result = instrument.pnl(side, part, exit_value)
            remaining_qty -= take
            remaining_value -= part
            realized = self._deleverage(counterparty, take, exit_value)
            if counterparty.qty and counterparty.margin is not None:
                self.refresh(counterparty, {instrument.symbol: mark})
            self.events.append(Deleverage(time, account.account_id, instrument.symbol,
                                          counterparty.account.account_id, counterparty.side, take, price_paid,
                                          exit_value, realized, ranks[allocation.index]))
            self._fund_book(time, fund_result, "adl", account, instrument.symbol)
            self.book.commit(counterparty)
        if remaining_qty > 0:
            fill_value = instrument.value(remaining_qty, price)
            result = instrument.pnl(side, remaining_value, fill_value)
            self.events.append(Fill(time, account.account_id, instrument.symbol, side, remaining_qty, price,
                                    fill_value, result, ZERO, "insurance_fund"))
            self._fund_book(time, result, "fill_shortfall", account, instrument.symbol)

    def _adl_exit(self, time: datetime, instrument: Instrument, side: int, qty: Decimal, entry_value: Decimal,
                  price: Decimal) -> tuple[Decimal, Decimal]:
        """Value and price at which ADL closes ``qty`` of the fund's position (entry value ``entry_value``)
        against a counterparty: at ``price`` when the fund can pay the loss that leaves it, else at the value where
        the fund pays exactly what it can (step 4 of the module docstring)."""
        exit_value = instrument.value(qty, price)
        loss = -instrument.pnl(side, entry_value, exit_value)
        payable = self.fund.payable(time)
        if loss <= payable:
            return exit_value, price
        exit_value = entry_value - side * instrument.value_sign * payable
        return exit_value, instrument.price_of(qty, exit_value)

    def _deleverage(self, position: PositionState, qty: Decimal, exit_value: Decimal) -> Decimal:
        """Close ``qty`` of an ADL counterparty at ``exit_value``; realised PnL and the released isolated margin
        go to its wallet."""
        account, instrument = position.account, position.instrument
        entry_part = position.share(position.entry_value, qty)
        realized = instrument.pnl(position.side, entry_part, exit_value)
        released = ZERO
        if position.margin is not None:
            released = position.share(position.margin, qty)
            position.margin -= released
        account.wallet += released + realized
        position.entry_value -= entry_part
        position.qty -= qty
        if position.qty == 0:
            account.positions.remove(position)
        return realized

