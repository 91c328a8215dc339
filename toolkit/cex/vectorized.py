"""Vectorized population mode: the event engine's results for large populations of isolated positions.

Scope: isolated accounts holding one position each, all in one symbol (the benchmark population). Cross
accounts and mixed symbols need :func:`toolkit.cex.engine.simulate`.

How it stays identical to the event engine:

* state is kept in numpy arrays, money as ``Decimal`` object arrays; funding payments and liquidation / bankruptcy
  prices for the whole population are computed element-wise with the *same* formulas
  (:func:`toolkit.cex.funding.payment`, :func:`toolkit.cex.liquidation.price_terms`), so they are exact;
* per tick only float64 copies are compared: ``float`` is monotone, so ``float(liq) >= float(mark)`` selects a
  superset of the exactly triggered positions; each candidate is then checked and liquidated by the shared
  scalar :class:`toolkit.cex.process.Clearing` on exact values;
* ADL ranks by float scores, then re-ranks exactly (``Decimal``) every candidate whose float score is within
  1e-9 (relative) of the last one needed, so the order, quantities and prices equal the event engine's.

Result: the same events, insurance-fund path and final state as the event engine, with no tolerance.
Ticks are scanned in blocks: a block whose price range triggers nothing and holds no funding time is skipped
with one comparison per position.
"""

from __future__ import annotations

import heapq
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

import numpy as np

from toolkit.cex.accounts import AccountSpec
from toolkit.cex.adl import Ranking, binance_score, bitmex_score
from toolkit.cex.engine import prepare
from toolkit.cex.events import FundingPayment, PositionSnapshot, SimulationResult
from toolkit.cex.funding import FundingSchedule, payment
from toolkit.cex.insurance import InsuranceFund
from toolkit.cex.instruments import ZERO, Kind
from toolkit.cex.liquidation import SlippageModel, price_terms
from toolkit.cex.margin import MarginBasis, TierUnit
from toolkit.cex.marking import PricePath
from toolkit.cex.process import Clearing, rank_exact
from toolkit.cex.state import AccountState, PositionState
from toolkit.cex.tiers import RiskTier
from toolkit.cex.venues import VenueProfile
from toolkit.errors import UserInputError

BLOCK = 256          # ticks per block scan
RANK_TOLERANCE = 1e-9


def _objects(values: list) -> np.ndarray:
    return np.array(values, dtype=object)


def _floats(values: np.ndarray) -> np.ndarray:
    """Float64 copy of an object array of ``Decimal`` / ``None`` (``None`` -> NaN)."""
    return np.array([np.nan if v is None else float(v) for v in values], dtype=np.float64)


@dataclass
class _Population:
    """Column store of the population (index = account order)."""

    accounts: list[str]
    side: np.ndarray            # int8, +1 / -1
    qty: np.ndarray             # object Decimal
    entry_price: np.ndarray     # object Decimal
    entry_value: np.ndarray     # object Decimal
    margin: np.ndarray          # object Decimal
    wallet: np.ndarray          # object Decimal
    leverage: np.ndarray        # object Decimal
    cooldown: np.ndarray        # object datetime | None
    liquidation: np.ndarray     # float64 rounded liquidation price (NaN: none / closed)
    bankruptcy: np.ndarray      # float64 rounded bankruptcy price
    qty_f: np.ndarray
    entry_f: np.ndarray
    margin_f: np.ndarray


class VectorBook:
    """ADL counterparties from the column store; materialises only the positions it hands out."""

    def __init__(self, engine: VectorEngine) -> None:
        self.engine = engine

    def ranked(self, symbol: str, side: int, mark: Decimal, exclude: AccountState,
               needed: Decimal) -> tuple[list[PositionState], Decimal]:
        engine, pop = self.engine, self.engine.pop
        excluded = engine.index_of[exclude.account_id]
        candidates = np.flatnonzero((pop.side == side) & (pop.qty_f > 0))
        candidates = candidates[candidates != excluded]
        total = engine.side_qty[side]
        ranking = engine.clearing.rules.adl_ranking
        if ranking is Ranking.RANDOM:
            order = candidates[engine.clearing.rng.permutation(len(candidates))]
            chosen = order[:self._prefix(order, needed)]
            return [engine.materialize(i) for i in chosen], total
        scores = self._scores(ranking, candidates, float(mark))
        order = np.lexsort((candidates, -scores))
        prefix = self._prefix(candidates[order], needed)
        if prefix == 0:
            return [], total
        threshold = scores[order[prefix - 1]]
        if np.isfinite(threshold):
            threshold -= RANK_TOLERANCE * max(1.0, abs(threshold))
        near = candidates[scores >= threshold]
        exact = rank_exact(ranking, [engine.materialize(i) for i in np.sort(near)], mark, engine.clearing.rng)
        return exact, total

    def _prefix(self, ordered: np.ndarray, needed: Decimal) -> int:
        """A prefix of ``ordered`` whose quantity surely covers ``needed`` (float sums: generous slack)."""
        cumulative = np.cumsum(self.engine.pop.qty_f[ordered])
        return int(min(len(ordered), np.searchsorted(cumulative, float(needed) * (1 + 1e-6)) + 2))

    def _scores(self, ranking: Ranking, index: np.ndarray, mark: float) -> np.ndarray:
        pop, instrument = self.engine.pop, self.engine.instrument
        inverse = instrument.kind is Kind.INVERSE
        side = pop.side[index].astype(np.float64)
        if ranking is Ranking.BITMEX:
            bankrupt = pop.bankruptcy[index]
            bankrupt = np.where(np.isnan(bankrupt), np.inf if inverse else 0.0, bankrupt)
            return bitmex_score(inverse, side, pop.entry_f[index], np.float64(mark), bankrupt)
        per_unit = pop.margin_f[index] / (pop.qty_f[index] * float(instrument.contract_value))
        return binance_score(inverse, side, pop.entry_f[index], np.float64(mark), per_unit)

    def commit(self, position: PositionState) -> None:
        self.engine.store(position)


