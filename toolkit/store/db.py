"""The store: a DuckDB file of blocks, checkpoints, runs and the list of segment files holding the liquidations.

:class:`Store` opens a store (created whole or checked first: :mod:`toolkit.store.opening`) and reads it;
:class:`Writer`, inside :meth:`Store.writer`, writes it. The parts, one module each:

* :mod:`toolkit.store.locks` -- one writer (``<store>.lock``), readers that wait their turn;
* :mod:`toolkit.store.attach` -- each operation attaches the file to the process's own DuckDB instance;
* :mod:`toolkit.store.segments` -- the liquidation rows: Parquet files beside the DuckDB file, listed by
  its ``segments`` table, read by the ``liquidations`` view and nothing else;
* :mod:`toolkit.store.compaction` -- segment copies without some blocks, small segments merged;
* :mod:`toolkit.store.runs` -- each pull's row in ``runs``;
* :mod:`toolkit.store.status` -- what ``liqtk status`` counts per deployment;
* :mod:`toolkit.store.upgrade` -- a store of an earlier schema version brought to this one.

Crash safety comes from DuckDB's write-ahead log: a transaction is in the WAL when COMMIT returns,
and a WAL with an incomplete transaction is replayed without it at the next open. A segment file is
written, flushed and renamed into place *before* the transaction that lists it; a file whose
transaction never committed is not listed, so never read, and the next writer deletes it.
A notebook that keeps a connection open blocks the writer: use :meth:`Store.reader`, which closes.

Write protocol (docs/sources/store.md#idempotent-chunk-writes, dlt's "state next to the data"): each chunk of blocks
``[chunk_start, chunk_end]`` (inclusive) is one transaction that replaces the deployment's
liquidations in that range (its rows in one new segment file; the deployment's files that overlap
the range are replaced by copies without those blocks), upserts the blocks seen, and moves the
checkpoint -- so re-running a chunk is idempotent and a crash leaves the chunk fully in or fully out.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import pyarrow as pa

from toolkit.errors import StoreError
from toolkit.store import compaction, integrity, opening, runs, schema, segments, upgrade
from toolkit.store import status as store_status
from toolkit.store.arrow import arrow_schema, rows_to_table, to_pandas
from toolkit.store.attach import attached, first_line
from toolkit.store.locks import ReaderWaiting, WriteLock
from toolkit.store.records import Checkpoint, LiquidationFilter
from toolkit.store.runs import INTERRUPTED_ERROR, RUNS_PER_DEPLOYMENT
from toolkit.store.segments import Segment, listed

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["INTERRUPTED_ERROR", "RUNS_PER_DEPLOYMENT", "BlockHashConflict", "Checkpoint", "LiquidationFilter",
           "Store", "Writer"]

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


class BlockHashConflict(StoreError):
    """A chunk brings a block whose hash differs from the one stored for that number: the chain was
    reorganized since the store saw it (the pipeline repairs it with :meth:`Writer.rewind_chain`)."""

    def __init__(self, message: str, *, block_number: int) -> None:
        super().__init__(message)
        #: Lowest block number whose hash differs.
        self.block_number = block_number


class Store:
    """A liquidation-toolkit store at ``path`` (a DuckDB file, and its segment directory
    :func:`toolkit.store.segments.directory`), validated when constructed.

    * an existing file is checked read-only and never modified: it must be a complete DuckDB
      database with a ``store_meta`` table of schema version :data:`~toolkit.store.schema.SCHEMA_VERSION`,
      and every segment file it lists must be there with its size, else :class:`~toolkit.errors.StoreError`
      (:func:`toolkit.store.opening.validate`);
    * a missing file is created (parent directories included) when ``create`` is true, else
      :class:`~toolkit.errors.StoreError`;
    * with ``check_version`` false, a store of any schema version is opened (:attr:`schema_version`), to
      upgrade it (:meth:`Writer.upgrade`); only one of this version is checked further;
    * with ``check_segments`` false, a store whose segment files are damaged is opened all the same
      (:attr:`damages`), to verify and repair it (:meth:`verify`, :meth:`Writer.repair`).

    ``read_timeout`` / ``write_timeout``: seconds a read / a commit waits for the other side to
    close the file (:mod:`toolkit.store.locks`) before :class:`~toolkit.errors.StoreError`.
    """

    def __init__(self, path: str | os.PathLike[str], *, create: bool = True,
                 read_timeout: float = 10.0, write_timeout: float = 60.0, check_version: bool = True,
                 check_segments: bool = True) -> None:
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
        #: Set when a checkpoint failed (a full disk) and the next writer must write it (opening.checkpoint).
        self.interrupted_checkpoint = False
        #: Whether a listed segment file missing or of another size refuses the store (else: :attr:`damages`).
        self.check_segments = check_segments
        #: Listed segment files found missing or of another size when the store was opened.
        self.damages: list[integrity.Damage] = []
        if not self.path.exists() and not self.path.is_symlink():
            if not create:
                raise StoreError(f"no store at {self.path}; run `liqtk pull` first or pass another --store")
            if opening.create(self):
                self._checked = True
                return  # built here, from the schema: nothing to validate
        self.schema_version = opening.validate(self)
        if self.schema_version == schema.SCHEMA_VERSION:
            self._checked = True
        elif check_version:
            hint = (f"upgrade it with `liqtk upgrade --store {self.path}`"
                    if self.schema_version in upgrade.upgradable_versions() else "use a matching toolkit version")
            raise StoreError(f"store {self.path} has schema version {self.schema_version}, this liquidation-toolkit "
                             f"reads version {schema.SCHEMA_VERSION}; {hint} or pass another --store")

    def __repr__(self) -> str:
        return f"Store({str(self.path)!r})"

    @contextmanager
    def _attached(self, path: Path | None = None, *, read_only: bool) -> Iterator[duckdb.DuckDBPyConnection]:
        """A connection with the store file (or ``path``) attached as its default database for the ``with``
        block (:func:`toolkit.store.attach.attached`; the ``liquidations`` view pointed at this store's segment
        directory, :meth:`_point_view`). After a write to the store, readers of other processes that signed
        that they wait are let in (:class:`~toolkit.store.locks.ReaderWaiting`)."""
        with attached(path or self.path, read_only=read_only,
                      timeout=self.read_timeout if read_only else self.write_timeout, store_path=self.path,
                      sign=self.lock_path if read_only and path is None else None) as con:
            if path is None:
                self._point_view(con)
            yield con
        if not read_only and path is None:
            ReaderWaiting.let_in(self.lock_path)

    def _point_view(self, con: duckdb.DuckDBPyConnection) -> None:
        """When the store was moved since its view was written, give ``con`` a temporary ``liquidations``
        view of the files in their place now (:func:`toolkit.store.segments.view_sql`)."""
        if not self._checked:
            return  # not known to be a store of this version yet (toolkit.store.opening.validate)
        if self._view_moved is None:
            one = con.execute("SELECT file FROM segments LIMIT 1").fetchall()
            self._view_moved = bool(one) and str(self.segments_dir / one[0][0]) not in con.execute(
                "SELECT sql FROM duckdb_views() WHERE database_name = current_database() "
                "AND view_name = 'liquidations' AND NOT temporary").fetchall()[0][0]
        if self._view_moved:
            con.execute(segments.view_sql(self.segments_dir, [s.file for s in listed(con)], temporary=True))

    # -- reading ---------------------------------------------------------------------------------

    @contextmanager
    def reader(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A read-only connection for the duration of the ``with`` block: one consistent committed
        state. Keep the block short -- the writer waits while it is open."""
        with self._attached(read_only=True) as con:
            yield con

    @contextmanager
    def checked_reader(self, filters: LiquidationFilter = LiquidationFilter()) -> Iterator[duckdb.DuckDBPyConnection]:
        """:meth:`reader`, after a full check of the segment files holding the rows ``filters`` select: what
        exports read (:func:`toolkit.store.integrity.checked_reader`)."""
        with integrity.checked_reader(self, filters) as con:
            yield con

    def verify(self, *, full: bool = True) -> list[integrity.Damage]:
        """The listed segment files that do not match what was recorded with them (:mod:`toolkit.store.integrity`)."""
        with self.reader() as con:
            files = listed(con)
        return integrity.check(self.segments_dir, files, full=full)

    def _arrow(self, sql: str, params: Sequence[Any] = ()) -> pa.Table:
        """Result of one read-only query as Arrow; DuckDB errors become :class:`StoreError`."""
        try:
            with self.reader() as con:
                return con.sql(sql, params=list(params)).to_arrow_table()
        except duckdb.Error as exc:
            raise integrity.failure(self, exc) from exc

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
        """One dict per chain/protocol/deployment known to the store: rows, liquidation blocks, state-check
        counts, checkpoint and latest run (:func:`toolkit.store.status.status`)."""
        return store_status.status(self)

    def state_counts(self) -> dict[tuple[int, str, str], dict[str, int]]:
        """Per ``(chain_id, protocol, deployment)``: the counts of the state columns
        (:func:`toolkit.store.status.state_counts`; reads every segment file)."""
        return store_status.state_counts(self)

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
        with WriteLock(self.lock_path, self.path, wait=wait):
            if self.interrupted_checkpoint:
                opening.checkpoint(self)
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
            files = [segment.file for segment in listed(con)]
        unlisted = segments.unlisted_files(self.segments_dir, files)
        for path in unlisted:
            path.unlink(missing_ok=True)
        if unlisted:
            segments.sync_directory(self.segments_dir)


