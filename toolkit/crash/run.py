"""A crash replay from start to end: devchain -> population -> price path -> keeper -> pull -> engines.

:func:`replay` checks every input before anything starts, then:

1. starts a fresh devchain (anvil on 127.0.0.1, 12-second blocks, genesis :data:`GENESIS_LEAD` before the path's
   first time) with the real protocols deployed: Aave v3, Aave v2, Venus (the Compound v2 design) and Morpho Blue
   (:class:`toolkit.devchain.Devchain`);
2. moves every oracle to the window's first prices (:mod:`toolkit.crash.driver`), supplies the liquidity and
   opens the borrower population (:mod:`toolkit.crash.population`, :mod:`toolkit.crash.positions`), takes the
   positions snapshot of every protocol at that block into the replay's store (:mod:`toolkit.snapshot`: the book
   the report's liquidation levels come from), and funds the keeper;
3. for each step of the path: the step's first block gets the step's time as its timestamp
   (``evm_setNextBlockTimestamp``; later blocks of the step follow one second apart), so block timestamps read the
   event's times; then the oracles move to the step's prices and the keeper liquidates
   (:mod:`toolkit.crash.keeper`); the blocks of each step are recorded (:class:`Step`);
4. mines three blocks (the ``finalized`` tag trails the head by two), reads every position's final state, and
   pulls each protocol's liquidations with the same pipeline and adapters as for mainnet
   (:func:`toolkit.pipeline.pull_async`, ``--chain devchain``) into a new store, then stops the chain;
5. runs each venue's engine on the same path (:mod:`toolkit.crash.venues`) for two populations: the same equity as
   the lending positions, and the same sizes at leverages drawn from a distribution, opened just before the
   cascade (:mod:`toolkit.crash.leverage_population`; ``leverage_distribution`` None leaves it out).

Everything is deterministic for a seed: the population draws (numpy's PCG64 seeded with ``seed``), the chain
(fixed deployer nonces, genesis timestamp, block interval and step times, so the same transactions give the same
block and transaction hashes), the engines (``seed`` only orders random ADL and draws the leverage mix). Two runs
with the same configuration store the same rows (same content hash) and write the same report data
(:mod:`toolkit.crash.report`).

Defaults and time budget: 80 borrowers and the default path (2025-10-10: 173 steps of the Gemini minutes, hourly
before 20:00 and after 22:30) stay under two minutes on two cores (``README.md``, "Crash replay"); the devchain
start, the position openings (about eight transactions each) and the oracle moves (up to twelve transactions per
step; an unchanged answer is not sent again) dominate. The starting insurance fund of every
venue is :data:`INSURANCE_FUND_SHARE` of the population's long notional unless given: a model choice, large
enough to absorb the first gaps of a crash, small enough that a deep one empties it, so both the fund and ADL
show.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from toolkit.cex import PricePath, SimulationResult
from toolkit.compare import VenueContract
from toolkit.compare.venue_levels import DEFAULT_LEVERAGE_DISTRIBUTION, LeverageBucket
from toolkit.crash.driver import OracleDriver
from toolkit.crash.events import ASSET_TOKENS, CrashEvent, check_asset, crash_event, load_paths
from toolkit.crash.keeper import Keeper, KeeperAction, KeeperFailure, PositionState
from toolkit.crash.leverage_population import entry_index, leverage_population
from toolkit.crash.population import Borrower, PopulationSpec, build_population, perp_position
from toolkit.crash.positions import open_positions
from toolkit.crash.venues import (PerpOutcome, PerpQuote, VenuePopulation, ledger, outcomes, parse_venues, quote_longs,
                                  run_venue, venue_population)
from toolkit.errors import ToolkitError, UserInputError
from toolkit.store import segments

#: Venues of a default replay (``binance`` is the profile ``binance-usdm``).
DEFAULT_VENUES: tuple[str, ...] = ("bitmex", "binance", "hyperliquid")
#: Starting insurance fund of every venue, as a share of the population's long notional (module docstring).
INSURANCE_FUND_SHARE = Decimal("0.005")
#: Blocks mined after the last step: the ``finalized`` tag then covers every liquidation.
FINALITY_BLOCKS = 3
#: Genesis of the replay's chain before the path's first time: room for the deployment and the openings at
#: 12-second blocks (about 800 blocks for 80 borrowers; a day holds 7,200).
GENESIS_LEAD = timedelta(days=1)
#: Seconds between the blocks of one step (the step's first block has the step's time).
STEP_BLOCK_SECONDS = 1

#: ``progress(phase, done, total)``: phases ``devchain``, ``positions``, ``steps``, ``pull``, ``venues``.
Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class ReplayConfig:
    """What to replay (the arguments of ``liqtk replay``); :meth:`to_json` goes into the report's manifest."""

    event: str = "2025-10-10"
    asset: str = "ETH"
    population: PopulationSpec = field(default_factory=PopulationSpec)
    venues: tuple[str, ...] = DEFAULT_VENUES
    seed: int = 0
    start: datetime | None = None
    end: datetime | None = None
    steps_per_bar: int = 1
    insurance_fund: Decimal | None = None
    #: ``auto`` (minute bars when the event has them), ``minute`` or ``hourly`` (:data:`events.RESOLUTIONS`).
    resolution: str = "auto"
    #: The venues' second population (:mod:`toolkit.crash.leverage_population`); ``None`` leaves it out.
    leverage_distribution: tuple[LeverageBucket, ...] | None = DEFAULT_LEVERAGE_DISTRIBUTION

    def to_json(self) -> dict[str, Any]:
        """The configuration as JSON-able values (decimals as strings, times as ISO 8601)."""
        record = asdict(self)
        record["population"] = {k: list(map(str, v)) if isinstance(v, tuple) else v
                                for k, v in asdict(self.population).items()}
        record["venues"] = list(self.venues)
        record["start"] = self.start.isoformat() if self.start else None
        record["end"] = self.end.isoformat() if self.end else None
        record["insurance_fund"] = None if self.insurance_fund is None else str(self.insurance_fund)
        record["leverage_distribution"] = None if self.leverage_distribution is None else [
            {"leverage": str(b.leverage), "share": str(b.share)} for b in self.leverage_distribution]
        return record


