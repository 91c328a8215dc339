"""Crash replays on a fork of a real chain (``liqtk replay --fork-url URL --fork-block N``): today's real positions,
parameters and contract code, driven along a crash's path.

:func:`replay_fork`:

1. checks the source node before anything is written (:func:`check_source`): it answers (else exit 1), serves the
   chain of ``--chain`` (else exit 2), has the fork block (else exit 2) and its state (an ``eth_getBalance`` at the
   block; a pruned node: exit 1);
2. starts anvil as a fork of it at the block (``anvil --fork-url URL --fork-block-number N``, the source's chain
   id) and takes the positions snapshot of every replayed deployment there (:mod:`toolkit.snapshot`), into the
   replay's store;
3. keeps the positions the replay can put on the venues too: collateral in the replayed asset's token (WETH or
   WBTC) and stable coins, debt in stable coins (:func:`fork_population`); the others stay on the fork untouched;
4. scales the crash path to the fork's own price of the asset (every price = fork price x path price / path's
   first price), gives the oracles of the replayed deployments their PathOracle code (:mod:`toolkit.crash.fork_driver`,
   "setting feed storage"), funds the keeper (:mod:`toolkit.crash.fork_keeper`);
5. for each step: the step's first block gets the fork block's timestamp plus :data:`SETUP_SECONDS` plus the step's
   time since the path's first (the path's own dates lie before a recent fork block), the oracles move, the keeper
   liquidates; then a final (incremental) snapshot values what is left, the liquidations are pulled with the same
   pipeline from the block after the fork, and the venue engines run as in :func:`toolkit.crash.run.replay`.

Everything is deterministic for a source, block and seed: anvil replays the same transactions from the same
state with the same timestamps. The manifest records the source's host only (:func:`source_host`), never its
path, query or key, with the fork block's number and hash.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from web3.types import RPCEndpoint

from toolkit.cex import PricePath
from toolkit.chain.errors import NoArchiveState
from toolkit.chain.rpc import RpcClient
from toolkit.compare.lending_levels import STABLES
from toolkit.crash.events import ASSET_TOKENS, PRICE_QUANTUM
from toolkit.crash.fork_driver import ForkOracles, view_call
from toolkit.crash.fork_keeper import ForkKeeper, ForkPosition
from toolkit.crash.keeper import PositionState
from toolkit.crash.population import Borrower
from toolkit.crash.storage import mine
from toolkit.crash.run import (FINALITY_BLOCKS, Plan, Progress, ReplayConfig, ReplayResult, Step, fresh_store, plan,
                               venue_runs)
from toolkit.errors import ToolkitError, UserInputError
from toolkit.protocols.discovery import expand_offline
from toolkit.protocols.registry import Deployment, registry
from toolkit.snapshot.families import MODULES
from toolkit.store import discovered
from toolkit.store import positions as stored
from toolkit.store.db import Store

#: Seconds between the fork block and the path's first step (room for the keeper's approvals).
SETUP_SECONDS = 3600
USDC_DECIMALS = 6


class ForkSourceError(ToolkitError):
    """The fork's source node cannot be used (unreachable, pruned)."""


@dataclass(frozen=True)
class ForkConfig:
    """A fork replay: the replay's arguments, the source node, the fork block, its chain and the protocols."""

    replay: ReplayConfig
    fork_url: str
    fork_block: int
    chain: str = "ethereum"
    protocols: tuple[str, ...] | None = None

    def to_json(self) -> dict[str, Any]:
        return {**self.replay.to_json(), "fork_url_host": source_host(self.fork_url), "fork_block": self.fork_block,
                "chain": self.chain, "protocols": list(self.protocols or ())}


def source_host(url: str) -> str:
    """``host[:port]`` of the source node: what the manifest keeps of its URL."""
    parts = urlsplit(url.strip())
    return f"{parts.hostname or ''}{f':{parts.port}' if parts.port else ''}"


@dataclass(frozen=True)
class ForkSource:
    chain_id: int
    block: int
    block_hash: str
    timestamp: int


