"""The generic upgrade (``liqtk upgrade``) from one segment-file schema version to the next, derived from
:mod:`toolkit.store.schema`: a later version is simulated here by adding columns (in the middle and at the end
of the liquidations, to ``runs``) and a table to the schema, as the helpers that extend it do."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

from toolkit.errors import StoreError
from toolkit.store import schema
from toolkit.store.db import Store, Writer
from toolkit.store.manifest import content_sha256
from toolkit.store.schema import Column
from toolkit.store.upgrade import conform
from storework import CHAIN_ID, DEPLOYMENT, PROTOCOL, commit, make_blocks, make_rows

ADDED_INSIDE = Column("event_args_later", "VARCHAR", "JSON", "event log", "A column a later version inserts.")
ADDED_LAST = Column("state_check_later", "INTEGER", "-", "adapter", "A column a later version appends.")
ADDED_RUN = Column("note_later", "VARCHAR", "-", "run", "A runs column a later version appends.")
NEW_TABLE = (Column("market_id", "VARCHAR", "-", "registry", "A market."),
             Column("first_block", "BIGINT", "block", "chain", "Where it was found."))


def later_schema(monkeypatch: pytest.MonkeyPatch, *, drop_run_column: str | None = None) -> tuple[Column, ...]:
    """Make :mod:`toolkit.store.schema` the next version's (for the test); its liquidation columns."""
    old = schema.LIQUIDATION_COLUMNS
    liquidations = old[:5] + (ADDED_INSIDE,) + old[5:] + (ADDED_LAST,)
    run_columns = tuple(c for c in schema.RUN_COLUMNS if c.name != drop_run_column) + (ADDED_RUN,)
    tables = {**schema.TABLES, "liquidations": liquidations, "runs": run_columns, "markets_later": NEW_TABLE}
    monkeypatch.setattr(schema, "LIQUIDATION_COLUMNS", liquidations)
    monkeypatch.setattr(schema, "RUN_COLUMNS", run_columns)
    monkeypatch.setattr(schema, "TABLES", tables)
    monkeypatch.setattr(schema, "STORED_TABLES", tuple(t for t in tables if t not in schema.VIEWS))
    monkeypatch.setitem(schema.PRIMARY_KEYS, "markets_later", ("market_id",))
    monkeypatch.setattr(schema, "SCHEMA_VERSION", schema.SCHEMA_VERSION + 1)
    return liquidations


def store_of_this_version(path: Path) -> Store:
    """A store of the current version: two deployments, several segment files, blocks, a finished run."""
    store = Store(path)
    with store.writer() as writer:
        writer.start_run(run_id="r1", command="pull", args_json="{}", rpc_host="http://127.0.0.1:8545",
                         chain_id=CHAIN_ID, protocol=PROTOCOL, deployment=DEPLOYMENT, from_block=0, to_block=29,
                         node_client_version="anvil/v1", package_version="test", git_commit=None)
        for start in (0, 10, 20):
            commit(writer, start, start + 9, 2)
        commit(writer, 0, 4, 1, deployment="prime")
        writer.finish_run(run_id="r1", status="ok", rows_added=65, report_json="{}", error=None)
    return store


def upgrade(path: Path) -> int:
    with Store(path, create=False, check_version=False).writer() as writer:
        return writer.upgrade()


def snapshot(store: Store, columns: tuple[Column, ...]) -> tuple[str, list, list, list]:
    """Content hash of the liquidations over ``columns``, and the blocks, checkpoints and runs (by column name)."""
    rows = store.liquidations_table()
    with store.reader() as con:
        others = [con.sql(f"SELECT {', '.join(c.name for c in schema.TABLES[table] if c.name != 'note_later')} "
                          f"FROM {table} ORDER BY ALL").fetchall() for table in ("blocks", "checkpoints", "runs")]
    return (content_sha256(rows, columns), *others)


def test_a_store_of_the_previous_version_gets_new_tables_and_null_new_columns_with_old_rows_unchanged(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "liquidations.duckdb"
    store = store_of_this_version(path)
    old_columns = schema.LIQUIDATION_COLUMNS
    before = snapshot(store, old_columns)
    old_rows = store.liquidations_table()
    old_files = {p.name for p in store.segments_dir.iterdir()}
    version = schema.SCHEMA_VERSION

    new_columns = later_schema(monkeypatch)
    with pytest.raises(StoreError, match=f"has schema version {version}, .* `liqtk upgrade --store {path}`"):
        Store(path, create=False)
    assert upgrade(path) == 65

    upgraded = Store(path, create=False)
    assert snapshot(upgraded, old_columns) == before  # old rows, blocks, checkpoints, runs: the same values
    rows = upgraded.liquidations_table()
    assert rows.column_names == [c.name for c in new_columns]
    assert rows.column("event_args_later").null_count == rows.column("state_check_later").null_count == 65
    assert content_sha256(rows, new_columns) == content_sha256(conform(old_rows), new_columns)
    with upgraded.reader() as con:
        assert con.execute("SELECT count(*), count(note_later) FROM runs").fetchall() == [(1, 0)]
        assert con.execute("SELECT count(*) FROM markets_later").fetchall() == [(0,)]
        assert con.execute("SELECT max(schema_version) FROM store_meta").fetchall() == [(version + 1,)]
        files = [f for (f,) in con.execute("SELECT file FROM segments").fetchall()]
    for name in files:  # every listed file has the new columns, in the schema's order
        assert pq.read_schema(upgraded.segments_dir / name).names == [c.name for c in new_columns]
    assert upgrade(path) == 0  # already of this version

    with upgraded.writer() as writer:  # the replaced files go; the new columns can be written
        assert not old_files & {p.name for p in upgraded.segments_dir.iterdir()}
        fresh = [{**row, "event_args_later": '{"a": 1}', "state_check_later": 7} for row in make_rows(30, 31, 1)]
        assert writer.commit_chunk(chain_id=CHAIN_ID, protocol=PROTOCOL, deployment=DEPLOYMENT, first_block=0,
                                   chunk_start=30, chunk_end=31, rows=fresh, blocks=make_blocks(range(30, 32)),
                                   last_block_hash=None, run_id=None) == 2
    with duckdb.connect(str(path), read_only=True) as con:  # DuckDB alone reads it
        assert con.execute("SELECT count(*), count(event_args_later), sum(state_check_later) "
                           "FROM liquidations").fetchall() == [(67, 2, 14)]


def test_an_upgrade_that_fails_halfway_leaves_the_previous_version_whole(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "liquidations.duckdb"
    store = store_of_this_version(path)
    old_columns, version = schema.LIQUIDATION_COLUMNS, schema.SCHEMA_VERSION
    before = snapshot(store, old_columns)
    with monkeypatch.context() as later:
        later_schema(later)

        def fail(*args: object, **kwargs: object) -> None:
            raise OSError(28, "No space left on device")

        later.setattr(Writer, "_relist", fail)
        with pytest.raises(OSError):
            upgrade(path)
        assert Store(path, create=False, check_version=False).schema_version == version
    assert snapshot(Store(path, create=False), old_columns) == before
    with Store(path, create=False).writer():
        pass  # deletes the files the failed upgrade wrote
    assert len(list(store.segments_dir.iterdir())) == 4


def test_an_upgrade_never_drops_a_stored_column(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "liquidations.duckdb"
    store_of_this_version(path)
    later_schema(monkeypatch, drop_run_column="git_commit")
    with pytest.raises(StoreError, match="column.s. git_commit of table runs are not in schema version .* never drops"):
        upgrade(path)
