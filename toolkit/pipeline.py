"""``pull``: liquidation logs from a node into the store, chunk by chunk, resumable and idempotent.

Data flows one way: :mod:`toolkit.chain` reads logs, headers and state from the node,
:mod:`toolkit.protocols` decodes and enriches them, :mod:`toolkit.store` commits them.

Contract (dlt-style incremental cursor, docs/sources/store.md#dlt-incremental-cursor,
docs/sources/store.md#idempotent-chunk-writes, docs/sources/chain.md#reorg-handling):

* Block ranges are half-open internally ([start, end)); the checkpoint stores the last block
  (inclusive) whose logs are all stored, with its hash.
* Each chunk's rows, the headers of their blocks and of the chunk's last block, and the checkpoint
  are committed in ONE store transaction, in block order, so a pull killed at any moment resumes to
  the identical table. Without state reads, consecutive chunks are committed as one (group commit:
  up to :data:`MAX_COMMIT_ROWS` rows, or what was decoded in :data:`COMMIT_INTERVAL` seconds).
* Speed (bench/bench_pull.py): commits run in a worker thread while the next chunks are fetched
  and decoded; a chunk is checked against fresh headers only after the commit before it ended.
  Without state reads the adapter decodes a column at a time into Arrow (no dict per row), and a
  short range is fetched in parallel pieces sized to :data:`CHUNK_LOGS` logs (memory stays bounded).
* The upper bound is the node's ``finalized`` block by default, so nothing that can still be
  reorganized is written; ``--to latest`` with ``--confirmations N`` trades that for freshness.

Reorganizations (eth_defi's ``ReorganisationMonitor`` pattern, docs/sources/chain.md#reorg-handling). The store's
``blocks`` table is one view of each chain, shared by its deployments, and a block hash commits to
every block below it; so:

* before reading, the newest stored block of the chain and the read's upper bound are fetched
  again in one batch: a changed stored block means the chain was reorganized since the last pull;
* after each chunk is read (logs, then state), the bound's header is fetched again with the
  headers of the chunk; if its hash changed, the logs may come from an orphaned branch. Rows whose
  ``block_hash`` differs from their header, logs with ``removed: true``, and a commit that meets a
  stored block with another hash mean the same;
* each of these is repaired, not reported: stored blocks are compared with the node from the newest
  down (pages of :data:`WALK_BACK_PAGE`) to the newest unchanged one, everything of the chain above
  it is deleted in one transaction (:meth:`~toolkit.store.db.Writer.rewind_chain`), the bound is
  resolved again and the deployment is read again from its checkpoint. After
  :data:`MAX_REORG_REPAIRS` repairs in one deployment the pull stops (committed chunks stay).

A node behind its load balancer (lower head, ``null`` for recent blocks, "beyond current head"
errors) is retried by :mod:`toolkit.chain`; a bound it reports lower only makes the read shorter.
"""

from __future__ import annotations

import asyncio
import functools
import gc
import json
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import aclosing, contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from toolkit._version import __version__
from toolkit.aio import run_blocking  # noqa: F401 (toolkit.pipeline.run_blocking: used here and by callers)
from toolkit.chain.blocks import BlockHeader, BlockHeaders, BlockNotFound
from toolkit.chain.calls import StateReader
from toolkit.chain.completeness import VERIFY_MODES, Completeness
from toolkit.chain.errors import ReorgDetected
from toolkit.chain.logs import LogChunk, LogFilter, LogReader
from toolkit.chain.logtable import log_dicts
from toolkit.chain.rpc import RpcClient, url_problem
from toolkit.errors import StoreError, ToolkitError, UserInputError
from toolkit.protocols import Adapter, adapter_for, registry
from toolkit.protocols.base import ColumnDecoder
from toolkit.protocols.enrichment import STATE_MODES, StateSession, count_states, enrich_rows
from toolkit.protocols.discovery import discover, set_aside
from toolkit.protocols.registry import Deployment
from toolkit.redact import redact_url, scrub, scrub_exception
from toolkit.store import schema
from toolkit.store.arrow import columns_to_table, rows_to_table
from toolkit.store import discovered
from toolkit.store.db import BlockHashConflict, Store, Writer
from toolkit.store.provenance import git_commit, new_run_id


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
#: Container allocations between young garbage collections during a pull (default 700).
YOUNG_COLLECTION_EVERY = 100_000


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


