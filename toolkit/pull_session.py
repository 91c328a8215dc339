"""One pull's reading and committing, deployment by deployment: chunks of logs read, decoded, enriched,
checked against fresh headers and committed in block order, reorganizations repaired (the contract is
described in :mod:`toolkit.pipeline`, which runs a :class:`PullSession` per pull).
"""

from __future__ import annotations

import asyncio
import functools
import time
from contextlib import aclosing
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from toolkit.chain.blocks import BlockHeader, BlockHeaders, BlockNotFound
from toolkit.chain.calls import StateReader
from toolkit.chain.completeness import Completeness
from toolkit.chain.errors import ReorgDetected
from toolkit.chain.logs import LogChunk, LogFilter, LogReader
from toolkit.chain.logtable import log_dicts
from toolkit.chain.rpc import RpcClient
from toolkit.errors import ToolkitError, UserInputError
from toolkit.protocols import Adapter, adapter_for
from toolkit.protocols.base import ColumnDecoder
from toolkit.protocols.discovery import set_aside
from toolkit.protocols.enrichment import StateSession, count_states, enrich_rows
from toolkit.protocols.registry import Deployment
from toolkit.pull_request import ChainUnstable, DeploymentResult, ProgressCallback, PullRequest
from toolkit.store import schema
from toolkit.store.arrow import columns_to_table, rows_to_table
from toolkit.store.db import BlockHashConflict, Store, Writer

#: Reorganization repairs (rewind and read again) one deployment's pull makes before it stops.
MAX_REORG_REPAIRS = 5
#: Stored blocks compared with the node per request while looking for the newest unchanged one.
WALK_BACK_PAGE = 32
#: Most logs per chunk read (and per request once their density is known): the answers in flight
#: and the chunks waiting to be committed stay small (LogReader ``target_logs``).
CHUNK_LOGS = 2_500
#: Without state reads, decoded chunks are committed together once they hold this many rows (or
#: :data:`COMMIT_INTERVAL` passed). A commit costs about 30 ms on its own (open, checks, listing its
#: segment file, close) and competes for the CPU with decoding, so a dense pull gains from few,
#: large ones; the rows wait as Arrow tables (the pull's peak RSS: bench/bench_pull.py). On
#: bench/bench_pull.py's 100,000 logs, starting a commit as soon as the previous one ended made 6-7
#: commits; waiting for 50,000 rows makes 2: 0.88 s instead of 0.99 s, and 0.85 s of CPU instead of
#: 1.09 s (medians of 15 pulls each, alternated). Waiting for 20,000 rows or for all rows measured slower.
MAX_COMMIT_ROWS = 50_000
#: Seconds decoded chunks wait at most for more to commit with (a slow node's pull still commits,
#: reports progress and keeps what it read about this often).
COMMIT_INTERVAL = 1.0


@dataclass(frozen=True)
class _Decoded:
    """The rows of the chunk of blocks ``[start, end)`` (its logs are not kept)."""

    start: int
    end: int
    table: pa.Table
    #: Headers the reader fetched with the chunk (its blocks with logs, its last block), or None.
    headers: dict[int, BlockHeader] | None = None


@dataclass(frozen=True)
class _Prepared:
    """Checked chunks ready for one commit: blocks ``[first, last]``, their rows (block timestamps
    set), the headers stored with them and the hash of ``last``."""

    first: int
    last: int
    table: pa.Table
    blocks: list[dict[str, Any]]
    last_hash: str


class _ChainChanged(Exception):
    """Internal signal: what this pull read, or what the store holds, is no longer on the node's chain."""

    def __init__(self, block: int, reason: str) -> None:
        super().__init__(reason)
        self.block = block
        self.reason = reason


