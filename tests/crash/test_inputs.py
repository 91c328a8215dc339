"""Inputs of a replay: bad ones end in one clear line and exit code 2 before anything starts; the population
and the venue names are deterministic and documented."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from crashwork import liqtk
from toolkit.compare import VenueContract
from toolkit.crash.events import EVENTS, crash_event, load_paths
from toolkit.crash.population import PopulationSpec, build_population, perp_position
from toolkit.crash.venues import parse_venues

MOMENT = datetime(2025, 10, 9, tzinfo=UTC)


@pytest.mark.parametrize(("args", "message"), [
    (["--event", "2019-01-01"], "--event: unknown event '2019-01-01'"),
    (["--asset", "DOGE"], "--asset: unknown asset 'DOGE'"),
    (["--venues", "bitmex,ftx"], "--venues: unknown venue 'ftx'"),
    (["--borrowers", "0"], "--borrowers: must be a positive number"),
    (["--borrowers", "-3"], "--borrowers: must be a positive number"),
    (["--health-factor", "0.9,1.2"], "--health-factor"),
    (["--start", "2025-10-01T00:00"], "--start/--end"),
])
def test_bad_input_is_one_line_and_exit_code_2(args, message, tmp_path, capsys) -> None:
    out = tmp_path / "out"
    assert liqtk(["replay", "--out", str(out), *args]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and message in err[0]
    assert not out.exists()  # checked before anything is written


def test_an_unwritable_out_directory_is_exit_code_2(tmp_path, capsys) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    assert liqtk(["replay", "--out", str(blocker / "report"), "--borrowers", "2"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: --out: cannot write to")


def test_venue_names_map_to_profiles_and_contracts() -> None:
    assert parse_venues("bitmex,binance,hyperliquid", "ETH", MOMENT) == [  # each venue's ETH tiers for ETH
        VenueContract("bitmex", "ETHUSD"), VenueContract("binance-usdm", "ETHUSDT"),
        VenueContract("hyperliquid", "ETH")]
    assert parse_venues("bybit,okx,dydx", "ETH", MOMENT) == [  # no ETH table: their bitcoin perpetual
        VenueContract("bybit", "BTCUSDT"), VenueContract("okx", "BTC-USD-SWAP"), VenueContract("dydx-v4", "ETH-USD")]
    assert parse_venues("bitmex,binance-usdm,hyperliquid", "BTC", MOMENT) == [
        VenueContract("bitmex", "XBTUSD"), VenueContract("binance-usdm", "BTCUSDT"),
        VenueContract("hyperliquid", "BTC")]
    assert parse_venues("bitmex:XBTUSD", "ETH", MOMENT) == [VenueContract("bitmex", "XBTUSD")]


def test_the_population_is_deterministic_for_a_seed_and_its_perps_carry_the_equity() -> None:
    spec = PopulationSpec(borrowers=12)
    price = Decimal("4511.29")
    first, again, other = (build_population(spec, "WETH", price, seed) for seed in (3, 3, 4))
    assert first == again and first != other
    assert [b.protocol for b in first[:4]] == ["aave-v3", "aave-v2", "venus", "morpho-blue"]
    for b in first:
        perp = perp_position(b, price)
        assert perp.margin == perp.collateral_usd - perp.debt_usd > 0
        assert perp.notional == perp.qty * price
        assert b.protocol != "morpho-blue" or b.stable_raw == 0
        assert Decimal("1.03") <= b.health_factor <= Decimal("1.5")


def test_every_event_has_both_assets_on_one_hourly_grid() -> None:
    for event in EVENTS.values():
        paths = load_paths(event)
        assert len(paths["ETH"].times) == len(paths["BTC"].times) == 72
    assert crash_event("2025-10-10").window[0] == datetime(2025, 10, 9, tzinfo=UTC)
