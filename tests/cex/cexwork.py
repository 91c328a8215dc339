"""Helpers for the CEX engine tests: populations, price paths, custom venues, the conservation identity."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from hypothesis import HealthCheck, settings

from toolkit.cex.accounts import AccountSpec, MarginMode, PositionSpec
from toolkit.cex.events import Fill, FundingPayment, PartialLiquidation, SimulationResult
from toolkit.cex.instruments import Instrument, Kind
from toolkit.cex.marking import PricePath
from toolkit.cex.tiers import RiskTier
from toolkit.cex.venues import Era, InstrumentProfile, Provenance, VenueProfile, load_venue

D = Decimal
FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
START = datetime(2020, 3, 12, tzinfo=UTC)

#: Hypothesis: deterministic (derandomize) and bounded, so CI runs the same examples every time.
#: For a longer local search: CEX_EXAMPLES=2000 CEX_FUZZ=1 (random seeds).
PROPERTY = settings(derandomize=not os.environ.get("CEX_FUZZ"),
                    max_examples=int(os.environ.get("CEX_EXAMPLES", "40")), deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def path_of(prices: Sequence[str | Decimal], symbol: str, start: datetime = START,
            step: timedelta = timedelta(minutes=1)) -> PricePath:
    """A regular mark path of ``prices`` for one symbol."""
    times = tuple(start + k * step for k in range(len(prices)))
    return PricePath(times, {symbol: tuple(D(p) for p in prices)})


def isolated(account: str, symbol: str, side: int, size: str, entry: str, leverage: str,
             **overrides: str) -> AccountSpec:
    """An isolated account holding one position."""
    extra = {k: D(v) for k, v in overrides.items()}
    return AccountSpec(account, MarginMode.ISOLATED, D(0),
                       (PositionSpec(symbol, side, D(size), D(entry), D(leverage), **extra),))


def cross(account: str, wallet: str, *positions: PositionSpec) -> AccountSpec:
    return AccountSpec(account, MarginMode.CROSS, D(wallet), positions)


def label(name: str) -> str:
    return name


def with_instrument(venue: VenueProfile, instrument: Instrument, tiers: tuple[RiskTier, ...]) -> VenueProfile:
    """``venue`` plus a test instrument (for the reference examples' hypothetical contracts)."""
    provenance = Provenance("test instrument", "n/a")
    profile = InstrumentProfile(instrument, (Era("test", START - timedelta(days=3650), tiers, provenance),),
                                provenance)
    return dataclasses.replace(venue, instruments={**venue.instruments, instrument.symbol: profile})


def with_rules(venue_id: str, **changes: object) -> VenueProfile:
    """A shipped venue with some rules changed (the configurable UNVERIFIED items)."""
    venue = load_venue(venue_id)
    return dataclasses.replace(venue, rules=dataclasses.replace(venue.rules, **changes))


def make_instrument(symbol: str, kind: Kind, contract_value: str, currency: str, tick: str = "0.01",
                    lot: str = "1", base_unit: str = "0.00000001") -> Instrument:
    return Instrument(symbol, kind, D(contract_value), D(tick), D(lot), currency, "USD", D(base_unit))


def conservation_residual(result: SimulationResult, accounts: Sequence[AccountSpec], venue: VenueProfile) -> Decimal:
    """Sum of every party's gain: traders (wallets, margins, open PnL), insurance fund, venue fees, and the market
    that took the other side of each opening trade, each market fill and each funding payment.

    The market's side is rebuilt from the inputs and the events only (values of the trades it took part in),
    so a transfer the engine lost, duplicated or mis-valued leaves a non-zero residual.
    """
    def instrument(symbol: str) -> Instrument:
        return venue.instrument(symbol).instrument

    traders = sum(result.wallets.values(), D(0)) - sum(result.initial_collateral.values(), D(0))
    for position in result.positions:
        inst = instrument(position.symbol)
        traders += (position.margin or D(0)) + inst.pnl(position.side, position.entry_value,
                                                        inst.value(position.qty, result.final_marks[position.symbol]))
    market = D(0)
    for account in accounts:
        for spec in account.positions:
            inst = instrument(spec.symbol)
            market += spec.side * inst.value_sign * inst.value(spec.size, spec.entry_price)
    for event in result.events:
        if isinstance(event, (Fill, PartialLiquidation)):
            market -= event.side * instrument(event.symbol).value_sign * event.value
        elif isinstance(event, FundingPayment):
            market += event.amount
    for position in result.positions:
        inst = instrument(position.symbol)
        market -= position.side * inst.value_sign * inst.value(position.qty, result.final_marks[position.symbol])
    fund = result.fund_path[-1][1] - result.initial_fund
    return traders + fund + result.venue_fees + market