@dataclass(frozen=True)
class Step:
    """One step of the path: its index, the event time, the USD prices by asset and the blocks it filled."""

    index: int
    time: datetime
    prices: dict[str, Decimal]
    first_block: int
    last_block: int


@dataclass
class VenueRun:
    """One venue's engine run: population, result, opening quotes of the longs, outcomes, ledger, and the path it
    ran on (the replay's, or its part from the population's entry)."""

    population: VenuePopulation
    result: SimulationResult
    quotes: dict[str, PerpQuote]
    outcomes: dict[str, PerpOutcome]
    ledger: dict[str, Decimal]
    path: PricePath

    @property
    def contract(self) -> VenueContract:
        return self.population.contract

    @property
    def place(self) -> str:
        """The run's name in the report: the contract, and the population unless it is the same-equity one."""
        return self.population.place


@dataclass
class ReplayResult:
    """Everything a replay produced; :func:`toolkit.crash.report.write_report` turns it into the report."""

    config: ReplayConfig
    event: CrashEvent
    asset: str
    paths: dict[str, PricePath]
    borrowers: list[Borrower]
    steps: list[Step]
    actions: list[KeeperAction]
    failures: list[KeeperFailure]
    final_states: dict[int, PositionState]
    liquidity: dict[str, int]
    store_path: Path
    chain_id: int
    #: First block of the first step and the head after the last one, each with its hash (``0x`` hex).
    blocks: dict[str, Any]
    insurance_fund: Decimal
    venues: list[VenueRun]
    #: The positions snapshots taken when the population was opened (``positions`` table of the store).
    snapshots: list[str] = field(default_factory=list)
    #: A fork replay's source (:mod:`toolkit.crash.fork`): node host (never its path or key), block, hash, time.
    fork: dict[str, Any] | None = None

    @property
    def path(self) -> PricePath:
        """The replayed asset's path (what the engines ran on)."""
        return self.paths[self.asset]

    def step_of_block(self, block: int) -> Step:
        """The step whose blocks hold ``block``."""
        for step in self.steps:
            if step.first_block <= block <= step.last_block:
                return step
        raise ToolkitError(f"block {block} is not in any step of this replay")