class VectorEngine:
    """One vectorized run; see :func:`simulate_vectorized`."""

    def __init__(self, venue: VenueProfile, states: Sequence[AccountState], schedule: FundingSchedule,
                 fund: InsuranceFund, slippage: SlippageModel, seed: int, record_funding: bool) -> None:
        positions = [a.positions[0] for a in states]
        first = positions[0]
        self.venue, self.instrument, self.tiers = venue, first.instrument, first.tiers
        self.symbol = first.symbol
        self.schedule = schedule
        self.record_funding = record_funding
        self.pop = _Population(
            accounts=[a.account_id for a in states], side=np.array([p.side for p in positions], dtype=np.int8),
            qty=_objects([p.qty for p in positions]), entry_price=_objects([p.entry_price for p in positions]),
            entry_value=_objects([p.entry_value for p in positions]),
            margin=_objects([p.margin for p in positions]), wallet=_objects([a.wallet for a in states]),
            leverage=_objects([p.leverage for p in positions]), cooldown=_objects([None] * len(positions)),
            liquidation=np.full(len(positions), np.nan), bankruptcy=np.full(len(positions), np.nan),
            qty_f=_floats(_objects([p.qty for p in positions])),
            entry_f=_floats(_objects([p.entry_price for p in positions])),
            margin_f=_floats(_objects([p.margin for p in positions])),
        )
        self.initial = {a.account_id: a.initial_collateral for a in states}
        self.index_of = {name: i for i, name in enumerate(self.pop.accounts)}
        self.side_qty = {side: sum(self.pop.qty[self.pop.side == side], ZERO) for side in (1, -1)}
        self.touched: set[int] = set()  # rows written back since the last liquidation started
        self.rates = {self.symbol: ZERO}
        self.clearing = Clearing(venue, fund, slippage, np.random.default_rng(seed), VectorBook(self), self.rates,
                                 [])
        self.mark = Decimal(0)

    # ------------------------------------------------------------------ exact column operations

    def _solve(self, index: np.ndarray, rate: np.ndarray | Decimal, amount: np.ndarray | Decimal) -> np.ndarray:
        """Exact solution prices (object array, ``None`` where there is none) for ``index``."""
        pop, instrument = self.pop, self.instrument
        numerator, denominator = price_terms(instrument.kind is Kind.INVERSE, self.venue.rules.margin.basis,
                                             pop.side[index].astype(object),
                                             pop.qty[index] * instrument.contract_value, pop.entry_value[index],
                                             pop.margin[index], ZERO, rate, amount)
        result = np.full(len(index), None, dtype=object)
        valid = denominator != 0
        prices = numerator[valid] / denominator[valid]
        positive = prices > 0
        slots = np.flatnonzero(valid)[positive]
        result[slots] = prices[positive]
        return result

    def _tier_slots(self, sizes: np.ndarray) -> np.ndarray:
        """Index into ``tiers`` of each size (``tier_for_size``; above the last bounded tier: the last)."""
        slots = np.full(len(sizes), len(self.tiers) - 1)
        for slot in range(len(self.tiers) - 1, -1, -1):
            bound = self.tiers[slot].max_size
            if bound is not None:
                slots[sizes <= bound] = slot
        return slots

    def _sizes(self, index: np.ndarray, values: np.ndarray) -> np.ndarray:
        return self.pop.qty[index] if self.venue.rules.margin.tier_unit is TierUnit.CONTRACTS else values

    def _rates(self, tiers: Sequence[RiskTier], index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Effective maintenance rate and amount for each position of ``index`` in the given tiers."""
        rules = self.venue.rules.margin
        base = np.array([t.maintenance_rate for t in tiers], dtype=object)
        if rules.maintenance_includes_taker_fee:
            base = base + rules.taker_fee
        if rules.maintenance_includes_funding:
            paid = self.pop.side[index].astype(object) * self.rates[self.symbol]
            base = base + np.where(paid > 0, paid, ZERO)
        return base, np.array([t.maintenance_amount for t in tiers], dtype=object)

    def refresh_levels(self, index: np.ndarray) -> None:
        """Exact rounded liquidation / bankruptcy prices of ``index`` (:func:`price_levels`, element-wise)."""
        if not len(index):
            return
        pop, instrument, rules = self.pop, self.instrument, self.venue.rules
        value_at = np.frompyfunc(instrument.value, 2, 1)
        liquidation = np.full(len(index), None, dtype=object)
        if rules.margin.basis is MarginBasis.ENTRY:
            tiers = [self.tiers[s] for s in self._tier_slots(self._sizes(index, pop.entry_value[index]))]
            rate, amount = self._rates(tiers, index)
            liquidation = self._solve(index, rate, amount)
        else:
            for slot, tier in enumerate(self.tiers):
                rate, amount = self._rates([tier] * len(index), index)
                candidate = self._solve(index, rate, amount)
                open_ = np.array([c is not None and l is None for c, l in zip(candidate, liquidation)], dtype=bool)
                if len(self.tiers) > 1 and open_.any():
                    sizes = self._sizes(index[open_], value_at(pop.qty[index[open_]], candidate[open_]))
                    open_[np.flatnonzero(open_)[self._tier_slots(sizes) != slot]] = False
                liquidation[open_] = candidate[open_]
        bankruptcy = self._solve(index, ZERO, ZERO)
        side = pop.side[index].astype(object)
        round_price = np.frompyfunc(lambda p, s: None if p is None else instrument.round_price(
            p, s, rules.price_rounding), 2, 1)
        pop.liquidation[index] = _floats(round_price(liquidation, side))
        pop.bankruptcy[index] = _floats(round_price(bankruptcy, side))

    # ------------------------------------------------------------------ scalar bridge

    def materialize(self, i: int) -> PositionState:
        """A live :class:`PositionState` (with its one-position account) for row ``i``."""
        pop = self.pop
        account = AccountState(pop.accounts[i], False, pop.wallet[i], self.initial[pop.accounts[i]])
        position = PositionState(account, self.instrument, self.tiers, int(pop.side[i]), pop.qty[i],
                                 pop.entry_price[i], pop.entry_value[i], pop.margin[i], pop.leverage[i],
                                 cooldown_until=pop.cooldown[i])
        account.positions.append(position)
        self.clearing.refresh(position, {self.symbol: self.mark})
        return position

    def store(self, position: PositionState) -> None:
        """Write a position changed by the clearing back into the columns."""
        pop, i = self.pop, self.index_of[position.account.account_id]
        self.touched.add(i)
        self.side_qty[position.side] += position.qty - pop.qty[i]
        pop.qty[i], pop.entry_value[i] = position.qty, position.entry_value
        pop.margin[i], pop.wallet[i], pop.cooldown[i] = position.margin, position.account.wallet, \
            position.cooldown_until
        pop.qty_f[i], pop.margin_f[i] = float(position.qty), float(position.margin)  # type: ignore[arg-type]
        if position.qty and position.levels is not None:
            levels = position.levels
            pop.liquidation[i] = np.nan if levels.liquidation is None else float(levels.liquidation)
            pop.bankruptcy[i] = np.nan if levels.bankruptcy is None else float(levels.bankruptcy)
        else:
            pop.liquidation[i] = pop.bankruptcy[i] = np.nan

    # ------------------------------------------------------------------ ticks

    def fund(self, previous: datetime, moment: datetime) -> None:
        """Funding payments due since ``previous`` (exact, element-wise), then refreshed levels."""
        pop, instrument = self.pop, self.instrument
        open_index = np.flatnonzero(pop.qty_f > 0)
        changed = False
        for funding_time in self.schedule.times_between(previous, moment):
            rate = self.schedule.rate_at(funding_time)
            pay = np.frompyfunc(lambda side, qty: payment(instrument, side, qty, self.mark, rate), 2, 1)
            amounts = pay(pop.side[open_index].astype(object), pop.qty[open_index])
            pop.margin[open_index] = pop.margin[open_index] - amounts
            if self.record_funding:
                self.clearing.events.extend(
                    FundingPayment(funding_time, pop.accounts[i], self.symbol, int(pop.side[i]), pop.qty[i],
                                   self.mark, rate, amount) for i, amount in zip(open_index, amounts))
            changed = True
        upcoming = self.schedule.rate_at(self.schedule.next_after(moment))
        changed |= upcoming != self.rates[self.symbol]
        self.rates[self.symbol] = upcoming
        if changed:
            pop.margin_f[open_index] = _floats(pop.margin[open_index])
            self.refresh_levels(open_index)

    def _selected(self, index: slice | int, low: float, high: float) -> np.ndarray:
        """Float pre-selection of positions that may trigger at a mark in ``[low, high]`` (a superset of the
        exactly triggered ones: ``float`` is monotone)."""
        pop = self.pop
        return (((pop.side[index] > 0) & (pop.liquidation[index] >= low))
                | ((pop.side[index] < 0) & (pop.liquidation[index] <= high)))

    def liquidate(self, moment: datetime, mark_f: float) -> None:
        """Check the float-selected candidates exactly, in account order, and run the clearing on them.

        An ADL counterparty later in the order whose liquidation price moved is checked in this tick too, as the
        event engine, walking the accounts in order, would."""
        pending = [int(i) for i in np.flatnonzero(self._selected(slice(None), mark_f, mark_f))]
        queued = set(pending)
        while pending:
            i = heapq.heappop(pending)
            if not self.pop.qty[i]:
                continue
            position = self.materialize(i)
            if not self.clearing.triggered(position, self.mark):
                continue
            self.touched.clear()
            self.clearing.liquidate_isolated(moment, position, self.mark)
            self.store(position)
            for k in self.touched:
                if k > i and k not in queued and self._selected(k, mark_f, mark_f):
                    heapq.heappush(pending, k)
                    queued.add(k)

    def block_quiet(self, low: float, high: float) -> bool:
        """No position can trigger anywhere in a block whose marks span ``[low, high]``."""
        return not self._selected(slice(None), low, high).any()

    def snapshot(self) -> list[PositionSnapshot]:
        pop = self.pop
        return [PositionSnapshot(pop.accounts[i], self.symbol, int(pop.side[i]), pop.qty[i], pop.entry_value[i],
                                 pop.margin[i]) for i in np.flatnonzero(pop.qty_f > 0)]


def simulate_vectorized(venue: VenueProfile, accounts: Sequence[AccountSpec], path: PricePath, *,
                        insurance_fund: Decimal = ZERO, funding_rates: Mapping[datetime, Decimal] | None = None,
                        slippage: SlippageModel = SlippageModel(), seed: int = 0, era: str | None = None,
                        index_prices: bool = False, record_funding: bool = True) -> SimulationResult:
    """Vectorized run with :func:`toolkit.cex.engine.simulate`'s arguments and result.

    ``record_funding=False`` skips the per-position funding events (large populations); balances still pay.
    """
    states, schedules, currency, path = prepare(venue, accounts, path, funding_rates, era, index_prices)
    if any(a.cross or len(a.positions) != 1 for a in states) or len(schedules) != 1:
        raise UserInputError("positions: the vectorized mode needs isolated accounts with one position each in "
                             "one symbol; use the event engine (--engine event)")
    (symbol, schedule), = schedules.items()
    start = path.times[0]
    fund = InsuranceFund(insurance_fund, start, venue.rules.adl_drawdown_limit, venue.rules.adl_drawdown_window)
    engine = VectorEngine(venue, states, schedule, fund, slippage, seed, record_funding)
    del states
    engine.rates[symbol] = schedule.rate_at(schedule.next_after(start))
    marks = path.marks[symbol]
    marks_f = np.array([float(m) for m in marks])
    engine.mark = marks[0]
    engine.refresh_levels(np.arange(len(engine.pop.accounts)))
    fund_path: list[tuple[datetime, Decimal]] = []
    times = path.times
    index = 0
    while index < len(times):
        stop = min(len(times), index + BLOCK)
        no_funding = next(schedule.times_between(times[max(index - 1, 0)], times[stop - 1]), None) is None
        if index and no_funding and engine.block_quiet(marks_f[index:stop].min(), marks_f[index:stop].max()):
            fund_path.extend((times[k], fund.balance) for k in range(index, stop))
            index = stop
            continue
        for k in range(index, stop):
            engine.mark = marks[k]
            if k:
                engine.fund(times[k - 1], times[k])
            engine.liquidate(times[k], marks_f[k])
            fund_path.append((times[k], fund.balance))
        index = stop
    pop = engine.pop
    return SimulationResult(engine.clearing.events, fund_path, engine.snapshot(),
                            dict(zip(pop.accounts, pop.wallet, strict=True)), engine.initial, insurance_fund,
                            currency, path.at(len(times) - 1), engine.clearing.venue_fees, fund.uncovered)
