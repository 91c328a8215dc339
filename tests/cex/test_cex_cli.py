"""``liqtk cex`` through a throwaway Typer app: results, exit codes and one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from cexwork import FIXTURES
from toolkit.cli.cex import cex_app

app = typer.Typer()
app.add_typer(cex_app, name="cex")
runner = CliRunner()

SINGLE = ["cex", "liquidation-price", "--venue", "bitmex", "--symbol", "XBTUSD", "--side", "long", "--qty", "1000",
          "--entry", "5000", "--leverage", "25"]


def run(*args: str):
    return runner.invoke(app, list(args))


def test_single_position_json() -> None:
    """The issue's example: long 1000 XBTUSD at 5000, 25x, funding -0.0139% -> 4831.0 (BitMEX UI value,
    binares/uxs:uxs/base/wrappers/bitmex.py; docs/sources/venues.md#bitmex-liquidation-price)."""
    result = run(*SINGLE, "--funding-rate", "-0.000139", "--json")
    assert result.exit_code == 0, result.stderr
    record = json.loads(result.stdout)
    (position,) = record["positions"]
    assert position["liquidation_price"] == 4831  # integral values are JSON integers, others exact strings
    assert position["bankruptcy_price"] == 4808
    assert position["tier"] == 1 and position["maintenance_rate"] == "0.005"
    assert (position["size"], position["entry_price"], position["leverage"], position["funding_rate"]) == (
        1000, 5000, 25, "-0.000139")
    assert position["era"] == "2021-08-31-step150" and position["era_source"].startswith("docs/sources/venues.md#")
    assert "funding_interest_rate" in record["unverified_rules"]


def test_single_position_table() -> None:
    result = run(*SINGLE)
    assert result.exit_code == 0
    assert "4831.0" in result.stdout and "XBTUSD" in result.stdout


def test_account_file_cross(tmp_path: Path) -> None:
    """Binance cross account of the freqtrade test vector (docs/sources/venues.md#binance-liquidation-price): ETH 1153.26, BTC 26316.89."""
    account = {"venue": "binance-usdm", "margin_mode": "cross", "wallet_balance": "1535443.01", "positions": [
        {"symbol": "ETHUSDT", "side": "long", "size": "3683.979", "entry_price": "1456.84", "mark_price": "1335.18",
         "leverage": 5, "mmr": "0.10", "maintenance_amount": "135365"},
        {"symbol": "BTCUSDT", "side": "long", "size": "109.488", "entry_price": "32481.98",
         "mark_price": "31967.27", "leverage": 5, "mmr": "0.025", "maintenance_amount": "16300"}]}
    path = tmp_path / "account.json"
    path.write_text(json.dumps(account))
    result = run("cex", "liquidation-price", "--account", str(path), "--json")
    assert result.exit_code == 0, result.stderr
    record = json.loads(result.stdout)
    assert [p["liquidation_price"] for p in record["positions"]] == ["1153.26", "26316.89"]
    assert record["margin_mode"] == "cross" and [p["tier"] for p in record["positions"]] == [None, None]


@pytest.mark.parametrize(("args", "message"), [
    (["--qty", "-5"], "error: --qty: must be positive, got -5"),
    (["--leverage", "101"], "error: --leverage: 101 is above the XBTUSD maximum 100 of tier 1"),
    (["--venue", "ftx"], "error: venue: unknown venue 'ftx'"),
    (["--symbol", "DOGEUSD"], "error: --symbol: bitmex has no symbol 'DOGEUSD'"),
    (["--entry", "abc"], "error: --entry: 'abc' is not a number"),
    (["--side", "up"], "error: --side: 'up' is not long or short"),
    (["--as-of", "2010-01-01"], "error: as_of: no XBTUSD era in force on 2010-01-01"),
])
def test_single_position_bad_input(args: list[str], message: str) -> None:
    base = dict(zip(SINGLE[2::2], SINGLE[3::2]))
    base.update(dict(zip(args[::2], args[1::2])))
    result = run("cex", "liquidation-price", *[x for pair in base.items() for x in pair])
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [result.stderr.strip()]
    assert result.stderr.startswith(message)


