"""``pull``: liquidation logs from a node into the store, chunk by chunk, resumable and idempotent.

Data flows one way: :mod:`toolkit.chain` reads logs, headers and state from the node,
:mod:`toolkit.protocols` decodes and enriches them, :mod:`toolkit.store` commits them.

Contract (dlt-style incremental cursor, shared/reference/engineering.md §1.6, §2.5-2.6):

* Block ranges are half-open internally ([start, end)); the checkpoint stores the last block
  (inclusive) whose logs are all stored, with its hash.
* Each chunk's rows, the headers of their blocks and the checkpoint are committed in ONE store
  transaction, in block order, so a pull killed at any moment resumes to the identical table.
* The upper bound is the node's ``finalized`` block by default, so nothing that can still be
  reorganized is written; ``--to latest`` with ``--confirmations N`` trades that for freshness.
* On resume the stored checkpoint hash is compared with the node's; when they differ the store is
  rewound to the newest stored block whose hash still matches, and that range is read again.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import toolkit
from toolkit.chain.blocks import BlockHeaders
from toolkit.chain.calls import StateReader
from toolkit.chain.logs import LogFilter, LogReader
from toolkit.chain.rpc import RpcClient
from toolkit.errors import ToolkitError, UserInputError
from toolkit.protocols import adapter_for, registry
from toolkit.protocols.registry import Deployment
from toolkit.redact import redact_url
from toolkit.store.db import Store
from toolkit.store.provenance import git_commit, new_run_id


T = TypeVar("T")


class WrongChainError(ToolkitError):
    """The node serves another chain than the deployment's."""


class PullInterrupted(ToolkitError):
    """Some chunks were committed, then the pull stopped; the next pull resumes."""

    exit_code = 4


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
    address: str | None = None
    deployment: str | None = None
    #: Most blocks per ``eth_getLogs`` request (and per committed chunk); None lets the reader adapt.
    blocks_per_request: int | None = None

    def redacted_args(self) -> dict[str, Any]:
        args = asdict(self)
        args["rpc_url"] = redact_url(self.rpc_url)
        args["store_path"] = str(self.store_path)
        args["since"] = self.since.isoformat() if self.since else None
        return args


@dataclass
class DeploymentResult:
    protocol: str
    deployment: str
    from_block: int
    to_block: int
    rows_added: int = 0
    chunks: int = 0
    rewound_to: int | None = None


@dataclass
class PullResult:
    """Outcome of one pull: ``status`` is ``ok`` (rows added), ``nothing_new`` or ``partial``."""

    run_id: str
    status: str
    chain_id: int
    to_block: int
    deployments: list[DeploymentResult] = field(default_factory=list)
    report: dict[str, Any] = field(default_factory=dict)

    @property
    def rows_added(self) -> int:
        return sum(d.rows_added for d in self.deployments)


#: ``progress(blocks_done, blocks_total, rows_added)`` after every committed chunk.
ProgressCallback = Callable[[int, int, int], None]


def resolve_deployments(request: PullRequest) -> list[Deployment]:
    """Registry entries named by the request (``--address`` makes a custom one)."""
    found = registry().find(request.chain, request.protocol, request.deployment if not request.address else None)
    if request.address:
        return [found[0].with_address(request.address)]
    return found


