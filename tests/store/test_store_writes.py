"""The write protocol: idempotent chunks, reorg rewind, runs, and the typed readers."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta, timezone

import duckdb
import pandas as pd
import pytest

from toolkit.errors import StoreError, StoreLockedError
from toolkit.store import schema
from toolkit.store import db
from toolkit.store.db import INTERRUPTED_ERROR, BlockHashConflict, Store
from storework import CHAIN_ID, DEPLOYMENT, PROTOCOL, block_hash, commit, make_blocks, make_rows

KEY = {"chain_id": CHAIN_ID, "protocol": PROTOCOL, "deployment": DEPLOYMENT}


def test_commit_is_idempotent(store: Store) -> None:
    with store.writer() as writer:
        assert commit(writer, 0, 9, 3) == 30
        before = store.liquidations_table()
        assert commit(writer, 0, 9, 3) == 0
        assert store.liquidations_table().equals(before)
        assert commit(writer, 10, 19, 3) == 30
    checkpoint = store.checkpoint(**KEY)
    assert (checkpoint.first_block, checkpoint.last_block, checkpoint.last_block_hash) == (0, 19, block_hash(19))
    assert store.newest_blocks(CHAIN_ID, limit=2) == [(19, block_hash(19)), (18, block_hash(18))]
    assert store.newest_blocks(CHAIN_ID, below=1, limit=5) == [(0, block_hash(0))]
    assert store.newest_blocks(CHAIN_ID + 1) == []


def test_recommit_replaces_the_chunk_and_counts_only_new_keys(store: Store) -> None:
    with store.writer() as writer:
        commit(writer, 0, 9, 3)
        rows = make_rows(0, 9, 3)[:-1]  # one row gone, one new row, one duplicated
        rows += [{**rows[0], "tx_hash": "0xnew"}, rows[1]]
        added = writer.commit_chunk(**KEY, first_block=0, chunk_start=0, chunk_end=9, rows=rows, blocks=[],
                                    last_block_hash=block_hash(9), run_id="r")
    stored = store.liquidations()
    assert added == 1
    assert len(stored) == 30 and "0xnew" in set(stored["tx_hash"])
    assert make_rows(0, 9, 3)[-1]["tx_hash"] not in set(stored["tx_hash"])


def test_commit_keeps_other_deployments_and_blocks_outside_the_chunk(store: Store) -> None:
    with store.writer() as writer:
        commit(writer, 0, 19, 2)
        commit(writer, 0, 19, 2, deployment="prime")
        assert commit(writer, 5, 9, 0) == 0  # the chunk [5, 9] of core now has no liquidation
    counts = store.liquidations().groupby("deployment").size().to_dict()
    assert counts == {"core": 30, "prime": 40}
    assert store.checkpoint(**KEY).first_block == 0


def test_commit_validates_rows(store: Store) -> None:
    with store.writer() as writer:
        commit(writer, 0, 9, 1)
        snapshot = store.liquidations_table()
        bad_block = make_rows(10, 20, 1)
        with pytest.raises(ValueError, match="not in chunk"):
            writer.commit_chunk(**KEY, first_block=0, chunk_start=10, chunk_end=19, rows=bad_block, blocks=[],
                                last_block_hash=None, run_id=None)
        with pytest.raises(ValueError, match="not in chunk"):
            writer.commit_chunk(**{**KEY, "deployment": "other"}, first_block=0, chunk_start=10, chunk_end=20,
                                rows=bad_block, blocks=[], last_block_hash=None, run_id=None)
        with pytest.raises(ValueError, match="unknown column"):
            writer.commit_chunk(**KEY, first_block=0, chunk_start=10, chunk_end=20,
                                rows=[{**bad_block[0], "blocknumber": 1}], blocks=[], last_block_hash=None, run_id=None)
        with pytest.raises(ValueError, match="naive datetime"):
            writer.commit_chunk(**KEY, first_block=0, chunk_start=10, chunk_end=20,
                                rows=[{**bad_block[0], "block_timestamp": datetime(2024, 1, 1)}], blocks=[],
                                last_block_hash=None, run_id=None)
        with pytest.raises(TypeError, match="debt_repaid_raw"):
            writer.commit_chunk(**KEY, first_block=0, chunk_start=10, chunk_end=20,
                                rows=[{**bad_block[0], "debt_repaid_raw": 10**30}], blocks=[],
                                last_block_hash=None, run_id=None)
        with pytest.raises(StoreError, match="pull from block 10"):
            commit(writer, 11, 20, 1)
    assert store.liquidations_table().equals(snapshot)
    assert store.checkpoint(**KEY).last_block == 9


def test_timestamps_from_unix_seconds_and_aware_datetimes(store: Store) -> None:
    rows = make_rows(5, 6, 1)
    rows[1]["block_timestamp"] = datetime(2024, 1, 1, 2, tzinfo=timezone(timedelta(hours=2)))
    with store.writer() as writer:
        writer.commit_chunk(**KEY, first_block=5, chunk_start=5, chunk_end=6, rows=rows, blocks=make_blocks([5]),
                            last_block_hash=None, run_id=None)
    stamps = list(store.liquidations()["block_timestamp"])
    assert stamps == [pd.Timestamp(1_700_000_060, unit="s", tz="UTC"), pd.Timestamp("2024-01-01T00:00:00Z")]


def test_rewind_chain_repairs_a_reorg_for_every_deployment(store: Store) -> None:
    with store.writer() as writer:
        commit(writer, 0, 19, 2, first_block=0)
        commit(writer, 0, 19, 1, deployment="prime")
        writer.commit_chunk(**{**KEY, "deployment": "spark"}, first_block=16, chunk_start=16, chunk_end=17, rows=[],
                            blocks=make_blocks([17]), last_block_hash=block_hash(17), run_id=None)
        with pytest.raises(BlockHashConflict, match="block 15 of chain 1 is stored with another hash") as caught:
            commit(writer, 15, 19, 2, fork="b")  # the new branch, before the repair
        assert caught.value.block_number == 15
        assert writer.rewind_chain(chain_id=CHAIN_ID, to_block=14, to_block_hash=block_hash(14)) == 10 + 5
        assert store.liquidations(deployment=DEPLOYMENT)["block_number"].max() == 14
        assert store.liquidations(deployment="prime")["block_number"].max() == 14
        assert store.newest_blocks(CHAIN_ID) == [(14, block_hash(14))]
        for deployment in (DEPLOYMENT, "prime"):
            checkpoint = store.checkpoint(**{**KEY, "deployment": deployment})
            assert (checkpoint.first_block, checkpoint.last_block, checkpoint.last_block_hash) == (
                0, 14, block_hash(14))
        assert store.checkpoint(**{**KEY, "deployment": "spark"}) is None  # its whole range was above 14
        assert commit(writer, 15, 19, 2, fork="b") == 10
        assert store.newest_blocks(CHAIN_ID) == [(19, block_hash(19, "b"))]
        assert writer.rewind_chain(chain_id=CHAIN_ID, to_block=-1, to_block_hash=None) == 40 + 15
    assert store.checkpoint(**KEY) is None
    assert store.liquidations().empty and store.newest_blocks(CHAIN_ID) == []


def test_runs_and_status(store: Store) -> None:
    with store.writer() as writer:
        writer.start_run("run-1", "pull", '{"to": "finalized"}', "https://node.example:8443/***", CHAIN_ID, PROTOCOL,
                         DEPLOYMENT, 0, 19, "anvil/v1.7.1", "0.1.0", None)
        commit(writer, 0, 19, 2, run_id="run-1")
        writer.finish_run("run-1", "ok", 40, '{"chunks": 1}', None)
        time.sleep(0.01)
        writer.start_run("run-2", "pull", "{}", None, CHAIN_ID, PROTOCOL, "prime", None, None, None, "0.1.0", None)
        with pytest.raises(ValueError, match="no run"):
            writer.finish_run("run-x", "ok", 0, None, None)
    runs = store.runs(limit=5)
    assert [r["run_id"] for r in runs] == ["run-2", "run-1"]
    assert runs[1]["status"] == "ok" and runs[1]["rows_added"] == 40 and runs[1]["finished_at"].tzinfo is not None
    assert runs[0]["status"] == "running" and runs[0]["finished_at"] is None
    assert store.status() == [
        {"chain_id": 1, "protocol": PROTOCOL, "deployment": "core", "rows": 40, "first_liquidation_block": 0,
         "last_liquidation_block": 19, "state_checked": 0, "state_exact": 0, "state_mismatch": 0,
         "state_before_tx": 0, "first_block": 0, "last_block": 19, "last_block_hash": block_hash(19),
         "last_run_id": "run-1", "last_run_status": "ok", "last_run_finished_at": runs[1]["finished_at"]},
        {"chain_id": 1, "protocol": PROTOCOL, "deployment": "prime", "rows": 0, "first_liquidation_block": None,
         "last_liquidation_block": None, "state_checked": 0, "state_exact": 0, "state_mismatch": 0,
         "state_before_tx": 0, "first_block": None, "last_block": None, "last_block_hash": None,
         "last_run_id": "run-2", "last_run_status": "running", "last_run_finished_at": None},
    ]
    with store.writer() as writer:  # run-2's process is gone: the next writer marks it
        writer.start_run("run-3", "pull", "{}", None, CHAIN_ID, PROTOCOL, DEPLOYMENT, None, None, None, "0.1.0", None)
    runs = {r["run_id"]: r for r in store.runs()}
    assert (runs["run-2"]["status"], runs["run-2"]["error"]) == ("interrupted", INTERRUPTED_ERROR)
    assert (runs["run-1"]["status"], runs["run-3"]["status"]) == ("ok", "running")


def test_a_run_over_several_deployments_counts_for_each(store: Store) -> None:
    with store.writer() as writer:
        writer.start_run("run-both", "pull", "{}", None, CHAIN_ID, PROTOCOL, "core,prime", 0, 9, None, "0.1.0", None)
        commit(writer, 0, 9, 1, run_id="run-both")
        commit(writer, 0, 9, 1, deployment="prime", run_id="run-both")
        writer.finish_run("run-both", "ok", 20, None, None)
    assert [(r["deployment"], r["last_run_id"]) for r in store.status()] == [("core", "run-both"),
                                                                              ("prime", "run-both")]
    assert [r["deployment"] for r in store.runs()] == ["core,prime"]


def test_liquidations_frame_is_typed_filtered_and_ordered(store: Store) -> None:
    rows = make_rows(0, 9, 3)
    with store.writer() as writer:
        writer.commit_chunk(**KEY, first_block=0, chunk_start=0, chunk_end=9, rows=rows[::-1], blocks=[],
                            last_block_hash=None, run_id=None)
    frame = store.liquidations(chain_id=CHAIN_ID, protocol=PROTOCOL, from_block=2, to_block=4)
    assert list(frame.columns) == [c.name for c in schema.LIQUIDATION_COLUMNS]
    assert list(zip(frame["block_number"], frame["log_index"])) == [(b, i) for b in (2, 3, 4) for i in (0, 2, 4)]
    dtypes = {c.sql_type: str(frame[c.name].dtype) for c in schema.LIQUIDATION_COLUMNS}
    assert dtypes == {"BIGINT": "Int64", "INTEGER": "Int64", "DOUBLE": "float64", "VARCHAR": "str",
                      "BOOLEAN": "boolean", "TIMESTAMPTZ": "datetime64[us, UTC]"}
    assert frame["collateral_seized_raw"].iloc[0] == str(2**200)
    assert frame["debt_decimals"].iloc[0] == 6 and pd.isna(frame["ltv_bps"].iloc[0])
    assert store.liquidations(deployment="nothing").empty


def test_a_large_chunk_is_one_commit(store: Store) -> None:
    """100,000 rows in one chunk commit whole (its speed is measured in bench/bench_pull.py, not here)."""
    rows = make_rows(0, 999, 100)
    with store.writer() as writer:
        assert writer.commit_chunk(**KEY, first_block=0, chunk_start=0, chunk_end=999, rows=rows, blocks=[],
                                   last_block_hash=None, run_id=None) == 100_000
    assert store.status()[0]["rows"] == 100_000


def test_one_writer_per_process_too(store: Store) -> None:
    with store.writer() as writer:
        with pytest.raises(StoreLockedError):
            with store.writer():
                pass
        commit(writer, 0, 0, 1)
    with pytest.raises(RuntimeError, match="has ended"):
        commit(writer, 1, 1, 1)
    assert store.checkpoint(**KEY).updated_at <= datetime.now(UTC)


def _start_run(writer, run_id: str) -> None:
    writer.start_run(run_id=run_id, command="pull", args_json="{}", rpc_host=None, chain_id=CHAIN_ID,
                     protocol=PROTOCOL, deployment=DEPLOYMENT, from_block=None, to_block=None,
                     node_client_version=None, package_version="test", git_commit=None)


def _fragments(store: Store) -> int:
    """Listed segments with fewer than FRAGMENT_ROWS rows."""
    with store.reader() as con:
        return con.execute("SELECT count(*) FROM segments WHERE rows < ?", [db.FRAGMENT_ROWS]).fetchall()[0][0]


def test_small_segments_are_merged_when_a_pull_ends_with_too_many(store: Store, monkeypatch) -> None:
    """Each commit writes its own segment file; the last write of a pull merges the small ones (one file per
    deployment) once there are more than MAX_FRAGMENTS, the replaced files are deleted by the next writer,
    and the rows read back unchanged."""
    monkeypatch.setattr(db, "MAX_FRAGMENTS", 3)
    with store.writer() as writer:
        _start_run(writer, "r1")
        for start in range(0, 30, 10):
            commit(writer, start, start + 9, 2)
        assert _fragments(store) == 3
        writer.finish_run(run_id="r1", status="ok", rows_added=60, report_json=None, error=None)
        assert _fragments(store) == 3  # not more than MAX_FRAGMENTS: kept
        _start_run(writer, "r2")
        commit(writer, 30, 39, 2)
        before = store.liquidations_table()
        assert _fragments(store) == 4
        writer.finish_run(run_id="r2", status="ok", rows_added=20, report_json=None, error=None)
        assert _fragments(store) == 1
    assert store.liquidations_table().equals(before)
    assert len(list(store.segments_dir.iterdir())) == 5  # the merged file, and the 4 it replaced
    with store.writer():
        assert len(list(store.segments_dir.iterdir())) == 1
    assert store.liquidations_table().equals(before)


def test_a_missing_or_cut_segment_file_is_one_line_and_the_store_is_kept(store: Store) -> None:
    with store.writer() as writer:
        commit(writer, 0, 9, 2)
    (segment,) = store.segments_dir.iterdir()
    data = segment.read_bytes()
    segment.write_bytes(data[:-10])
    with pytest.raises(StoreError, match=f"is damaged: its segment file {segment} has {len(data) - 10} bytes, "
                                         f"{len(data)} were written; restore"):
        Store(store.path)
    segment.unlink()
    with pytest.raises(StoreError, match="is missing; restore the store file and its liquidations.duckdb.segments"):
        Store(store.path)
    assert store.path.exists()


def test_a_moved_store_reads_its_rows_and_its_next_writer_points_duckdb_at_them(store: Store, tmp_path) -> None:
    """The view names segment files by absolute path (DuckDB alone reads the store); after the store file and
    its segment directory are moved, toolkit reads use the new place at once, DuckDB alone after a writer."""
    with store.writer() as writer:
        commit(writer, 0, 9, 2)
    before = store.liquidations_table()
    moved = tmp_path / "elsewhere" / "moved.duckdb"
    moved.parent.mkdir()
    store.path.rename(moved)
    store.segments_dir.rename(moved.with_name("moved.duckdb.segments"))
    with duckdb.connect(str(moved), read_only=True) as con, pytest.raises(duckdb.IOException):
        con.execute("SELECT count(*) FROM liquidations").fetchall()
    assert Store(moved).liquidations_table().equals(before)
    with Store(moved).writer():
        pass
    with duckdb.connect(str(moved), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM liquidations").fetchall() == [(20,)]
