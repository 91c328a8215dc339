"""``liqtk upgrade``: a store of an earlier schema version brought to :data:`~toolkit.store.schema.SCHEMA_VERSION`,
keeping everything it holds, in one transaction. Derived from :mod:`toolkit.store.schema`, so an additive
schema change (new tables, new columns) needs no upgrade code of its own:

1. each stored table of the schema is made to match it: a missing table is created; a table whose
   columns differ from the schema's is rebuilt with the schema's columns in the schema's order, its
   rows copied by column name (a column it lacked is null). A stored column the schema no longer has
   is refused (:class:`~toolkit.errors.StoreError`): an upgrade never drops data;
2. the liquidation rows: version 2 kept them in a DuckDB table, which becomes segment files (each
   deployment's rows in canonical order, at most :data:`UPGRADE_SEGMENT_ROWS` per file); a segment file
   whose columns are not the schema's is rewritten with them, rows in the same order, new columns null.
   A file's old columns keep their values, so the content hash of the old rows over the old columns
   (:func:`~toolkit.store.manifest.content_sha256`) does not change;
3. the ``liquidations`` view is pointed at the listed files, the SHA-256 of every file listed without one
   recorded (``segments.sha256``, from version 4), and the new version recorded in ``store_meta``.

Until the transaction commits the store is the old one, whole: a crash leaves only unlisted files,
which the next writer deletes, and the upgrade can run again.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from toolkit._version import __version__
from toolkit.errors import StoreError
from toolkit.store import schema, segments
from toolkit.store.arrow import arrow_schema
from toolkit.store.manifest import file_sha256

if TYPE_CHECKING:
    from toolkit.store.db import Writer
    from toolkit.store.segments import Segment

#: The first schema version :func:`upgrade` upgrades from (version 2: rows in a DuckDB table).
OLDEST_UPGRADABLE = 2
#: Most rows of one segment file written from a version-2 table.
UPGRADE_SEGMENT_ROWS = 500_000


def upgradable_versions() -> tuple[int, ...]:
    """The earlier schema versions :func:`upgrade` upgrades from."""
    return tuple(range(OLDEST_UPGRADABLE, schema.SCHEMA_VERSION))


def conform(rows: pa.Table) -> pa.Table:
    """``rows`` with exactly the liquidation columns of the schema, in order and of their types; a column
    ``rows`` lacks is null. Raises :class:`~toolkit.errors.StoreError` for a column the schema does not have."""
    target = arrow_schema(schema.LIQUIDATION_COLUMNS)
    unknown = sorted(set(rows.column_names) - set(target.names))
    if unknown:
        raise StoreError(f"liquidation column(s) {', '.join(unknown)} are not in schema version "
                         f"{schema.SCHEMA_VERSION}; use a matching toolkit version")
    if rows.schema == target:
        return rows
    arrays = [rows.column(field.name).cast(field.type) if field.name in rows.column_names
              else pa.nulls(rows.num_rows, field.type) for field in target]
    return pa.Table.from_arrays(arrays, schema=target)


def _columns(con: duckdb.DuckDBPyConnection, table: str) -> list[str] | None:
    """Names of the columns of ``table`` in the attached store, in order; ``None`` when it is not a table."""
    names = con.execute("SELECT column_name FROM duckdb_columns() WHERE database_name = current_database() "
                        "AND schema_name = 'main' AND table_name = ? ORDER BY column_index", [table]).fetchall()
    kind = con.execute("SELECT count(*) FROM duckdb_tables() WHERE database_name = current_database() "
                       "AND schema_name = 'main' AND table_name = ?", [table]).fetchone()[0]
    return [name for (name,) in names] if kind else None


def conform_tables(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Create the missing stored tables and rebuild those whose columns differ from the schema's (see the
    module docstring); the names of the tables created or rebuilt."""
    changed = []
    for table in schema.STORED_TABLES:
        wanted = [c.name for c in schema.TABLES[table]]
        stored = _columns(con, table)
        if stored == wanted:
            continue
        changed.append(table)
        if stored is None:
            con.execute(schema.create_table_sql(table))
            continue
        dropped = sorted(set(stored) - set(wanted))
        if dropped:
            raise StoreError(f"column(s) {', '.join(dropped)} of table {table} are not in schema version "
                             f"{schema.SCHEMA_VERSION}; an upgrade never drops data: use a matching toolkit version")
        rebuilt = f"{table}__upgraded"
        con.execute(schema.create_table_sql(table).replace(f"EXISTS {table} (", f"EXISTS {rebuilt} (", 1))
        con.execute(f"INSERT INTO {rebuilt} BY NAME SELECT * FROM {table}")
        con.execute(f"DROP TABLE {table}")
        con.execute(f"ALTER TABLE {rebuilt} RENAME TO {table}")
    return changed


