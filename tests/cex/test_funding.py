"""Funding and mark price, checked against BitMEX's published rules and its historical funding data."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd

from cexwork import FIXTURES, D
from toolkit.cex.funding import FundingSchedule, bitmex_cap, funding_rate, premium_index
from toolkit.cex.io import load_funding
from toolkit.cex.marking import fair_price
from toolkit.cex.venues import load_venue

BITMEX = load_venue("bitmex")
XBTUSD = BITMEX.instrument("XBTUSD")
HISTORY = FIXTURES / "bitmex" / "bitmex_XBTUSD_funding_history_2016-05_to_2020-11.csv"


def test_historical_rates_respect_the_cap_of_their_era() -> None:
    """Every XBTUSD 8-hour rate from 2019 on lies within 75% x (IM - MM) of the era in force (0.375% with
    MM 0.5%, 0.45% with MM 0.40% from 5 May 2020), and the floor was hit on 2020-03-13 04:00 .. 03-14 20:00.
    Source: cap https://blog.bitmex.com/important-changes-to-bitcoin-usd-swap-funding ; eras: docs/sources/venues.md#bitmex-risk-limits;
    data fixtures/bitmex (reference points of its README)."""
    rates = load_funding(HISTORY, "XBTUSD")
    checked = 0
    for moment, rate in rates.items():
        if moment < datetime(2019, 1, 1, tzinfo=UTC):
            continue
        era = XBTUSD.era(moment)
        cap = bitmex_cap(era.tiers[0].initial_rate, era.tiers[0].maintenance_rate)
        assert abs(rate) <= cap, moment
        checked += 1
    assert checked > 1900
    floor = [rates[datetime(2020, 3, 13, 4, tzinfo=UTC) + timedelta(hours=8 * k)] for k in range(6)]
    assert floor == [-bitmex_cap(D("0.01"), D("0.005"))] * 6
    assert rates[datetime(2020, 3, 12, 20, tzinfo=UTC)] == D("-0.001691")


def test_schedule_matches_historical_funding_times() -> None:
    """8-hour funding from 2016-06-04 20:00: the venue schedule (04:00, 12:00, 20:00 UTC) lists exactly the
    funding times of the BitMEX export.
    Source: https://www.bitmex.com/app/swapsGuide ; data fixtures/bitmex."""
    times = [t for t in load_funding(HISTORY, "XBTUSD") if t >= datetime(2016, 6, 4, 20, tzinfo=UTC)]
    schedule = BITMEX.funding_schedule(XBTUSD.era(times[-1]))
    expected = list(schedule.times_between(times[0] - timedelta(seconds=1), times[-1]))
    assert expected == times
    assert schedule.next_after(times[0]) == times[1]


def test_default_rate_is_interest_with_zero_premium() -> None:
    """Without a funding file every payment uses F = P + clamp(I - P) with P = 0, i.e. I = 0.01% per 8 h.
    Source: (default XBTUSD interest 0.01%, unverified in docs/sources/venues.md#bitmex-funding)."""
    schedule = BITMEX.funding_schedule(XBTUSD.era())
    assert isinstance(schedule, FundingSchedule)
    assert schedule.default_rate == D("0.0001") == funding_rate(D(0), D("0.0001"))
    assert schedule.rate_at(datetime(2021, 1, 1, 4, tzinfo=UTC)) == D("0.0001")


def test_fair_price_adds_the_prorated_funding_basis() -> None:
    """Fair Price = Index x (1 + Funding Rate x Time Until Funding / Funding Interval).
    Source: https://www.bitmex.com/app/fairPriceMarking"""
    now = datetime(2020, 3, 12, 8, tzinfo=UTC)
    funding_time = datetime(2020, 3, 12, 12, tzinfo=UTC)
    assert fair_price(D(10000), D("0.0001"), now, funding_time, timedelta(hours=8)) == D("10000.5")
    assert fair_price(D(10000), D("-0.00375"), funding_time, funding_time, timedelta(hours=8)) == D(10000)


def test_premium_index_formula() -> None:
    """P = (max(0, ImpactBid - Mark) - max(0, Mark - ImpactAsk)) / Spot + FairBasisUsedInMark.
    Source: (BitMEX guide text at https://r.arson.gg/r/BitMEX/comments/d5kupn/funding_calculations)"""
    assert premium_index(D(101), D(102), D(100), D(100), D("0.0001")) == D("0.0101")
    assert premium_index(D(98), D(99), D(100), D(100), D(0)) == D("-0.01")
    assert premium_index(D(99), D(101), D(100), D(100), D(0)) == D(0)


def test_trades_fixture_grossvalue_matches_inverse_value() -> None:
    """XBTUSD trade value in satoshis is size x round(1e8 / price) (fixture README): the instrument's value of one
    contract at each traded price, in satoshis, agrees.
    Source: API field dump (settlCurrency XBt, multiplier -100000000); data fixtures/bitmex."""
    trades = pd.read_csv(FIXTURES / "bitmex" / "bitmex_XBTUSD_trades_at_funding_times.csv", dtype=str).head(300)
    instrument = XBTUSD.instrument
    for size, price, gross in zip(trades["size"], trades["price"], trades["grossValue"]):
        per_contract = instrument.value(D(1), D(price)) * D(10) ** 8
        assert D(size) * per_contract == D(gross)
