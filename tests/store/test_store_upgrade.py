"""``liqtk upgrade``: a store of schema version 2 (rows in a DuckDB table) becomes version 3 (rows in
Parquet segment files) with the same rows, blocks, checkpoints and runs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from toolkit.errors import StoreError
from toolkit.store import schema
from toolkit.store.arrow import rows_to_table
from toolkit.store.db import Store
from toolkit.store.manifest import content_sha256
from storework import make_blocks, make_rows


def version_2_store(path: Path) -> None:
    """A store as schema version 2 built it: the same tables, ``liquidations`` a DuckDB table with its
    primary key, no ``segments`` table, two deployments' rows."""
    rows = rows_to_table(schema.LIQUIDATION_COLUMNS, make_rows(0, 9, 3) + make_rows(0, 4, 2, deployment="prime"))
    blocks = rows_to_table(schema.BLOCK_COLUMNS, make_blocks(range(10)))
    columns = ", ".join(f"{c.name} {c.sql_type}" for c in schema.LIQUIDATION_COLUMNS)
    with duckdb.connect(str(path)) as con:
        con.execute(f"CREATE TABLE liquidations ({columns}, PRIMARY KEY (chain_id, tx_hash, log_index))")
        for table in ("blocks", "checkpoints", "runs", "store_meta"):
            con.execute(schema.create_table_sql(table))
        con.register("rows", rows)
        con.register("new_blocks", blocks)
        con.execute("INSERT INTO liquidations SELECT * FROM rows")
        con.execute("INSERT INTO blocks SELECT * FROM new_blocks")
        con.execute("INSERT INTO checkpoints VALUES (1, 'aave-v3', 'core', 0, 9, ?, 'r1', current_timestamp)",
                    [make_blocks([9])[0]["block_hash"]])
        con.execute("INSERT INTO store_meta VALUES (2, current_timestamp, '0.1.0')")


def upgrade_store(path: Path) -> int:
    """What ``liqtk upgrade`` does: open the store whatever its version, upgrade it under the write lock."""
    with Store(path, create=False, check_version=False).writer() as writer:
        return writer.upgrade()


def rows_hash(con: duckdb.DuckDBPyConnection) -> str:
    order = ", ".join(schema.LIQUIDATION_ORDER)
    return content_sha256(con.sql(f"SELECT * FROM liquidations ORDER BY {order}").to_arrow_table(),
                          schema.LIQUIDATION_COLUMNS)


def test_a_version_2_store_is_refused_with_the_upgrade_command_then_upgraded_with_all_it_holds(tmp_path) -> None:
    path = tmp_path / "old.duckdb"
    version_2_store(path)
    with duckdb.connect(str(path), read_only=True) as con:
        before = rows_hash(con), con.sql("SELECT * FROM blocks ORDER BY ALL").to_arrow_table().to_pylist()
    with pytest.raises(StoreError, match=f"has schema version 2, .* upgrade it with `liqtk upgrade --store {path}`"):
        Store(path, create=False)

    assert upgrade_store(path) == 40
    store = Store(path, create=False)
    with store.reader() as con:
        assert (rows_hash(con), con.sql("SELECT * FROM blocks ORDER BY ALL").to_arrow_table().to_pylist()) == before
        assert con.execute("SELECT deployment, rows FROM segments ORDER BY ALL").fetchall() == [("core", 30),
                                                                                               ("prime", 10)]
    assert store.checkpoint(1, "aave-v3", "core").last_block == 9
    assert upgrade_store(path) == 0  # already of this version: left as it is


def test_liqtk_upgrade_is_one_json_line_and_refuses_what_is_not_a_store(tmp_path) -> None:
    path = tmp_path / "old.duckdb"
    version_2_store(path)
    done = subprocess.run([sys.executable, "-m", "toolkit", "upgrade", "--store", str(path), "--quiet"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"event": "store.upgraded", "store": str(path),
                                       "schema_version": schema.SCHEMA_VERSION, "rows": 40}
    notes = tmp_path / "notes.duckdb"
    notes.write_text("not a database\n")
    done = subprocess.run([sys.executable, "-m", "toolkit", "upgrade", "--store", str(notes)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 1 and done.stderr.startswith(f"error: {notes} is not a liquidation-toolkit store (")
    assert len(done.stderr.strip().splitlines()) == 1 and notes.read_text() == "not a database\n"
