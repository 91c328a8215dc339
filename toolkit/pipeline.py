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

import gc
import json
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from toolkit._version import __version__
from toolkit.aio import run_blocking
from toolkit.chain.blocks import BlockHeaders
from toolkit.chain.rpc import RpcClient
from toolkit.errors import StoreError, ToolkitError
from toolkit.protocols import registry
from toolkit.protocols.discovery import discover
from toolkit.protocols.enrichment import StateSession
# What a pull is asked and reports, and how one runs: importable from here as before the split.
from toolkit.pull_request import (ChainUnstable, DeploymentResult, ProgressCallback, PullInterrupted, PullRequest,
                                  PullResult, WrongChainError, resolve_deployments, run_report)
from toolkit.pull_session import (CHUNK_LOGS, COMMIT_INTERVAL, MAX_COMMIT_ROWS, MAX_REORG_REPAIRS, WALK_BACK_PAGE,
                                  PullSession)
from toolkit.redact import scrub, scrub_exception
from toolkit.store import discovered
from toolkit.store.db import Store
from toolkit.store.provenance import git_commit, new_run_id

__all__ = ["CHUNK_LOGS", "COMMIT_INTERVAL", "MAX_COMMIT_ROWS", "MAX_REORG_REPAIRS", "WALK_BACK_PAGE", "ChainUnstable",
           "DeploymentResult", "ProgressCallback", "PullInterrupted", "PullRequest", "PullResult", "WrongChainError",
           "pull", "pull_async", "resolve_deployments", "run_blocking", "run_report"]

#: Container allocations between young garbage collections during a pull (default 700).
YOUNG_COLLECTION_EVERY = 100_000


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
        deployments = found.named(request.chain, request.protocol, request.deployment, request.address)
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
            session = PullSession(request, store, writer, client, headers, chain_id, to_block, run_id, progress, state)
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
