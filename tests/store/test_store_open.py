"""Opening a store: creation, and refusal -- without modifying the file -- of anything that is not one."""

from __future__ import annotations

import os
from pathlib import Path

import duckdb
import pytest

import toolkit
from toolkit.errors import StoreError
from toolkit.store import schema
from toolkit.store.db import Store
from toolkit.store.location import default_store_path
from toolkit.store.manifest import file_sha256
from storework import commit


def test_new_store_has_all_tables_and_meta(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "dir" / "liquidations.duckdb"
    Store(path)
    assert sorted(p.name for p in path.parent.iterdir()) == ["liquidations.duckdb", "liquidations.duckdb.lock",
                                                             "liquidations.duckdb.segments"]
    with duckdb.connect(str(path), read_only=True) as con:
        tables = {name for (name,) in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
        views = {name for (name,) in con.execute("SELECT view_name FROM duckdb_views() WHERE NOT internal").fetchall()}
        meta = con.execute("SELECT schema_version, package_version FROM store_meta").fetchall()
        columns = [name for (name,) in con.execute(
            "SELECT column_name FROM duckdb_columns() WHERE table_name = 'liquidations' ORDER BY column_index")
            .fetchall()]
    assert tables == set(schema.STORED_TABLES) and views == set(schema.VIEWS)
    assert meta == [(schema.SCHEMA_VERSION, toolkit.__version__)]
    assert columns == [c.name for c in schema.LIQUIDATION_COLUMNS]


def test_reopening_keeps_data(store: Store) -> None:
    with store.writer() as writer:
        commit(writer, 0, 9, 2)
    assert len(Store(store.path).liquidations()) == 20


def test_default_location(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("LIQTK_HOME", str(tmp_path))
    assert default_store_path() == tmp_path / "liquidations.duckdb"
    monkeypatch.delenv("LIQTK_HOME")
    assert default_store_path().name == "liquidations.duckdb"
    assert "liquidation-toolkit" in default_store_path().parts


def _foreign_duckdb(path: Path) -> None:
    with duckdb.connect(str(path)) as con:
        con.execute("CREATE TABLE notes AS SELECT range AS n FROM range(1000)")


def _other_schema_version(path: Path) -> None:
    Store(path)
    with duckdb.connect(str(path)) as con:
        con.execute("UPDATE store_meta SET schema_version = 99")


def _garbage(path: Path) -> None:
    path.write_bytes(os.urandom(300_000))


def _empty(path: Path) -> None:
    path.write_bytes(b"")


def _text(path: Path) -> None:
    path.write_text("chain_id,block_number\n1,2\n")


def _truncated(keep: float, *, at_block: bool = False) -> object:
    """A store with data, cut to ``keep`` of its size (at a 256 KiB block boundary when ``at_block``)."""
    def make(path: Path) -> None:
        store = Store(path)
        with store.writer() as writer:
            commit(writer, 0, 99, 30)
        data = path.read_bytes()
        size = int(len(data) * keep)
        if at_block:
            size -= (size - 3 * 4096) % (256 * 1024)
        path.write_bytes(data[:size])
    make.__name__ = f"truncated_{keep}" + ("_at_block" if at_block else "")
    return make


@pytest.mark.parametrize("make", [_foreign_duckdb, _other_schema_version, _garbage, _empty, _text,
                                  _truncated(0.01), _truncated(0.5), _truncated(0.999), _truncated(0.6, at_block=True)],
                         ids=lambda make: make.__name__.strip("_"))
def test_refuses_foreign_files_without_touching_them(tmp_path: Path, make) -> None:
    path = tmp_path / "liquidations.duckdb"
    make(path)
    before = (file_sha256(path), path.stat().st_size, sorted(os.listdir(tmp_path)))
    with pytest.raises(StoreError) as caught:
        Store(path)
    message = str(caught.value)
    assert str(path) in message and "pass another --store" in message and "\n" not in message
    assert (file_sha256(path), path.stat().st_size, sorted(os.listdir(tmp_path))) == before


def test_refuses_a_directory(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="is not a liquidation-toolkit store"):
        Store(tmp_path)


def test_missing_store_without_create(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="no store at"):
        Store(tmp_path / "nothing.duckdb", create=False)
    assert not (tmp_path / "nothing.duckdb").exists()


def test_unwritable_location_parent_is_a_file(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(StoreError, match="cannot create store .*pass another --store"):
        Store(tmp_path / "file" / "liquidations.duckdb")


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores directory permissions")
def test_unwritable_location_read_only_directory(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    try:
        with pytest.raises(StoreError, match="cannot create store"):
            Store(locked / "liquidations.duckdb")
    finally:
        locked.chmod(0o700)