def test_missing_and_conflicting_options(tmp_path: Path) -> None:
    result = run("cex", "liquidation-price", "--venue", "bitmex", "--symbol", "XBTUSD")
    assert result.exit_code == 2 and result.stderr.startswith("error: --side: missing")
    path = tmp_path / "account.json"
    path.write_text("{}")
    result = run("cex", "liquidation-price", "--account", str(path), "--qty", "5")
    assert result.exit_code == 2 and result.stderr.startswith("error: --qty: not allowed with --account")
    result = run("cex", "liquidation-price", "--account", str(path))
    assert result.exit_code == 2 and result.stderr.strip() == "error: account.json: venue: missing"


def write_population(tmp_path: Path) -> tuple[Path, Path]:
    trades = pd.read_csv(FIXTURES / "bitmex" / "bitmex_XBTUSD_trades_at_funding_times.csv", dtype=str)
    stamps = pd.to_datetime(trades["timestamp"]).dt.floor("h")
    window = trades[(stamps >= "2020-03-11") & (stamps < "2020-03-16")]
    prices = tmp_path / "prices.csv"
    pd.DataFrame({"timestamp": stamps[window.index].dt.strftime("%Y-%m-%dT%H:%M:%SZ"),
                  "mark_price": window["price"]}).to_csv(prices, index=False)
    positions = tmp_path / "positions.csv"
    rows = ["account,symbol,side,size,entry_price,leverage"]
    rows += [f"L{lev},XBTUSD,long,{1000 * lev},7900,{lev}" for lev in (1, 2, 5, 10, 25, 50, 100)]
    rows += [f"S{lev},XBTUSD,short,{1000 * lev},7900,{lev}" for lev in (1, 2, 5, 10)]
    positions.write_text("\n".join(rows) + "\n")
    return prices, positions


def test_simulate_writes_events_fund_path_and_summary(tmp_path: Path) -> None:
    prices, positions = write_population(tmp_path)
    funding = FIXTURES / "bitmex" / "bitmex_XBTUSD_funding_history_2016-05_to_2020-11.csv"
    summaries = {}
    for engine in ("event", "vectorized"):
        out = tmp_path / engine
        result = run("cex", "simulate", "--venue", "bitmex", "--prices", str(prices), "--positions",
                     str(positions), "--out", str(out), "--funding", str(funding), "--insurance-fund", "1",
                     "--engine", engine, "--json")
        assert result.exit_code == 0, result.stderr
        summaries[engine] = json.loads(result.stdout)
        events = pd.read_csv(out / "events.csv")
        assert set(events["event"]) >= {"funding", "takeover", "fill", "insurance_fund"}
        fund = pd.read_csv(out / "insurance_fund.csv")
        assert len(fund) == summaries[engine]["ticks"] == 15
        assert json.loads((out / "summary.json").read_text()) == summaries[engine]
    event, vectorized = summaries["event"], summaries["vectorized"]
    assert {k: v for k, v in event.items() if k != "engine"} == {k: v for k, v in vectorized.items()
                                                                  if k != "engine"}
    assert event["liquidations"] >= 5 and event["currency"] == "XBT"


def test_simulate_bad_price_path(tmp_path: Path) -> None:
    _, positions = write_population(tmp_path)
    prices = tmp_path / "bad.csv"
    prices.write_text("timestamp,mark_price\n2020-03-11T04:00:00Z,7900\n2020-03-11T04:00:00Z,7800\n")
    result = run("cex", "simulate", "--venue", "bitmex", "--prices", str(prices), "--positions", str(positions),
                 "--out", str(tmp_path / "out"))
    assert result.exit_code == 2
    assert result.stderr.strip() == ("error: prices: row 3: duplicate timestamp 2020-03-11T04:00:00+00:00 for "
                                     "XBTUSD")
    assert not (tmp_path / "out").exists()
