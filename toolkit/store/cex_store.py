"""Reading and writing the exchange-data tables (:mod:`toolkit.store.cex_schema`) with the store's own machinery.

Writes go through :meth:`toolkit.store.db.Store.writer` (the single-writer lock; a second writer exits 5 or
waits) and one transaction each, so a reader or a killed process never sees half of a write. ``INSERT OR
IGNORE`` on each table's key makes a repeated write (the same message twice, a fetch run again) add nothing.

A recorder holds its own lock, ``<store>.record.lock`` (:func:`record_lock`), for its whole run and the store's
write lock only while it flushes, so scheduled pulls into the same store keep running beside it; a second
recorder on the same store is refused (exit 5).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import duckdb
import pandas as pd

from toolkit.errors import StoreLockedError
from toolkit.store import cex_schema
from toolkit.store.db import Store, Writer
from toolkit.store.locks import WriteLock

#: ``status`` of a run whose process ended without finishing it.
INTERRUPTED = "interrupted"


def _frame(table: str, rows: Sequence[dict[str, Any]]) -> pd.DataFrame:
    columns = [c.name for c in cex_schema.TABLES[table]]
    return pd.DataFrame([{c: row.get(c) for c in columns} for row in rows], columns=columns, dtype=object)


def insert(con: duckdb.DuckDBPyConnection, table: str, rows: Sequence[dict[str, Any]]) -> int:
    """Insert ``rows`` into ``table`` inside the caller's transaction; returns how many were new."""
    if not rows:
        return 0
    frame = _frame(table, rows)
    con.register("cex_rows_in", frame)
    try:
        casts = ", ".join(f"CAST(\"{c.name}\" AS {c.sql_type}) AS \"{c.name}\"" for c in cex_schema.TABLES[table])
        # DuckDB answers an INSERT with the number of rows it inserted (those OR IGNORE skipped not counted)
        inserted = con.execute(f"INSERT OR IGNORE INTO {table} BY NAME SELECT {casts} FROM cex_rows_in").fetchall()
    finally:
        con.unregister("cex_rows_in")
    return int(inserted[0][0])


@contextmanager
def transaction(writer: Writer) -> Iterator[duckdb.DuckDBPyConnection]:
    """One transaction of ``writer`` (committed when the block ends, rolled back when it raises)."""
    with writer.transaction() as con:
        yield con


def start_run(con: duckdb.DuckDBPyConnection, run: dict[str, Any]) -> None:
    """Record a run as ``running``; earlier runs of the same command still ``running`` are ``interrupted`` (the
    caller holds the lock such runs held, so their process is gone)."""
    con.execute("UPDATE cex_runs SET status = ?, error = 'the process ended without finishing the run' "
                "WHERE status = 'running' AND command = ?", [INTERRUPTED, run["command"]]).fetchall()
    insert(con, "cex_runs", [{**run, "status": "running"}])


def update_run(con: duckdb.DuckDBPyConnection, run_id: str, **fields: Any) -> None:
    """Set ``fields`` of run ``run_id``."""
    names = ", ".join(f"{name} = ?" for name in fields)
    con.execute(f"UPDATE cex_runs SET {names} WHERE run_id = ?", [*fields.values(), run_id]).fetchall()


def save_gaps(con: duckdb.DuckDBPyConnection, run_id: str, gaps: Sequence[tuple[int, datetime, datetime | None,
                                                                                  str]]) -> None:
    """Write the run's gaps (number, start, end, reason), replacing what was written before."""
    con.execute("DELETE FROM cex_gaps WHERE run_id = ?", [run_id]).fetchall()
    insert(con, "cex_gaps", [{"run_id": run_id, "number": n, "started_at": start, "ended_at": end, "reason": reason}
                             for n, start, end, reason in gaps])


@contextmanager
def record_lock(store_path: Any) -> Iterator[None]:
    """The recorder's own lock on ``<store>.record.lock`` (module docstring); exit 5 when another holds it."""
    store = Store(store_path)
    path = store.path.with_name(store.path.name + ".record.lock")
    try:
        lock = WriteLock(path, store.path, wait=0)
        lock.__enter__()
    except StoreLockedError:
        holder = path.read_text().strip() or "unknown"
        raise StoreLockedError(f"store {store.path} is being recorded into by PID {holder} (another `liqtk cex "
                               "record`); stop it or pass another --store") from None
    try:
        yield
    finally:
        lock.__exit__(None, None, None)


def read(store: Store, table: str, where: str = "true", params: Sequence[Any] = ()) -> pd.DataFrame:
    """Rows of ``table`` (one of :mod:`toolkit.store.cex_schema`) matching ``where``, ordered by its key."""
    if table not in cex_schema.TABLES:
        raise ValueError(f"{table} is not an exchange-data table")
    order = ", ".join(cex_schema.PRIMARY_KEYS[table])
    with store.reader() as con:
        return con.execute(f"SELECT * FROM {table} WHERE {where} ORDER BY {order}", list(params)).df()