@dataclass(frozen=True)
class Plan:
    """The checked inputs of a replay: event, asset, price paths by asset and venue contracts."""

    event: CrashEvent
    asset: str
    paths: dict[str, PricePath]
    contracts: list[VenueContract]


def plan(config: ReplayConfig) -> Plan:
    """Every input of ``config`` checked before anything starts: one clear error for the first bad one."""
    event = crash_event(config.event)
    asset = check_asset(config.asset)
    config.population.validate()
    if config.seed < 0:
        raise UserInputError(f"--seed: must be a number >= 0, got {config.seed}")
    if config.steps_per_bar < 1:
        raise UserInputError(f"--steps-per-bar: must be at least 1, got {config.steps_per_bar}")
    if config.insurance_fund is not None and config.insurance_fund < 0:
        raise UserInputError(f"--insurance-fund: must be >= 0 USD, got {config.insurance_fund}")
    paths = load_paths(event, start=config.start, end=config.end, steps_per_bar=config.steps_per_bar,
                       resolution=config.resolution)
    contracts = parse_venues(config.venues, asset, paths[asset].times[0])
    return Plan(event, asset, paths, contracts)


def _prices(paths: dict[str, PricePath], index: int) -> dict[str, Decimal]:
    return {asset: path.marks[next(iter(path.marks))][index] for asset, path in paths.items()}


@dataclass
class _OnChain:
    """What steps 1-4 leave behind once the chain is stopped."""

    borrowers: list[Borrower]
    steps: list[Step]
    keeper: Keeper
    final: dict[int, PositionState]
    liquidity: dict[str, int]
    chain_id: int
    blocks: dict[str, Any]
    snapshots: list[str]


def _snapshots(devchain: Any, protocols: list[str], store_path: Path) -> list[str]:
    """Step 2's positions snapshots at the head, into the replay's store; their ids."""
    from toolkit.aio import run_blocking
    from toolkit.snapshot import snapshot_each

    block = devchain.mine(1)
    return run_blocking(snapshot_each(devchain.url, "devchain", [(p, None) for p in protocols], store_path, block))


def _step_time(devchain: Any, moment: datetime) -> None:
    """The next block gets ``moment`` as its timestamp when it is later than the head's (step 3)."""
    from web3.types import RPCEndpoint

    w3 = devchain.chain.w3
    stamp = int(moment.timestamp())
    if stamp > w3.eth.get_block("latest")["timestamp"]:
        w3.manager.request_blocking(RPCEndpoint("evm_setNextBlockTimestamp"), [stamp])


