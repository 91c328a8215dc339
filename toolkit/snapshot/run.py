"""``liqtk positions`` / :func:`toolkit.positions`: every open borrow position of a deployment at a block, stored.

For each deployment of the request (:func:`snapshot_async`):

1. the block is resolved (a number, ``latest``, ``safe`` or ``finalized``) with its hash and timestamp; the node
   must serve the deployment's chain;
2. the base: the latest complete snapshot of the deployment below the block (none: a full snapshot). A snapshot
   of this block already complete is not taken again (``nothing_new``); a partial one (a run killed midway)
   resumes with its own base;
3. the market state at the block (:mod:`toolkit.snapshot.model`), then the protocol's events from the base's block
   + 1 (or the deployment's start block) to the block, read with the pulls' log reader (:class:`LogReader`:
   adaptive range splitting, retries, provider limits learned), which say who borrowed and who was touched;
4. the accounts to read at the block: those that borrowed in the range, those of the base touched in it, and
   those whose debt grows by itself (Aave stable debt); the base's other accounts are carried: their composition
   is kept, their values computed again at the block;
5. carried, then read accounts, in sorted order, in batches of ``batch_accounts``: each batch's rows and the count
   of accounts done are committed together (:mod:`toolkit.store.positions`), so a killed snapshot resumes after its
   last batch to the same rows;
6. the first :data:`CHECK_ACCOUNTS` re-read accounts with debt are checked against the protocol's own account view
   where the family has one (Aave ``getUserAccountData``: collateral, debt and health factor must be equal); a
   difference is a warning, not an error;
7. the snapshot is marked complete with its ``rules``: how the values were computed and checked.

Reads go through :func:`toolkit.snapshot.reads.state_reader`: the toolkit's reader contract, many view calls in
one ``eth_call`` where the node takes state overrides, else JSON-RPC batches of ``eth_call``; at the block only
(Compound: also an index at an earlier block when its logs do not show it). The run is recorded in ``runs`` (command
``positions``) with the redacted RPC host.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from fractions import Fraction
from pathlib import Path
from typing import Any

from toolkit._version import __version__
from toolkit.chain.blocks import BlockHeaders
from toolkit.chain.logs import LogReader
from toolkit.chain.logtable import log_dicts
from toolkit.chain.rpc import RpcClient
from toolkit.errors import ToolkitError, UserInputError
from toolkit.protocols.discovery import discover
from toolkit.protocols.registry import Deployment, registry
from toolkit.pull_request import WrongChainError
from toolkit.redact import redact_url
from toolkit.snapshot.families import family_for
from toolkit.snapshot.model import Composition, Discovery, Holding, Key, MarketState, SnapshotFamily
from toolkit.snapshot.reads import state_reader
from toolkit.store import discovered
from toolkit.store import positions as stored
from toolkit.store.db import Store, Writer
from toolkit.store.provenance import git_commit, new_run_id

#: ``progress(deployment, phase, done, total)``: phases ``scan`` (blocks) and ``accounts``.
Progress = Callable[[str, str, int, int], None]


@dataclass(frozen=True)
class SnapshotRequest:
    """What to snapshot: ``block`` is a number or ``latest``/``safe``/``finalized``."""

    chain: str
    protocol: str
    rpc_url: str
    store_path: Path
    block: int | str = "finalized"
    deployment: str | None = None
    address: str | None = None
    batch_accounts: int = 500
    rpc_timeout: float = 30.0
    lock_wait: float = 0.0

    def validate(self) -> None:
        if self.batch_accounts < 1:
            raise UserInputError(f"--batch-accounts must be >= 1, got {self.batch_accounts}")
        if not self.rpc_timeout > 0:
            raise UserInputError("--rpc-timeout must be a number of seconds > 0")

    def redacted_args(self) -> dict[str, Any]:
        args = asdict(self)
        args.update(rpc_url=redact_url(self.rpc_url), store_path=str(self.store_path))
        return args


@dataclass
class SnapshotOutcome:
    """What one deployment's snapshot did."""

    snapshot_id: str
    protocol: str
    deployment: str
    status: str
    base_snapshot_id: str | None = None
    scanned_from_block: int | None = None
    accounts_read: int = 0
    accounts_carried: int = 0
    positions: int = 0
    #: Which reader answered the view calls: ``reader contract`` or ``eth_call batches``.
    reader: str | None = None
    #: How the values were computed and checked (``position_snapshots.rules``).
    rules: str | None = None
    #: Accounts whose replicated totals differ from the protocol's own view (one line each).
    warnings: list[str] = field(default_factory=list)


