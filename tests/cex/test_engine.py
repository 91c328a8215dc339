"""Event engine scenarios: venue processes, funding on real BitMEX data, the 2020-03-12 crash, determinism."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pandas as pd
import pytest

from cexwork import (FIXTURES, START, D, conservation_residual, cross, isolated, label, make_instrument, path_of,
                     with_instrument, with_rules)
from toolkit.cex.accounts import PositionSpec
from toolkit.cex.engine import simulate
from toolkit.cex.events import Deleverage, Fill, FundingPayment, InsuranceFundChange, PartialLiquidation, Takeover
from toolkit.cex.instruments import LONG, SHORT, Kind
from toolkit.cex.io import load_funding, load_prices
from toolkit.cex.marking import PricePath
from toolkit.cex.quotes import quote_account
from toolkit.cex.tiers import RiskTier
from toolkit.cex.vectorized import simulate_vectorized
from toolkit.cex.venues import AdlPrice, load_venue

BITMEX = load_venue("bitmex")
FUNDING = FIXTURES / "bitmex" / "bitmex_XBTUSD_funding_history_2016-05_to_2020-11.csv"


def bitmex_trades_path(start: str, end: str) -> PricePath:
    """XBTUSD trades at funding times (fixture), floored to the funding hour: an 8-hour mark path."""
    trades = pd.read_csv(FIXTURES / "bitmex" / "bitmex_XBTUSD_trades_at_funding_times.csv", dtype=str)
    stamps = pd.to_datetime(trades["timestamp"]).dt.floor("h")
    window = trades.assign(timestamp=stamps.dt.strftime("%Y-%m-%dT%H:%M:%SZ"))
    window = window[(stamps >= start) & (stamps <= end)].rename(columns={"price": "mark_price"})
    return load_prices(window[["timestamp", "symbol", "mark_price"]])[0]


def linear_venue(venue_id: str = "bitmex", **rules: object):
    """A venue with a plain linear test contract (1 unit per contract, tick 1, MM 0.5%, IM 1%)."""
    venue = with_rules(venue_id, **rules) if rules else load_venue(venue_id)
    usd = make_instrument("EXAMPLE", Kind.LINEAR, "1", "USD", tick="1")
    return with_instrument(venue, usd, (RiskTier(1, None, D("0.005"), D("0.01")),))


def test_funding_paid_at_bitmex_times_with_historical_rates() -> None:
    """Positions held at 04:00, 12:00 and 20:00 UTC pay mark value x F with the historical XBTUSD rate of that
    time (fixture): on 2020-03-13 the rate sat at the -0.375% floor, so shorts paid longs.
    Source: https://www.bitmex.com/app/swapsGuide ; data: fixtures/bitmex (BitMEX /funding export)."""
    path = bitmex_trades_path("2020-03-12 04:00", "2020-03-14 20:00")
    rates = load_funding(FUNDING, "XBTUSD")
    accounts = [isolated("long", "XBTUSD", LONG, "10000", "7658.5", "1"),
                isolated("short", "XBTUSD", SHORT, "10000", "7658.5", "1")]
    result = simulate(BITMEX, accounts, path, funding_rates=rates)
    payments = [e for e in result.events if isinstance(e, FundingPayment)]
    assert {e.time.hour for e in payments} == {4, 12, 20}
    assert len(payments) == 2 * (len(path.times) - 1)  # nothing at the first tick
    floor = [e for e in payments if e.time == datetime(2020, 3, 13, 4, tzinfo=UTC)]
    assert {e.rate for e in floor} == {D("-0.00375")}
    by_side = {e.account: e for e in floor}
    assert by_side["long"].price == D("4790.5")
    assert by_side["long"].amount == -by_side["short"].amount < 0
    assert by_side["short"].amount == BITMEX.instrument("XBTUSD").instrument.money(
        D(10000) / D("4790.5") * D("0.00375"))