def _chain(checked: Plan, config: ReplayConfig, store_path: Path, progress: Progress) -> _OnChain:
    """Steps 1-4 of the module docstring."""
    from toolkit.devchain import Devchain
    from toolkit.pipeline import PullRequest, pull_async, run_blocking

    times = checked.paths[checked.asset].times
    opening = _prices(checked.paths, 0)
    borrowers = build_population(config.population, ASSET_TOKENS[checked.asset], opening[checked.asset], config.seed)
    protocols = list(dict.fromkeys(b.protocol for b in borrowers))
    progress("devchain", 0, 1)
    store_path.parent.mkdir(parents=True, exist_ok=True)
    with Devchain.start(genesis_timestamp=int((times[0] - GENESIS_LEAD).timestamp())) as devchain:
        progress("devchain", 1, 1)
        driver = OracleDriver(devchain)
        driver.move(opening)
        liquidity = open_positions(devchain, borrowers, lambda done: progress("positions", done, len(borrowers)))
        snapshots = _snapshots(devchain, protocols, store_path)
        keeper = Keeper(devchain, borrowers)
        keeper.fund()
        devchain.chain.set_block_timestamp_interval(STEP_BLOCK_SECONDS)
        steps = []
        for index, moment in enumerate(times):
            first = devchain.chain.w3.eth.block_number + 1
            _step_time(devchain, moment)
            prices = _prices(checked.paths, index)
            driver.move(prices)
            keeper.step(index, prices)
            steps.append(Step(index, moment, prices, first, devchain.chain.w3.eth.block_number))
            progress("steps", index + 1, len(times))
        head = devchain.mine(FINALITY_BLOCKS)
        final = keeper.states({ASSET_TOKENS[a]: p for a, p in steps[-1].prices.items()})
        get_block = devchain.chain.w3.eth.get_block
        blocks = {"first_block": steps[0].first_block, "last_block": head,
                  "first_block_hash": get_block(steps[0].first_block)["hash"].to_0x_hex(),
                  "last_block_hash": get_block(head)["hash"].to_0x_hex()}
        for done, protocol in enumerate(protocols, start=1):
            run_blocking(pull_async(PullRequest(chain="devchain", protocol=protocol, rpc_url=devchain.url,
                                                store_path=store_path)))
            progress("pull", done, len(protocols))
        return _OnChain(borrowers, steps, keeper, final, liquidity, devchain.chain_id, blocks, snapshots)


def venue_runs(config: ReplayConfig, checked: Plan, borrowers: list[Borrower], report: Progress
               ) -> tuple[Decimal, list[VenueRun]]:
    """Step 5: the starting insurance fund and every venue population's engine run on the replayed path."""
    path = checked.paths[checked.asset]
    (series,) = path.marks.values()
    opening = series[0]
    fund = config.insurance_fund
    if fund is None:
        notional = sum((perp_position(b, opening).notional for b in borrowers), Decimal(0))
        fund = (notional * INSURANCE_FUND_SHARE).quantize(Decimal("0.01"))
    populations = [(venue_population(contract, borrowers, path.times[0], opening, _prices(checked.paths, 0)), path)
                   for contract in checked.contracts]
    if config.leverage_distribution is not None:
        minutes = checked.event.minutes if checked.event.resolution(config.resolution) == "minute" else None
        start = entry_index(path.times, minutes.dense[0] if minutes else None)
        entry = PricePath(path.times[start:], {key: values[start:] for key, values in path.marks.items()})
        populations += [(leverage_population(contract, borrowers, path.times[start], series[start], config.seed,
                                             config.leverage_distribution, _prices(checked.paths, start)), entry)
                        for contract in checked.contracts]
    runs = []
    for done, (population, ran_on) in enumerate(populations, start=1):
        result = run_venue(population, ran_on, fund, config.seed)
        runs.append(VenueRun(population, result, quote_longs(population), outcomes(result, population, ran_on),
                             ledger(result, population.accounts, population.profile), ran_on))
        report("venues", done, len(populations))
    return fund, runs


def fresh_store(store_path: Path) -> None:
    """Remove a store (file, write-ahead log, segment files) left at ``store_path`` by an earlier run."""
    for stale in (store_path, store_path.with_name(store_path.name + ".wal")):
        stale.unlink(missing_ok=True)
    shutil.rmtree(segments.directory(store_path), ignore_errors=True)


def replay(config: ReplayConfig, store_path: Path, progress: Progress | None = None) -> ReplayResult:
    """Run the replay of ``config`` (module docstring); the liquidations are stored in a new store at
    ``store_path`` (an existing file there is replaced)."""
    checked = plan(config)
    report: Progress = progress or (lambda phase, done, total: None)
    fresh_store(store_path)
    chain = _chain(checked, config, store_path, report)
    fund, runs = venue_runs(config, checked, chain.borrowers, report)
    return ReplayResult(config, checked.event, checked.asset, checked.paths, chain.borrowers, chain.steps,
                        chain.keeper.actions, chain.keeper.failures, chain.final, chain.liquidity, store_path,
                        chain.chain_id, chain.blocks, fund, runs, chain.snapshots)