@dataclass
class SnapshotResult:
    """A run of ``liqtk positions``: ``status`` ``ok`` (a snapshot was written) or ``nothing_new``."""

    run_id: str
    chain_id: int
    block_number: int
    block_hash: str
    block_timestamp: datetime
    status: str
    outcomes: list[SnapshotOutcome] = field(default_factory=list)
    seconds: float = 0.0


def _carried(rows: Any) -> dict[Key, Composition]:
    """Compositions of a stored snapshot's rows (what an incremental snapshot carries)."""
    out: dict[Key, Composition] = {}
    for row in rows.itertuples(index=False):
        key = (row.market_id, row.account)
        composition = out.setdefault(key, Composition(row.market_id, row.account, int(row.read_block),
                                                      emode_category=int(row.emode_category or 0)))
        stable = None if row.stable_debt_raw is None or str(row.stable_debt_raw) in ("", "nan", "None") else int(
            row.stable_debt_raw)
        index = row.debt_index_raw
        composition.holdings[row.asset] = Holding(
            row.asset, bool(row.uses_as_collateral), int(row.collateral_balance_raw), int(row.debt_balance_raw),
            None if index is None or str(index) in ("", "nan", "None") else int(index), stable)
        composition.always_read |= bool(stable)
    return out


def usd_columns(row: dict[str, Any]) -> dict[str, Any]:
    """``price_usd``, ``collateral_usd``, ``debt_usd`` and ``health_factor`` of a row, each rounded once from exact
    integers."""
    price = Fraction(int(row["price_raw"]), int(row["price_unit_raw"]))
    usd = (Fraction(int(row["usd_per_currency_raw"]), int(row["usd_per_currency_unit_raw"]))
           if row.get("usd_per_currency_raw") and row.get("usd_per_currency_unit_raw") else None)
    scale = 10 ** int(row["decimals"])
    health = row.get("health_factor_raw")
    return {"price_usd": None if usd is None else float(price * usd),
            "collateral_usd": None if usd is None else float(Fraction(int(row["collateral_raw"]), scale) * price * usd),
            "debt_usd": None if usd is None else float(Fraction(int(row["debt_raw"]), scale) * price * usd),
            "health_factor": None if health is None else float(Fraction(int(health), 10**18))}


#: Re-read accounts per snapshot whose replicated totals are checked against the protocol's own view.
CHECK_ACCOUNTS = 8


