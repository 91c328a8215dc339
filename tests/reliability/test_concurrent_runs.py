"""Processes on one store: never two writers (a second pull exits 5 naming the first's PID, or waits
with ``--wait``), and readers -- a notebook polling ``toolkit.liquidations``, ``liqtk export`` --
that neither fail, nor block the pull, nor see anything but whole chunks."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from liqtkwork import liqtk, pull_args
from toolkit.store.db import Store

pytestmark = pytest.mark.node

READER = Path(__file__).with_name("notebook_reader.py")


def start_pull(url: str, store: Path, protocol: str, *extra: object) -> subprocess.Popen[str]:
    """A slow pull (one block per chunk); returns once it has committed its first chunk."""
    process = subprocess.Popen([sys.executable, "-m", "toolkit", *pull_args(url, store, protocol, "--quiet",
                                                                              "--blocks-per-request", 1, *extra)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    while (line := process.stderr.readline()) and json.loads(line)["event"] != "progress":
        pass
    assert process.poll() is None, process.stderr.read()
    return process


def test_a_second_pull_exits_5_naming_the_pid_or_waits_for_the_first(devchain, tmp_path) -> None:
    store = tmp_path / "s.duckdb"
    finalized = devchain.chain.w3.eth.get_block("finalized").number
    first = start_pull(devchain.url, store, "aave-v3", "--from-block", finalized - 40)
    locked = liqtk(*pull_args(devchain.url, store, "aave-v2"))
    assert locked.returncode == 5, locked.stderr
    assert locked.stderr.strip() == (f"error: store {store.absolute()} is locked by PID {first.pid} (another pull "
                                     "is running); wait for it or pass another --store")
    waited = liqtk(*pull_args(devchain.url, store, "aave-v2", "--wait", 60, "--quiet"))
    assert first.wait(timeout=60) == 0, first.stderr.read()
    assert waited.returncode == 0, waited.stderr
    runs = {run["protocol"]: run for run in Store(store, create=False).runs()}
    assert runs["aave-v2"]["started_at"] >= runs["aave-v3"]["finished_at"]  # one writer at a time
    first.stdout.close()
    first.stderr.close()


def test_a_notebook_and_an_export_read_while_a_pull_writes(devchain, devchain_liquidations, clean_store,
                                                           tmp_path) -> None:
    store = tmp_path / "s.duckdb"
    blocks = [i["block_number"] for i in devchain_liquidations if i["market"] == "aave_v3"]
    finalized = devchain.chain.w3.eth.get_block("finalized").number
    # around the Aave v3 liquidations, from far enough before them (one block per chunk) that the notebook reads
    # while the pull is still in the empty blocks, however fast the machine
    first, last = max(0, min(blocks) - 150), min(max(blocks) + 10, finalized)
    clean = Store(clean_store, create=False).liquidations(protocol="aave-v3", from_block=first, to_block=last)
    expected = [[int(b), t, int(i)] for b, t, i in zip(clean.block_number, clean.tx_hash, clean.log_index, strict=True)]
    pull = start_pull(devchain.url, store, "aave-v3", "--from-block", first, "--to", last)
    reader = subprocess.Popen([sys.executable, str(READER), str(store)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        export = liqtk("export", "--store", store, "--out", tmp_path / "during.parquet", "--quiet")
        assert export.returncode == 0, export.stderr
        assert pull.wait(timeout=90) == 0, pull.stderr.read()
        time.sleep(1.0)  # a few reads of the final state
    finally:
        reader.stdin.close()
        reads = [json.loads(line) for line in reader.stdout]
        assert reader.wait(timeout=30) == 0, reader.stderr.read()
        for process in (pull, reader):
            process.stdout.close()
            process.stderr.close()
    assert [r for r in reads if "error" in r] == []
    assert len(reads) >= 5
    for read in reads:  # whole chunks only: always the clean rows up to some block, in canonical order
        assert read["rows"] == expected[:len(read["rows"])]
    assert {len(r["rows"]) for r in reads} >= {0, len(expected)} and reads[-1]["rows"] == expected
    assert json.loads(export.stdout)["rows"] in range(len(expected) + 1)
