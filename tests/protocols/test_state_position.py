"""State before the transaction against state at the block start, on real protocols (issue 15).

A fresh devchain with automine off (:mod:`sameblock`): an oracle update and a liquidation in the same
block on Aave v3, Aave v2, Venus and Morpho Blue; liquidations alone in their block; one after an
unrelated transaction (traced, nothing it reads changed); two liquidations of one borrower in one block.
Every liquidation is pulled twice, ``--state before-tx`` and ``--state block``. Expected values are the
contracts' own views on copies of the block holding only the transactions before each liquidation
(same number and timestamp), never the toolkit's.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pandas as pd
import pytest

from sameblock import Liquidation, build
from toolkit.devchain import Devchain
from fault_proxy import FaultConfig, FaultProxy
from toolkit.pipeline import PullRequest, pull_async
from toolkit.store.db import Store

pytestmark = [pytest.mark.node, pytest.mark.xdist_group("state-position")]

PROTOCOLS = ("aave-v3", "aave-v2", "venus", "morpho-blue")
WAD = 10**18
#: State columns both modes must agree on for a liquidation alone in its block.
STATE_COLUMNS = ("debt_price_raw", "collateral_price_raw", "health_factor_before_raw", "liquidation_bonus_bps",
                 "borrower_collateral_usd", "borrower_debt_usd", "collateral_seized_raw", "protocol_fee_raw",
                 "state_check", "state_check_recomputed_raw", "state_check_detail")


@pytest.fixture(scope="module")
def chain() -> Iterator[tuple[Devchain, list[Liquidation]]]:
    with Devchain.start() as devchain:
        yield devchain, build(devchain)


@pytest.fixture(scope="module")
async def pulled(chain, tmp_path_factory) -> dict[tuple[str, str], tuple[pd.DataFrame, dict[str, Any]]]:
    """Every protocol pulled in both modes: (rows by tx hash, run report), by (protocol, mode)."""
    devchain, _ = chain
    out = {}
    for protocol in PROTOCOLS:
        for mode in ("before-tx", "block"):
            path = tmp_path_factory.mktemp(f"{protocol}-{mode}") / "s.duckdb"
            told: list[str] = []
            result = await pull_async(PullRequest(chain="devchain", protocol=protocol, rpc_url=devchain.url,
                                                  store_path=path, to="latest", state=mode), notice=told.append)
            frame = Store(path, create=False).liquidations()
            assert not told, told
            out[(protocol, mode)] = (frame.set_index("tx_hash", drop=False), result.report)
            stores[(protocol, mode)] = path
    return out


#: The store of each (protocol, mode) pull of ``pulled``.
stores: dict[tuple[str, str], Any] = {}


def test_status_shows_the_share_of_exact_rows(pulled) -> None:
    for mode, exact in (("before-tx", "100.0%"), ("block", None)):
        path = stores[("aave-v3", mode)]
        frame, _ = pulled[("aave-v3", mode)]
        done = subprocess.run([sys.executable, "-m", "toolkit", "status", "--store", str(path), "--json"],
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        (row,) = json.loads(done.stdout)["deployments"]
        assert (row["state_checked"], row["state_exact"]) == (len(frame), int((frame.state_check == "exact").sum()))
        assert row["state_mismatch"] == int((frame.state_check == "mismatch").sum()) >= (0 if exact else 1)
        text = subprocess.run([sys.executable, "-m", "toolkit", "status", "--store", str(path)],
                              capture_output=True, text=True, timeout=120, env={**os.environ, "COLUMNS": "250"})
        share = f"{100 * row['state_exact'] / row['state_checked']:.1f}%"
        assert share in text.stdout and (exact is None or exact == share)


def _row(pulled: dict, item: Liquidation, mode: str) -> pd.Series:
    frame, _ = pulled[(item.protocol, mode)]
    rows = frame.loc[[item.tx_hash]]
    assert len(rows) == 1, f"{item.protocol} {item.role}: {len(rows)} rows"
    return rows.iloc[0]


def _items(chain: tuple[Devchain, list[Liquidation]], role: str) -> list[Liquidation]:
    return [item for item in chain[1] if item.role == role]


def _check_views(row: pd.Series, item: Liquidation, views: dict[str, Any], chain: Devchain) -> None:
    """The row's prices and health factor are the views' (exactly; Venus: the sign of the shortfall)."""
    if item.protocol.startswith("aave"):
        market = chain.v3 if item.protocol == "aave-v3" else chain.v2
        assert int(row.health_factor_before_raw) == views["health_factor"]
        assert int(row.collateral_price_raw) == views["prices"]["WBTC"]
        assert int(row.debt_price_raw) == views["prices"]["WETH"]
        assert row.collateral_asset == market.reserve("WBTC").underlying.lower()
    elif item.protocol == "venus":
        assert views["error"] == 0
        assert int(row.collateral_price_raw) == views["prices"]["WBTC"]
        assert int(row.debt_price_raw) == views["prices"]["WETH"]
        assert (int(row.health_factor_before_raw) < WAD) == (views["shortfall"] > 0)
    else:
        assert int(row.collateral_price_raw) == views["price"]
        assert int(row.health_factor_before_raw) == views["health_factor"]


@pytest.mark.node
@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_same_block_oracle_update(chain, pulled, protocol) -> None:
    """block_start: HF >= 1, old prices, check mismatch; before_tx: HF < 1, new prices, check exact."""
    (item,) = [i for i in _items(chain, "same_block") if i.protocol == protocol]
    before, start = _row(pulled, item, "before-tx"), _row(pulled, item, "block")
    assert (before.state_position, start.state_position) == ("before_tx", "block_start")
    assert pd.isna(before.state_fallback_reason) and pd.isna(start.state_fallback_reason)
    _check_views(before, item, item.before_tx, chain[0])
    _check_views(start, item, item.block_start, chain[0])
    assert int(before.health_factor_before_raw) < WAD <= int(start.health_factor_before_raw)
    assert before.collateral_price_raw != start.collateral_price_raw
    assert before.state_check == "exact", before.state_check_detail
    assert start.state_check == "mismatch", start.state_check_detail
    assert start.state_check_recomputed_raw != start.state_check_event_raw or "health factor" in start.state_check_detail
    assert int(before.state_check_recomputed_raw) == int(before.state_check_event_raw)


@pytest.mark.node
@pytest.mark.parametrize("role", ["alone", "after_unrelated"])
def test_modes_agree_when_nothing_before_changed_the_state(chain, pulled, role) -> None:
    """A liquidation alone in its block (or after a transaction that touched nothing it reads): both
    modes read the same state, equal to the views, and the check is exact in both."""
    items = _items(chain, role)
    assert items
    for item in items:
        before, start = _row(pulled, item, "before-tx"), _row(pulled, item, "block")
        assert (before.state_position, start.state_position) == ("before_tx", "block_start")
        for column in STATE_COLUMNS:
            assert before[column] == start[column] or pd.isna(before[column]) and pd.isna(start[column]), (
                item.protocol, column)
        _check_views(before, item, item.block_start, chain[0])
        assert before.state_check == "exact", (item.protocol, before.state_check_detail)
        assert int(before.health_factor_before_raw) < WAD


@pytest.mark.node
def test_the_second_liquidation_of_a_block_sees_the_first(chain, pulled) -> None:
    first, second = _items(chain, "first_of_two")[0], _items(chain, "second_of_two")[0]
    row1, row2 = _row(pulled, first, "before-tx"), _row(pulled, second, "before-tx")
    _check_views(row1, first, first.before_tx, chain[0])
    _check_views(row2, second, second.before_tx, chain[0])  # the state after the first liquidation
    assert second.before_tx["health_factor"] != first.before_tx["health_factor"]
    assert row2.borrower_debt_usd < row1.borrower_debt_usd
    assert (row1.state_check, row2.state_check) == ("exact", "exact")
    blind = _row(pulled, second, "block")  # the block start does not see it
    assert blind.health_factor_before_raw == row1.health_factor_before_raw


@pytest.mark.node
def test_run_report_counts_positions_and_checks(pulled) -> None:
    for protocol in PROTOCOLS:
        for mode, position in (("before-tx", "before_tx"), ("block", "block_start")):
            frame, report = pulled[(protocol, mode)]
            (deployment,) = report["deployments"]
            assert deployment["state_positions"] == {position: len(frame)}
            assert sum(deployment["state_checks"].values()) == len(frame)
            assert deployment["state_checks"] == frame.state_check.value_counts().to_dict()
            assert report["state"] == {"mode": mode, "notices": []}


# -- nodes that lack a feature ----------------------------------------------------------------------

def _pull_cli(url: str, store: Any, protocol: str = "aave-v3") -> tuple[pd.DataFrame, list[dict[str, Any]], dict]:
    """``liqtk pull --quiet`` through ``url``: rows by tx hash, its JSON log lines, its result record."""
    done = subprocess.run([sys.executable, "-m", "toolkit", "pull", "--chain", "devchain", "--protocol", protocol,
                           "--rpc", url, "--store", str(store), "--to", "latest", "--quiet"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    logs = [json.loads(line) for line in done.stderr.splitlines() if line.startswith("{")]
    frame = Store(store, create=False).liquidations().set_index("tx_hash", drop=False)
    return frame, logs, json.loads(done.stdout)


def _traced(chain: tuple[Devchain, list[Liquidation]], protocol: str = "aave-v3") -> list[Liquidation]:
    """The scenario's liquidations of ``protocol`` that are not the first transaction of their block."""
    return [i for i in chain[1] if i.protocol == protocol and i.role in ("same_block", "after_unrelated",
                                                                          "second_of_two")]