class _Snapshot:
    """One deployment's snapshot (module docstring, steps 2-6)."""

    def __init__(self, request: SnapshotRequest, deployment: Deployment, client: RpcClient, store: Store,
                 writer: Writer, header: Any, run_id: str, progress: Progress | None) -> None:
        self.request, self.deployment, self.client, self.store, self.writer = (request, deployment, client, store,
                                                                              writer)
        self.header, self.run_id, self.progress = header, run_id, progress
        self.family: SnapshotFamily = family_for(deployment)
        self.state = state_reader(client)
        self.chain_id = deployment.chain.chain_id
        self.id = stored.snapshot_id(self.chain_id, deployment.protocol, deployment.name, header.number)

    def _report(self, phase: str, done: int, total: int) -> None:
        if self.progress is not None:
            self.progress(self.deployment.name, phase, done, total)

    async def run(self) -> SnapshotOutcome:
        d = self.deployment
        existing = stored.record(self.store, self.id)
        outcome = SnapshotOutcome(self.id, d.protocol, d.name, "nothing_new")
        if existing is not None and existing.status == "complete":
            outcome.base_snapshot_id, outcome.positions = existing.base_snapshot_id, existing.positions
            return outcome
        base_id = existing.base_snapshot_id if existing else None
        if existing is None:
            base = stored.base_for(self.store, self.chain_id, d.protocol, d.name, self.header.number)
            base_id = base.snapshot_id if base else None
        base_record = stored.record(self.store, base_id) if base_id else None
        carried = _carried(stored.read_positions(self.store, base_id)) if base_id else {}
        start = base_record.block_number + 1 if base_record else d.start_block
        block = self.header.number
        market = await self.family.market_state(d, self.state, block, carried)
        found = await self._scan(market, start, block)
        to_read = found.borrowers | (found.touched & carried.keys()) | {k for k, c in carried.items() if c.always_read}
        keep = sorted(carried.keys() - to_read)
        reading = sorted(to_read)
        if any(key[0] not in market.assets for key in reading):
            market = await self.family.market_state(d, self.state, block, [*keep, *reading])
        work = [(key, carried[key]) for key in keep] + [(key, None) for key in reading]
        if existing is None:
            stored.begin(self.writer, stored.SnapshotRecord(
                self.id, self.chain_id, d.protocol, d.name, block, self.header.hash,
                datetime.fromtimestamp(self.header.timestamp, UTC), base_id, start, 0, 0, 0, 0, "partial",
                self.run_id))
        done = existing.accounts_done if existing else 0
        size = self.request.batch_accounts
        checked = 0
        for first in range(done, len(work), size):
            batch = work[first:first + size]
            compositions = [c for _, c in batch if c is not None]
            fresh = [key for key, c in batch if c is None]
            if fresh:
                compositions += await self.family.compositions(d, self.state, market, fresh, found, carried)
            rows = []
            by_key: dict[Key, dict[str, Any]] = {}
            for composition in compositions:
                mine = self.family.rows(d, market, composition)
                if mine and composition.read_block == block:
                    by_key[composition.key] = mine[0]
                rows += [self._identity(row) for row in mine]
            if checked < CHECK_ACCOUNTS and by_key:
                checked += await self._check(market, dict(list(by_key.items())[:CHECK_ACCOUNTS - checked]),
                                             outcome)
            stored.commit_batch(self.writer, self.id, rows, first + len(batch))
            self.state.clear()  # a batch's answers are not asked for again: the reader's cache stays bounded
            self._report("accounts", first + len(batch), len(work))
        outcome.rules = market.rules + (f"; {checked} re-read accounts checked against the protocol's own account "
                                        f"view, {len(outcome.warnings)} differ" if checked else "")
        outcome.rules += "".join(f"; {line}" for line in outcome.warnings)
        outcome.positions = stored.complete(self.writer, self.id, accounts_read=len(reading),
                                            accounts_carried=len(keep), rules=outcome.rules)
        outcome.status, outcome.base_snapshot_id, outcome.scanned_from_block = "complete", base_id, start
        outcome.accounts_read, outcome.accounts_carried = len(reading), len(keep)
        outcome.reader = self.state.mode
        return outcome

    async def _check(self, market: MarketState, rows: dict[Key, dict[str, Any]], outcome: SnapshotOutcome) -> int:
        """Compare the replicated account totals of ``rows`` (one row per account) with the protocol's own view
        when the family can ask for it; returns how many accounts were checked."""
        check = getattr(self.family, "check", None)
        if check is None:
            return 0
        answers = await check(self.deployment, self.state, market.block, list(rows))
        for key, (collateral, debt, health) in answers.items():
            row = rows[key]
            ours = (int(row["account_collateral_raw"]), int(row["account_debt_raw"]), int(row["health_factor_raw"]))
            if ours != (collateral, debt, health):
                outcome.warnings.append(f"{key[1]} in {key[0]}: replicated (collateral, debt, HF) {ours} but the "
                                        f"protocol answers {(collateral, debt, health)} at block {market.block}")
        return len(answers)

    async def _scan(self, market: Any, start: int, block: int) -> Discovery:
        """Step 3: the events of blocks ``[start, block]``."""
        found = Discovery()
        if start > block:
            return found
        reader = LogReader(self.client)
        flt = self.family.log_filter(self.deployment, market)
        async for chunk in reader.iter_chunks(flt, start, block + 1):
            self.family.scan(log_dicts(chunk.logs), self.deployment, found)
            self._report("scan", chunk.end - start, block + 1 - start)
        return found

    def _identity(self, row: dict[str, Any]) -> dict[str, Any]:
        return {"snapshot_id": self.id, "chain_id": self.chain_id, "protocol": self.deployment.protocol,
                "deployment": self.deployment.name, "block_number": self.header.number,
                "block_hash": self.header.hash, "block_timestamp": datetime.fromtimestamp(self.header.timestamp, UTC),
                **row, **usd_columns(row), "run_id": self.run_id}


