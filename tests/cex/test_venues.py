"""Venue profiles: every parameter sourced and dated, UNVERIFIED items flagged, malformed files rejected."""

from __future__ import annotations

import tomllib
from importlib import resources

import pytest

from cexwork import D
from toolkit.cex.adl import Ranking
from toolkit.cex.margin import MarginBasis
from toolkit.cex.venues import (VENUE_IDS, AdlPrice, LiquidationStyle, MarketLimit, PartialRule, load_venue,
                                parse_profile)
from toolkit.errors import UserInputError


def raw_profile(venue_id: str) -> dict:
    return tomllib.loads(resources.files("toolkit.cex").joinpath("venues", f"{venue_id}.toml").read_text())


@pytest.mark.parametrize("venue_id", VENUE_IDS)
def test_every_parameter_has_source_and_date(venue_id: str) -> None:
    venue = load_venue(venue_id)
    assert venue.id == venue_id
    raw = raw_profile(venue_id)
    assert set(venue.provenance) == set(raw["rules"])
    for name, provenance in venue.provenance.items():
        assert provenance.source.strip() and provenance.date.strip(), name
    for symbol, profile in venue.instruments.items():
        assert profile.provenance.source and profile.provenance.date, symbol
        for era in profile.eras:
            assert era.provenance.source and era.provenance.date, (symbol, era.name)


@pytest.mark.parametrize(("venue_id", "rule"), [
    ("bitmex", "funding_interest_rate"),            # default I: UNVERIFIED
    ("bitmex", "maintenance_includes_taker_fee"),   # fitted model vs staff quote
    ("binance-usdm", "liquidation_fee_rate"),       # current clearance-fee rates: UNVERIFIED
    ("binance-usdm", "price_rounding"),
    ("okx", "adl_price"),                           # mark-price ADL for all products: UNVERIFIED
    ("dydx-v4", "adl_ranking"),                     # conflicting counterparty ordering
    ("dydx-v4", "liquidation_fee_rate"),            # docs 1.5% vs code default 0.5%
    ("hyperliquid", "adl_ranking"),                 # exact sorting index: UNVERIFIED
])
def test_unverified_items_are_flagged(venue_id: str, rule: str) -> None:
    assert rule in load_venue(venue_id).unverified()


def test_venue_rules_follow_the_reference() -> None:
    """Spot checks of each profile against their entries in docs/sources/venues.md."""
    bitmex, binance, okx = load_venue("bitmex"), load_venue("binance-usdm"), load_venue("okx")
    dydx, hyperliquid, bybit = load_venue("dydx-v4"), load_venue("hyperliquid"), load_venue("bybit")
    assert bitmex.rules.funding_hours == (4, 12, 20) and bitmex.rules.margin.basis is MarginBasis.ENTRY
    assert bitmex.rules.liquidation_style is LiquidationStyle.TAKEOVER and bitmex.rules.partial is PartialRule.TIER
    assert binance.rules.margin.basis is MarginBasis.MARK and binance.rules.adl_ranking is Ranking.BINANCE
    assert (okx.rules.partial_min_tier, okx.rules.partial_tiers_down) == (3, 2)
    assert okx.rules.adl_drawdown_limit == D("0.30") and okx.rules.adl_price is AdlPrice.MARK
    assert dydx.rules.market_limit is MarketLimit.FILLABLE_PRICE and dydx.rules.liquidation_fee_rate == D("0.015")
    assert hyperliquid.rules.liquidation_fee_rate == 0
    assert hyperliquid.rules.backstop_equity_fraction == D(2) / D(3)
    assert (hyperliquid.rules.partial_fraction, hyperliquid.rules.partial_min_value) == (D("0.2"), D(100000))
    assert bybit.rules.adl_price is AdlPrice.BANKRUPTCY


@pytest.mark.parametrize(("edit", "message"), [
    (lambda raw: raw["rules"].update(made_up={"value": 1, "source": "x", "date": "y"}), "rules.made_up: unknown rule"),
    (lambda raw: raw["rules"]["taker_fee"].pop("source"), "rules.taker_fee: missing 'source'"),
    (lambda raw: raw["rules"]["taker_fee"].update(value="lots"), "rules.taker_fee: 'lots' is not a number"),
    (lambda raw: raw["rules"].pop("margin_basis"), "rules.margin_basis: missing"),
    (lambda raw: raw["rules"]["partial"].update(value="sometimes"), "rules.partial: 'sometimes' is not one of"),
    (lambda raw: raw["instruments"]["BTCUSDT"]["eras"][0]["tiers"]["maintenance_amount"].__setitem__(1, "51"),
     "tiers.maintenance_amount: tier 2 is 51, the cum recursion gives 50"),
    (lambda raw: raw["instruments"]["BTCUSDT"].update(tick_size="0"), "instruments.BTCUSDT.tick_size: must be positive"),
    (lambda raw: raw["instruments"]["BTCUSDT"].update(settlement_currency="EUR"), "is not in \\[currencies\\]"),
])
def test_malformed_profiles_are_rejected(edit, message: str) -> None:
    raw = raw_profile("binance-usdm")
    edit(raw)
    with pytest.raises(UserInputError, match=f"^venue profile binance-usdm: .*{message}"):
        parse_profile("binance-usdm", raw)