def test_node_without_debug_trace_falls_back_with_one_notice(chain, pulled, tmp_path) -> None:
    """geth's answer without the debug namespace: every row that needed a trace is read at the block start
    and says why, the first transactions of their blocks stay before_tx, one notice, exit 0."""
    with FaultProxy(chain[0].url, FaultConfig(refuse_methods=("debug_traceTransaction",))) as proxy:
        frame, logs, _ = _pull_cli(proxy.url, tmp_path / "s.duckdb")
        assert proxy.stats.faults["method_missing"] == proxy.stats.methods["debug_traceTransaction"] >= 1
    notices = [line for line in logs if line["event"] == "pull.notice"]
    assert len(notices) == 1 and "debug_traceTransaction" in notices[0]["message"]
    assert frame.state_position.notna().all() and frame.state_check.notna().all()
    traced = {i.tx_hash for i in _traced(chain)}
    for tx, row in frame.iterrows():
        if tx in traced:
            assert row.state_position == "block_start"
            assert row.state_fallback_reason == "the node does not serve debug_traceTransaction"
            assert row.health_factor_before_raw == _row(pulled, _item(chain, tx), "block").health_factor_before_raw
        else:
            assert row.state_position == "before_tx" and pd.isna(row.state_fallback_reason)


@pytest.mark.parametrize("fault, text", [("timeout", "execution timeout"), ("too_large", "Response is too big")])
def test_a_failing_trace_is_asked_twice_then_its_rows_fall_back(chain, pulled, tmp_path, fault, text) -> None:
    """One transaction's trace fails every time (geth's tracer timeout, reth's size limit): asked twice,
    then its row is block_start with the provider's text; a trace failing once is answered the second time."""
    stubborn, once = _traced(chain)[0], _traced(chain)[1]
    config = FaultConfig(trace_fault=fault, trace_fault_txs=frozenset({stubborn.tx_hash}))
    with FaultProxy(chain[0].url, config) as proxy:
        frame, logs, _ = _pull_cli(proxy.url, tmp_path / "a.duckdb")
        assert proxy.stats.faults[fault] == 2
    row = frame.loc[stubborn.tx_hash]
    assert row.state_position == "block_start" and text in row.state_fallback_reason
    assert "failed twice" in row.state_fallback_reason
    assert (frame.drop(index=stubborn.tx_hash).state_position == "before_tx").all()
    assert not [line for line in logs if line["event"] == "pull.notice"]
    config = FaultConfig(trace_fault=fault, trace_fault_txs=frozenset({once.tx_hash}), trace_fault_times=1)
    with FaultProxy(chain[0].url, config) as proxy:
        frame, _, _ = _pull_cli(proxy.url, tmp_path / "b.duckdb")
        assert proxy.stats.faults[fault] == 1
    assert (frame.state_position == "before_tx").all()
    assert frame.loc[once.tx_hash].state_check == _row(pulled, once, "before-tx").state_check


