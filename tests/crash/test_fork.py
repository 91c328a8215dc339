"""Crash replays on a fork (``liqtk replay --fork-url --fork-block``), tested without internet: the source is a local
devchain where a population was opened; the fork sees its positions and protocols at the fork block, the replay's
stored rows equal the keeper's receipts, two runs with one seed give the same data, and a bad source ends in one
line before anything is written."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest
from web3 import Web3

from crashwork import liqtk
from toolkit.crash.driver import OracleDriver
from toolkit.crash.fork import ForkConfig, replay_fork, source_host
from toolkit.crash.population import PopulationSpec, build_population
from toolkit.crash.positions import open_positions
from toolkit.crash.report import write_report
from toolkit.crash.run import ReplayConfig
from toolkit.crash.storage import mine
from toolkit.devchain import Devchain
from toolkit.devchain.anvil import start_anvil
from toolkit.snapshot import snapshot
from toolkit.store import positions as stored
from toolkit.store.db import Store

pytestmark = [pytest.mark.node, pytest.mark.slow, pytest.mark.xdist_group("fork")]
#: The 2020-03-12 hours of the small replay (tests/crash/crashwork.py), on the fork's own ETH price.
REPLAY = ReplayConfig(event="2020-03-12", asset="ETH", seed=5, start=datetime(2020, 3, 12, 6, tzinfo=UTC),
                      end=datetime(2020, 3, 13, 3, tzinfo=UTC), venues=("bitmex", "hyperliquid"))


@pytest.fixture(scope="module")
def source() -> Iterator[tuple[Devchain, int]]:
    """A devchain with eight positions (two per protocol) at ETH 3,000 USD, and the block to fork at."""
    with Devchain.start() as devchain:
        OracleDriver(devchain).move({"ETH": Decimal(3000), "BTC": Decimal(60000)})
        open_positions(devchain, build_population(PopulationSpec(borrowers=8), "WETH", Decimal(3000), seed=3))
        yield devchain, devchain.mine(1)


@pytest.fixture(scope="module")
def forked(source, tmp_path_factory: pytest.TempPathFactory):
    devchain, block = source
    runs = []
    for name in ("first", "second"):
        out = tmp_path_factory.mktemp(name)
        result = replay_fork(ForkConfig(REPLAY, devchain.url, block, "devchain"), out / "replay.duckdb")
        runs.append((result, write_report(result, out), out))
    return runs


def test_the_fork_sees_the_source_positions_at_the_fork_block(source, forked, tmp_path) -> None:
    devchain, block = source
    result, manifest, _ = forked[0]
    on_fork = stored.read_positions(Store(result.store_path, create=False), result.snapshots)
    ids = []
    for protocol in ("aave-v3", "aave-v2", "venus", "morpho-blue"):
        ids += [o.snapshot_id for o in snapshot("devchain", protocol, rpc=devchain.url, store=tmp_path / "s.duckdb",
                                                block=block).outcomes]
    on_source = stored.read_positions(Store(tmp_path / "s.duckdb", create=False), ids)
    columns = [c for c in on_source.columns if c != "run_id"]
    pd.testing.assert_frame_equal(on_fork[columns].reset_index(drop=True), on_source[columns].reset_index(drop=True))
    assert len(result.borrowers) == 8 and manifest["fork"]["block"] == block
    assert manifest["fork"]["block_hash"] == devchain.chain.w3.eth.get_block(block)["hash"].to_0x_hex()


def test_the_fork_replay_rows_equal_the_keeper_receipts(forked) -> None:
    result, manifest, out = forked[0]
    liquidations = Store(result.store_path, create=False).liquidations()
    transfers = pd.read_csv(out / "transfers.csv", dtype=str)
    assert len(liquidations) == len(result.actions) > 0 and not result.failures
    assert set(liquidations["protocol"]) == {"aave-v3", "aave-v2", "venus", "morpho-blue"}
    assert set(liquidations["tx_hash"].str.lower()) == {a.tx_hash.lower() for a in result.actions}
    assert (transfers["matches"] == "True").all() and manifest["keeper"]["transfer_mismatches"] == 0
    assert (liquidations["block_number"] > manifest["fork"]["block"]).all()


def test_the_manifest_keeps_the_fork_host_only_and_the_same_seed_gives_the_same_data(source, forked) -> None:
    (first, one, out), (_, two, _) = forked
    assert one["data_sha256"] == two["data_sha256"] and one["store"]["content_sha256"] == two["store"]["content_sha256"]
    assert one["chain"] == two["chain"]
    assert one["fork"]["url_host"] == source_host(source[0].url) and "://" not in json.dumps(one["fork"])
    assert source_host("https://user:pw@node.example:8443/v2/secret-key?apikey=abc") == "node.example:8443"
    assert "secret" not in (out / "manifest.json").read_text()


def _fails(args: list[str], out: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = liqtk(["replay", "--out", str(out), "--event", "2020-03-12", *args])
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and not out.exists()
    return code, err[0]


def test_a_bad_fork_source_is_one_line_and_nothing_is_written(source, tmp_path, capsys) -> None:
    devchain, block = source
    out = tmp_path / "out"
    code, line = _fails(["--fork-url", "http://127.0.0.1:9", "--fork-block", "1", "--chain", "devchain"], out, capsys)
    assert code == 1 and "--fork-url" in line
    code, line = _fails(["--fork-url", devchain.url, "--fork-block", str(block), "--chain", "ethereum"], out, capsys)
    assert code == 2 and "chain id 31337" in line and "--chain ethereum" in line
    code, line = _fails(["--fork-url", devchain.url, "--fork-block", str(block + 10**6), "--chain", "devchain"], out,
                        capsys)
    assert code == 2 and "--fork-block" in line
    with start_anvil(extra_args=["--prune-history", "1"]) as pruned:
        mine(Web3(Web3.HTTPProvider(pruned.url)), 20)
        code, line = _fails(["--fork-url", pruned.url, "--fork-block", "2", "--chain", "devchain"], out, capsys)
    assert code == 1 and "no state at block 2" in line
