"""The store: a DuckDB file of blocks, checkpoints, runs and the list of segment files holding the liquidations.

Concurrency design
------------------
DuckDB lets *one* process open a database file read-write, or any number of processes open it
read-only -- never both at the same time: it takes an ``fcntl`` lock on the file itself and a
second process gets ``IO Error: Could not set lock on file ...``. The store turns that into two rules:

1. **One writer**, enforced by us and not by DuckDB: :meth:`Store.writer` takes an exclusive
   ``flock`` on ``<store>.lock`` for the whole pull and writes its PID into the file, so a second
   pull fails at once with :class:`~toolkit.errors.StoreLockedError` naming that PID (or waits up
   to ``wait`` seconds). The kernel drops the lock when the process dies, even by SIGKILL.
2. **Short DuckDB connections.** The writer attaches the database for each commit (attach, one
   transaction, detach) and readers attach it read-only for each read. Attaching to the process's
   own in-memory DuckDB instance (:func:`_instance_connection`) takes about 1 ms where opening a
   database with ``duckdb.connect`` takes about 13 ms (DuckDB 2.0, measured on the README's benchmark
   machine); the file is locked only while attached, as with a connection of its own. Between two
   commits the file is free, so a reader (``liqtk status``, a notebook, an export) gets in; when the
   file is momentarily held by the other side, both retry with short randomized sleeps for a
   bounded time (:attr:`Store.read_timeout`, :attr:`Store.write_timeout`); a waiting reader signs it and
   the writer lets it in after its current write (:class:`_ReaderWaiting`). A read-only connection
   sees the last committed state; a chunk is one transaction, so readers see whole chunks only.
   A notebook that keeps a connection open blocks the writer: use :meth:`Store.reader`, which closes.

The liquidation rows live in Parquet files beside the DuckDB file (:mod:`toolkit.store.segments`):
the ``liquidations`` view reads the files listed in the ``segments`` table, and nothing else.

Crash safety comes from DuckDB's write-ahead log: a transaction is in the WAL when COMMIT returns,
and a WAL with an incomplete transaction is replayed without it at the next open. A segment file is
written, flushed and renamed into place *before* the transaction that lists it; a file whose
transaction never committed is not listed, so never read, and the next writer deletes it. A new store
is built in a temporary file and renamed into place, so a store file always has its tables.

Write protocol (engineering.md §2.6, dlt's "state next to the data"): each chunk of blocks
``[chunk_start, chunk_end]`` (inclusive) is one transaction that replaces the deployment's
liquidations in that range (its rows in one new segment file; the deployment's files that overlap
the range are replaced by copies without those blocks), upserts the blocks seen, and moves the
checkpoint -- so re-running a chunk is idempotent and a crash leaves the chunk fully in or fully out.
"""

from __future__ import annotations

import fcntl
import itertools
import os
import random
import re
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, fields
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import pyarrow as pa

import toolkit
from toolkit.errors import StoreError, StoreLockedError
from toolkit.store import schema, segments
from toolkit.store.arrow import arrow_schema, rows_to_table, to_pandas
from toolkit.store.segments import Segment

if TYPE_CHECKING:
    import pandas as pd

#: Bytes before the first block of a DuckDB file: one main header and two database headers of
#: 4 KiB each (duckdb ``Storage::FILE_HEADER_SIZE``); whole blocks of ``block_size`` bytes follow
#: (DuckDB extends and truncates its file by whole blocks). A file that ends inside a block, or
#: before the last block holding table data (``pragma_storage_info``; segments replayed from a
#: write-ahead log are not on disk yet and not ``persistent``), is truncated: DuckDB itself only
#: notices when it reads the missing bytes, possibly long after opening.
_DUCKDB_HEADER_BYTES = 3 * 4096
#: Highest id of the blocks holding table data in the file.
_LAST_DATA_BLOCK = "SELECT max(greatest(block_id, list_max(additional_block_ids))) FROM (" + " UNION ALL ".join(
    f"SELECT block_id, additional_block_ids FROM pragma_storage_info('{table}') WHERE persistent"
    for table in schema.STORED_TABLES) + ")"
#: DuckDB's messages when the file is held right now: by another process in a conflicting mode, or attached
#: to this process's DuckDB instance by another thread.
_BUSY = re.compile(r"Could not set lock on file|Unique file handle conflict")
#: Sleeps between retries while the file is busy: doubled from the first to the last, randomized ±50 %.
_FIRST_SLEEP, _LAST_SLEEP = 0.005, 0.05

#: ``runs`` with one row per deployment: a run that pulls several deployments of a protocol records
#: their names comma-separated (``core,prime``).
RUNS_PER_DEPLOYMENT = ("SELECT * EXCLUDE (deployment), unnest(string_split(deployment, ',')) AS deployment "
                       "FROM runs WHERE chain_id IS NOT NULL AND protocol IS NOT NULL")