async def check_source(config: ForkConfig) -> ForkSource:
    """Step 1 of the module docstring."""
    expected = registry().chain(config.chain).chain_id
    async with RpcClient(config.fork_url, unreachable_hint="check --fork-url", max_connect_retries=1,
                         max_retries=2, timeout=15) as client:
        chain_id = await client.chain_id()
        if chain_id != expected:
            raise UserInputError(f"--fork-url: the node at {client.redacted_url} serves chain id {chain_id}, but "
                                 f"--chain {config.chain} is chain id {expected}; pass the matching --chain or another "
                                 "node")
        head = int(await client.call("eth_blockNumber"), 16)
        if not 0 <= config.fork_block <= head:
            raise UserInputError(f"--fork-block: {config.fork_block} is not a block of the node at "
                                 f"{client.redacted_url} (head {head})")
        try:
            await client.call("eth_getBalance", ["0x" + "0" * 40, hex(config.fork_block)])
        except NoArchiveState:
            raise ForkSourceError(f"--fork-block: the node at {client.redacted_url} has no state at block "
                                  f"{config.fork_block} (pruned); fork an archive node or a recent block") from None
        block = await client.call("eth_getBlockByNumber", [hex(config.fork_block), False])
    return ForkSource(chain_id, config.fork_block, block["hash"], int(block["timestamp"], 16))


def fork_deployments(config: ForkConfig) -> list[Deployment]:
    """The replayed deployments: ``protocols`` (default: every one on the chain with a snapshot family)."""
    found = [d for d in registry().deployments if d.chain.name == config.chain]
    chosen = [d for d in found if (config.protocols is None and d.family.replace("-", "_") in MODULES)
              or (config.protocols is not None and d.protocol in config.protocols)]
    if not chosen:
        raise UserInputError(f"--protocols: no deployment to replay on {config.chain}; supported: "
                             f"{', '.join(sorted({d.protocol for d in found if d.family in MODULES}))}")
    return chosen


def _usd(row: Any, amount: str) -> Fraction:
    price = Fraction(int(row.price_raw), int(row.price_unit_raw))
    usd = Fraction(int(row.usd_per_currency_raw or 1), int(row.usd_per_currency_unit_raw or 1))
    return Fraction(int(amount), 10 ** int(row.decimals)) * price * usd


def fork_population(rows: Any, deployments: Sequence[Deployment], token: str, underlyings: dict[str, str]
                    ) -> tuple[list[Borrower], list[ForkPosition], dict[str, int], Fraction | None]:
    """Step 3: the snapshot's positions the replay keeps, as borrowers (for the venues and the report) and keeper
    positions; the debt to fund per token; the fork's USD price of ``token``."""
    by_name = {(d.protocol, d.name): d for d in deployments}
    borrowers: list[Borrower] = []
    positions: list[ForkPosition] = []
    debt_raw: dict[str, int] = {}
    price: Fraction | None = None
    for (protocol, name, market, account), mine in rows.groupby(["protocol", "deployment", "market_id", "account"],
                                                                 sort=True):
        volatile = mine[(mine["symbol"] == token) & mine["uses_as_collateral"].astype(bool)]
        others = mine[mine["symbol"] != token]
        if volatile.empty or not others["symbol"].str.upper().isin(STABLES).all() or (
                volatile["debt_raw"].astype(object).map(int).sum()):
            continue
        row = volatile.iloc[0]
        price = price or Fraction(int(row.price_raw), int(row.price_unit_raw)) * Fraction(
            int(row.usd_per_currency_raw or 1), int(row.usd_per_currency_unit_raw or 1))
        stables = others[others["uses_as_collateral"].astype(bool)]
        stable = sum((_usd(r, r.collateral_raw) for r in stables.itertuples()), Fraction(0))
        debt = sum((_usd(r, r.debt_raw) for r in others.itertuples()), Fraction(0))
        lt = Fraction(int(row.liquidation_threshold_raw), 10**18)
        stable_lt = max((Fraction(int(r.liquidation_threshold_raw), 10**18) for r in stables.itertuples()),
                        default=Fraction(0))
        health = Decimal(str(row.health_factor)) if row.health_factor == row.health_factor else Decimal(0)
        i = len(borrowers)
        borrowers.append(Borrower(i, protocol, account, token, int(row.collateral_raw),
                                  int(stable * 10**USDC_DECIMALS), int(debt * 10**USDC_DECIMALS), health,
                                  (lt, stable_lt)))
        debts = others[others["debt_raw"] != "0"]
        debt_tokens = tuple(underlyings.get(a, a) for a in debts["asset"])
        for token_address, amount in zip(debt_tokens, debts["debt_raw"], strict=True):
            debt_raw[token_address] = debt_raw.get(token_address, 0) + int(amount)
        positions.append(ForkPosition(i, protocol, by_name[(protocol, name)], market, account,
                                      (row.asset, *stables["asset"]), tuple(debts["asset"]), debt_tokens, token))
    return borrowers, positions, debt_raw, price