def test_bitmex_tier_reduction_before_takeover() -> None:
    """2,500,000 XBTUSD at 8,000 (312.5 XBT, tier 3 of the 200 / 100 XBT steps, 50x): the engine first closes
    enough to drop to tier 2 (<= 300 XBT: keep 2,400,000), then to tier 1 (<= 200 XBT: keep 1,600,000), and only
    then takes the rest over at the bankruptcy price.
    Source: https://testnet.bitmex.com/app/liquidationExamples ; tiers: docs/sources/venues.md#bitmex-risk-limits."""
    prices = [str(round(D(8000) * (1 - D("0.001") * k) * 2) / 2) for k in range(40)]
    result = simulate(BITMEX, [isolated("a", "XBTUSD", LONG, "2500000", "8000", "50")], path_of(prices, "XBTUSD"))
    partials = [e for e in result.events if isinstance(e, PartialLiquidation)]
    assert [(e.qty, e.remaining_qty) for e in partials] == [(D(100000), D(2400000)), (D(800000), D(1600000))]
    (takeover,) = [e for e in result.events if isinstance(e, Takeover)]
    assert takeover.qty == D(1600000)
    assert result.events.index(takeover) > result.events.index(partials[-1])
    assert sum(e.fee for e in partials) == result.venue_fees > 0


def test_okx_partial_liquidation_reduces_two_tiers() -> None:
    """OKX: a position in tier >= 3 is first reduced by two tiers: 30,000 BTC swaps (tier 5, 25,000-49,999)
    are cut to the tier-3 limit of 14,999 contracts (15,001 closed).
    Source: https://okx.huicker.com/fr-fr/help/v-tiered-maintenance-margin-ratio-rules ; tiers
    https://www.okx.com/id/help/adjustment-of-perpetual-swap-tiered-maintenance-margin-ratio-schedule"""
    venue = load_venue("okx")
    account = isolated("a", "BTC-USD-SWAP", LONG, "30000", "8000", "15")
    liquidation = quote_account(venue, account, label, as_of=START).positions[0].liquidation_price
    result = simulate(venue, [account], path_of(["8000", str(liquidation), str(liquidation)], "BTC-USD-SWAP"))
    partials = [e for e in result.events if isinstance(e, PartialLiquidation)]
    assert partials[0].qty == D(15001) and partials[0].remaining_qty == D(14999)


def test_hyperliquid_partial_liquidation_and_cooldown() -> None:
    """Hyperliquid: a position above 100k USDC sends only 20% to the book, then waits 30 s before the next step;
    below 2/3 of maintenance margin the backstop takes the rest over even during the cooldown.
    Source: https://hyperliquid.gitbook.io/hyperliquid-docs/trading/liquidations ,
    https://tginsight.xyz/channel/hyperliquid_announcements/post/307"""
    venue = load_venue("hyperliquid")
    account = isolated("a", "BTC", LONG, "5", "100000", "40")
    liquidation = quote_account(venue, account, label).positions[0].liquidation_price
    prices = ["100000"] + [str(round(liquidation * (1 - D("0.002") * k))) for k in range(12)]
    start = datetime(2025, 10, 10, 21, tzinfo=UTC)
    result = simulate(venue, [account], path_of(prices, "BTC", start, timedelta(seconds=10)))
    partials = [e for e in result.events if isinstance(e, PartialLiquidation)]
    assert [e.qty for e in partials] == [D(1), D("0.8")]  # 20% of 5, then 20% of 4
    assert partials[1].time - partials[0].time == timedelta(seconds=30)
    (takeover,) = [e for e in result.events if isinstance(e, Takeover)]
    assert takeover.qty == D("3.2") and takeover.time - partials[1].time < timedelta(seconds=30)


def test_hyperliquid_backstop_below_two_thirds_of_maintenance() -> None:
    """Hyperliquid: when equity is below 2/3 of maintenance margin the position goes to the Liquidator vault (the
    fund here) with its margin, without a market order first.
    Source: https://hyperliquid.gitbook.io/hyperliquid-docs/trading/liquidations"""
    venue = load_venue("hyperliquid")
    account = isolated("a", "BTC", LONG, "5", "100000", "40")
    result = simulate(venue, [account], path_of(["100000", "97700"], "BTC", datetime(2025, 10, 10, tzinfo=UTC)))
    kinds = [e.kind for e in result.events if not isinstance(e, InsuranceFundChange)]
    assert kinds == ["takeover", "fill"]