#: ``runs.error`` of a run whose process ended without finishing it.
INTERRUPTED_ERROR = "the process ended before the run finished (killed or crashed); committed chunks were kept"
_LIQUIDATION_NAMES = ", ".join(c.name for c in schema.LIQUIDATION_COLUMNS)
_ORDER = ", ".join(schema.LIQUIDATION_ORDER)
#: Earlier schema versions :meth:`Writer.upgrade` upgrades from.
UPGRADABLE_VERSIONS = (2,)
#: Most rows of one segment file written by :meth:`Writer.upgrade`.
UPGRADE_SEGMENT_ROWS = 500_000
#: Segment files holding fewer rows count as fragments.
FRAGMENT_ROWS = 30_000
#: Fragments allowed before the last write of a pull merges them (see :class:`Writer`).
MAX_FRAGMENTS = 16
#: The rows of ``incoming`` a commit writes when some must be skipped: the first of each key in the
#: chunk, unless another deployment stores it (``{stored}``: the segments that overlap the chunk).
_FIRST_OF_EACH_KEY = """
    SELECT * EXCLUDE (position) FROM (SELECT *, row_number() OVER () AS position FROM incoming) i
    WHERE NOT EXISTS (SELECT 1 FROM ({stored}) s
                      WHERE s.chain_id = i.chain_id AND s.tx_hash = i.tx_hash AND s.log_index = i.log_index
                        AND (s.protocol IS DISTINCT FROM ? OR s.deployment IS DISTINCT FROM ?))
    QUALIFY row_number() OVER (PARTITION BY chain_id, tx_hash, log_index ORDER BY position) = 1
    ORDER BY position
"""
#: What :meth:`Writer.commit_chunk` checks before it writes, in one query (one round trip from a
#: worker thread that competes for the GIL): rows outside the chunk or deployment; the checkpoint
#: before; the lowest block stored with another hash; keys not stored yet; keys that must be skipped
#: (stored by another deployment, or repeated in the chunk). A key is one log, so a stored row with the
#: chunk's key is in the chunk's blocks: ``{stored}`` reads only the segments that overlap them.
_CHUNK_CHECKS = """
    WITH stored AS (
        SELECT chain_id, tx_hash, log_index, protocol, deployment FROM ({stored})
        WHERE chain_id = ? AND block_number BETWEEN ? AND ?
    ), keys AS (SELECT DISTINCT chain_id, tx_hash, log_index FROM incoming)
    SELECT
        (SELECT count(*) FROM incoming WHERE chain_id IS DISTINCT FROM ? OR protocol IS DISTINCT FROM ?
            OR deployment IS DISTINCT FROM ? OR block_number IS NULL OR block_number NOT BETWEEN ? AND ?),
        (SELECT last_block FROM checkpoints WHERE chain_id = ? AND protocol = ? AND deployment = ?),
        (SELECT min(n.block_number) FROM new_blocks n JOIN blocks b USING (chain_id, block_number)
            WHERE n.block_hash IS DISTINCT FROM b.block_hash),
        (SELECT count(*) FROM keys ANTI JOIN stored USING (chain_id, tx_hash, log_index)),
        (SELECT count(*) FROM keys SEMI JOIN (SELECT * FROM stored WHERE protocol IS DISTINCT FROM ?
            OR deployment IS DISTINCT FROM ?) USING (chain_id, tx_hash, log_index))
          + (SELECT count(*) FROM incoming) - (SELECT count(*) FROM keys)
"""


_instance: duckdb.DuckDBPyConnection | None = None
_instance_lock = threading.Lock()
#: Names under which store files are attached, unique in the process.
_aliases = itertools.count()


def _instance_connection() -> duckdb.DuckDBPyConnection:
    """A new connection to the process's own in-memory DuckDB instance (made on first use, time zone UTC),
    which store files are attached to: its own, so that its settings are nobody else's."""
    global _instance
    with _instance_lock:
        if _instance is None:
            _instance = duckdb.connect()
            _instance.execute("SET GLOBAL TimeZone = 'UTC'")
        return _instance.cursor()


@dataclass(frozen=True)
class Checkpoint:
    """How far one deployment has been pulled: every log in ``[first_block, last_block]`` is stored."""

    chain_id: int
    protocol: str
    deployment: str
    #: First block of the stored range.
    first_block: int
    #: Last block (inclusive) whose logs are all stored.
    last_block: int
    #: Hash of ``last_block`` when it was stored (compared with the node to detect reorgs).
    last_block_hash: str | None
    #: Run that wrote this checkpoint.
    run_id: str | None
    #: When it was written (UTC).
    updated_at: datetime


@dataclass(frozen=True)
class LiquidationFilter:
    """Which liquidations to read; every field is optional, block bounds are inclusive."""

    chain_id: int | None = None
    protocol: str | None = None
    deployment: str | None = None
    from_block: int | None = None
    to_block: int | None = None

    def as_dict(self) -> dict[str, int | str]:
        """The filters that are set (recorded in export manifests)."""
        return {key: value for key, value in asdict(self).items() if value is not None}

    def where(self, *, blocks: bool = True) -> tuple[str, list[int | str]]:
        """``WHERE`` clause (empty when nothing is set) and its parameters, for a table with
        ``chain_id``, ``protocol``, ``deployment`` and, when ``blocks``, ``block_number`` columns."""
        conditions: list[str] = []
        params: list[int | str] = []
        for key, condition in (("chain_id", "chain_id = ?"), ("protocol", "protocol = ?"),
                               ("deployment", "deployment = ?"), ("from_block", "block_number >= ?"),
                               ("to_block", "block_number <= ?")):
            value = getattr(self, key)
            if value is not None and (blocks or not key.endswith("_block")):
                conditions.append(condition)
                params.append(value)
        return (f"WHERE {' AND '.join(conditions)}" if conditions else ""), params

    def select_sql(self) -> tuple[str, list[int | str]]:
        """``SELECT`` of the matching liquidations in canonical order (schema.LIQUIDATION_ORDER), and its parameters."""
        where, params = self.where()
        return f"SELECT {_LIQUIDATION_NAMES} FROM liquidations {where} ORDER BY {_ORDER}", params


class BlockHashConflict(StoreError):
    """A chunk brings a block whose hash differs from the one stored for that number: the chain was
    reorganized since the store saw it (the pipeline repairs it with :meth:`Writer.rewind_chain`)."""

    def __init__(self, message: str, *, block_number: int) -> None:
        super().__init__(message)
        #: Lowest block number whose hash differs.
        self.block_number = block_number


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def _not_ours(path: Path, reason: str) -> StoreError:
    return StoreError(f"{path} is not a liquidation-toolkit store ({reason}); pass another --store")


