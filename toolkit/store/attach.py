"""Store files attached to the process's own in-memory DuckDB instance, one operation at a time.

Attaching a file to the process's own instance (:func:`instance_connection`) takes about 1 ms where
opening a database with ``duckdb.connect`` takes about 13 ms (DuckDB 2.0, measured on the README's
benchmark machine); the file is locked only while attached, as with a connection of its own. When
the file is momentarily held by another process (or another thread of this one), :func:`attached`
retries with short randomized sleeps for a bounded time (the protocol: :mod:`toolkit.store.locks`).
"""

from __future__ import annotations

import itertools
import random
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

from toolkit.errors import StoreError
from toolkit.store.locks import FIRST_SLEEP, LAST_SLEEP, ReaderWaiting

#: DuckDB's messages when the file is held right now: by another process in a conflicting mode, or attached
#: to this process's DuckDB instance by another thread.
BUSY = re.compile(r"Could not set lock on file|Unique file handle conflict")
#: DuckDB's message when a file was detached but its checkpoint could not be written (duckdb 2.0).
CHECKPOINT_FAILED = "CHECKPOINT during DETACH failed"

_instance: duckdb.DuckDBPyConnection | None = None
_instance_lock = threading.Lock()
#: Names under which store files are attached, unique in the process.
_aliases = itertools.count()


def instance_connection() -> duckdb.DuckDBPyConnection:
    """A new connection to the process's own in-memory DuckDB instance (made on first use, time zone UTC),
    which store files are attached to: its own, so that its settings are nobody else's."""
    global _instance
    with _instance_lock:
        if _instance is None:
            _instance = duckdb.connect()
            _instance.execute("SET GLOBAL TimeZone = 'UTC'")
        return _instance.cursor()


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (DuckDB's run over several), or its type's name."""
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


@contextmanager
def attached(target: Path, *, read_only: bool, timeout: float, store_path: Path,
             sign: Path | None = None) -> Iterator[duckdb.DuckDBPyConnection]:
    """A connection with ``target`` attached as its default database for the ``with`` block, retrying
    for ``timeout`` seconds while another process holds the file; detached when the block ends. A
    transaction the block left open is rolled back.

    ``store_path`` names the store in messages; ``sign``: the lock file in which a waiting reader signs
    that it waits (:class:`~toolkit.store.locks.ReaderWaiting`), ``None`` for none.
    """
    deadline = time.monotonic() + timeout
    sleep = FIRST_SLEEP
    alias = f"store_{next(_aliases)}"
    location = str(target).replace("'", "''")
    con = instance_connection()
    waiting: ReaderWaiting | None = None
    try:
        while True:
            try:
                con.execute(f"ATTACH '{location}' AS {alias}" + (" (READ_ONLY)" if read_only else ""))
                break
            except duckdb.Error as exc:
                if not BUSY.search(str(exc)):
                    raise
                if sign is not None and waiting is None:
                    waiting = ReaderWaiting(sign)
                if time.monotonic() + sleep > deadline:
                    holder = re.search(r"PID \d+", str(exc))
                    raise StoreError(
                        f"store {store_path} stayed open in another process "
                        f"({holder[0] if holder else 'PID unknown'}) for {timeout:g} s; close connections that "
                        "stay open (e.g. in a notebook) and retry") from exc
                time.sleep(sleep * random.uniform(0.5, 1.5))
                sleep = min(2 * sleep, LAST_SLEEP)
        if waiting is not None:
            waiting.close()
        try:
            con.execute(f"USE {alias}")
            yield con
        finally:
            try:
                con.rollback()
            except duckdb.TransactionException:
                pass  # no transaction was left open
            con.execute("USE memory")
            _detach(con, alias)
    finally:
        if waiting is not None:
            waiting.close()
        con.close()


def _detach(con: duckdb.DuckDBPyConnection, alias: str) -> None:
    """Detach ``alias``. DuckDB writes a checkpoint when it detaches a file it changed; when that fails (a full
    disk) the file is detached all the same and what was committed stays in its write-ahead log, which the next
    attach replays (DuckDB's own recovery): the commit stands, so that failure is not one of the operation."""
    try:
        con.execute(f"DETACH {alias}")
    except duckdb.Error as exc:
        if CHECKPOINT_FAILED not in str(exc):
            raise
