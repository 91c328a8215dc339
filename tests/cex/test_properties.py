"""Property tests (hypothesis, derandomized and bounded: see ``cexwork.PROPERTY``)."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import assume, given
from hypothesis import strategies as st

from cexwork import PROPERTY, START, D, conservation_residual, label, path_of
from toolkit.cex.accounts import AccountSpec, MarginMode, PositionSpec
from toolkit.cex.engine import simulate
from toolkit.cex.events import Deleverage, Fill, PartialLiquidation, Takeover
from toolkit.cex.instruments import LONG, SHORT, Kind, quantize
from toolkit.cex.liquidation import SlippageModel, price_levels
from toolkit.cex.margin import MarginBasis
from toolkit.cex.quotes import quote_account
from toolkit.cex.tiers import tier_for_size
from toolkit.cex.vectorized import simulate_vectorized
from toolkit.cex.venues import load_venue

# venue, symbol, typical price, largest position (contracts), first tick of the path
MARKETS = [
    ("bitmex", "XBTUSD", 8000, 3_000_000, START),
    ("binance-usdm", "BTCUSDT", 30000, 40, datetime(2021, 5, 19, tzinfo=UTC)),
    ("bybit", "BTCUSDT", 30000, 40, datetime(2021, 5, 19, tzinfo=UTC)),
    ("okx", "BTC-USD-SWAP", 8000, 20000, START),
    ("dydx-v4", "BTC-USD", 30000, 5, datetime(2024, 8, 5, tzinfo=UTC)),
    ("hyperliquid", "BTC", 100000, 4, datetime(2025, 10, 10, 20, tzinfo=UTC)),
]


@st.composite
def positions(draw: st.DrawFn, venue_id: str, symbol: str, price: int, largest: int, start: datetime,
              count: int) -> list[PositionSpec]:
    """``count`` valid positions: lot-multiple sizes, entries near ``price``, leverage within the tier maximum."""
    venue = load_venue(venue_id)
    profile = venue.instrument(symbol)
    instrument, tiers = profile.instrument, profile.era(start).tiers
    lots = int(largest / instrument.lot_size)
    result = []
    for _ in range(count):
        size = instrument.lot_size * draw(st.integers(1, lots))
        entry = quantize(D(price) * D(draw(st.integers(900, 1100))) / 1000, instrument.tick_size)
        tier = tier_for_size(tiers, venue.rules.margin.tier_size(instrument, size, instrument.value(size, entry)))
        assume(tier is not None)
        top = int(tier.max_leverage)
        leverage = D(draw(st.one_of(st.integers(1, top), st.integers(max(1, top // 2), top))))
        result.append(PositionSpec(symbol, draw(st.sampled_from([LONG, SHORT])), size, entry, leverage))
    return result


@st.composite
def price_path(draw: st.DrawFn, price: int, tick: Decimal, length: int) -> list[Decimal]:
    """A trend of up to +-30% over the path plus per-tick noise of up to 0.05%, 0.2%, 1% or 25% (gaps)."""
    drift = D(draw(st.integers(-3000, 3000))) / (length * 10000)
    noise = draw(st.sampled_from([5, 20, 100, 2500]))
    values = [D(price)]
    for _ in range(length - 1):
        move = drift + D(draw(st.integers(-noise, noise))) / 10000
        values.append(max(tick, quantize(values[-1] * (1 + move), tick)))
    return values


@st.composite
def scenarios(draw: st.DrawFn, cross_accounts: bool = False) -> tuple:
    venue_id, symbol, price, largest, start = draw(st.sampled_from(MARKETS))
    venue = load_venue(venue_id)
    instrument = venue.instrument(symbol).instrument
    specs = draw(positions(venue_id, symbol, price, largest, start, draw(st.integers(1, 7))))
    accounts = []
    for n, spec in enumerate(specs):
        if cross_accounts and draw(st.booleans()):
            wallet = quantize(instrument.value(spec.size, spec.entry_price) / spec.leverage, instrument.base_unit)
            accounts.append(AccountSpec(f"c{n}", MarginMode.CROSS, wallet, (spec,)))
        else:
            accounts.append(AccountSpec(f"i{n}", MarginMode.ISOLATED, D(0), (spec,)))
    path = path_of(draw(price_path(price, instrument.tick_size, draw(st.integers(2, 30)))), symbol, start,
                   step=timedelta(hours=1))
    fund = instrument.value(D(largest) * draw(st.sampled_from([0, 0, 1, 5])) / 1000, D(price))
    slippage = SlippageModel(D(draw(st.sampled_from([0, 1, 20]))) / 10000)
    rates = None
    if draw(st.booleans()):
        schedule = venue.funding_schedule(venue.instrument(symbol).era(start))
        times = list(schedule.times_between(path.times[0] - timedelta(hours=1), path.times[-1] + timedelta(days=1)))
        rates = {t: D(draw(st.integers(-375, 375))) / 100000 for t in times}
    return venue, accounts, path, fund, slippage, rates, draw(st.integers(0, 3))


@PROPERTY
@given(st.sampled_from(MARKETS).flatmap(lambda m: st.tuples(st.just(m), positions(*m, count=1))),
       st.integers(-375, 375))
def test_liquidation_price_lies_between_entry_and_bankruptcy(market: tuple, funding: int) -> None:
    """For every venue and side: bankruptcy <= liquidation <= entry for a long, the reverse for a short (exact
    prices), and the rounded prices keep the order of bankruptcy and liquidation."""
    (venue_id, *_), (spec,) = market
    result = quote_account(load_venue(venue_id), AccountSpec("a", MarginMode.ISOLATED, D(0), (spec,)), label,
                           funding_rate=D(funding) / 100000).positions[0]
    liquidation, bankruptcy = result.liquidation_price_exact, result.bankruptcy_price_exact
    assume(liquidation is not None and bankruptcy is not None)
    side = LONG if result.side == "long" else SHORT
    assert side * (spec.entry_price - liquidation) >= 0
    assert side * (liquidation - bankruptcy) >= 0
    assert side * (result.liquidation_price - result.bankruptcy_price) >= 0


@PROPERTY
@given(st.sampled_from(MARKETS), st.sampled_from([LONG, SHORT]), st.integers(1, 10**6), st.integers(50, 2000),
       st.integers(-375, 375), st.integers(0, 10**6))
def test_margin_equals_maintenance_at_the_liquidation_price(market: tuple, side: int, lots: int, collateral_bp: int,
                                                            funding: int, other_bp: int) -> None:
    """At the exact liquidation price, collateral + PnL equals the maintenance requirement (continuous values:
    ``qty * cv * P`` or ``qty * cv / P``), isolated (other requirement 0) and cross (other requirement > 0)."""
    venue_id, symbol, price, largest, start = market
    venue = load_venue(venue_id)
    profile = venue.instrument(symbol)
    instrument, tiers = profile.instrument, profile.era(start).tiers
    qty = instrument.lot_size * (1 + lots % int(largest / instrument.lot_size))
    entry = D(price)
    inverse = instrument.kind is Kind.INVERSE
    unit = qty * instrument.contract_value

    def value(p: Decimal) -> Decimal:
        return unit / p if inverse else unit * p

    entry_value = value(entry)
    collateral = entry_value * collateral_bp / 10000
    other = entry_value * other_bp / 10**7
    rate = D(funding) / 100000
    levels = price_levels(instrument, venue.rules.margin, tiers, venue.rules.price_rounding, side, qty, entry_value,
                          collateral, rate, other)
    assume(levels.liquidation_exact is not None)
    p = levels.liquidation_exact
    equity = collateral + side * instrument.value_sign * (value(p) - entry_value)
    basis = entry_value if venue.rules.margin.basis is MarginBasis.ENTRY else value(p)
    requirement = other + levels.requirement.rate * basis - levels.requirement.amount
    assert abs(equity - requirement) <= entry_value * D("1e-20")
    assert levels.bankruptcy_exact is None or abs(
        collateral + side * instrument.value_sign * (value(levels.bankruptcy_exact) - entry_value)
    ) <= entry_value * D("1e-20")


@PROPERTY
@given(scenarios())
def test_vectorized_mode_equals_event_engine(scenario: tuple) -> None:
    """Same events (order, quantities, prices, amounts), insurance-fund path, open positions and wallets, with
    no tolerance: the vectorized mode shares the exact formulas and scalar liquidation process."""
    venue, accounts, path, fund, slippage, rates, seed = scenario
    kwargs = dict(insurance_fund=fund, slippage=slippage, funding_rates=rates, seed=seed)
    events = simulate(venue, accounts, path, **kwargs)
    vectorized = simulate_vectorized(venue, accounts, path, **kwargs)
    assert vectorized.events == events.events
    assert vectorized.fund_path == events.fund_path
    assert vectorized.positions == events.positions
    assert vectorized.wallets == events.wallets


@PROPERTY
@given(scenarios(cross_accounts=True))
def test_conservation(scenario: tuple) -> None:
    """PnL, fees, funding and insurance-fund changes of traders, fund, venue and market sum to exactly zero."""
    venue, accounts, path, fund, slippage, rates, seed = scenario
    result = simulate(venue, accounts, path, insurance_fund=fund, slippage=slippage, funding_rates=rates, seed=seed)
    assert conservation_residual(result, accounts, venue) == 0


@PROPERTY
@given(scenarios(cross_accounts=True))
def test_adl_never_leaves_a_side_net_exposed(scenario: tuple) -> None:
    """ADL closes exactly the quantity the fund could not fill, never more than a counterparty holds, and moves
    both sides' open interest equally: the long-minus-short balance changes only through market trades."""
    venue, accounts, path, _, slippage, rates, seed = scenario
    result = simulate(venue, accounts, path, insurance_fund=D(0), slippage=slippage, funding_rates=rates, seed=seed)
    holdings = {a.account_id: a.positions[0].size for a in accounts}
    taken: dict[str, Decimal] = defaultdict(Decimal)
    market_net = D(0)
    for event in result.events:
        if isinstance(event, Takeover):
            taken[event.account] += event.qty
        elif isinstance(event, Fill):
            market_net -= event.side * event.qty
            if event.owner == "insurance_fund":
                taken[event.account] -= event.qty
        elif isinstance(event, PartialLiquidation):
            market_net -= event.side * event.qty
            holdings[event.account] -= event.qty
        elif isinstance(event, Deleverage):
            assert event.qty <= holdings[event.counterparty]
            holdings[event.counterparty] -= event.qty
            taken[event.account] -= event.qty
            assert event.side == -next(a.positions[0].side for a in accounts if a.account_id == event.account)
    assert all(v == 0 for v in taken.values())
    start = sum(p.side * p.size for a in accounts for p in a.positions)
    end = sum(p.side * p.qty for p in result.positions)
    assert end - start == market_net