class Store:
    """A liquidation-toolkit store at ``path`` (a DuckDB file, and its segment directory
    :func:`toolkit.store.segments.directory`), validated when constructed.

    * an existing file is checked read-only and never modified: it must be a complete DuckDB
      database with a ``store_meta`` table of schema version :data:`~toolkit.store.schema.SCHEMA_VERSION`,
      and every segment file it lists must be there with its size, else :class:`~toolkit.errors.StoreError`;
    * a missing file is created (parent directories included) when ``create`` is true, else
      :class:`~toolkit.errors.StoreError`;
    * with ``check_version`` false, a store of any schema version is opened (:attr:`schema_version`), to
      upgrade it (:meth:`Writer.upgrade`); only one of this version is checked further.

    ``read_timeout`` / ``write_timeout``: seconds a read / a commit waits for the other side to
    close the file (see the module docstring) before :class:`~toolkit.errors.StoreError`.
    """

    def __init__(self, path: str | os.PathLike[str], *, create: bool = True,
                 read_timeout: float = 10.0, write_timeout: float = 60.0, check_version: bool = True) -> None:
        self.path = Path(path).expanduser().absolute()
        #: ``<store>.lock``: the single-writer lock; holds the writer's PID.
        self.lock_path = self.path.with_name(self.path.name + ".lock")
        #: ``<store>.segments/``: the Parquet files of the liquidation rows.
        self.segments_dir = segments.directory(self.path)
        #: Whether the store's view names another segment directory (found on the first connection).
        self._view_moved: bool | None = None
        #: Set once the file is known to be a store of this schema version (created or validated).
        self._checked = False
        self.read_timeout = read_timeout
        self.write_timeout = write_timeout
        #: The store's schema version (``store_meta``).
        self.schema_version = schema.SCHEMA_VERSION
        if not self.path.exists() and not self.path.is_symlink():
            if not create:
                raise StoreError(f"no store at {self.path}; run `liqtk pull` first or pass another --store")
            if self._create():
                self._checked = True
                return  # built here, from the schema: nothing to validate
        self.schema_version = self._validate()
        if self.schema_version == schema.SCHEMA_VERSION:
            self._checked = True
        elif check_version:
            hint = (f"upgrade it with `liqtk upgrade --store {self.path}`" if self.schema_version in UPGRADABLE_VERSIONS
                    else "use a matching toolkit version")
            raise StoreError(f"store {self.path} has schema version {self.schema_version}, this liquidation-toolkit "
                             f"reads version {schema.SCHEMA_VERSION}; {hint} or pass another --store")

    def __repr__(self) -> str:
        return f"Store({str(self.path)!r})"

    # -- opening ---------------------------------------------------------------------------------

    def _create(self) -> bool:
        """Create the store under the write lock: build it in a temporary file, then rename it. False
        when another process created it meanwhile."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create store {self.path}: {exc.strerror or exc}; pass another --store") from exc
        with _WriteLock(self.lock_path, self.path, wait=self.write_timeout):
            if self.path.exists():
                return False  # another process created it while we waited for the lock
            for stale in self.path.parent.glob(f".{self.path.name}.creating-*"):
                stale.unlink()  # left by a process killed while creating; nobody else creates now
            tmp = self.path.with_name(f".{self.path.name}.creating-{os.getpid()}")
            try:
                self.segments_dir.mkdir(exist_ok=True)
                with self._attached(tmp, read_only=False) as con:
                    con.begin()
                    for table in schema.STORED_TABLES:
                        con.execute(schema.create_table_sql(table))
                    con.execute(segments.view_sql(self.segments_dir, []))
                    con.execute("INSERT INTO store_meta VALUES (?, current_timestamp, ?)",
                                [schema.SCHEMA_VERSION, toolkit.__version__])
                    con.commit()
                os.replace(tmp, self.path)
            except (duckdb.Error, OSError) as exc:
                tmp.unlink(missing_ok=True)
                raise StoreError(f"cannot create store {self.path}: {_first_line(exc)}; pass another --store") from exc
        return True

    def _validate(self) -> int:
        """Check, read-only, that the file is a store, complete when of our schema version; its version."""
        if not self.path.is_file():
            raise _not_ours(self.path, "not a regular file")
        try:
            with self.reader() as con:
                has_meta = con.execute(
                    "SELECT count(*) FROM duckdb_tables() WHERE database_name = current_database() "
                    "AND schema_name = 'main' AND table_name = 'store_meta'").fetchone()[0]
                if not has_meta:
                    raise _not_ours(self.path, "a DuckDB database without a store_meta table")
                version = con.execute("SELECT max(schema_version) FROM store_meta").fetchone()[0]
                if version == schema.SCHEMA_VERSION:
                    block_size = con.execute("SELECT block_size FROM pragma_database_size() "
                                             "WHERE database_name = current_database()").fetchone()[0]
                    last_block = con.execute(_LAST_DATA_BLOCK).fetchone()[0]
                    blocks, rest = divmod(self.path.stat().st_size - _DUCKDB_HEADER_BYTES, block_size)
                    if rest or (last_block is not None and last_block >= blocks):
                        raise _not_ours(self.path, f"truncated: the file ends inside block {blocks}" if rest else
                                        f"truncated: its data is in block {last_block}, the file has {blocks}")
                    problem = segments.damaged(self.segments_dir, _listed(con))
                    if problem:
                        raise StoreError(f"store {self.path} is damaged: {problem}; restore the store file and its "
                                         f"{self.segments_dir.name} directory together, or pass another --store")
        except StoreError:
            raise
        except (duckdb.Error, OSError) as exc:
            raise _not_ours(self.path, _first_line(exc)) from exc
        return version

    @contextmanager
    def _attached(self, path: Path | None = None, *, read_only: bool) -> Iterator[duckdb.DuckDBPyConnection]:
        """A connection with the store file (or ``path``) attached as its default database for the ``with``
        block (the ``liquidations`` view pointed at this store's segment directory, :meth:`_point_view`),
        retrying while another process holds the file; detached when the block ends. A transaction
        the block left open is rolled back."""
        target = path or self.path
        timeout = self.read_timeout if read_only else self.write_timeout
        deadline = time.monotonic() + timeout
        sleep = _FIRST_SLEEP
        alias = f"store_{next(_aliases)}"
        location = str(target).replace("'", "''")
        con = _instance_connection()
        waiting: _ReaderWaiting | None = None
        try:
            while True:
                try:
                    con.execute(f"ATTACH '{location}' AS {alias}" + (" (READ_ONLY)" if read_only else ""))
                    break
                except duckdb.Error as exc:
                    if not _BUSY.search(str(exc)):
                        raise
                    if read_only and waiting is None and path is None:
                        waiting = _ReaderWaiting(self.lock_path)
                    if time.monotonic() + sleep > deadline:
                        holder = re.search(r"PID \d+", str(exc))
                        raise StoreError(
                            f"store {self.path} stayed open in another process "
                            f"({holder[0] if holder else 'PID unknown'}) for {timeout:g} s; close connections that "
                            "stay open (e.g. in a notebook) and retry") from exc
                    time.sleep(sleep * random.uniform(0.5, 1.5))
                    sleep = min(2 * sleep, _LAST_SLEEP)
            if waiting is not None:
                waiting.close()
            try:
                con.execute(f"USE {alias}")
                if path is None:
                    self._point_view(con)
                yield con
            finally:
                try:
                    con.rollback()
                except duckdb.TransactionException:
                    pass  # no transaction was left open
                con.execute("USE memory")
                con.execute(f"DETACH {alias}")
            if not read_only and path is None:
                _ReaderWaiting.let_in(self.lock_path)
        finally:
            if waiting is not None:
                waiting.close()
            con.close()

    def _point_view(self, con: duckdb.DuckDBPyConnection) -> None:
        """When the store was moved since its view was written, give ``con`` a temporary ``liquidations``
        view of the files in their place now (:func:`toolkit.store.segments.view_sql`)."""
        if not self._checked:
            return  # not known to be a store of this version yet (Store._validate)
        if self._view_moved is None:
            one = con.execute("SELECT file FROM segments LIMIT 1").fetchall()
            self._view_moved = bool(one) and str(self.segments_dir / one[0][0]) not in con.execute(
                "SELECT sql FROM duckdb_views() WHERE database_name = current_database() "
                "AND view_name = 'liquidations' AND NOT temporary").fetchall()[0][0]
        if self._view_moved:
            con.execute(segments.view_sql(self.segments_dir, [s.file for s in _listed(con)], temporary=True))

    # -- reading ---------------------------------------------------------------------------------

    @contextmanager
    def reader(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A read-only connection for the duration of the ``with`` block: one consistent committed
        state. Keep the block short -- the writer waits while it is open."""
        with self._attached(read_only=True) as con:
            yield con

    def _arrow(self, sql: str, params: Sequence[Any] = ()) -> pa.Table:
        """Result of one read-only query as Arrow; DuckDB errors become :class:`StoreError`."""
        try:
            with self.reader() as con:
                return con.sql(sql, params=list(params)).to_arrow_table()
        except duckdb.Error as exc:
            raise StoreError(f"reading store {self.path} failed: {_first_line(exc)}") from exc

    def checkpoint(self, chain_id: int, protocol: str, deployment: str) -> Checkpoint | None:
        """The deployment's checkpoint, or ``None`` when it was never pulled."""
        rows = self._arrow("SELECT * FROM checkpoints WHERE chain_id = ? AND protocol = ? AND deployment = ?",
                           [chain_id, protocol, deployment]).to_pylist()
        return Checkpoint(**rows[0]) if rows else None

    def newest_blocks(self, chain_id: int, *, below: int | None = None, limit: int = 1) -> list[tuple[int, str]]:
        """``(block_number, block_hash)`` of the ``limit`` highest stored blocks of the chain (below
        ``below`` when given), highest first: what reorganization checks compare with the node."""
        condition, params = ("AND block_number < ?", [below]) if below is not None else ("", [])
        rows = self._arrow(f"SELECT block_number, block_hash FROM blocks WHERE chain_id = ? {condition} "
                           "ORDER BY block_number DESC LIMIT ?", [chain_id, *params, limit])
        return list(zip(rows.column("block_number").to_pylist(), rows.column("block_hash").to_pylist(), strict=True))

    def liquidations_table(self, filters: LiquidationFilter = LiquidationFilter()) -> pa.Table:
        """Matching liquidations as Arrow, all columns of the contract, in canonical order."""
        return self._arrow(*filters.select_sql())

    def liquidations(self, chain_id: int | None = None, protocol: str | None = None, deployment: str | None = None,
                     from_block: int | None = None, to_block: int | None = None) -> pd.DataFrame:
        """Matching liquidations (block bounds inclusive) as a typed frame in canonical order:
        integers ``Int64``, doubles ``float64``, timestamps ``datetime64[us, UTC]``, raw amounts ``str``."""
        return to_pandas(self.liquidations_table(
            LiquidationFilter(chain_id, protocol, deployment, from_block, to_block)))

    def status(self) -> list[dict[str, Any]]:
        """One dict per chain/protocol/deployment known to the store (rows, checkpoints or runs):
        ``rows``, ``first_liquidation_block`` / ``last_liquidation_block`` (blocks with liquidations),
        ``first_block`` / ``last_block`` / ``last_block_hash`` (checkpoint), ``last_run_id`` /
        ``last_run_status`` / ``last_run_finished_at`` (latest run started for it)."""
        return self._arrow(f"""
            WITH run_deployments AS ({RUNS_PER_DEPLOYMENT}), keys AS (
                SELECT chain_id, protocol, deployment FROM checkpoints
                UNION SELECT chain_id, protocol, deployment FROM liquidations
                UNION SELECT chain_id, protocol, deployment FROM run_deployments
            ), counts AS (
                SELECT chain_id, protocol, deployment, count(*) AS rows,
                       min(block_number) AS first_liquidation_block, max(block_number) AS last_liquidation_block
                FROM liquidations GROUP BY ALL
            ), last_runs AS (
                SELECT chain_id, protocol, deployment, run_id AS last_run_id, status AS last_run_status,
                       finished_at AS last_run_finished_at
                FROM run_deployments
                QUALIFY row_number() OVER (PARTITION BY chain_id, protocol, deployment
                                           ORDER BY started_at DESC, run_id DESC) = 1
            )
            SELECT k.chain_id, k.protocol, k.deployment, coalesce(n.rows, 0) AS rows,
                   n.first_liquidation_block, n.last_liquidation_block,
                   c.first_block, c.last_block, c.last_block_hash,
                   r.last_run_id, r.last_run_status, r.last_run_finished_at
            FROM keys k
            LEFT JOIN counts n USING (chain_id, protocol, deployment)
            LEFT JOIN checkpoints c USING (chain_id, protocol, deployment)
            LEFT JOIN last_runs r USING (chain_id, protocol, deployment)
            ORDER BY k.chain_id, k.protocol, k.deployment
        """).to_pylist()

    def runs(self, limit: int = 20) -> list[dict[str, Any]]:
        """The ``limit`` most recently started runs, newest first, all columns of ``runs``."""
        return self._arrow("SELECT * FROM runs ORDER BY started_at DESC, run_id DESC LIMIT ?", [limit]).to_pylist()

    # -- writing ---------------------------------------------------------------------------------

    @contextmanager
    def writer(self, wait: float = 0) -> Iterator[Writer]:
        """Exclusive write access for the ``with`` block (a whole pull).

        Waits up to ``wait`` seconds for another writer to finish, then raises
        :class:`~toolkit.errors.StoreLockedError` naming its PID.
        """
        with _WriteLock(self.lock_path, self.path, wait=wait):
            if self._checked:  # a store of this version (of an earlier one only to upgrade it)
                self._remove_unlisted_files()
            writer = Writer(self)
            if self._view_moved:
                with writer._transaction() as con:
                    writer._relist(con, drop=(), add=(), run_id=None)
            try:
                yield writer
            finally:
                writer.closed = True

    def _remove_unlisted_files(self) -> None:
        """Delete what the segment directory holds besides the listed segments (called under the write lock):
        files of commits that never happened (a killed process) and files replaced by later commits, which
        readers that started before the replacement may have still read. Creates the directory if missing."""
        self.segments_dir.mkdir(exist_ok=True)
        with os.scandir(self.segments_dir) as entries:
            if not any(entries):
                return  # nothing to compare (a new store): no connection opened
        with self.reader() as con:
            listed = [segment.file for segment in _listed(con)]
        unlisted = segments.unlisted_files(self.segments_dir, listed)
        for path in unlisted:
            path.unlink(missing_ok=True)
        if unlisted:
            segments.sync_directory(self.segments_dir)


def _listed(con: duckdb.DuckDBPyConnection, where: str = "true", params: Sequence[Any] = ()) -> list[Segment]:
    """The listed segments matching ``where`` (SQL over the ``segments`` columns), in block order."""
    names = ", ".join(f.name for f in fields(Segment))
    rows = con.execute(f"SELECT {names} FROM segments WHERE {where} "
                       "ORDER BY chain_id, protocol, deployment, first_block, file", list(params)).fetchall()
    return [Segment(*row) for row in rows]


class _ReaderWaiting:
    """A reader's sign that it waits for the store file: a shared ``lockf`` lock on byte 1 of ``<store>.lock``
    (the writer's own lock is a ``flock`` on the whole file, which POSIX record locks do not touch).

    Attaching takes the file whenever it is free, with no queue: a writer whose commits follow each other
    closely (a fast pull) would find it free again first, and a reader retrying every few tens of
    milliseconds could wait for the whole pull. So a writer, after each write, lets waiting readers in
    (:meth:`let_in`) before it goes on. Record locks belong to a process: a reader in the writer's own
    process gives no sign, and takes its turn by retrying only.
    """

    #: Longest pause of a writer for waiting readers after one write (seconds): longer than a reader's
    #: longest sleep between attempts.
    TURN = 2 * _LAST_SLEEP

    def __init__(self, lock_path: Path) -> None:
        try:
            self.fd: int | None = os.open(lock_path, os.O_RDONLY)
        except OSError:
            self.fd = None  # no lock file (never written) or not readable: no sign, retries only
            return
        try:
            fcntl.lockf(self.fd, fcntl.LOCK_SH | fcntl.LOCK_NB, 1, 1)
        except OSError:
            self.close()

    def close(self) -> None:
        """Withdraw the sign (closing the file releases the lock)."""
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

    @classmethod
    def let_in(cls, lock_path: Path) -> None:
        """Pause while a reader of another process signs that it waits (at most :attr:`TURN`)."""
        try:
            fd = os.open(lock_path, os.O_RDWR)
        except OSError:
            return
        try:
            deadline = time.monotonic() + cls.TURN
            while True:
                try:
                    fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, 1)
                    return  # nobody waits (the lock goes when fd closes)
                except OSError:
                    if time.monotonic() >= deadline:
                        return
                    time.sleep(0.002)
        finally:
            os.close(fd)