class PullSession:
    """One pull's reading and committing, deployment by deployment, with reorganization repair."""

    def __init__(self, request: PullRequest, store: Store, writer: Writer, client: RpcClient,
                 headers: BlockHeaders, chain_id: int, to_block: int, run_id: str,
                 progress: ProgressCallback | None, state: StateSession | None = None) -> None:
        self.request, self.store, self.writer, self.client = request, store, writer, client
        self.headers, self.chain_id, self.run_id, self.progress = headers, chain_id, run_id, progress
        #: What the state reads of the pull share (None with --state none).
        self.state = state
        #: Last block (inclusive) to read; resolved again after each repair, never above :attr:`discovered_to`.
        self.to_block = to_block
        #: The bound the registries were read up to (toolkit.protocols.discovery).
        self.discovered_to = to_block
        #: One result per deployment started, kept when a later one fails.
        self.results: list[DeploymentResult] = []
        #: Markets found by discovery: their logs that do not decode are set aside, not fatal.
        self.discovered: frozenset[str] = frozenset()

    async def pull_deployment(self, deployment: Deployment) -> None:
        """Read the deployment from its checkpoint to the bound, repairing reorganizations met on the way."""
        outcome = DeploymentResult(deployment.protocol, deployment.name)
        self.results.append(outcome)
        for _ in range(MAX_REORG_REPAIRS + 1):
            try:
                await self._read(deployment, outcome)
                return
            except _ChainChanged as change:
                outcome.reorgs.append(await self._repair(change))
        raise ChainUnstable(
            f"the chain was reorganized {len(outcome.reorgs)} times while {deployment.protocol}/{deployment.name} "
            f"was read (last at block {outcome.reorgs[-1]['detected_at']}); run the pull again later, or pull "
            "up to --to finalized"
        )

    async def _headers(self, numbers: set[int]) -> dict[int, BlockHeader]:
        """Fresh headers of ``numbers``; a block the node does not have (after retries) is a changed chain."""
        try:
            return await self.headers.get(numbers, refresh=True)
        except BlockNotFound as missing:
            raise _ChainChanged(missing.number, f"the node has no block {missing.number} any more") from None

    async def _read(self, deployment: Deployment, outcome: DeploymentResult) -> None:
        top = self.to_block
        newest = self.store.newest_blocks(self.chain_id)
        on_node = await self._headers({top, *(number for number, _ in newest)})
        for number, stored_hash in newest:
            if on_node[number].hash != stored_hash:
                raise _ChainChanged(number, f"stored block {number} has another hash on the node now")
        top_hash = on_node[top].hash
        checkpoint = self.store.checkpoint(self.chain_id, deployment.protocol, deployment.name)
        start = await self._start_block(deployment, checkpoint.last_block if checkpoint else None)
        outcome.from_block = start if outcome.from_block is None else min(outcome.from_block, start)
        outcome.to_block = top
        if start > top:
            return
        first_block = checkpoint.first_block if checkpoint else start
        adapter = adapter_for(deployment)
        # per read: a repair must not reuse state of an orphaned block
        state = self.state.reader() if self.state is not None else StateReader(self.client)
        log_filter = LogFilter(addresses=deployment.emitters, topics0=adapter.topics0(deployment))
        span = self.request.blocks_per_request
        # Without state reads, a short range is fetched in parallel pieces (decoded while the next
        # arrive), as columns for an adapter that decodes columns; with them, a chunk is also the
        # unit of batched eth_calls, so fewer, larger ones, decoded row by row.
        no_state = self.state is None
        by_columns = no_state and isinstance(adapter, ColumnDecoder)
        options: dict[str, Any] = {"share_ranges": no_state, "target_logs": CHUNK_LOGS,
                                   "columns": by_columns}
        if span is not None:
            options.update(initial_span=span, max_span=span)
        if self.request.verify != "none":
            options["verify"] = Completeness(self.client, self.headers, self.request.verify)
        reader = LogReader(self.client, **options)
        # Chunks are committed in a worker thread (DuckDB releases the GIL) while the next ones are read
        # and decoded; commits stay one at a time and in block order, and each chunk is checked against
        # fresh headers only once the commit before it has ended (so a chain that changed meanwhile is
        # seen before anything else is written). Without state reads and without --blocks-per-request,
        # decoded chunks are committed together (group commit) once they hold MAX_COMMIT_ROWS rows or
        # COMMIT_INTERVAL seconds passed since the last commit started, and never while one runs: a
        # fast node is not held up by the fixed cost of commits. A commit cannot be cancelled halfway
        # (it runs in a thread), so it is shielded and always awaited to its end before anything else
        # (a repair's rewind, the end of the run) touches the store.
        group = no_state and span is None
        committing: asyncio.Task[None] | None = None
        decoded: list[_Decoded] = []
        last_commit = time.monotonic()
        try:
            async with aclosing(reader.iter_chunks(log_filter, start, top + 1)) as chunks:
                async for chunk in chunks:
                    table = await self._decode(chunk, deployment, adapter, state, by_columns, outcome)
                    decoded.append(_Decoded(chunk.start, chunk.end, table, chunk.headers))  # not the logs
                    del chunk
                    await asyncio.sleep(0)  # decoding does not yield: serve the fetches in flight now
                    if group and sum(d.table.num_rows for d in decoded) < MAX_COMMIT_ROWS and (
                            time.monotonic() - last_commit < COMMIT_INTERVAL
                            or committing is not None and not committing.done()):
                        continue
                    if committing is not None:
                        await asyncio.shield(committing)
                    prepared = await self._check(decoded, (top, top_hash))
                    decoded = []
                    committing = self._commit(prepared, deployment, first_block, start, top, outcome)
                    last_commit = time.monotonic()
            if committing is not None:
                await asyncio.shield(committing)
            if decoded:
                prepared = await self._check(decoded, (top, top_hash))
                committing = self._commit(prepared, deployment, first_block, start, top, outcome)
                await asyncio.shield(committing)
        except ReorgDetected as removed:
            raise _ChainChanged(start, str(removed)) from None
        except BlockNotFound as missing:  # a header the completeness check asked for
            raise _ChainChanged(missing.number, f"the node has no block {missing.number} any more") from None
        finally:
            if committing is not None:
                await asyncio.wait([committing])
                if not committing.cancelled():
                    committing.exception()  # seen: when another error ended the read, that one is raised

    async def _start_block(self, deployment: Deployment, checkpoint: int | None) -> int:
        """First block to read: after the checkpoint, else ``--from-block``/``--since``/the deployment's start."""
        request = self.request
        if checkpoint is None:
            if request.from_block is not None:
                return request.from_block
            if request.since is not None:
                return await self.headers.first_block_at_or_after(int(request.since.timestamp()))
            return deployment.start_block
        if request.from_block is not None and request.from_block > checkpoint + 1:
            raise UserInputError(
                f"the store covers {deployment.protocol}/{deployment.name} up to block {checkpoint}; "
                f"--from-block {request.from_block} would leave a gap; omit --from-block to resume"
            )
        return checkpoint + 1

    async def _decode(self, chunk: LogChunk, deployment: Deployment, adapter: Adapter,
                      state: StateReader, by_columns: bool, outcome: DeploymentResult) -> pa.Table:
        """Decode (and unless ``--no-state``, enrich) one chunk: its rows as an Arrow table. Without state
        reads, an adapter that decodes a column at a time (:class:`ColumnDecoder`) builds the table with
        no dict per row."""
        columns = adapter.decode_columns(chunk.logs, deployment) if by_columns else None
        if columns is not None:
            return columns_to_table(schema.LIQUIDATION_COLUMNS, columns, len(chunk.logs))
        logs = log_dicts(chunk.logs)
        rows, aside = set_aside(adapter.decode_logs(logs, deployment), logs, self.discovered)
        outcome.undecoded.extend(aside)
        failed = next((r for r in rows if "error" in r), None)
        if failed is not None:
            raise ToolkitError(
                f"log {failed['log_index']} of transaction {failed['tx_hash']} from a {deployment.protocol} "
                f"emitter does not decode: {failed['error']}; check --protocol/--address, or report it if the "
                "address is right")
        if rows and self.state is not None:
            await enrich_rows(adapter, rows, deployment, state, self.state)
        return rows_to_table(schema.LIQUIDATION_COLUMNS, rows)

    async def _check(self, decoded: list[_Decoded], top: tuple[int, str]) -> _Prepared:
        """Check consecutive decoded chunks against fresh headers (the bound's, and those of their rows'
        blocks); return them as one commit: the rows with block timestamps from the headers, and the
        headers to store (rows' blocks and the last block)."""
        table = pa.concat_tables([d.table for d in decoded]) if len(decoded) > 1 else decoded[0].table
        first, last = decoded[0].start, decoded[-1].end - 1
        by_number = pc.unique(table.column("block_number")).sort()
        numbers = by_number.to_pylist()
        stored = set(numbers) | {last}
        # The reader's headers were fetched after its logs; the bound's, fetched now, says nothing changed since.
        known = {n: h for d in decoded if d.headers for n, h in d.headers.items() if n in stored}
        fresh = {**known, **await self._headers((stored - known.keys()) | {top[0]})}
        if fresh[top[0]].hash != top[1]:
            raise _ChainChanged(top[0], f"block {top[0]} changed while the pull read up to it")
        # Each row's block, as a position in ``numbers``: the header's hash and timestamp of every row.
        row_block = pc.index_in(table.column("block_number"), value_set=by_number)
        hashes = pc.take(pa.array([fresh[n].hash for n in numbers], pa.string()), row_block)
        changed = pc.not_equal(table.column("block_hash"), hashes)
        if pc.any(changed).as_py():
            number = pc.min(pc.filter(table.column("block_number"), changed)).as_py()
            raise _ChainChanged(number, f"block {number} changed while it was read")
        seconds = pa.array([fresh[n].timestamp for n in numbers], type=pa.int64())
        stamps = pc.take(pc.multiply(seconds, 1_000_000).cast(table.schema.field("block_timestamp").type), row_block)
        table = table.set_column(table.schema.get_field_index("block_timestamp"), "block_timestamp", stamps)
        blocks = [{"chain_id": self.chain_id, "block_number": h.number, "block_hash": h.hash,
                   "parent_hash": h.parent_hash, "block_timestamp": datetime.fromtimestamp(h.timestamp, UTC)}
                  for n, h in sorted(fresh.items()) if n in stored]
        return _Prepared(first, last, table, blocks, fresh[last].hash)

    def _commit(self, prepared: _Prepared, deployment: Deployment, first_block: int, start: int, top: int,
                outcome: DeploymentResult) -> asyncio.Task[None]:
        """Start committing checked chunks in one transaction in a worker thread (at once, not when the
        event loop next runs a task); the task counts the commit and reports progress when it ends."""
        job = asyncio.get_running_loop().run_in_executor(None, functools.partial(
            self.writer.commit_chunk, chain_id=self.chain_id, protocol=deployment.protocol,
            deployment=deployment.name, first_block=first_block, chunk_start=prepared.first, chunk_end=prepared.last,
            rows=prepared.table, blocks=prepared.blocks, last_block_hash=prepared.last_hash, run_id=self.run_id))

        async def committed() -> None:
            try:
                outcome.rows_added += await job
            except BlockHashConflict as conflict:
                raise _ChainChanged(conflict.block_number, str(conflict)) from None
            outcome.chunks += 1
            if self.state is not None:
                count_states(prepared.table, outcome.state_positions, outcome.state_checks)
            if self.progress is not None:
                self.progress(prepared.last + 1 - start, top + 1 - start, outcome.rows_added)

        return asyncio.create_task(committed())

    async def _repair(self, change: _ChainChanged) -> dict[str, Any]:
        """Rewind the chain in the store to its newest unchanged block and resolve the bound again."""
        good, good_hash = await self._newest_unchanged_block()
        deleted = self.writer.rewind_chain(chain_id=self.chain_id, to_block=good, to_block_hash=good_hash)
        self.headers.clear()
        # never above the bound the markets were discovered up to
        self.to_block = min(await self.headers.resolve_bound(self.request.to, self.request.confirmations),
                            self.discovered_to)
        return {"detected_at": change.block, "reason": change.reason, "rewound_to": good, "rows_deleted": deleted}

    async def _newest_unchanged_block(self) -> tuple[int, str | None]:
        """The highest stored block of the chain whose hash the node still has (every block below it
        is unchanged too: a hash commits to its parent), or ``(-1, None)`` when none is left. Stored
        blocks above the node's head count as changed."""
        head = int(await self.client.call("eth_blockNumber"), 16)
        below: int | None = None
        while stored := self.store.newest_blocks(self.chain_id, below=below, limit=WALK_BACK_PAGE):
            on_node = await self.headers.get([n for n, _ in stored if n <= head], refresh=True)
            for number, stored_hash in stored:
                if number in on_node and on_node[number].hash == stored_hash:
                    return number, stored_hash
            below = stored[-1][0]
        return -1, None