async def pull_async(request: PullRequest, progress: ProgressCallback | None = None) -> PullResult:
    """Run one pull (see the module docstring). Raises :class:`ToolkitError` subclasses on failure."""
    if request.from_block is not None and request.from_block < 0:
        raise UserInputError("--from-block must be a block number >= 0")
    if request.confirmations < 0:
        raise UserInputError("--confirmations must be >= 0")
    if request.blocks_per_request is not None and request.blocks_per_request < 1:
        raise UserInputError("--blocks-per-request must be >= 1")
    deployments = resolve_deployments(request)
    # An existing store is validated before any network work; a new one is created only once the
    # node has been checked, so bad input never leaves a store behind.
    store = Store(request.store_path, create=False) if request.store_path.exists() else None
    started = time.monotonic()
    hint = f"check --rpc or {registry().chain(request.chain).rpc_env}"
    async with RpcClient(request.rpc_url, unreachable_hint=hint) as client:
        chain_id = await client.chain_id()
        expected = deployments[0].chain.chain_id
        if chain_id != expected:
            raise WrongChainError(
                f"the node at {client.redacted_url} serves chain id {chain_id}, but {request.chain} is chain id "
                f"{expected}; point --rpc at a {request.chain} node or choose the matching --chain"
            )
        client_version = await client.client_version()
        headers = BlockHeaders(client)
        to_block = await headers.resolve_bound(request.to, request.confirmations)
        store = store or Store(request.store_path)
        run_id = new_run_id()
        result = PullResult(run_id=run_id, status="nothing_new", chain_id=chain_id, to_block=to_block)
        with store.writer() as writer:
            writer.start_run(
                run_id=run_id, command="pull", args_json=json.dumps(request.redacted_args(), sort_keys=True),
                rpc_host=client.redacted_url, chain_id=chain_id, protocol=request.protocol,
                deployment=",".join(d.name for d in deployments), from_block=request.from_block,
                to_block=to_block, node_client_version=client_version,
                package_version=toolkit.__version__, git_commit=git_commit(),
            )
            error: ToolkitError | None = None
            try:
                for deployment in deployments:
                    outcome = await _pull_deployment(request, deployment, store, writer, client, headers,
                                                     to_block, run_id, progress)
                    result.deployments.append(outcome)
            except ToolkitError as exc:
                error = exc
            result.report = {
                "seconds": round(time.monotonic() - started, 3),
                "rpc": client.stats.as_dict(),
                "deployments": [asdict(d) for d in result.deployments],
            }
            if error is None:
                result.status = "ok" if result.rows_added else "nothing_new"
            else:
                result.status = "partial" if any(d.chunks for d in result.deployments) else "failed"
            writer.finish_run(run_id=run_id, status=result.status, rows_added=result.rows_added,
                              report_json=json.dumps(result.report, sort_keys=True),
                              error=str(error) if error else None)
            if error is not None:
                if result.status == "partial":
                    raise PullInterrupted(f"{error} (committed chunks are kept; run the pull again to resume)") from error
                raise error
    return result


async def _start_block(request: PullRequest, deployment: Deployment, store: Store, writer: Any,
                       headers: BlockHeaders, chain_id: int) -> tuple[int, int | None]:
    """First block to read and, when a reorg was repaired, the block the store was rewound to."""
    checkpoint = store.checkpoint(chain_id, deployment.protocol, deployment.name)
    if checkpoint is None:
        if request.from_block is not None:
            return request.from_block, None
        if request.since is not None:
            return await headers.first_block_at_or_after(int(request.since.timestamp())), None
        return deployment.start_block, None
    if request.from_block is not None and request.from_block > checkpoint.last_block + 1:
        raise UserInputError(
            f"the store covers {deployment.protocol}/{deployment.name} up to block {checkpoint.last_block}; "
            f"--from-block {request.from_block} would leave a gap; omit --from-block to resume"
        )
    node_hash = (await headers.get([checkpoint.last_block]))[checkpoint.last_block].hash
    if node_hash == checkpoint.last_block_hash:
        return checkpoint.last_block + 1, None
    stored = store.block_hashes(chain_id, range(checkpoint.first_block, checkpoint.last_block + 1))
    on_node = await headers.get(sorted(stored), refresh=True)
    good = max((n for n, h in stored.items() if on_node[n].hash == h), default=checkpoint.first_block - 1)
    good_hash = on_node[good].hash if good in on_node else None
    writer.rewind(chain_id=chain_id, protocol=deployment.protocol, deployment=deployment.name,
                  to_block=good, to_block_hash=good_hash)
    return good + 1, good


