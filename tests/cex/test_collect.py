"""``liqtk cex record`` / ``liqtk cex fetch`` with the real ccxt client against a local exchange
(:mod:`exchange_server`) replaying recorded real answers (fixtures/venues/, notes in its README). No test reaches
an exchange.

Expected values come from the recorded messages themselves: a Binance ``forceOrder`` message's ``o.s``, ``o.S``,
``o.ap``, ``o.l`` and ``o.T`` are the symbol, side, price, contracts and time ccxt's Liquidation structure
carries (ccxt ``binance.parse_ws_liquidation``); OKX's ``fundingRate`` and ``fundingTime`` those of its funding
history.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from exchange_server import Answer, ExchangeServer
from toolkit.devchain.anvil import repo_root

ROOT = repo_root()
VENUES = ROOT / "fixtures" / "venues"
LIQTK = str(Path(sys.executable).with_name("liqtk"))
FORCE_ORDERS = json.loads((VENUES / "binance-usdm-forceOrder-ws-2024-04-27.json").read_text())

pytestmark = pytest.mark.xdist_group("collect")


@pytest.fixture
def server():
    srv = ExchangeServer().start()
    yield srv
    srv.stop()


def _env(server: ExchangeServer, tmp_path: Path, markets: str | dict = "{}", **extra: str) -> dict[str, str]:
    path = tmp_path / "markets.json"
    path.write_text(markets if isinstance(markets, str) else json.dumps(markets))
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIQTK_")}
    return {**env, **server.env(), "LIQTK_CEX_MARKETS": str(path), **extra}


def _liqtk(*args: str, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess:
    """``liqtk ARGS`` with ``env`` in this process (typer's runner; no start-up cost): exit code and streams."""
    import typer
    from typer.testing import CliRunner

    from toolkit.cli.cex import cex_app

    app = typer.Typer()
    app.add_typer(cex_app, name="cex")
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    try:
        result = CliRunner().invoke(app, list(args))
    finally:
        os.environ.clear()
        os.environ.update(saved)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return subprocess.CompletedProcess(args, result.exit_code, result.stdout, result.stderr)


def _rows(store: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(store), read_only=True) as con:
        return con.execute(sql).fetchall()


def _expected(message: dict) -> tuple:
    order = message["data"]["o"]
    return (order["s"], order["S"].lower(), order["ap"], order["l"], order["T"])


def _stored(store: Path) -> list[tuple]:
    return _rows(store, "SELECT symbol, side, price, contracts, epoch_ms(timestamp), raw_message FROM "
                        "cex_liquidations ORDER BY timestamp")


def test_recorded_rows_equal_the_messages(server, tmp_path) -> None:
    """Binance's all-market stream (ccxt watch_liquidations_for_symbols without symbols: ``!forceOrder@arr``)."""
    server.script = [json.dumps(m) for m in FORCE_ORDERS]
    store = tmp_path / "s.duckdb"
    result = _liqtk("cex", "record", "--venue", "binance", "--duration", "3", "--store", str(store), "--quiet",
                    env=_env(server, tmp_path))
    assert result.returncode == 0, result.stderr
    assert server.subscriptions == [{"method": "SUBSCRIBE", "params": ["!forceOrder@arr"], "id": 1}]
    stored = _stored(store)
    assert [row[:5] for row in stored] == [_expected(m) for m in FORCE_ORDERS]
    assert [json.loads(row[5]) for row in stored] == FORCE_ORDERS  # the whole message kept
    ((status, messages, rows, reconnects, gaps, venue, exchange),) = _rows(
        store, "SELECT status, messages, rows_added, reconnects, gaps, venue, exchange FROM cex_runs")
    assert (status, messages, rows, reconnects, gaps) == ("ok", 3, 2, 0, 0)  # the subscription answer + 2
    assert (venue, exchange) == ("binance-usdm", "binanceusdm")
    assert json.loads(result.stdout)["rows_added"] == 2


def test_a_dropped_connection_reconnects_and_records_the_gap(server, tmp_path) -> None:
    server.script, server.drop_after, server.interval = [json.dumps(m) for m in FORCE_ORDERS], 1, 0.3
    store = tmp_path / "s.duckdb"
    result = _liqtk("cex", "record", "--venue", "binance", "--duration", "6", "--store", str(store), "--quiet",
                    env=_env(server, tmp_path))
    assert result.returncode == 0, result.stderr
    assert server.connections == 2 and "record.disconnected" in result.stderr
    assert [row[:5] for row in _stored(store)] == [_expected(m) for m in FORCE_ORDERS]
    ((reconnects, gaps),) = _rows(store, "SELECT reconnects, gaps FROM cex_runs")
    assert reconnects >= 1 and gaps == 1
    ((number, started, ended, reason),) = _rows(store, "SELECT number, started_at, ended_at, reason FROM cex_gaps")
    assert number == 1 and ended is not None and started <= ended and reason


def _shifted(count: int) -> list[str]:
    """``count`` messages made from the two recorded ones, their times moved by one second each (so that each
    is a distinct order); every other field as recorded."""
    out = []
    for n in range(count):
        message = json.loads(json.dumps(FORCE_ORDERS[n % 2]))
        message["data"]["E"] += 1000 * n
        message["data"]["o"]["T"] += 1000 * n
        out.append(json.dumps(message))
    return out


@pytest.mark.slow
def test_sigkill_loses_at_most_the_last_flush_interval(server, tmp_path) -> None:
    server.script, server.interval = _shifted(60), 0.1
    store, flush = tmp_path / "s.duckdb", 1.0
    process = subprocess.Popen([LIQTK, "cex", "record", "--venue", "binance", "--flush-interval", str(flush),
                                "--store", str(store), "--quiet"], env=_env(server, tmp_path),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 90
    while server.sent < 40 and time.time() < deadline and process.poll() is None:
        time.sleep(0.05)
    killed_at = time.time()
    process.kill()
    process.wait(10)
    assert server.sent >= 40, process.stderr.read().decode()  # type: ignore[union-attr]
    # sent more than a flush interval before the kill: stored (2 s of slack for the message's way to the recorder
    # and the flush's own time on a loaded machine)
    sent_before = sum(1 for at in server.sent_at if at < killed_at - flush - 2.0)
    stored = _rows(store, "SELECT epoch_ms(timestamp) FROM cex_liquidations ORDER BY timestamp")  # readable
    assert sent_before <= len(stored) <= server.sent
    sent_times = [json.loads(m)["data"]["o"]["T"] for m in server.script[:server.sent]]
    assert sorted(t for (t,) in stored) == sorted(sent_times[:len(stored)])  # lost: the tail, nothing in between
    assert _rows(store, "SELECT status FROM cex_runs") == [("running",)]
    server.script, server.sent = [], 0  # the next recorder finds the killed run and marks it interrupted
    result = _liqtk("cex", "record", "--venue", "binance", "--duration", "1", "--store", str(store), "--quiet",
                    env=_env(server, tmp_path))
    assert result.returncode == 0, result.stderr
    assert sorted(_rows(store, "SELECT status FROM cex_runs")) == [("interrupted",), ("ok",)]


@pytest.mark.slow
def test_a_second_recorder_on_the_same_store_exits_5(server, tmp_path) -> None:
    server.script = []
    store = tmp_path / "s.duckdb"
    env = _env(server, tmp_path)
    first = subprocess.Popen([LIQTK, "cex", "record", "--venue", "binance", "--store", str(store), "--quiet"],
                             env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 90
    while not server.subscriptions and time.time() < deadline:
        time.sleep(0.05)
    second = _liqtk("cex", "record", "--venue", "binance", "--store", str(store), "--quiet", env=env)
    assert second.returncode == 5
    (line,) = second.stderr.strip().splitlines()
    assert f"is being recorded into by PID {first.pid}" in line
    first.send_signal(signal.SIGTERM)  # systemd's stop: a clean end
    assert first.wait(30) == 0, first.stderr.read()  # type: ignore[union-attr]
    assert _rows(store, "SELECT status FROM cex_runs") == [("ok",)]


OKX_MARKETS = (VENUES / "ccxt-markets-okx-BTC-USDT-SWAP.json").read_text()


def test_fetch_funding_rows_equal_the_answer_and_keys_stay_secret(server, tmp_path) -> None:
    """OKX's recorded funding-rate history answer: 2 rows with their exact rates (ccxt's fundingRate of an OKX
    history row is the rate settled, ``realizedRate``; the raw row with ``fundingRate`` is kept in info_json); an
    API key given through the environment is neither printed nor stored."""
    body = (VENUES / "okx-funding-rate-history-2024-01-01.json").read_text()
    server.routes[("GET", "/api/v5/public/funding-rate-history")] = Answer(200, body)
    store = tmp_path / "s.duckdb"
    secret = "test-key-do-not-print-0123456789"
    env = _env(server, tmp_path, OKX_MARKETS, LIQTK_OKX_API_KEY=secret, LIQTK_OKX_API_SECRET=secret + "s")
    result = _liqtk("cex", "fetch", "--venue", "okx", "--symbols", "BTC/USDT:USDT", "--what", "funding",
                    "--store", str(store), env=env)
    assert result.returncode == 0, result.stderr
    expected = sorted((int(r["fundingTime"]), r["realizedRate"], r) for r in json.loads(body)["data"])
    stored = _rows(store, "SELECT epoch_ms(timestamp), funding_rate, symbol, venue_symbol, info_json FROM "
                          "cex_funding_rates ORDER BY timestamp")
    assert [row[:2] for row in stored] == [e[:2] for e in expected]
    assert [json.loads(row[4]) for row in stored] == [e[2] for e in expected]
    assert {row[2:4] for row in stored} == {("BTC/USDT:USDT", "BTC-USDT-SWAP")}
    assert secret not in result.stdout + result.stderr
    with duckdb.connect(str(store), read_only=True) as con:
        for (table,) in con.execute("SELECT table_name FROM information_schema.tables").fetchall():
            text = json.dumps(con.execute(f"SELECT * FROM {table}").fetchall(), default=str)
            assert secret not in text, table


ERRORS = VENUES / "errors"


@pytest.mark.parametrize(("status", "name", "message"), [
    (451, "binance-451-restricted-location.json", "refuses requests from this location (HTTP 451: Service "
                                                    "unavailable from a restricted location"),
    (429, "binance-429-too-many-requests.json", "rate limited by the exchange (HTTP 429: Too many requests"),
    (403, "binance-403-forbidden.html", "refused the request (HTTP 403: 403 Forbidden"),
    (403, "cloudfront-403-blocked-country.html", "The Amazon CloudFront distribution is configured to block access "
                                                  "from your country."),
])
def test_refusals_are_one_line_exit_1_and_nothing_written(server, tmp_path, status: int, name: str,
                                                         message: str) -> None:
    body = (ERRORS / name).read_text()
    server.default = Answer(status, body, "application/json" if name.endswith(".json") else "text/html")
    store = tmp_path / "s.duckdb"
    env = {k: v for k, v in _env(server, tmp_path).items() if k != "LIQTK_CEX_MARKETS"}  # markets from the server
    result = _liqtk("cex", "fetch", "--venue", "binance", "--symbols", "BTC/USDT:USDT", "--what", "funding",
                    "--store", str(store), env=env)
    assert result.returncode == 1
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("error: binance-usdm: ") and message in line, line
    assert not store.exists() and server.requests


@pytest.mark.parametrize(("args", "message"), [
    (["fetch", "--venue", "ftx", "--symbols", "BTC/USDT:USDT"], "error: --venue: unknown venue 'ftx'"),
    (["fetch", "--venue", "okx", "--symbols", "DOGE/USDT:USDT", "--what", "funding"],
     "error: --symbols: okx has no market 'DOGE/USDT:USDT'"),
    (["fetch", "--venue", "hyperliquid", "--symbols", "BTC/USDC:USDC", "--what", "open-interest"],
     "error: --what: hyperliquid does not serve open-interest history through ccxt 4"),
    (["record", "--venue", "dydx", "--symbols", "BTC/USD:USD"],
     "error: --what: dydx-v4 does not serve a liquidation stream through ccxt 4"),
    (["record", "--venue", "bitmex", "--symbols", "BTC/USD:BTC"],
     "error: --venue: bitmex is not served: ccxt 4"),
    (["fetch", "--venue", "okx", "--symbols", "BTC/USDT:USDT", "--what", "insurance"],
     "error: --what: insurance is not one of tiers, funding, open-interest, liquidations"),
])
def test_bad_input_is_one_line_exit_2_and_no_store(server, tmp_path, args: list[str], message: str) -> None:
    store = tmp_path / "s.duckdb"
    result = _liqtk("cex", *args, "--store", str(store), env=_env(server, tmp_path, OKX_MARKETS))
    assert result.returncode == 2, result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(message), line
    assert not store.exists() and not server.requests
    if "does not serve" in message:
        assert "it serves: " in line