@pytest.mark.parametrize("how, text", [("refuse", "refuses eth_call state overrides"),
                                       ("ignore", "ignores eth_call state overrides")])
def test_node_without_state_overrides(chain, pulled, tmp_path, how, text) -> None:
    """hardhat's refusal, or overrides silently dropped: plain reads at the block start, one notice, no
    trace asked; traced rows say why; values as the block mode's where the block context agrees."""
    with FaultProxy(chain[0].url, FaultConfig(overrides=how)) as proxy:
        frame, logs, _ = _pull_cli(proxy.url, tmp_path / "s.duckdb")
        assert proxy.stats.methods["debug_traceTransaction"] == 0
    notices = [line["message"] for line in logs if line["event"] == "pull.notice"]
    assert len(notices) == 1 and text in notices[0], notices
    traced = {i.tx_hash for i in _traced(chain)}
    for tx, row in frame.iterrows():
        assert row.state_position == ("block_start" if tx in traced else "before_tx")
        if tx in traced:
            assert row.state_fallback_reason == "the node does not take eth_call state overrides"
        assert row.collateral_price_raw == _row(pulled, _item(chain, tx), "block").collateral_price_raw


def test_node_refusing_block_overrides(chain, pulled, tmp_path) -> None:
    """geth before block overrides: the first transactions of their blocks are still read before_tx (in
    the context of the block read); a later transaction's pre-state needs its block's timestamp (read at
    the previous block's, Aave's index update time lies in the future and the views revert), so those
    rows fall back to the block start and say why. One notice."""
    with FaultProxy(chain[0].url, FaultConfig(refuse_block_overrides=True)) as proxy:
        frame, logs, _ = _pull_cli(proxy.url, tmp_path / "s.duckdb")
        assert proxy.stats.methods["debug_traceTransaction"] == 0
    notices = [line["message"] for line in logs if line["event"] == "pull.notice"]
    assert len(notices) == 1 and "refuses eth_call block overrides" in notices[0]
    assert (frame.state_status == "ok").all()
    traced = {i.tx_hash for i in _traced(chain)}
    for tx, row in frame.iterrows():
        mode = "block" if tx in traced else "before-tx"
        assert row.state_position == ("block_start" if tx in traced else "before_tx")
        assert tx not in traced or "block overrides" in row.state_fallback_reason
        assert row.collateral_price_raw == _row(pulled, _item(chain, tx), mode).collateral_price_raw