def _rows_from_table(writer: Writer, con: duckdb.DuckDBPyConnection) -> list[Segment]:
    """Version 2: the rows of the ``liquidations`` table as segment files; the table is dropped."""
    order = ", ".join(schema.LIQUIDATION_ORDER)
    written = []
    for chain_id, protocol, deployment in con.execute(
            "SELECT DISTINCT chain_id, protocol, deployment FROM liquidations ORDER BY ALL").fetchall():
        rows = conform(con.sql(f"SELECT * FROM liquidations WHERE chain_id = ? AND protocol = ? AND deployment = ? "
                               f"ORDER BY {order}", params=[chain_id, protocol, deployment]).to_arrow_table())
        for offset in range(0, rows.num_rows, UPGRADE_SEGMENT_ROWS):
            written.append(writer._write_segment(rows.slice(offset, UPGRADE_SEGMENT_ROWS), chain_id=chain_id,
                                                 protocol=protocol, deployment=deployment))
    con.execute("DROP TABLE liquidations")
    return written


def _rewrite_segments(writer: Writer, con: duckdb.DuckDBPyConnection) -> tuple[list[Segment], list[Segment]]:
    """Listed segment files whose columns are not the schema's, rewritten with them: ``(replaced, written)``."""
    folder = writer.store.segments_dir
    target = arrow_schema(schema.LIQUIDATION_COLUMNS)
    replaced, written = [], []
    for segment in segments.listed(con):
        if pq.read_schema(folder / segment.file).remove_metadata() == target:
            continue
        rows = conform(pq.read_table(folder / segment.file))
        replaced.append(segment)
        written.append(writer._write_segment(rows, chain_id=segment.chain_id, protocol=segment.protocol,
                                             deployment=segment.deployment))
    return replaced, written


def _record_hashes(con: duckdb.DuckDBPyConnection, folder: Path) -> None:
    """Record the SHA-256 of the listed files listed without one (before schema version 4)."""
    for segment in segments.listed(con, "sha256 IS NULL"):
        con.execute("UPDATE segments SET sha256 = ? WHERE file = ?", [file_sha256(folder / segment.file), segment.file])


def upgrade(writer: Writer) -> int:
    """Upgrade the store of ``writer`` (opened with ``check_version=False``) to the schema's version in one
    transaction (see the module docstring); the liquidation rows written into segment files (0 when the
    store has this version already). Raises :class:`~toolkit.errors.StoreError` for a version it cannot
    upgrade."""
    store = writer.store
    version = store.schema_version
    if version == schema.SCHEMA_VERSION:
        return 0
    if version not in upgradable_versions():
        raise StoreError(f"store {store.path} has schema version {version}; this liquidation-toolkit "
                         f"upgrades version {', '.join(map(str, upgradable_versions()))} only")
    store.segments_dir.mkdir(exist_ok=True)
    with writer._transaction() as con:
        from_table = _columns(con, "liquidations") is not None
        conform_tables(con)
        if from_table:
            replaced, written = [], _rows_from_table(writer, con)
        else:
            replaced, written = _rewrite_segments(writer, con)
        writer._relist(con, drop=replaced, add=written, run_id=None)
        _record_hashes(con, store.segments_dir)
        con.execute("INSERT INTO store_meta BY NAME SELECT ? AS schema_version, current_timestamp AS created_at, "
                    "? AS package_version", [schema.SCHEMA_VERSION, __version__])
    store.schema_version = schema.SCHEMA_VERSION
    store._checked = True
    return sum(segment.rows for segment in written)
