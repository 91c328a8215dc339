"""A store file created whole, and an existing one checked before use (read-only, never modified).

A new store is built in a temporary file and renamed into place, so a store file always has its
tables. An existing file must be a complete DuckDB database with a ``store_meta`` table; one of this
schema version must not be truncated, and every segment file it lists must be there with its size
(:func:`toolkit.store.integrity.check`, quick).
A checkpoint that failed for lack of disk space leaves the file's last block cut short and the commits
since the last checkpoint in the write-ahead log: such a store is read as DuckDB reads it (replaying the
log) and the next writer writes the checkpoint again (:func:`checkpoint`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb

from toolkit._version import __version__
from toolkit.errors import StoreError
from toolkit.store import integrity, schema, segments
from toolkit.store.attach import first_line
from toolkit.store.locks import WriteLock

if TYPE_CHECKING:
    from toolkit.store.db import Store

#: Bytes before the first block of a DuckDB file: one main header and two database headers of
#: 4 KiB each (duckdb ``Storage::FILE_HEADER_SIZE``); whole blocks of ``block_size`` bytes follow
#: (DuckDB extends and truncates its file by whole blocks). A file that ends inside a block, or
#: before the last block holding table data (``pragma_storage_info``; segments replayed from a
#: write-ahead log are not on disk yet and not ``persistent``), is truncated: DuckDB itself only
#: notices when it reads the missing bytes, possibly long after opening.
DUCKDB_HEADER_BYTES = 3 * 4096


def last_data_block_sql() -> str:
    """The query of the highest id of the blocks holding table data in the file."""
    return "SELECT max(greatest(block_id, list_max(additional_block_ids))) FROM (" + " UNION ALL ".join(
        f"SELECT block_id, additional_block_ids FROM pragma_storage_info('{table}') WHERE persistent"
        for table in schema.STORED_TABLES) + ")"


def wal_path(path: Path) -> Path:
    """DuckDB's write-ahead log of the database file ``path``."""
    return path.with_name(path.name + ".wal")


def checkpoint(store: Store) -> None:
    """Write the checkpoint a failed one left to do (under the write lock): DuckDB replays the write-ahead log
    when it attaches the file and writes the checkpoint when asked (its own recovery on open)."""
    try:
        with store._attached(read_only=False) as con:
            con.execute("CHECKPOINT")
    except (duckdb.Error, OSError) as exc:
        raise StoreError(f"store {store.path} could not write its checkpoint ({first_line(exc)}); free disk space "
                         "and run again: what was committed is kept in its write-ahead log") from exc
    store.interrupted_checkpoint = False


def not_ours(path: Path, reason: str) -> StoreError:
    """The error for a file that is not (or no longer) a store."""
    return StoreError(f"{path} is not a liquidation-toolkit store ({reason}); pass another --store")


def create(store: Store) -> bool:
    """Create ``store``'s file under the write lock: build it in a temporary file, then rename it. False
    when another process created it meanwhile."""
    path = store.path
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(f"cannot create store {path}: {exc.strerror or exc}; pass another --store") from exc
    with WriteLock(store.lock_path, path, wait=store.write_timeout):
        if path.exists():
            return False  # another process created it while we waited for the lock
        for stale in path.parent.glob(f".{path.name}.creating-*"):
            stale.unlink()  # left by a process killed while creating; nobody else creates now
        tmp = path.with_name(f".{path.name}.creating-{os.getpid()}")
        try:
            store.segments_dir.mkdir(exist_ok=True)
            with store._attached(tmp, read_only=False) as con:
                con.begin()
                for table in schema.STORED_TABLES:
                    con.execute(schema.create_table_sql(table))
                con.execute(segments.view_sql(store.segments_dir, []))
                con.execute("INSERT INTO store_meta VALUES (?, current_timestamp, ?)",
                            [schema.SCHEMA_VERSION, __version__])
                con.commit()
            os.replace(tmp, path)
        except (duckdb.Error, OSError) as exc:
            tmp.unlink(missing_ok=True)
            raise StoreError(f"cannot create store {path}: {first_line(exc)}; pass another --store") from exc
    return True


def validate(store: Store) -> int:
    """Check, read-only, that ``store``'s file is a store, complete when of our schema version; its version."""
    path = store.path
    if not path.is_file():
        raise not_ours(path, "not a regular file")
    try:
        with store.reader() as con:
            has_meta = con.execute(
                "SELECT count(*) FROM duckdb_tables() WHERE database_name = current_database() "
                "AND schema_name = 'main' AND table_name = 'store_meta'").fetchone()[0]
            if not has_meta:
                raise not_ours(path, "a DuckDB database without a store_meta table")
            version = con.execute("SELECT max(schema_version) FROM store_meta").fetchone()[0]
            if version == schema.SCHEMA_VERSION:
                block_size = con.execute("SELECT block_size FROM pragma_database_size() "
                                         "WHERE database_name = current_database()").fetchone()[0]
                last_block = con.execute(last_data_block_sql()).fetchone()[0]
                blocks, rest = divmod(path.stat().st_size - DUCKDB_HEADER_BYTES, block_size)
                if last_block is not None and last_block >= blocks:
                    raise not_ours(path, f"truncated: its data is in block {last_block}, the file has {blocks}")
                if rest and not wal_path(path).exists():
                    raise not_ours(path, f"truncated: the file ends inside block {blocks}")
                # A block cut short after the data, with a write-ahead log: a checkpoint that failed (a full
                # disk) while extending the file. The log holds every commit since the last checkpoint; DuckDB
                # replays it when it attaches the file, and the writer checkpoints again (Store.writer).
                store.interrupted_checkpoint = bool(rest)
                store.damages = integrity.check(store.segments_dir, segments.listed(con), full=False)
    except StoreError:
        raise
    except (duckdb.Error, OSError) as exc:
        raise not_ours(path, first_line(exc)) from exc
    if store.damages and store.check_segments:
        raise integrity.damage_error(path, store.damages)
    return version