async def snapshot_async(request: SnapshotRequest, progress: Progress | None = None) -> SnapshotResult:
    """Take (or resume, or find) the snapshot of every deployment of ``request`` (module docstring)."""
    request.validate()
    deployments = registry().requested(request.chain, request.protocol, request.deployment, request.address)
    for deployment in deployments:
        family_for(deployment)
    store = Store(request.store_path, create=False) if request.store_path.exists() else None
    began = time.monotonic()
    hint = f"check --rpc or {registry().chain(request.chain).rpc_env}"
    async with RpcClient(request.rpc_url, unreachable_hint=hint, timeout=request.rpc_timeout) as client:
        chain_id, version = await client.identity()
        expected = deployments[0].chain.chain_id
        if chain_id != expected:
            raise WrongChainError(f"the node at {client.redacted_url} serves chain id {chain_id}, but {request.chain} "
                                  f"is chain id {expected}; point --rpc at a {request.chain} node or choose the "
                                  "matching --chain")
        headers = BlockHeaders(client)
        number = await headers.resolve_bound(request.block)
        header = (await headers.get([number]))[number]
        # the markets the registries list at the block (templates: Aave pools, cTokens, ...), as a pull finds them
        markets = await discover(deployments, client, chain_id=chain_id, bound=number,
                                 cached=discovered.load(store, chain_id))
        deployments = markets.named(request.chain, request.protocol, request.deployment, request.address,
                                    required=True)
        store = store or Store(request.store_path)
        run_id = new_run_id()
        result = SnapshotResult(run_id, chain_id, number, header.hash, datetime.fromtimestamp(header.timestamp, UTC),
                                "nothing_new")
        with store.writer(wait=request.lock_wait) as writer:
            writer.start_run(run_id=run_id, command="positions", args_json=json.dumps(request.redacted_args()),
                             rpc_host=client.redacted_url, chain_id=chain_id, protocol=request.protocol,
                             deployment=",".join(d.name for d in deployments), from_block=None, to_block=number,
                             node_client_version=version, package_version=__version__,
                             git_commit=git_commit())
            discovered.save(writer, markets, run_id)
            error: ToolkitError | None = None
            try:
                for deployment in deployments:
                    result.outcomes.append(await _Snapshot(request, deployment, client, store, writer, header,
                                                           run_id, progress).run())
            except ToolkitError as exc:
                error = exc
            wrote = any(o.status == "complete" for o in result.outcomes)
            result.status = "failed" if error else "ok" if wrote else "nothing_new"
            result.seconds = round(time.monotonic() - began, 3)
            writer.finish_run(run_id=run_id, status=result.status, rows_added=0,
                              report_json=json.dumps({"outcomes": [asdict(o) for o in result.outcomes],
                                                      "block": number, "seconds": result.seconds}),
                              error=str(error) if error else None)
            if error is not None:
                raise error
    return result


async def snapshot_each(rpc_url: str, chain: str, targets: Iterable[tuple[str, str | None]], store_path: Path,
                        block: int) -> list[str]:
    """:func:`snapshot_async` of every ``(protocol, deployment)`` of ``targets`` at ``block``, in turn and once
    each (deployment None: all of the protocol's); the ids of the snapshots taken or found."""
    ids: list[str] = []
    for protocol, name in dict.fromkeys(targets):
        result = await snapshot_async(SnapshotRequest(chain=chain, protocol=protocol, deployment=name,
                                                      rpc_url=rpc_url, store_path=store_path, block=block))
        ids += [o.snapshot_id for o in result.outcomes]
    return ids


def snapshot(chain: str | int, protocol: str, *, rpc: str | None = None, store: str | Path | None = None,
             block: int | str = "finalized", market: str | None = None, address: str | None = None,
             batch_accounts: int = 500) -> SnapshotResult:
    """Synchronous :func:`snapshot_async` (also inside Jupyter); ``chain`` a name or chain id, ``rpc`` defaults to
    the chain's variable, ``market`` one deployment of the protocol."""
    from toolkit.aio import run_blocking
    from toolkit.settings import chain_name_of, resolve_rpc_url, resolve_store_path

    chain = chain_name_of(chain)
    request = SnapshotRequest(chain=chain, protocol=protocol, rpc_url=resolve_rpc_url(chain, rpc),
                              store_path=resolve_store_path(store), block=block, deployment=market,
                              address=address, batch_accounts=batch_accounts)
    return run_blocking(snapshot_async(request))