def _item(chain: tuple[Devchain, list[Liquidation]], tx: str) -> Liquidation:
    (item,) = [i for i in chain[1] if i.tx_hash == tx]
    return item


@pytest.mark.parametrize("args, message", [
    (["--state", "sometimes"], "--state must be one of before-tx, block, none, not 'sometimes'"),
    (["--no-state", "--state", "block"], "pass either --no-state or --state block, not both"),
])
def test_bad_state_option_is_one_line_exit_2(tmp_path, args, message) -> None:
    done = subprocess.run([sys.executable, "-m", "toolkit", "pull", "--chain", "devchain", "--protocol", "aave-v3",
                           "--rpc", "http://127.0.0.1:9", "--store", str(tmp_path / "s.duckdb"), *args],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and done.stderr.strip() == f"error: {message}", done.stderr
    assert not (tmp_path / "s.duckdb").exists()


def test_pull_prints_the_counts_per_position_and_check(chain, tmp_path) -> None:
    done = subprocess.run([sys.executable, "-m", "toolkit", "pull", "--chain", "devchain", "--protocol", "aave-v2",
                           "--rpc", chain[0].url, "--store", str(tmp_path / "s.duckdb"), "--to", "latest",
                           "--state", "block"], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "COLUMNS": "250"})
    assert done.returncode == 0, done.stderr
    frame = Store(tmp_path / "s.duckdb", create=False).liquidations()
    checks = ", ".join(f"{n} {name}" for name, n in sorted(frame.state_check.value_counts().items()))
    assert f"; state: {len(frame)} block_start; check: {checks}" in done.stdout, done.stdout