class WrongChainError(ToolkitError):
    """The node serves another chain than the deployment's."""


class PullInterrupted(ToolkitError):
    """Some chunks were committed, then the pull stopped; the next pull resumes."""

    exit_code = 4


class ChainUnstable(ToolkitError):
    """The chain kept being reorganized while it was read."""


class _ChainChanged(Exception):
    """Internal signal: what this pull read, or what the store holds, is no longer on the node's chain."""

    def __init__(self, block: int, reason: str) -> None:
        super().__init__(reason)
        self.block = block
        self.reason = reason


@dataclass(frozen=True)
class PullRequest:
    """What to pull. Block numbers are inclusive as typed by users; ``to`` is a tag or a number."""

    chain: str
    protocol: str
    rpc_url: str
    store_path: Path
    from_block: int | None = None
    since: datetime | None = None
    to: str | int = "finalized"
    confirmations: int = 0
    no_state: bool = False
    #: Where state is read: ``before-tx`` (exact, the default), ``block`` (block start) or ``none``
    #: (:mod:`toolkit.protocols.enrichment`); ``no_state`` means ``none``.
    state: str = "before-tx"
    address: str | None = None
    deployment: str | None = None
    #: Most blocks per ``eth_getLogs`` request (and per committed chunk); None lets the reader adapt.
    blocks_per_request: int | None = None
    #: Seconds one HTTP request to the node may take (a slower answer is retried).
    rpc_timeout: float = 30.0
    #: Seconds to wait for another pull holding the store's write lock (0: fail at once, exit 5).
    lock_wait: float = 0.0
    #: How each ``eth_getLogs`` answer is proven complete before it is stored (:mod:`toolkit.chain.completeness`):
    #: ``bloom`` (result caps and block blooms), ``receipts`` (and receipts), ``none`` (the node is trusted).
    verify: str = "bloom"

    def redacted_args(self) -> dict[str, Any]:
        """The request as JSON-ready values with the RPC URL redacted (recorded in ``runs.args_json``)."""
        args = asdict(self)
        args["rpc_url"] = redact_url(self.rpc_url)
        args["store_path"] = str(self.store_path)
        args["since"] = self.since.isoformat() if self.since else None
        return args

    def validate(self) -> None:
        """Raise :class:`UserInputError` for values no pull accepts."""
        if self.from_block is not None and self.from_block < 0:
            raise UserInputError("--from-block must be a block number >= 0")
        if self.from_block is not None and self.since is not None:
            raise UserInputError("pass either --from-block or --since, not both")
        if self.confirmations < 0:
            raise UserInputError("--confirmations must be >= 0")
        if self.blocks_per_request is not None and self.blocks_per_request < 1:
            raise UserInputError("--blocks-per-request must be >= 1")
        if not self.rpc_timeout > 0:
            raise UserInputError("--rpc-timeout must be a number of seconds > 0")
        if self.lock_wait < 0:
            raise UserInputError("--wait must be a number of seconds >= 0")
        if self.state not in STATE_MODES:
            raise UserInputError(f"--state must be one of {', '.join(STATE_MODES)}, not {self.state!r}")
        problem = url_problem(self.rpc_url)
        if problem is not None:
            raise UserInputError(f"the RPC URL {redact_url(self.rpc_url)} is not usable: {problem}; pass "
                                 f"--rpc http(s)://host[:port]/... or set {registry().chain(self.chain).rpc_env}")
        if self.verify not in VERIFY_MODES:
            raise UserInputError(f"--verify must be one of {', '.join(VERIFY_MODES)}, not {self.verify!r}")

    @property
    def state_mode(self) -> str:
        """``before-tx``, ``block`` or ``none`` (``--no-state``)."""
        return "none" if self.no_state else self.state