def test_binance_market_liquidation_charges_the_clearance_fee() -> None:
    """Binance: a position that can still be closed above its bankruptcy price is closed in the market; the
    liquidation fee (0.5% of the value, at most what is left) goes to the insurance fund, the rest to the trader.
    Source: https://www.binance.com/pt-BR/support/faq/360033525271 ,
    https://binanceapitest.github.io/Binance-Futures-Documentation/Insurance_Fund/"""
    venue = load_venue("binance-usdm")
    account = isolated("a", "BTCUSDT", LONG, "1", "30000", "10")
    levels = quote_account(venue, account, label).positions[0]
    start = datetime(2021, 5, 19, tzinfo=UTC)
    result = simulate(venue, [account], path_of(["30000", str(levels.liquidation_price)], "BTCUSDT", start))
    (fill,) = [e for e in result.events if isinstance(e, Fill)]
    assert fill.owner == "trader"
    left = D(3000) + fill.realized_pnl
    assert fill.fee == min(D("0.005") * fill.value, left)
    assert result.wallets["a"] == left - fill.fee
    assert result.fund_path[-1][1] == fill.fee


@pytest.mark.parametrize(("drawdown", "expect_adl"), [(None, False), (D("0.3"), True)])
def test_fund_drawdown_limit_triggers_adl(drawdown: Decimal | None, expect_adl: bool) -> None:
    """OKX: ADL when the fund would fall 30% below its 8-hour peak, even with money left; without the rule the
    fund pays the shortfall (BitMEX).
    Source: https://www.ouchyi.rocks/es-la/help/what-is-the-mechanism-for-the-strong-level-in-advance-what-is-the-use ;
    https://bitmex.com/app/autoDeleveraging"""
    venue = linear_venue(adl_drawdown_limit=drawdown)
    accounts = [isolated("short", "EXAMPLE", SHORT, "100", "100", "10"),
                isolated("long", "EXAMPLE", LONG, "100", "100", "2")]
    result = simulate(venue, accounts, path_of(["100", "150"], "EXAMPLE"), insurance_fund=D(10000))
    adl = [e for e in result.events if isinstance(e, Deleverage)]
    assert bool(adl) is expect_adl
    # the short (100 at 100, 10x) is bankrupt at 110, the market is at 150: a shortfall of 4,000 on 10,000
    assert result.fund_path[-1][1] == (D(10000) if expect_adl else D(6000))


@pytest.mark.parametrize(("fund", "price", "realized", "fund_end"), [
    ("10000", None, None, "6000"),      # the fund pays the whole gap of 4,000 itself: no ADL
    ("2500", "135", "3500", "0"),       # it pays its 2,500; the counterparty carries 1,500: closed at 135
    ("0", "110", "1000", "0"),          # an empty fund pays nothing: ADL at the bankruptcy price
])
def test_adl_at_mark_price_charges_the_fund_only_while_it_can_pay(fund: str, price: str | None,
                                                                   realized: str | None, fund_end: str) -> None:
    """OKX / Hyperliquid close ADL counterparties at the mark price; the gap to the bankruptcy price is the fund's
    only as far as its balance goes, the rest falls on the counterparties (fund first, then ADL; the fund never
    goes below zero). The short (100 at 100, 10x) is bankrupt at 110 and the mark is 150: a gap of 4,000 on a
    value of 11,000 at 110. Derived: with a fund F < 4,000 the counterparty's exit value is 15,000 - (4,000 - F).
    Source: docs/sources/venues.md#okx-adl, #hyperliquid-backstop-and-adl, #loss-waterfall."""
    venue = linear_venue(adl_price=AdlPrice.MARK)
    accounts = [isolated("short", "EXAMPLE", SHORT, "100", "100", "10"),
                isolated("long", "EXAMPLE", LONG, "100", "100", "2")]
    result = simulate(venue, accounts, path_of(["100", "150"], "EXAMPLE"), insurance_fund=D(fund))
    adl = [(e.price, e.realized_pnl) for e in result.events if isinstance(e, Deleverage)]
    assert adl == ([] if price is None else [(D(price), D(realized))])
    assert result.fund_path[-1][1] == D(fund_end) and min(b for _, b in result.fund_path) >= 0
    summary = result.summary()
    assert summary["shortfall_paid_by_fund"] == min(D(fund), D(4000))
    assert summary["insurance_fund_uncovered"] == 0
    assert conservation_residual(result, accounts, venue) == 0