class _WriteLock:
    """Exclusive ``flock`` on ``<store>.lock`` holding the owner's PID; released on exit or process death."""

    def __init__(self, lock_path: Path, store_path: Path, *, wait: float) -> None:
        self.lock_path, self.store_path, self.wait = lock_path, store_path, wait
        self.fd: int | None = None

    def __enter__(self) -> _WriteLock:
        try:
            fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise StoreError(f"cannot write to store {self.store_path}: cannot create {self.lock_path.name} "
                             f"({exc.strerror or exc}); pass another --store") from exc
        deadline = time.monotonic() + self.wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    holder = self._holder(fd)
                    os.close(fd)
                    raise StoreLockedError(f"store {self.store_path} is locked by PID {holder} (another pull is "
                                           "running); wait for it or pass another --store") from None
                time.sleep(min(0.1, max(0.0, deadline - time.monotonic())))
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self.fd = fd
        return self

    @staticmethod
    def _holder(fd: int) -> str:
        """PID written by the holder; it writes right after locking, so allow it a moment."""
        for _ in range(50):
            pid = os.pread(fd, 32, 0).decode(errors="replace").strip()
            if pid:
                return pid
            time.sleep(0.01)
        return "unknown"

    def __exit__(self, *exc_info: object) -> None:
        assert self.fd is not None
        os.ftruncate(self.fd, 0)
        fcntl.flock(self.fd, fcntl.LOCK_UN)
        os.close(self.fd)
        self.fd = None