@dataclass
class DeploymentResult:
    """What one pull did for one deployment: the blocks it read (inclusive), rows, chunks, repairs."""

    protocol: str
    deployment: str
    from_block: int | None = None
    to_block: int | None = None
    rows_added: int = 0
    chunks: int = 0
    #: One dict per repaired reorganization: ``detected_at``, ``reason``, ``rewound_to``, ``rows_deleted``.
    reorgs: list[dict[str, Any]] = field(default_factory=list)
    #: Rows committed per ``state_position`` and per ``state_check`` (empty without state reads).
    state_positions: dict[str, int] = field(default_factory=dict)
    state_checks: dict[str, int] = field(default_factory=dict)
    #: Logs of discovered markets the adapter does not decode: ``emitter``, ``tx_hash``, ``log_index``, ``error``.
    undecoded: list[dict[str, Any]] = field(default_factory=list)

    @property
    def rows_deleted(self) -> int:
        return sum(r["rows_deleted"] for r in self.reorgs)


@dataclass
class PullResult:
    """Outcome of one pull: ``status`` is ``ok`` (the store changed), ``nothing_new`` or ``partial``."""

    run_id: str
    status: str
    chain_id: int
    to_block: int
    deployments: list[DeploymentResult] = field(default_factory=list)
    #: The run report stored in ``runs.report_json`` (see :func:`run_report`).
    report: dict[str, Any] = field(default_factory=dict)

    @property
    def rows_added(self) -> int:
        return sum(d.rows_added for d in self.deployments)


#: ``progress(blocks_done, blocks_total, rows_added)`` after every committed chunk.
ProgressCallback = Callable[[int, int, int], None]


def _named(deployments: list[Deployment], request: PullRequest) -> list[Deployment]:
    """The deployments to read; :class:`UserInputError` when ``--deployment`` names none of them."""
    if not deployments and request.deployment and not request.address:
        raise UserInputError(f"no {request.protocol} market {request.deployment!r} on {request.chain} in the registry "
                             "or among the markets its registry contracts list; run `liqtk protocols`")
    return deployments


def resolve_deployments(request: PullRequest) -> list[Deployment]:
    """Registry entries named by the request (``--address`` makes a custom one); templates are expanded
    with their markets by :func:`toolkit.protocols.discovery.discover` at the pull's bound."""
    found = registry().find(request.chain, request.protocol, request.deployment if not request.address else None)
    if request.address:
        return [found[0].with_address(request.address)]
    return found


