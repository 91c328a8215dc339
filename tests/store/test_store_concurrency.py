"""Processes against one store: a single writer, readers that never fail, crashes that lose nothing."""

from __future__ import annotations

import random
import signal
import threading
import time
from pathlib import Path

import pytest

from toolkit.errors import StoreError, StoreLockedError
from toolkit.store.db import Store
from storework import CHAIN_ID, CHUNK_BLOCKS, DEPLOYMENT, PROTOCOL, commit

pytestmark = pytest.mark.xdist_group("store-processes")

PER_BLOCK = 50


def assert_whole_chunks(store: Store) -> int:
    """In one snapshot: blocks up to the checkpoint hold PER_BLOCK rows each and have a stored header,
    blocks after it hold none. Returns the checkpoint's last block (-1 when none)."""
    with store.reader() as con:
        checkpoint = con.execute("SELECT max(last_block) FROM checkpoints").fetchone()[0]
        last = -1 if checkpoint is None else checkpoint
        per_block = con.execute("SELECT block_number, count(*) FROM liquidations GROUP BY ALL").fetchall()
        headers = con.execute("SELECT count(*) FROM blocks WHERE block_number <= ?", [last]).fetchone()[0]
    assert (last + 1) % CHUNK_BLOCKS == 0
    assert sorted(per_block) == [(number, PER_BLOCK) for number in range(last + 1)]
    assert headers == last + 1
    return last


def test_second_writer_process_gets_the_pid(store: Store, spawn) -> None:
    holder = spawn("hold-writer", store.path)
    assert holder.stdout.readline().strip() == "locked"
    with pytest.raises(StoreLockedError) as caught:
        with store.writer():
            pass
    assert str(caught.value) == (f"store {store.path} is locked by PID {holder.pid} (another pull is running); "
                                 "wait for it or pass another --store")
    started = time.monotonic()
    with pytest.raises(StoreLockedError, match=f"PID {holder.pid}"):
        with store.writer(wait=0.5):
            pass
    assert 0.5 <= time.monotonic() - started < 3
    holder.stdin.close()  # the holder leaves its `with` block
    with store.writer(wait=10) as writer:
        assert writer.store is store
    assert holder.wait(timeout=10) == 0


def test_commit_waits_for_a_reader_to_close(store: Store, spawn) -> None:
    reader = spawn("hold-open", store.path, "ro")
    assert reader.stdout.readline().strip() == "open"
    with store.writer() as writer:
        threading.Timer(0.5, reader.stdin.close).start()
        started = time.monotonic()
        assert commit(writer, 0, 9, 1) == 10
        assert time.monotonic() - started >= 0.4


def test_a_commit_waits_for_a_reader_of_another_thread(store: Store) -> None:
    """Store operations attach the file to the process's one DuckDB instance, which does not attach a file
    read-write while it is attached read-only: a commit waits for another thread's read to end, as it waits
    for another process's (and then stores its chunk)."""
    held = threading.Event()

    def hold() -> None:
        with store.reader():
            held.set()
            time.sleep(0.4)

    holder = threading.Thread(target=hold)
    holder.start()
    held.wait()
    with store.writer() as writer:
        started = time.monotonic()
        assert commit(writer, 0, 9, 1) == 10
        assert time.monotonic() - started >= 0.2
    holder.join()
    assert store.liquidations_table().num_rows == 10


def test_a_connection_left_open_is_named(tmp_path: Path, spawn) -> None:
    path = Store(tmp_path / "liquidations.duckdb").path
    holder = spawn("hold-open", path, "rw")
    assert holder.stdout.readline().strip() == "open"
    with pytest.raises(StoreError, match=f"stayed open in another process \\(PID {holder.pid}\\) for 0.3 s"):
        Store(path, read_timeout=0.3)


def test_readers_never_fail_and_see_whole_chunks(store: Store, spawn) -> None:
    chunks = 20
    writer = spawn("commit-loop", store.path, chunks, PER_BLOCK)
    reads, seen = 0, set()
    while writer.poll() is None:
        seen.add(assert_whole_chunks(store))
        reads += 1
        if reads % 10 == 0:
            assert sum(row["rows"] for row in store.status()) % (CHUNK_BLOCKS * PER_BLOCK) == 0
    assert writer.returncode == 0, writer.stderr.read()
    assert assert_whole_chunks(store) == chunks * CHUNK_BLOCKS - 1
    assert len(seen) > 3, f"the reader saw only checkpoints {sorted(seen)} in {reads} reads"


def test_sigkill_leaves_every_chunk_all_or_nothing(tmp_path: Path, spawn) -> None:
    """Kill a committing process at random moments: while starting or creating the store (even
    rounds) or while committing (odd rounds); the store always opens with whole chunks only."""
    path = tmp_path / "liquidations.duckdb"
    rng = random.Random(20261121)
    last = -1
    for round_ in range(8):
        worker = spawn("commit-loop", path, 1000, PER_BLOCK)
        if round_ % 2:
            assert worker.stdout.readline().startswith("committed"), worker.stderr.read()
            time.sleep(rng.uniform(0, 0.4))
        else:
            time.sleep(rng.uniform(0.2, 1.2))
        worker.send_signal(signal.SIGKILL)
        assert worker.wait(timeout=10) == -signal.SIGKILL
        if path.exists():
            now = assert_whole_chunks(Store(path))
            assert now >= last + (CHUNK_BLOCKS if round_ % 2 else 0)
            last = now
    assert last > 0
    assert Store(path).checkpoint(CHAIN_ID, PROTOCOL, DEPLOYMENT).last_block == last
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.endswith(".wal")) == [
        "liquidations.duckdb", "liquidations.duckdb.lock", "liquidations.duckdb.segments"]
    # segment files of commits the kills cut short are not read, and the next writer deletes them
    store = Store(path)
    with store.writer():
        pass
    with store.reader() as con:
        listed = {name for (name,) in con.execute("SELECT file FROM segments").fetchall()}
    assert {p.name for p in store.segments_dir.iterdir()} == listed