class Writer:
    """Write access to a store, valid inside :meth:`Store.writer`. Each method is one transaction on
    a connection opened for it and closed after it.

    Segments: every commit of a deployment's rows writes one Parquet file. Small files (fewer than
    :data:`FRAGMENT_ROWS` rows) from small commits -- a scheduled pull adds a few rows a run -- are
    merged, one file per deployment, by the last write of a pull (:meth:`finish_run`) once there are more
    than :data:`MAX_FRAGMENTS` (:func:`toolkit.store.compaction.merge`).
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
            raise integrity.failure(self.store, exc, "writing") from exc

    @contextmanager
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """One transaction on the store for writers of tables other than the liquidations (positions
        snapshots, :mod:`toolkit.store.positions`): committed when the block ends, rolled back when it raises."""
        with self._transaction() as con:
            yield con

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
        return compaction.copy_without(con, self.store.segments_dir, segment, keep, params, self._write_segment)

    def _rows_sql(self, files: Sequence[Segment]) -> str:
        """A ``SELECT`` of the rows of the ``files`` segments."""
        return segments.rows_sql(self.store.segments_dir, [segment.file for segment in files])

    def _relist(self, con: duckdb.DuckDBPyConnection, *, drop: Sequence[Segment], add: Sequence[Segment | None],
                run_id: str | None) -> None:
        """In the transaction of ``con``: unlist ``drop``, list ``add`` and point the view at the listed files."""
        if drop:
            con.execute("DELETE FROM segments WHERE list_contains(?, file)", [[segment.file for segment in drop]])
        for segment in add:
            if segment is not None:
                values = asdict(segment)
                con.execute("INSERT INTO segments BY NAME SELECT " + ", ".join(f"? AS {name}" for name in values)
                            + ", ? AS run_id, current_timestamp AS created_at", [*values.values(), run_id])
        con.execute(segments.view_sql(self.store.segments_dir, [segment.file for segment in listed(con)]))
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
            overlapping = listed(con, "chain_id = ? AND first_block <= ? AND last_block >= ?",
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
        ``first_block`` is above it (nothing of their range is left); forgets the markets discovered above
        it and moves the registry scans back to it. ``to_block = -1`` forgets the whole chain. Returns the
        number of rows deleted.
        """
        with self._transaction() as con:
            above = listed(con, "chain_id = ? AND last_block > ?", [chain_id, to_block])
            kept = [self._without_blocks(seg, "block_number <= ?", [to_block], con) if seg.first_block <= to_block
                    else None for seg in above]
            deleted = sum(seg.rows for seg in above) - sum(seg.rows for seg in kept if seg is not None)
            self._relist(con, drop=above, add=kept, run_id=None)
            con.execute("DELETE FROM blocks WHERE chain_id = ? AND block_number > ?", [chain_id, to_block])
            con.execute("DELETE FROM checkpoints WHERE chain_id = ? AND first_block > ?", [chain_id, to_block])
            con.execute("UPDATE checkpoints SET last_block = ?, last_block_hash = ?, updated_at = current_timestamp "
                        "WHERE chain_id = ? AND last_block > ?", [to_block, to_block_hash, chain_id, to_block])
            # discovered markets (toolkit.store.discovered): what was found above the block is read again
            con.execute("DELETE FROM discovered_markets WHERE chain_id = ? AND found_block > ?", [chain_id, to_block])
            con.execute("UPDATE discovery_scans SET scanned_to = ? WHERE chain_id = ? AND scanned_to > ?",
                        [to_block, chain_id, to_block])
        return deleted

    def start_run(self, run_id: str, command: str, args_json: str, rpc_host: str | None, chain_id: int | None,
                  protocol: str | None, deployment: str | None, from_block: int | None, to_block: int | None,
                  node_client_version: str | None, package_version: str, git_commit: str | None) -> None:
        """Record a run as ``running`` (started now). ``rpc_host`` and ``args_json`` must already be redacted.

        Runs still ``running`` are marked ``interrupted`` first: this writer holds the store's lock,
        so their process ended without finishing them (killed, crashed, powered off).
        """
        with self._transaction() as con:
            runs.start(con, run_id, command, args_json, rpc_host, chain_id, protocol, deployment, from_block,
                       to_block, node_client_version, package_version, git_commit)

    def finish_run(self, run_id: str, status: str, rows_added: int, report_json: str | None,
                   error: str | None) -> None:
        """Record the end of a run: ``status`` (``ok``, ``nothing_new``, ``partial``, ``failed``), finished now;
        then merge the small segment files when there are more than :data:`MAX_FRAGMENTS`."""
        with self._transaction() as con:
            if not runs.finish(con, run_id, status, rows_added, report_json, error):
                raise ValueError(f"no run {run_id!r} was started in {self.store.path}")
            small = listed(con, "rows < ?", [FRAGMENT_ROWS])
            if len(small) > MAX_FRAGMENTS:
                replaced, merged = compaction.merge(con, self.store.segments_dir, small, self._write_segment)
                self._relist(con, drop=replaced, add=merged, run_id=run_id)

    def repair(self, damages: Sequence[integrity.Damage]) -> list[integrity.Rewound]:
        """Unlist the damaged segment files and move their deployments' checkpoints back before them, in one
        transaction (:func:`toolkit.store.integrity.repair`); the deployments to pull again, and from where."""
        return integrity.repair(self, damages)

    def upgrade(self) -> int:
        """Upgrade the store (opened with ``check_version=False``) to :data:`~toolkit.store.schema.SCHEMA_VERSION`
        in one transaction (:func:`toolkit.store.upgrade.upgrade`); return the rows written into segment files
        (0 when it has this version already)."""
        return upgrade.upgrade(self)