class Writer:
    """Write access to a store, valid inside :meth:`Store.writer`. Each method is one transaction on
    a connection opened for it and closed after it.

    Segments: every commit of a deployment's rows writes one Parquet file. Small files (fewer than
    :data:`FRAGMENT_ROWS` rows) from small commits -- a scheduled pull adds a few rows a run -- are
    merged, one file per deployment, by the last write of a pull (:meth:`finish_run`) once there are more
    than :data:`MAX_FRAGMENTS`, so reads never meet thousands of tiny files.
    """

    def __init__(self, store: Store) -> None:
        self.store = store
        #: Set when the ``with store.writer()`` block ends; the writer refuses to write after that.
        self.closed = False

    @contextmanager
    def _transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        if self.closed:
            raise RuntimeError("this Writer's `with store.writer()` block has ended")
        try:
            with self.store._attached(read_only=False) as con:
                con.begin()
                yield con
                con.commit()  # not reached when the block raised: the transaction is rolled back
        except duckdb.Error as exc:
            raise StoreError(f"writing store {self.store.path} failed: {_first_line(exc)}") from exc

    def _write_segment(self, rows: pa.Table, *, chain_id: int, protocol: str, deployment: str) -> Segment:
        try:
            return segments.write(self.store.segments_dir, rows, chain_id=chain_id, protocol=protocol,
                                  deployment=deployment)
        except OSError as exc:
            raise StoreError(f"writing store {self.store.path} failed: {exc.strerror or exc} "
                             f"({self.store.segments_dir})") from exc

    def _without_blocks(self, segment: Segment, keep: str, params: Sequence[Any],
                        con: duckdb.DuckDBPyConnection) -> Segment | None:
        """A new segment with the rows of ``segment`` that match ``keep`` (SQL over the liquidations
        columns), or ``None`` when none does."""
        rows = con.sql(f"{self._rows_sql([segment])} WHERE {keep}", params=list(params)).to_arrow_table()
        if rows.num_rows == 0:
            return None
        return self._write_segment(rows, chain_id=segment.chain_id, protocol=segment.protocol,
                                   deployment=segment.deployment)

    def _rows_sql(self, listed: Sequence[Segment]) -> str:
        """A ``SELECT`` of the rows of the ``listed`` segments' files."""
        return segments.rows_sql(self.store.segments_dir, [segment.file for segment in listed])

    def _relist(self, con: duckdb.DuckDBPyConnection, *, drop: Sequence[Segment], add: Sequence[Segment | None],
                run_id: str | None) -> None:
        """In the transaction of ``con``: unlist ``drop``, list ``add`` and point the view at the listed files."""
        if drop:
            con.execute("DELETE FROM segments WHERE list_contains(?, file)", [[segment.file for segment in drop]])
        for segment in add:
            if segment is not None:
                con.execute("INSERT INTO segments BY NAME SELECT ? AS file, ? AS chain_id, ? AS protocol, "
                            "? AS deployment, ? AS first_block, ? AS last_block, ? AS rows, ? AS bytes, ? AS run_id, "
                            "current_timestamp AS created_at", [*asdict(segment).values(), run_id])
        con.execute(segments.view_sql(self.store.segments_dir, [segment.file for segment in _listed(con)]))
        self.store._view_moved = False

    def commit_chunk(self, *, chain_id: int, protocol: str, deployment: str, first_block: int,
                     chunk_start: int, chunk_end: int, rows: Sequence[Mapping[str, Any]] | pa.Table,
                     blocks: Sequence[Mapping[str, Any]], last_block_hash: str | None, run_id: str | None) -> int:
        """Store the pulled chunk ``[chunk_start, chunk_end]`` (blocks, inclusive) in one transaction.

        1. delete the deployment's liquidations with ``block_number`` in the chunk;
        2. insert ``rows`` (dicts keyed by :data:`~toolkit.store.schema.LIQUIDATION_COLUMNS` names,
           missing keys NULL, or an Arrow table of exactly those columns,
           :func:`~toolkit.store.arrow.columns_to_table`); a row whose key ``(chain_id, tx_hash,
           log_index)`` is already stored (duplicate in ``rows``, or stored by another deployment) is skipped;
        3. upsert ``blocks`` (dicts keyed by :data:`~toolkit.store.schema.BLOCK_COLUMNS` names);
        4. upsert the checkpoint: ``first_block`` is kept from the first commit, ``last_block`` =
           ``chunk_end`` with ``last_block_hash``, ``run_id``.

        Returns the number of rows whose key was not in the store before (0 when the same chunk is
        committed again). Raises :class:`ValueError` when a row belongs to another chain, protocol,
        deployment or block range, and :class:`~toolkit.errors.StoreError` when the chunk would
        leave a gap after the checkpoint (``chunk_start > last_block + 1``), and
        :class:`BlockHashConflict` (nothing written) when a block of ``blocks`` is stored with another
        hash: every stored row, checkpoint and block then describes one and the same chain.
        """
        if chunk_end < chunk_start:
            raise ValueError(f"empty chunk [{chunk_start}, {chunk_end}]")
        if isinstance(rows, pa.Table):
            if rows.column_names != [c.name for c in schema.LIQUIDATION_COLUMNS]:
                raise ValueError("the rows table does not have the liquidations columns in order; "
                                 "build it with toolkit.store.arrow.columns_to_table")
            incoming = rows.cast(arrow_schema(schema.LIQUIDATION_COLUMNS))
        else:
            incoming = rows_to_table(schema.LIQUIDATION_COLUMNS, rows)
        new_blocks = rows_to_table(schema.BLOCK_COLUMNS, blocks)
        deployment_key = [chain_id, protocol, deployment]
        with self._transaction() as con:
            con.register("incoming", incoming)
            con.register("new_blocks", new_blocks)
            overlapping = _listed(con, "chain_id = ? AND first_block <= ? AND last_block >= ?",
                                  [chain_id, chunk_end, chunk_start])
            stray, previous, conflict, added, clashes = con.execute(
                _CHUNK_CHECKS.format(stored=self._rows_sql(overlapping)),
                [chain_id, chunk_start, chunk_end, *deployment_key, chunk_start, chunk_end,
                 *deployment_key, protocol, deployment]).fetchall()[0]
            if stray:
                raise ValueError(f"{stray} row(s) are not in chunk [{chunk_start}, {chunk_end}] of "
                                 f"{chain_id}/{protocol}/{deployment}")
            if previous is not None and chunk_start > previous + 1:
                raise StoreError(f"chunk [{chunk_start}, {chunk_end}] of {chain_id}/{protocol}/{deployment} would "
                                 f"leave blocks {previous + 1}-{chunk_start - 1} unread after the checkpoint at "
                                 f"{previous}; pull from block {previous + 1} or pass another --store")
            if conflict is not None:
                raise BlockHashConflict(f"block {conflict} of chain {chain_id} is stored with another hash than the "
                                        "node's now: the chain was reorganized; pull again to repair",
                                        block_number=conflict)
            # The deployment's rows in the chunk are replaced: its files overlapping the chunk are copied
            # without the chunk's blocks. Rows stored by another deployment keep their key.
            own = [seg for seg in overlapping if (seg.protocol, seg.deployment) == (protocol, deployment)]
            kept = [self._without_blocks(seg, "block_number NOT BETWEEN ? AND ?", [chunk_start, chunk_end], con)
                    for seg in own]
            if clashes:
                incoming = con.sql(_FIRST_OF_EACH_KEY.format(stored=self._rows_sql(overlapping)),
                                   params=[protocol, deployment]).to_arrow_table()
            new = (self._write_segment(incoming, chain_id=chain_id, protocol=protocol, deployment=deployment)
                   if incoming.num_rows else None)
            self._relist(con, drop=own, add=[*kept, new], run_id=run_id)
            con.execute("INSERT OR REPLACE INTO blocks BY NAME SELECT * FROM new_blocks")
            con.execute("""
                INSERT INTO checkpoints BY NAME
                SELECT ? AS chain_id, ? AS protocol, ? AS deployment, ? AS first_block, ? AS last_block,
                       ? AS last_block_hash, ? AS run_id, current_timestamp AS updated_at
                ON CONFLICT DO UPDATE SET last_block = excluded.last_block, last_block_hash = excluded.last_block_hash,
                                          run_id = excluded.run_id, updated_at = excluded.updated_at
            """, [*deployment_key, first_block, chunk_end, last_block_hash, run_id])
        return added

    def rewind_chain(self, *, chain_id: int, to_block: int, to_block_hash: str | None) -> int:
        """Reorganization repair in one transaction: forget everything of the chain above ``to_block``.

        The store keeps one view of each chain (``blocks``, shared by its deployments), so a block
        that changed invalidates every deployment's data above it, not only the one that noticed:
        deletes the chain's liquidations and blocks with ``block_number > to_block`` (segments that
        straddle ``to_block`` are replaced by copies without the blocks above it); moves every
        checkpoint above ``to_block`` back to ``to_block`` / ``to_block_hash``, and removes those whose
        ``first_block`` is above it (nothing of their range is left). ``to_block = -1`` forgets the
        whole chain. Returns the number of rows deleted.
        """
        with self._transaction() as con:
            above = _listed(con, "chain_id = ? AND last_block > ?", [chain_id, to_block])
            kept = [self._without_blocks(seg, "block_number <= ?", [to_block], con) if seg.first_block <= to_block
                    else None for seg in above]
            deleted = sum(seg.rows for seg in above) - sum(seg.rows for seg in kept if seg is not None)
            self._relist(con, drop=above, add=kept, run_id=None)
            con.execute("DELETE FROM blocks WHERE chain_id = ? AND block_number > ?", [chain_id, to_block])
            con.execute("DELETE FROM checkpoints WHERE chain_id = ? AND first_block > ?", [chain_id, to_block])
            con.execute("UPDATE checkpoints SET last_block = ?, last_block_hash = ?, updated_at = current_timestamp "
                        "WHERE chain_id = ? AND last_block > ?", [to_block, to_block_hash, chain_id, to_block])
        return deleted

    def start_run(self, run_id: str, command: str, args_json: str, rpc_host: str | None, chain_id: int | None,
                  protocol: str | None, deployment: str | None, from_block: int | None, to_block: int | None,
                  node_client_version: str | None, package_version: str, git_commit: str | None) -> None:
        """Record a run as ``running`` (started now). ``rpc_host`` and ``args_json`` must already be redacted.

        Runs still ``running`` are marked ``interrupted`` first: this writer holds the store's lock,
        so their process ended without finishing them (killed, crashed, powered off).
        """
        with self._transaction() as con:
            con.execute("UPDATE runs SET status = 'interrupted', error = ? WHERE status = 'running'",
                        [INTERRUPTED_ERROR])
            con.execute("""
                INSERT INTO runs BY NAME
                SELECT ? AS run_id, ? AS command, 'running' AS status, current_timestamp AS started_at,
                       ? AS chain_id, ? AS protocol, ? AS deployment, ? AS from_block, ? AS to_block,
                       ? AS rpc_host, ? AS node_client_version, ? AS package_version, ? AS git_commit,
                       ? AS args_json
            """, [run_id, command, chain_id, protocol, deployment, from_block, to_block, rpc_host,
                  node_client_version, package_version, git_commit, args_json])

    def finish_run(self, run_id: str, status: str, rows_added: int, report_json: str | None,
                   error: str | None) -> None:
        """Record the end of a run: ``status`` (``ok``, ``nothing_new``, ``partial``, ``failed``), finished now."""
        with self._transaction() as con:
            updated = con.execute("UPDATE runs SET status = ?, finished_at = current_timestamp, rows_added = ?, "
                                  "report_json = ?, error = ? WHERE run_id = ?",
                                  [status, rows_added, report_json, error, run_id]).fetchall()[0][0]
            if not updated:
                raise ValueError(f"no run {run_id!r} was started in {self.store.path}")
            small = _listed(con, "rows < ?", [FRAGMENT_ROWS])
            if len(small) > MAX_FRAGMENTS:
                self._merge(con, small, run_id)

    def upgrade(self) -> int:
        """Upgrade the store (opened with ``check_version=False``) to :data:`~toolkit.store.schema.SCHEMA_VERSION`
        in one transaction; return the rows moved into segment files (0 when it has this version already).

        Version 2 kept the liquidation rows in a DuckDB table. Each deployment's rows (in canonical order,
        at most :data:`UPGRADE_SEGMENT_ROWS` per file) are written as segment files, then the table is
        dropped, the files are listed with the ``liquidations`` view, and the version is recorded in
        ``store_meta``; blocks, checkpoints and runs stay. Until the transaction commits the store is the
        old one, whole: a crash leaves unlisted files, which the next writer deletes, and the upgrade can
        run again. Raises :class:`~toolkit.errors.StoreError` for a version it cannot upgrade.
        """
        version = self.store.schema_version
        if version == schema.SCHEMA_VERSION:
            return 0
        if version not in UPGRADABLE_VERSIONS:
            raise StoreError(f"store {self.store.path} has schema version {version}; this liquidation-toolkit "
                             f"upgrades version {', '.join(map(str, UPGRADABLE_VERSIONS))} only")
        self.store.segments_dir.mkdir(exist_ok=True)
        written = []
        with self._transaction() as con:
            for chain_id, protocol, deployment in con.execute(
                    "SELECT DISTINCT chain_id, protocol, deployment FROM liquidations ORDER BY ALL").fetchall():
                key = [chain_id, protocol, deployment]
                rows = con.sql(f"SELECT * FROM liquidations WHERE chain_id = ? AND protocol = ? AND deployment = ? "
                               f"ORDER BY {_ORDER}", params=key).to_arrow_table()
                for offset in range(0, rows.num_rows, UPGRADE_SEGMENT_ROWS):
                    written.append(self._write_segment(rows.slice(offset, UPGRADE_SEGMENT_ROWS), chain_id=chain_id,
                                                       protocol=protocol, deployment=deployment))
            con.execute("DROP TABLE liquidations")
            con.execute(schema.create_table_sql("segments"))
            self._relist(con, drop=(), add=written, run_id=None)
            con.execute("INSERT INTO store_meta VALUES (?, current_timestamp, ?)",
                        [schema.SCHEMA_VERSION, toolkit.__version__])
        self.store.schema_version = schema.SCHEMA_VERSION
        self.store._checked = True
        return sum(segment.rows for segment in written)

    def _merge(self, con: duckdb.DuckDBPyConnection, small: Sequence[Segment], run_id: str) -> None:
        """Replace the ``small`` segments by one file per deployment, in canonical row order."""
        by_deployment: dict[tuple[int, str, str], list[Segment]] = {}
        for segment in small:
            by_deployment.setdefault((segment.chain_id, segment.protocol, segment.deployment), []).append(segment)
        groups = [group for group in by_deployment.values() if len(group) > 1]
        merged = [self._write_segment(con.sql(f"{self._rows_sql(group)} ORDER BY {_ORDER}").to_arrow_table(),
                                      chain_id=group[0].chain_id, protocol=group[0].protocol,
                                      deployment=group[0].deployment) for group in groups]
        self._relist(con, drop=[segment for group in groups for segment in group], add=merged, run_id=run_id)