def run_report(request: PullRequest, *, status: str, started_at: datetime, seconds: float, to_block: int,
               deployments: list[DeploymentResult], rpc: dict[str, Any], error: str | None,
               notices: list[str] | None = None,
               discovery: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """The JSON run report kept in ``runs.report_json`` and shown by ``liqtk status``: when the run
    started and finished, the bound, the blocks read and rows added per deployment, the reorganizations
    repaired, the logs of discovered markets set aside because they do not decode (``undecoded``), the
    markets the registries listed (``discovery``), the requests, retries and faults met
    (:class:`~toolkit.chain.rpc.RpcStats`), and the error that ended it. Nothing in it holds the RPC URL."""
    return {
        "started_at": started_at.isoformat(timespec="seconds"),
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "seconds": round(seconds, 3),
        "status": status,
        "chain": request.chain,
        "protocol": request.protocol,
        "bound": {"to": request.to, "confirmations": request.confirmations, "to_block": to_block},
        "verify": request.verify,
        "rows_added": sum(d.rows_added for d in deployments),
        "deployments": [{**asdict(d), "rows_deleted": d.rows_deleted} for d in deployments],
        "undecoded": sum(len(d.undecoded) for d in deployments),
        "discovery": discovery or [],
        "rpc": rpc,
        "state": {"mode": request.state_mode, "notices": list(notices or [])},
        "errors": [error] if error else [],
    }


@contextmanager
def _pull_runtime() -> Iterator[None]:
    """Garbage-collector settings for the ``with`` block of a pull, restored after it (unless changed meanwhile).

    * The garbage collector's first threshold (allocations between young collections) is raised to
      :data:`YOUNG_COLLECTION_EVERY`. A pull whose answers are parsed as JSON (state reads, declined
      answers) allocates a dict and a list per log and forms no reference cycles on its hot path; at the
      default threshold (700) a young collection runs every few hundred logs and traverses every
      container still alive -- a tenth of a dense pull's time spent finding no garbage.
    * Everything alive when the pull starts (imported modules, the caller's objects) is moved out of the
      collector's sight (``gc.freeze``, undone at the end): the occasional full collection then does not
      traverse it again. Measured on bench/bench_pull.py's 100,000 logs in a warm process: 0.05-0.1 s.
    """
    saved_threshold = gc.get_threshold()
    ours = (max(saved_threshold[0], YOUNG_COLLECTION_EVERY), *saved_threshold[1:])
    gc.set_threshold(*ours)
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()
        if gc.get_threshold() == ours:
            gc.set_threshold(*saved_threshold)


async def pull_async(request: PullRequest, progress: ProgressCallback | None = None,
                     notice: Callable[[str], None] | None = None) -> PullResult:
    """Run one pull (see the module docstring). Raises :class:`ToolkitError` subclasses on failure.

    ``notice(text)`` is called once with each fallback of the whole pull (the node has no
    ``debug_traceTransaction``, refuses state overrides, ...); by default it is printed to stderr.
    """
    with _pull_runtime():
        try:
            shown = notice or _print_notice
            return await _pull(request, progress, lambda text: shown(scrub(text, request.rpc_url)))
        except BaseException as error:  # a provider may echo the URL's secrets: none reaches a traceback
            raise scrub_exception(error, request.rpc_url)


def _print_notice(text: str) -> None:
    sys.stderr.write(f"notice: {text}\n")


async def _pull(request: PullRequest, progress: ProgressCallback | None, notice: Callable[[str], None]) -> PullResult:
    request.validate()
    deployments = resolve_deployments(request)
    # An existing store is validated before any network work; a new one is created only once the
    # node has been checked, so bad input never leaves a store behind.
    store = Store(request.store_path, create=False) if request.store_path.exists() else None
    started_at, started = datetime.now(UTC), time.monotonic()
    hint = f"check --rpc or {registry().chain(request.chain).rpc_env}"
    async with RpcClient(request.rpc_url, unreachable_hint=hint, timeout=request.rpc_timeout) as client:
        chain_id, client_version = await client.identity()
        expected = deployments[0].chain.chain_id
        if chain_id != expected:
            raise WrongChainError(
                f"the node at {client.redacted_url} serves chain id {chain_id}, but {request.chain} is chain id "
                f"{expected}; point --rpc at a {request.chain} node or choose the matching --chain"
            )
        headers = BlockHeaders(client)
        to_block = await headers.resolve_bound(request.to, request.confirmations)
        # markets the registries list up to the bound, before any log of the range is read (nothing written yet)
        found = await discover(deployments, client, chain_id=chain_id, bound=to_block,
                               cached=discovered.load(store, chain_id), from_block=request.from_block)
        deployments = _named(found.deployments(None if request.address else request.deployment), request)
        store = store or Store(request.store_path)
        run_id = new_run_id()
        with store.writer(wait=request.lock_wait) as writer:
            writer.start_run(
                run_id=run_id, command="pull", args_json=json.dumps(request.redacted_args(), sort_keys=True),
                rpc_host=client.redacted_url, chain_id=chain_id, protocol=request.protocol,
                deployment=",".join(d.name for d in deployments), from_block=request.from_block,
                to_block=to_block, node_client_version=client_version,
                package_version=__version__, git_commit=git_commit(),
            )
            discovered.save(writer, found, run_id)
            state = None if request.state_mode == "none" else StateSession(client, headers, request.state_mode,
                                                                            notify=notice)
            session = _PullSession(request, store, writer, client, headers, chain_id, to_block, run_id, progress, state)
            session.discovered = found.discovered_emitters()
            error: ToolkitError | None = None
            try:
                for deployment in deployments:
                    await session.pull_deployment(deployment)
            except ToolkitError as exc:
                error = exc
            results = session.results
            changed = any(d.rows_added or d.rows_deleted for d in results)
            if error is None:
                status = "ok" if changed else "nothing_new"
            else:
                status = "partial" if any(d.chunks for d in results) else "failed"
            message = scrub(str(error), request.rpc_url) if error else None  # what the store keeps
            report = run_report(request, status=status, started_at=started_at, seconds=time.monotonic() - started,
                                to_block=session.to_block, deployments=results, rpc=client.stats.as_dict(),
                                error=message, discovery=found.report(),
                                notices=state.features.notices if state is not None else None)
            try:
                writer.finish_run(run_id=run_id, status=status, rows_added=report["rows_added"],
                                  report_json=json.dumps(report, sort_keys=True, default=str), error=message)
            except StoreError as unrecorded:  # e.g. a full disk: what was committed stays committed
                if not any(d.chunks for d in results):
                    raise (error or unrecorded) from None
                raise PullInterrupted(f"{error or 'every chunk was committed'}; the run's end could not be recorded "
                                      f"({unrecorded}) (committed chunks are kept; run the pull again to resume)"
                                      ) from unrecorded
            if error is not None:
                if status == "partial":
                    raise PullInterrupted(f"{error} (committed chunks are kept; run the pull again to resume)") from error
                raise error
    return PullResult(run_id=run_id, status=status, chain_id=chain_id, to_block=session.to_block,
                      deployments=results, report=report)


class _PullSession:
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


def pull(chain: str | int, protocol: str, *, rpc: str | None = None, store: str | Path | None = None,
         from_block: int | None = None, since: datetime | None = None, to: str | int = "finalized",
         confirmations: int = 0, no_state: bool = False, state: str = "before-tx", address: str | None = None,
         market: str | None = None, blocks_per_request: int | None = None, rpc_timeout: float = 30.0,
         wait: float = 0.0, verify: str = "bloom", progress: ProgressCallback | None = None,
         notice: Callable[[str], None] | None = None) -> PullResult:
    """Pull liquidations of ``protocol`` on ``chain`` into the store, as ``liqtk pull`` does (``toolkit.pull``;
    module docstring). Arguments are the command's options by the same names (docs/conventions.md):

    Args:
        chain: registry name (``"ethereum"``) or chain id (``1``).
        protocol: protocol id (``"aave-v3"``; ``liqtk protocols`` lists them).
        rpc: JSON-RPC URL; default the chain's variable (``LIQTK_RPC_ETHEREUM`` for ethereum). Never stored.
        store: store file; default :func:`toolkit.store.location.default_store_path`.
        from_block: first block (first pull only; later pulls resume from the checkpoint).
        since: first block at or after this UTC time (first pull only).
        to: last block: ``"finalized"`` (default), ``"safe"``, ``"latest"`` or a block number.
        confirmations: with ``to="latest"``, stay this many blocks behind the head.
        no_state: skip the ``eth_call`` state reads (no archive node needed; state columns stay null).
        state: where state is read: ``"before-tx"`` (right before each liquidation's transaction), ``"block"``
            (the start of its block) or ``"none"`` (:mod:`toolkit.protocols.enrichment`).
        address: pool address of a fork or custom deployment of ``protocol``.
        market: only this market (deployment) of the protocol.
        blocks_per_request: most blocks per ``eth_getLogs`` request and chunk (default: adaptive).
        rpc_timeout: seconds one request may take before it is retried.
        wait: seconds to wait for another pull that holds the store (then :class:`~toolkit.errors.StoreLockedError`).
        verify: how each ``eth_getLogs`` answer is proven complete: ``"bloom"`` (default), ``"receipts"``, ``"none"``
            (:mod:`toolkit.chain.completeness`).
        progress: ``progress(blocks_done, blocks_total, rows_added)``, called after each chunk.
        notice: called once with each fallback of the whole pull (default: printed to stderr).

    Returns:
        The run's :class:`PullResult`: ``status`` ``ok`` (the store changed) or ``nothing_new``, rows added,
        blocks read per deployment.
    """
    from toolkit.settings import chain_name_of, resolve_rpc_url, resolve_store_path

    chain = chain_name_of(chain, "chain")
    request = PullRequest(chain=chain, protocol=protocol, rpc_url=resolve_rpc_url(chain, rpc),
                          store_path=resolve_store_path(store), from_block=from_block, since=since, to=to,
                          confirmations=confirmations, no_state=no_state, state=state, address=address,
                          deployment=market, blocks_per_request=blocks_per_request, rpc_timeout=rpc_timeout,
                          lock_wait=wait, verify=verify)
    return run_blocking(pull_async(request, progress, notice))