async def _pull_deployment(request: PullRequest, deployment: Deployment, store: Store, writer: Any,
                           client: RpcClient, headers: BlockHeaders, to_block: int, run_id: str,
                           progress: ProgressCallback | None) -> DeploymentResult:
    chain_id = deployment.chain.chain_id
    start, rewound = await _start_block(request, deployment, store, writer, headers, chain_id)
    outcome = DeploymentResult(deployment.protocol, deployment.name, start, to_block, rewound_to=rewound)
    if start > to_block:
        return outcome
    first_block = store.checkpoint(chain_id, deployment.protocol, deployment.name)
    first_block = first_block.first_block if first_block else start
    adapter = adapter_for(deployment)
    state = StateReader(client)
    log_filter = LogFilter(addresses=deployment.emitters, topics0=adapter.topics0(deployment))
    total = to_block + 1 - start
    span = request.blocks_per_request
    reader = LogReader(client) if span is None else LogReader(client, initial_span=span, max_span=span)
    async for chunk in reader.iter_chunks(log_filter, start, to_block + 1):
        rows = adapter.decode_logs(chunk.logs, deployment)
        failed = next((r for r in rows if "error" in r), None)
        if failed is not None:
            raise ToolkitError(
                f"log {failed['log_index']} of transaction {failed['tx_hash']} from a {deployment.protocol} emitter "
                f"does not decode: {failed['error']}; check --protocol/--address, or report it if the address is right"
            )
        if rows and not request.no_state:
            await adapter.enrich(rows, deployment, state)
        last = chunk.end - 1
        block_headers = await headers.get(sorted({r["block_number"] for r in rows} | {last}))
        for row in rows:
            header = block_headers[row["block_number"]]
            if header.hash != row["block_hash"]:
                raise ToolkitError(
                    f"block {row['block_number']} changed while it was read (reorganization); run the pull again"
                )
            row["block_timestamp"] = datetime.fromtimestamp(header.timestamp, UTC)
        outcome.rows_added += writer.commit_chunk(
            chain_id=chain_id, protocol=deployment.protocol, deployment=deployment.name,
            first_block=first_block, chunk_start=chunk.start, chunk_end=last, rows=rows,
            blocks=[{"chain_id": chain_id, "block_number": h.number, "block_hash": h.hash,
                     "parent_hash": h.parent_hash, "block_timestamp": datetime.fromtimestamp(h.timestamp, UTC)}
                    for h in block_headers.values()],
            last_block_hash=block_headers[last].hash, run_id=run_id,
        )
        outcome.chunks += 1
        if progress is not None:
            progress(chunk.end - start, total, outcome.rows_added)
    return outcome


def pull(chain: str, protocol: str, *, rpc: str | None = None, store: str | Path | None = None,
         from_block: int | None = None, since: datetime | None = None, to: str | int = "finalized",
         confirmations: int = 0, no_state: bool = False, address: str | None = None,
         blocks_per_request: int | None = None, progress: ProgressCallback | None = None) -> PullResult:
    """Pull liquidations of ``protocol`` on ``chain`` into the store (see :mod:`toolkit.pipeline`).

    ``rpc`` defaults to the chain's environment variable (``LIQTK_RPC_ETHEREUM`` for ethereum);
    ``store`` to :func:`toolkit.store.location.default_store_path`.
    """
    from toolkit.settings import resolve_rpc_url, resolve_store_path

    request = PullRequest(chain=chain, protocol=protocol, rpc_url=resolve_rpc_url(chain, rpc),
                          store_path=resolve_store_path(store), from_block=from_block, since=since, to=to,
                          confirmations=confirmations, no_state=no_state, address=address,
                          blocks_per_request=blocks_per_request)
    return run_blocking(pull_async(request, progress))


def run_blocking(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run ``coroutine`` to completion from synchronous code, also inside Jupyter.

    Jupyter already runs an event loop in the notebook's thread, where ``asyncio.run`` is refused;
    the coroutine then runs on its own loop in a worker thread.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()
