"""Fetched tier tables as venue eras: the Binance brackets of 2024-10-24 *are* ccxt ``fetch_leverage_tiers`` output
(fixtures/venues/binance-usdm-leverage-tiers-2024-10-24-BTC-ETH.json, written by freqtrade's job with ccxt), so
storing them as a fetch would and reading them back must give the profile's 2024-10-24 era exactly, and
``liqtk cex liquidation-price --store`` must apply them from the fetch time on."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal as D

import typer
from typer.testing import CliRunner

from toolkit.cex import load_venue
from toolkit.cex.collect.rows import tier_rows
from toolkit.cex.fetched_eras import with_fetched_eras
from toolkit.cli.cex import cex_app
from toolkit.devchain.anvil import repo_root
from toolkit.store import cex_store
from toolkit.store.db import Store

SOURCE = json.loads((repo_root() / "fixtures" / "venues" / "binance-usdm-leverage-tiers-2024-10-24-BTC-ETH.json")
                    .read_text())
FETCHED = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)


def _rows() -> list[dict]:
    # ccxt's number = str mode gives the numbers as text: the stored text is the exchange's
    tiers = {s: [{**t, **{k: str(t[k]) for k in ("minNotional", "maxNotional", "maintenanceMarginRate",
                                                   "maxLeverage", "tier")}} for t in entries]
             for s, entries in SOURCE.items()}
    market = {"linear": True, "contractSize": "1", "precision": {"price": "0.1", "amount": "0.001"}}
    return [row for s, entries in tiers.items()
            for row in tier_rows("binance-usdm", "binanceusdm", s, entries, market, FETCHED, "run-1")]


def test_a_fetched_table_is_the_same_era_as_the_bracket_file() -> None:
    profile = with_fetched_eras(load_venue("binance-usdm"), _rows())
    for symbol in ("BTCUSDT", "ETHUSDT"):
        instrument = profile.instrument(symbol)
        fetched = instrument.era(FETCHED)
        assert fetched.name == "fetched-2026-01-05T12:00Z" and fetched.fetched and fetched.valid_from == FETCHED
        assert fetched.tiers == instrument.era(name="2024-10-24").tiers
        assert instrument.era(datetime(2025, 12, 31, tzinfo=UTC)).name == "2024-10-24"


def test_liquidation_price_uses_the_stored_table(tmp_path) -> None:
    store = tmp_path / "s.duckdb"
    with Store(store).writer() as writer, cex_store.transaction(writer) as con:
        cex_store.insert(con, "cex_leverage_tiers", _rows())
    app = typer.Typer()
    app.add_typer(cex_app, name="cex")
    args = ["cex", "liquidation-price", "--venue", "binance-usdm", "--symbol", "ETHUSDT", "--side", "long", "--qty",
            "100", "--entry", "2400", "--leverage", "20", "--as-of", "2026-02-01", "--json"]
    result = CliRunner().invoke(app, [*args, "--store", str(store)])
    assert result.exit_code == 0, result.stderr
    (position,) = json.loads(result.stdout)["positions"]
    # notional 240,000 USDT: bracket 2 (100x, MMR 0.5 %, cum 50) of the fetched table, ETH/USDT:USDT info
    assert (position["era"], position["tier"], position["maintenance_rate"]) == ("fetched-2026-01-05T12:00Z", 2,
                                                                                  "0.005")
    assert D(position["maintenance_amount"]) == 50
    assert json.loads(result.stdout)["warnings"] == []
    without = CliRunner().invoke(app, args)
    assert json.loads(without.stdout)["positions"][0]["era"] == "2024-10-24" and json.loads(without.stdout)["warnings"]
