"""Upgrading a store of an earlier schema version in place: ``liqtk upgrade``.

Version 2 kept the liquidation rows in a DuckDB table; version 3 keeps them in Parquet segment files
listed by the ``segments`` table (:mod:`toolkit.store.segments`). The upgrade holds the store's write lock,
writes each deployment's rows (in canonical order) as segment files, then, in one transaction, drops the
table, lists the files, creates the ``liquidations`` view and records the new version in ``store_meta``.
Until that transaction commits the store is the old one, whole: a crash leaves unlisted files, which the
next writer deletes, and the upgrade can be run again.
"""

from __future__ import annotations

import os
from pathlib import Path

import duckdb

import toolkit
from toolkit.errors import StoreError
from toolkit.store import schema, segments
from toolkit.store.db import UPGRADABLE_VERSIONS, Store, _WriteLock, list_segment

#: Most rows of a deployment held in memory and written as one segment file while upgrading.
ROWS_PER_SEGMENT = 500_000


def upgrade_store(path: str | os.PathLike[str]) -> int:
    """Upgrade the store at ``path`` to :data:`~toolkit.store.schema.SCHEMA_VERSION`; return the rows moved
    into segment files (0 when it already has this version). Raises :class:`~toolkit.errors.StoreError` when
    ``path`` is no store, or one of a version this toolkit cannot upgrade, or another process holds it."""
    store_path = Path(path).expanduser().absolute()
    if not store_path.is_file():
        raise StoreError(f"no store at {store_path}; pass the store's path with --store")
    folder = segments.directory(store_path)
    with _WriteLock(store_path.with_name(store_path.name + ".lock"), store_path, wait=0):
        try:
            con = duckdb.connect(str(store_path))
        except duckdb.Error as exc:
            raise StoreError(f"{store_path} is not a liquidation-toolkit store ({str(exc).splitlines()[0]}); "
                             "pass another --store") from exc
        try:
            version = _version(con, store_path)
            if version == schema.SCHEMA_VERSION:
                return 0
            if version not in UPGRADABLE_VERSIONS:
                raise StoreError(f"store {store_path} has schema version {version}; this liquidation-toolkit "
                                 f"upgrades version {', '.join(map(str, UPGRADABLE_VERSIONS))} only")
            folder.mkdir(exist_ok=True)
            written = _write_rows(con, folder)
            con.begin()
            con.execute("DROP TABLE liquidations")
            con.execute(schema.create_table_sql("segments"))
            for segment in written:
                list_segment(con, segment, run_id=None)
            con.execute(segments.view_sql(folder, [segment.file for segment in written]))
            con.execute("INSERT INTO store_meta VALUES (?, current_timestamp, ?)",
                        [schema.SCHEMA_VERSION, toolkit.__version__])
            con.commit()
        except duckdb.Error as exc:
            raise StoreError(f"upgrading store {store_path} failed: {str(exc).splitlines()[0]}; "
                             "the store is unchanged") from exc
        finally:
            con.close()
    Store(store_path, create=False)  # validated as a store of this version, every segment file in place
    return sum(segment.rows for segment in written)


def _version(con: duckdb.DuckDBPyConnection, store_path: Path) -> int:
    has_meta = con.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = 'store_meta'").fetchall()[0][0]
    if not has_meta:
        raise StoreError(f"{store_path} is not a liquidation-toolkit store (a DuckDB database without a store_meta "
                         "table); pass another --store")
    return con.execute("SELECT max(schema_version) FROM store_meta").fetchall()[0][0]


def _write_rows(con: duckdb.DuckDBPyConnection, folder: Path) -> list[segments.Segment]:
    """Each deployment's rows of the version-2 table as segment files of at most :data:`ROWS_PER_SEGMENT`."""
    order = ", ".join(schema.LIQUIDATION_ORDER)
    written = []
    for chain_id, protocol, deployment in con.execute(
            "SELECT DISTINCT chain_id, protocol, deployment FROM liquidations ORDER BY ALL").fetchall():
        key = [chain_id, protocol, deployment]
        total = con.execute("SELECT count(*) FROM liquidations WHERE chain_id = ? AND protocol = ? "
                            "AND deployment = ?", key).fetchall()[0][0]
        for offset in range(0, total, ROWS_PER_SEGMENT):
            rows = con.sql(f"SELECT * FROM liquidations WHERE chain_id = ? AND protocol = ? AND deployment = ? "
                           f"ORDER BY {order} LIMIT {ROWS_PER_SEGMENT} OFFSET {offset}", params=key).to_arrow_table()
            written.append(segments.write(folder, rows, chain_id=chain_id, protocol=protocol, deployment=deployment))
    return written
