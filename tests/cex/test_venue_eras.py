"""Every dated era of the venue profiles against the source file it comes from (fixtures/venues/, notes in its
README; entries of docs/sources/venues.md), and the era choice of ``--as-of``.

Expected values are read from the source files themselves (or, for the transcribed Hyperliquid page, from the
transcription) and compared with what the profile loads; derived values (maintenance amounts, tier-2 rates) are
worked out in the test from the source's rule.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from decimal import Decimal as D
from pathlib import Path

import pytest

from toolkit.cex import load_venue
from toolkit.cex.io import to_json
from toolkit.cex.tier_tables import TierTableError, read_bracket_file, venue_symbol
from toolkit.cex.venues import era_staleness
from toolkit.devchain.anvil import repo_root

ROOT = repo_root()
VENUES = ROOT / "fixtures" / "venues"


def _json(name: str) -> object:
    return json.loads((VENUES / name).read_text())


def test_binance_brackets_2024_10_24_equal_the_source_file() -> None:
    """BTCUSDT bracket 1: 125x, 0.4 %, cap 50,000, cum 0; every bracket of BTCUSDT and ETHUSDT as served."""
    source = _json("binance-usdm-leverage-tiers-2024-10-24-BTC-ETH.json")
    profile = load_venue("binance-usdm")
    for unified, symbol in (("BTC/USDT:USDT", "BTCUSDT"), ("ETH/USDT:USDT", "ETHUSDT")):
        era = profile.instrument(symbol).era(datetime(2025, 10, 10, tzinfo=UTC))
        assert era.name == "2024-10-24" and era.valid_from.date().isoformat() == "2024-10-24"
        brackets = [entry["info"] for entry in source[unified]]  # type: ignore[index]
        assert len(era.tiers) == len(brackets) == 12
        for tier, info in zip(era.tiers, brackets, strict=True):
            assert tier.number == int(info["bracket"])
            assert tier.max_size == D(info["notionalCap"])
            assert tier.maintenance_rate == D(info["maintMarginRatio"])
            assert tier.max_leverage == D(info["initialLeverage"])
            assert tier.maintenance_amount == D(info["cum"])
    first = profile.instrument("BTCUSDT").era(name="2024-10-24").tiers[0]
    assert (first.max_leverage, first.maintenance_rate, first.maintenance_amount) == (125, D("0.004"), 0)


def test_binance_bracket_file_covers_349_symbols_and_the_ccxt_symbols() -> None:
    profile = load_venue("binance-usdm")
    assert len(profile.instruments) == 349
    assert profile.instrument("ETH/USDT:USDT") is profile.instrument("ETHUSDT")
    quarterly = profile.instrument("BTC/USDT:USDT-241227")
    assert quarterly.instrument.symbol == "BTCUSDT_241227"
    bonk = profile.instrument("1000BONKUSDC")
    assert bonk.instrument.settlement_currency == "USDC" and bonk.provenance.unverified
    ethbtc = profile.instrument("ETHBTC").era().tiers[1]  # ETH/BTC:BTC bracket 2: 75x, 0.6 %, cap 5-10 BTC
    assert (ethbtc.max_leverage, ethbtc.maintenance_rate, ethbtc.max_size, ethbtc.maintenance_amount) == (
        75, D("0.006"), 10, D("0.005"))


def test_a_bracket_file_with_a_wrong_cum_does_not_load() -> None:
    text = ("symbol,currency,bracket,notionalFloor,notionalCap,maintMarginRatio,cum,initialLeverage\n"
            "X/USDT:USDT,USDT,1,0,50000,0.004,0.0,125\nX/USDT:USDT,USDT,2,50000,600000,0.005,51.0,100\n")
    with pytest.raises(TierTableError, match="tier 2 maintenance amount is 51, the recursion gives 50"):
        read_bracket_file(text, "binance-usdm")


def test_bitmex_xbtusd_eras_from_the_instrument_records() -> None:
    """2021-07-22: maintMargin 0.0035, initMargin 0.01, riskLimit 200 XBT, riskStep 100 XBT; 2024-11-24: 0.005,
    0.01, 200 XBT, 150 XBT (the 2021-08-31 era, seen in force then)."""
    xbt = load_venue("bitmex").instrument("XBTUSD")
    old = next(i for i in _json("bitmex-instrument-active-2021-07-22.json")["instruments"]  # type: ignore[index]
               if i["symbol"] == "XBTUSD")
    era = xbt.era(datetime(2021, 8, 1, tzinfo=UTC))
    assert era.name == "2021-07-22-mm0.35"
    base, second = era.tiers[:2]
    assert base.maintenance_rate == D(repr(old["maintMargin"])) and base.initial_rate == D(repr(old["initMargin"]))
    assert base.max_size == D(old["riskLimit"]) / 10**8 and second.max_size - base.max_size == D(old["riskStep"]) / 10**8
    new = _json("bitmex-instrument-XBTUSD-2024-11-24.json")
    era = xbt.era(datetime(2025, 10, 10, tzinfo=UTC))
    assert era.name == "2021-08-31-step150" and era.seen == datetime(2024, 11, 24, 23, 33, 19, tzinfo=UTC)
    base, second = era.tiers[:2]
    assert (base.maintenance_rate, base.initial_rate) == (D(repr(new["maintMargin"])), D(repr(new["initMargin"])))  # type: ignore[index]
    assert base.max_size == D(new["riskLimit"]) / 10**8  # type: ignore[index]
    assert second.max_size - base.max_size == D(new["riskStep"]) / 10**8  # type: ignore[index]
    assert era_staleness(era, datetime(2025, 10, 10, tzinfo=UTC)) is None  # seen 2024-11-24: less than a year


def test_bitmex_ethusd_era_2021_07_22() -> None:
    eth = next(i for i in _json("bitmex-instrument-active-2021-07-22.json")["instruments"]  # type: ignore[index]
               if i["symbol"] == "ETHUSD")
    (base, second, *_) = load_venue("bitmex").instrument("ETHUSD").era(name="2021-07-22").tiers
    assert (base.maintenance_rate, base.initial_rate) == (D(repr(eth["maintMargin"])), D(repr(eth["initMargin"])))
    assert base.max_size == D(eth["riskLimit"]) / 10**8 == 75 and second.max_size == 150


@pytest.mark.parametrize("market", ["BTC-USD", "ETH-USD", "SOL-USD"])
def test_dydx_eras_2025_12_08(market: str) -> None:
    """initialMarginFraction / maintenanceMarginFraction, tickSize and stepSize of the indexer answer."""
    source = _json("dydx-perpetual-markets-2025-12-08.json")["result"]["markets"][market]  # type: ignore[index]
    profile = load_venue("dydx-v4").instrument(market)
    (tier,) = profile.era(datetime(2025, 12, 9, tzinfo=UTC)).tiers
    assert tier.initial_rate == D(source["initialMarginFraction"])
    assert tier.maintenance_rate == D(source["maintenanceMarginFraction"])
    assert profile.instrument.tick_size == D(source["tickSize"]) and profile.instrument.lot_size == D(source["stepSize"])


@pytest.mark.parametrize(("coin", "era_name"), [("BTC", "2025-tiered"), ("ETH", "2025-tiered"), ("SOL", "2025-tiered"),
                                                ("XRP", "2025-tiered")])
def test_hyperliquid_margin_tiers(coin: str, era_name: str) -> None:
    """Tiers of the docs page: maintenance = half the initial rate at the tier's max leverage, deduction by the
    recursion (BTC tier 2: 150M x (2.5 % - 1.25 %) = 1,875,000)."""
    page = _json("hyperliquid-margin-tiers-docs-2025.json")["mainnet_tiers_usdc_notional"][coin]  # type: ignore[index]
    tiers = load_venue("hyperliquid").instrument(coin).era(name=era_name).tiers
    assert len(tiers) == len(page)
    deduction = D(0)
    for n, (tier, row) in enumerate(zip(tiers, page, strict=True)):
        rate = 1 / D(row["max_leverage"]) / 2
        if n:
            deduction += D(row["from"]) * (rate - tiers[n - 1].maintenance_rate)
        assert tier.max_leverage == row["max_leverage"] and tier.maintenance_rate == rate
        assert tier.max_size == (None if row["to"] is None else D(row["to"]))
        assert tier.maintenance_amount == deduction
    if coin == "BTC":
        assert tiers[1].maintenance_amount == 1_875_000


def test_hyperliquid_meta_eras() -> None:
    """2023-07-17: every asset 50x (maintenance 1 %); 2025-10-30: BTC 40x, ETH 25x (tier 1 of the tiered era, and
    the date the single-tier eras are seen in force)."""
    old = {a["name"]: a["maxLeverage"] for a in _json("hyperliquid-meta-2023-07-17.json")["universe"]}  # type: ignore[index]
    new = {a["name"]: a["maxLeverage"] for a in _json("hyperliquid-meta-perp-sample-2025-10-30.json")["universe"]}  # type: ignore[index]
    profile = load_venue("hyperliquid")
    for coin in ("BTC", "ETH"):
        instrument = profile.instrument(coin)
        (tier,) = instrument.era(datetime(2023, 8, 1, tzinfo=UTC)).tiers
        assert tier.max_leverage == old[coin] == 50 and tier.maintenance_rate == D("0.01")
        latest = instrument.era(datetime(2025, 11, 1, tzinfo=UTC))
        assert latest.name == "2025-tiered" and latest.tiers[0].max_leverage == new[coin]
        single = instrument.era(datetime(2025, 10, 10, tzinfo=UTC))
        assert single.tiers[0].max_leverage == new[coin] and single.seen.date().isoformat() == "2025-10-30"
        assert instrument.instrument.lot_size == D(1).scaleb(-next(
            a["szDecimals"] for a in _json("hyperliquid-meta-perp-sample-2025-10-30.json")["universe"]  # type: ignore[index]
            if a["name"] == coin))


@pytest.mark.parametrize(("venue", "symbol"), [("bybit", "BTCUSDT"), ("bybit", "BTCUSD"), ("okx", "BTC-USD-SWAP")])
def test_bybit_and_okx_eras_are_marked_outdated(venue: str, symbol: str) -> None:
    era = load_venue(venue).instrument(symbol).era()
    assert era.provenance.unverified and "OUTDATED" in era.provenance.note and "liqtk cex fetch" in era.provenance.note
    warning = era_staleness(era, datetime(2025, 10, 10, tzinfo=UTC))
    assert warning is not None and "days before 2025-10-10" in warning


def test_staleness_is_reported_beyond_a_year() -> None:
    era = load_venue("binance-usdm").instrument("BTCUSDT").era(name="2024-10-24")
    assert era_staleness(era, datetime(2025, 10, 24, tzinfo=UTC)) is None
    assert "366 days before 2025-10-25" in era_staleness(era, datetime(2025, 10, 25, 4, 8, tzinfo=UTC))  # type: ignore[operator]


@pytest.mark.parametrize(("unified", "venue", "expected"), [
    ("BTC/USDT:USDT", "binance-usdm", "BTCUSDT"), ("BTC/USDT:USDT-250328", "binance-usdm", "BTCUSDT_250328"),
    ("BTC/USD:BTC", "okx", "BTC-USD-SWAP"), ("BTC/USD:BTC", "bitmex", "XBTUSD"), ("ETH/USDT:USDT", "bitmex", "ETHUSDT"),
    ("BTC/USDC:USDC", "hyperliquid", "BTC"), ("ETH/USD:USD", "dydx-v4", "ETH-USD"), ("XBTUSD", "bitmex", "XBTUSD"),
])
def test_venue_symbols_of_ccxt_symbols(unified: str, venue: str, expected: str) -> None:
    assert venue_symbol(unified, venue) == expected


def test_json_keeps_exact_values_as_strings() -> None:
    """Integers up to 2^53 stay JSON numbers; larger integers and non-integral decimals become exact text."""
    assert to_json(D(2**53)) == 2**53 and to_json(D(2**53 + 1)) == str(2**53 + 1)
    assert to_json(D("0.1")) == "0.1" and to_json(D("2291.457286432160804020100502")) == "2291.457286432160804020100502"
    assert to_json(D("9.60000000000")) == "9.6" and to_json(D("-0.000139")) == "-0.000139" and to_json(D("1E+2")) == 100


def test_sources_are_cited_inside_the_project() -> None:
    """Code and profiles of toolkit.cex cite docs/sources/venues.md entries that exist, never shared/."""
    page = (ROOT / "docs" / "sources" / "venues.md").read_text()
    anchors = {re.sub(r"[^a-z0-9 -]", "", line[3:].strip().lower()).replace(" ", "-")
               for line in page.splitlines() if line.startswith("## ")}
    cited = set()
    for path in sorted((ROOT / "toolkit" / "cex").rglob("*")):
        if path.suffix not in (".py", ".toml", ".csv"):
            continue
        text = path.read_text()
        assert "shared/" not in text and "§" not in text, path
        cited |= set(re.findall(r"docs/sources/venues\.md#([a-z0-9-]+)", text))
    assert cited and not cited - anchors, sorted(cited - anchors)
    assert Path(ROOT / "fixtures" / "venues" / "README.md").exists()
