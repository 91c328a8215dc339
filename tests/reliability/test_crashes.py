"""``liqtk pull`` SIGKILLed at 20 random moments, each time resumed: the store is readable after every
kill, holds exactly the clean rows up to its checkpoint (no duplicate, nothing half-written), and the
finished pulls end with the clean pull's content hash."""

from __future__ import annotations

import json
import random
import subprocess
import sys
import time
from pathlib import Path

import pytest

from liqtkwork import liqtk, pull_args, rows_hash
from toolkit.store.db import Store

pytestmark = [pytest.mark.node, pytest.mark.slow]

#: Kills per protocol (the Aave v3 range is longer).
KILLS = {"aave-v3": 12, "aave-v2": 8}


def kill_during_pull(url: str, store: Path, protocol: str, rng: random.Random) -> bool:
    """Start a one-block-per-chunk pull and SIGKILL it: a quarter of the time at a random moment of its
    first 1.5 s (start-up, store creation, first chunks), otherwise after 1-6 committed chunks plus a
    random fraction of the next one. Returns whether the process was still running when killed."""
    process = subprocess.Popen([sys.executable, "-m", "toolkit", *pull_args(url, store, protocol, "--quiet",
                                                                              "--blocks-per-request", 1)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        if rng.random() < 0.25:
            time.sleep(rng.uniform(0.0, 1.5))
        else:
            commits = rng.randint(1, 6)
            while commits and (line := process.stderr.readline()):
                commits -= json.loads(line)["event"] == "progress"
            time.sleep(rng.uniform(0.0, 0.06))
        running = process.poll() is None
        process.kill()
        process.wait(timeout=30)
        return running
    finally:
        process.stderr.close()


def assert_whole_chunks(store: Path, clean_store: Path, protocol: str) -> int:
    """The store opens (validated read-only) and holds, for ``protocol``, exactly the clean rows up to
    its checkpoint and none above it; every key once. Returns the checkpoint (-1 when none)."""
    opened = Store(store, create=False)
    checkpoint = opened.checkpoint(31337, protocol, "devchain")
    last = checkpoint.last_block if checkpoint else -1
    with opened.reader() as con:
        keys, distinct = con.execute("SELECT count(*), count(DISTINCT (chain_id, tx_hash, log_index)) "
                                     "FROM liquidations").fetchone()
        above = con.execute("SELECT count(*) FROM liquidations WHERE protocol = ? AND block_number > ?",
                            [protocol, last]).fetchone()[0]
    assert keys == distinct and above == 0
    assert rows_hash(opened, protocol=protocol, to_block=last) == rows_hash(clean_store, protocol=protocol,
                                                                            to_block=last)
    return last


def test_sigkill_at_20_random_moments_then_resume_gives_the_identical_export(devchain, clean_store, clean_hash,
                                                                             tmp_path) -> None:
    store = tmp_path / "s.duckdb"
    rng = random.Random(20261121)
    kills = 0
    for protocol, wanted in KILLS.items():
        finished = Store(clean_store, create=False).checkpoint(31337, protocol, "devchain").last_block
        killed, checkpoints = 0, []
        while killed < wanted:
            killed += kill_during_pull(devchain.url, store, protocol, rng)
            if store.exists():  # a kill before the node check leaves no store, as it should
                checkpoints.append(assert_whole_chunks(store, clean_store, protocol))
        kills += killed
        assert len(set(checkpoints)) > 3, checkpoints  # the kills landed at several points of the pull
        done = liqtk(*pull_args(devchain.url, store, protocol, "--quiet"))
        assert done.returncode in (0, 3), done.stderr
        assert assert_whole_chunks(store, clean_store, protocol) == finished
    assert kills == 20
    assert liqtk("export", "--store", store, "--out", tmp_path / "e.csv", "--quiet").returncode == 0
    assert json.loads((tmp_path / "e.csv.manifest.json").read_text())["content_sha256"] == clean_hash
    statuses = [run["status"] for run in Store(store, create=False).runs(limit=100)]
    assert statuses[0] in ("ok", "nothing_new") and "running" not in statuses[1:]
    assert statuses.count("interrupted") >= 10  # killed runs are marked by the next writer