def scaled_paths(checked: Plan, price: Fraction) -> dict[str, PricePath]:
    """The path scaled to the fork's price of the replayed asset; the other asset keeps its own moves around its
    path price (both keyed as in :func:`toolkit.crash.events.load_paths`)."""
    base = next(iter(checked.paths[checked.asset].marks.values()))[0]
    factor = Decimal(price.numerator) / Decimal(price.denominator) / base
    out = {}
    for asset, path in checked.paths.items():
        scale = factor if asset == checked.asset else Decimal(1)
        out[asset] = PricePath(path.times, {k: tuple((p * scale).quantize(PRICE_QUANTUM) for p in series)
                                            for k, series in path.marks.items()})
    return out


@dataclass
class ForkRun:
    """What the chain part of a fork replay leaves behind."""

    borrowers: list[Borrower]
    steps: list[Step]
    keeper: ForkKeeper
    final: dict[int, PositionState]
    blocks: dict[str, Any]
    snapshots: list[str]
    paths: dict[str, PricePath]


def _set_time(w3: Any, stamp: int) -> None:
    w3.manager.request_blocking(RPCEndpoint("evm_setNextBlockTimestamp"), [stamp])


async def _snapshot(url: str, chain: str, deployments: Sequence[Deployment], store_path: Path, block: int
                    ) -> list[str]:
    from toolkit.snapshot import snapshot_each

    # a template (markets its registry contracts list) is snapshotted with every market it lists at the block
    return await snapshot_each(url, chain, [(d.protocol, None if d.discovery else d.name) for d in deployments],
                               store_path, block)


def _underlyings(w3: Any, deployments: Sequence[Deployment]) -> tuple[dict[str, str], dict[str, list[str]]]:
    """Every replayed cToken's underlying (cToken -> token) and each Compound deployment's cTokens."""
    from toolkit.protocols.compound_v2 import CTOKEN
    from toolkit.snapshot.compound import listed_ctokens

    underlyings, ctokens = {}, {}
    for d in deployments:
        if d.family != "compound_v2":
            continue
        ctokens[d.name] = listed_ctokens(d)
        natives = {m.lower() for m in d.params.get("native_markets", [])}
        for ctoken in ctokens[d.name]:
            if ctoken not in natives:
                underlyings[ctoken] = view_call(w3, ctoken, CTOKEN.fn("underlying"))[0].lower()
    return underlyings, ctokens


def _final_states(rows: Any, borrowers: Sequence[Borrower]) -> dict[int, PositionState]:
    """What every kept position holds at the end, from the final snapshot (absent: repaid or taken whole)."""
    out = {}
    for b in borrowers:
        mine = rows[(rows["protocol"] == b.protocol) & (rows["account"] == b.address)]
        collateral = {r.symbol: _usd(r, r.collateral_raw) for r in mine.itertuples() if r.uses_as_collateral}
        debt = sum((_usd(r, r.debt_raw) for r in mine.itertuples()), Fraction(0))
        health = mine["health_factor"].min() if len(mine) else None
        out[b.index] = PositionState(collateral, debt, bool(health is not None and health < 1), {}, 0)
    return out


