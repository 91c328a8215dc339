"""A node that silently caps or empties its eth_getLogs answers loses no row: each answer is proven against
the block blooms (and result caps) before its chunk is committed, so the checkpoint never passes a block whose
logs were not all read (issue 16, 1). Over a node of 12,000 logs, behind the fault proxy."""

from __future__ import annotations

import json

import pytest

from liqtkwork import liqtk, rows_hash
from fault_proxy import FaultConfig, FaultProxy
from toolkit.store.db import Store

pytestmark = pytest.mark.node


def last_report(store) -> dict:
    return json.loads(Store(store, create=False).runs(limit=1)[0]["report_json"])


def test_a_node_that_caps_answers_at_1000_logs_loses_nothing(many_logs, many_logs_hash, tmp_path) -> None:
    store, trusting = tmp_path / "s.duckdb", tmp_path / "trusting.duckdb"
    with FaultProxy(many_logs.url, FaultConfig(result_cap=1000)) as proxy:
        done = liqtk(*many_logs.pull_args(proxy.url, store))
        assert done.returncode == 0, done.stderr
        assert proxy.stats.faults["truncated"] >= 1
        lost = liqtk(*many_logs.pull_args(proxy.url, trusting, "--verify", "none"))
    assert rows_hash(store) == many_logs_hash
    report = last_report(store)
    assert report["verify"] == "bloom" and report["rpc"]["rereads"]["result_cap"] >= 1
    assert lost.returncode == 0 and rows_hash(trusting) != many_logs_hash  # what trusting the node costs
    assert liqtk(*many_logs.pull_args(many_logs.url, store, "--exit-nothing-new")).returncode == 3  # honest: nothing new


def test_a_node_that_empties_10_percent_of_answers_loses_nothing(many_logs, many_logs_hash, tmp_path) -> None:
    store, trusting = tmp_path / "s.duckdb", tmp_path / "trusting.duckdb"
    config = FaultConfig(seed=4, empty_ratio=0.1)
    with FaultProxy(many_logs.url, config) as proxy:
        done = liqtk(*many_logs.pull_args(proxy.url, store, "--blocks-per-request", "2"))
        assert done.returncode == 0, done.stderr
        assert proxy.stats.faults["emptied"] >= 2
    with FaultProxy(many_logs.url, config) as proxy:
        lost = liqtk(*many_logs.pull_args(proxy.url, trusting, "--blocks-per-request", "2", "--verify", "none"))
    assert rows_hash(store) == many_logs_hash
    rereads = last_report(store)["rpc"]["rereads"]
    assert rereads["bloom_without_logs"] >= 2
    assert lost.returncode == 0 and rows_hash(trusting) != many_logs_hash
    assert liqtk(*many_logs.pull_args(many_logs.url, store, "--exit-nothing-new")).returncode == 3


def test_verify_receipts_checks_every_matching_block_against_its_receipts(many_logs, many_logs_hash,
                                                                         tmp_path) -> None:
    store = tmp_path / "s.duckdb"
    with FaultProxy(many_logs.url, FaultConfig(result_cap=1000)) as proxy:
        done = liqtk(*many_logs.pull_args(proxy.url, store, "--verify", "receipts"))
    assert done.returncode == 0, done.stderr
    assert rows_hash(store) == many_logs_hash
    report = last_report(store)
    assert report["verify"] == "receipts" and report["rpc"]["checks"]["receipts_blocks"] >= 24
    assert proxy.stats.methods["eth_getBlockReceipts"] >= 24


def test_a_bad_verify_mode_is_invalid_input(many_logs, tmp_path) -> None:
    done = liqtk(*many_logs.pull_args(many_logs.url, tmp_path / "s.duckdb", "--verify", "trust"))
    assert done.returncode == 2 and "--verify must be one of bloom, receipts, none" in done.stderr
    assert not (tmp_path / "s.duckdb").exists()