def test_cross_account_positions_are_liquidated_together() -> None:
    """A cross account with XBTUSD and ETHUSD (both settle in XBT) is liquidated as one: both positions are taken
    over when the account's equity falls below the summed maintenance margin, and its equity goes to the fund.
    Source: docs/sources/venues.md#bitmex-liquidation-price (cross margin), #bitmex-liquidation-process (takeover)."""
    account = cross("x", "0.2", PositionSpec("XBTUSD", LONG, D(10000), D(8000), D(10)),
                    PositionSpec("ETHUSD", LONG, D(1000), D(200), D(10)))
    times = tuple(datetime(2020, 6, 1, tzinfo=UTC) + timedelta(minutes=k) for k in range(4))
    path = PricePath(times, {"XBTUSD": tuple(D(p) for p in ("8000", "7000", "6000", "5000")),
                             "ETHUSD": tuple(D(p) for p in ("200", "190", "150", "120"))})
    result = simulate(BITMEX, [account], path, insurance_fund=D(1))
    takeovers = [e for e in result.events if isinstance(e, Takeover)]
    assert {e.symbol for e in takeovers} == {"XBTUSD", "ETHUSD"}
    assert len({e.time for e in takeovers}) == 1
    assert result.wallets["x"] == 0 and not result.positions
    assert conservation_residual(result, [account], BITMEX) == 0


def test_same_seed_same_events_and_seed_drives_random_adl() -> None:
    """Deterministic for a given seed; dYdX v4 picks deleveraging counterparties at random ("randomly chosen
    offsetting positions", UNVERIFIED ordering), so other seeds may pick other accounts.
    Source: https://dydx-documentation-six.vercel.app/concepts/trading/contract-loss-mechanism"""
    venue = linear_venue("dydx-v4")
    accounts = [isolated("short", "EXAMPLE", SHORT, "100", "100", "10")]
    accounts += [isolated(f"long{k}", "EXAMPLE", LONG, "20", "100", "2") for k in range(8)]
    path = path_of(["100", "150"], "EXAMPLE")
    runs = {seed: simulate(venue, accounts, path, seed=seed).events for seed in range(6)}
    assert simulate(venue, accounts, path, seed=3).events == runs[3]
    chosen = {seed: tuple(e.counterparty for e in events if isinstance(e, Deleverage))
              for seed, events in runs.items()}
    assert all(len(c) == 5 for c in chosen.values())
    assert len(set(chosen.values())) > 1


def crash_population() -> list:
    """XBTUSD longs and shorts at the 2020-03-09 open, leverages 1x-100x."""
    accounts = []
    for n, leverage in enumerate(("1", "2", "3", "5", "10", "25", "50", "100")):
        accounts.append(isolated(f"L{leverage}", "XBTUSD", LONG, str(20000 * (n + 1)), "8000", leverage))
        accounts.append(isolated(f"S{leverage}", "XBTUSD", SHORT, str(15000 * (n + 1)), "8000", leverage))
    return accounts


def test_crash_of_2020_03_12_engines_agree_and_conserve() -> None:
    """The 2020-03-09..15 BTC crash (Binance hourly closes as the index, BitMEX historical funding, fair-price
    marks): every long of 3x or more is liquidated, higher leverage first; both engines produce the same events
    and the books balance to zero.
    Data: fixtures/prices/binance_spot_BTCUSDT_1h_2020-03-12_window.csv, fixtures/bitmex (funding)."""
    frame = pd.read_csv(FIXTURES / "prices" / "binance_spot_BTCUSDT_1h_2020-03-12_window.csv", dtype=str)
    frame = frame.rename(columns={"open_time_utc": "timestamp", "close": "index_price"})
    path, column = load_prices(frame[["timestamp", "index_price"]], "XBTUSD")
    assert column == "index_price"
    rates = load_funding(FUNDING, "XBTUSD")
    accounts = crash_population()
    kwargs = dict(funding_rates=rates, insurance_fund=D(1), index_prices=True)
    result = simulate(BITMEX, accounts, path, **kwargs)
    assert simulate_vectorized(BITMEX, accounts, path, **kwargs).events == result.events
    assert conservation_residual(result, accounts, BITMEX) == 0
    liquidated = [e.account for e in result.events if isinstance(e, Takeover)]
    assert {f"L{x}" for x in ("3", "5", "10", "25", "50", "100")} <= set(liquidated)
    order = [a for a in liquidated if a.startswith("L")]
    assert order.index("L100") < order.index("L25") < order.index("L5")
    assert Counter(e.kind for e in result.events)["funding"] > 0
    assert result.summary()["liquidations"] == len(liquidated)