def _on_fork(config: ForkConfig, checked: Plan, source: ForkSource, url: str, store_path: Path,
             deployments: Sequence[Deployment], report: Progress) -> ForkRun:
    """Steps 2-5 (chain part) of the module docstring, on the started fork at ``url``."""
    from toolkit.devchain.chain import Chain
    from toolkit.pipeline import PullRequest, pull_async, run_blocking

    chain = Chain(url)
    w3 = chain.w3
    snapshots = run_blocking(_snapshot(url, config.chain, deployments, store_path, source.block))
    store = Store(store_path, create=False)
    deployments = expand_offline(deployments, discovered.load(store, source.chain_id))  # the markets snapshotted
    rows = stored.read_positions(store, snapshots)
    underlyings, ctokens = _underlyings(w3, deployments)
    token = ASSET_TOKENS[checked.asset]
    borrowers, positions, debt_raw, price = fork_population(rows, deployments, token, underlyings)
    if not borrowers or price is None:
        raise UserInputError(f"--fork-block: no open position with {token} collateral and stable-coin debt at block "
                             f"{source.block} on {', '.join(sorted({d.protocol for d in deployments}))}")
    paths = scaled_paths(checked, price)
    oracles = ForkOracles(w3, checked.asset)
    for d in deployments:
        own = rows[(rows["protocol"] == d.protocol) & (rows["deployment"] == d.name)]
        if d.family == "aave":
            oracles.add_aave(d, source.block)
        elif d.family == "compound_v2":
            symbols = dict(zip(own["asset"], own["symbol"], strict=True))
            oracles.add_compound(d, source.block, ctokens[d.name], symbols)
        elif d.family == "morpho_blue":
            markets = {m: (str(g.loc[g["uses_as_collateral"].astype(bool), "symbol"].iloc[0]),
                           str(g.loc[~g["uses_as_collateral"].astype(bool), "symbol"].iloc[0]))
                       for m, g in own.groupby("market_id")}
            oracles.add_morpho(d, source.block, markets)
    oracles.install()
    _set_time(w3, source.timestamp + 1)
    chain.set_block_timestamp_interval(1)
    keeper = ForkKeeper(chain, positions, debt_raw)
    keeper.fund()
    path = paths[checked.asset]
    first_prices = {a: next(iter(p.marks.values()))[0] for a, p in paths.items()}
    base = source.timestamp + SETUP_SECONDS
    steps = []
    for index, moment in enumerate(path.times):
        first = w3.eth.block_number + 1
        _set_time(w3, base + int((moment - path.times[0]).total_seconds()))
        prices = {a: next(iter(p.marks.values()))[index] for a, p in paths.items()}
        oracles.move({a: Fraction(prices[a]) / Fraction(first_prices[a]) for a in prices})
        keeper.step(index)
        steps.append(Step(index, moment, prices, first, w3.eth.block_number))
        report("steps", index + 1, len(path.times))
    head = mine(w3, FINALITY_BLOCKS)
    final = run_blocking(_snapshot(url, config.chain, deployments, store_path, head))
    final_states = _final_states(stored.read_positions(Store(store_path, create=False), final), borrowers)
    blocks = {"first_block": steps[0].first_block, "last_block": head,
              "first_block_hash": w3.eth.get_block(steps[0].first_block)["hash"].to_0x_hex(),
              "last_block_hash": w3.eth.get_block(head)["hash"].to_0x_hex()}
    for done, d in enumerate(deployments, start=1):
        run_blocking(pull_async(PullRequest(chain=config.chain, protocol=d.protocol, deployment=d.name, rpc_url=url,
                                            store_path=store_path, from_block=source.block + 1)))
        report("pull", done, len(deployments))
    return ForkRun(borrowers, steps, keeper, final_states, blocks, snapshots, paths)


def replay_fork(config: ForkConfig, store_path: Path, progress: Progress | None = None) -> ReplayResult:
    """The fork replay of ``config`` (module docstring) into a new store at ``store_path``."""
    from toolkit.devchain.anvil import start_anvil
    from toolkit.aio import run_blocking

    checked = plan(config.replay)
    deployments = fork_deployments(config)
    source = run_blocking(check_source(config))
    report: Progress = progress or (lambda phase, done, total: None)
    fresh_store(store_path)
    store_path.parent.mkdir(parents=True, exist_ok=True)
    report("devchain", 0, 1)
    node = start_anvil(chain_id=source.chain_id, extra_args=["--fork-url", config.fork_url, "--fork-block-number",
                                                             str(source.block), "--accounts", "20"])
    try:
        report("devchain", 1, 1)
        run = _on_fork(config, checked, source, node.url, store_path, deployments, report)
    finally:
        node.stop()
    checked = Plan(checked.event, checked.asset, run.paths, checked.contracts)
    fund, runs = venue_runs(config.replay, checked, run.borrowers, report)
    fork = {"url_host": source_host(config.fork_url), "block": source.block, "block_hash": source.block_hash,
            "block_timestamp": datetime.fromtimestamp(source.timestamp, UTC).isoformat(),
            "protocols": sorted({f"{d.protocol}/{d.name}" for d in deployments}),
            "kept_positions": len(run.borrowers)}
    return ReplayResult(config.replay, checked.event, checked.asset, run.paths, run.borrowers, run.steps,
                        run.keeper.actions, run.keeper.failures, run.final, {}, store_path, source.chain_id,
                        run.blocks, fund, runs, run.snapshots, fork)
