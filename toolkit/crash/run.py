"""A crash replay from start to end: devchain -> population -> price path -> keeper -> pull -> engines.

:func:`replay` checks every input before anything starts, then:

1. starts a fresh devchain (anvil on 127.0.0.1, fixed genesis time and 12-second blocks) with the real protocols
   deployed: Aave v3, Aave v2, Venus (the Compound v2 design) and Morpho Blue (:class:`toolkit.devchain.Devchain`);
2. moves every oracle to the window's first prices (:mod:`toolkit.crash.driver`), supplies the liquidity and
   opens the borrower population (:mod:`toolkit.crash.population`, :mod:`toolkit.crash.positions`), and funds
   the keeper;
3. for each step of the path: moves the oracles to the step's prices, then lets the keeper liquidate
   (:mod:`toolkit.crash.keeper`); the blocks of each step are recorded (:class:`Step`), which maps every
   liquidation block to the event's time (the chain's own timestamps are the devchain's 2025 clock);
4. mines three blocks (the ``finalized`` tag trails the head by two), reads every position's final state, and
   pulls each protocol's liquidations with the same pipeline and adapters as for mainnet
   (:func:`toolkit.pipeline.pull_async`, ``--chain devchain``) into a new store, then stops the chain;
5. runs each venue's engine on the same path (:mod:`toolkit.crash.venues`).

Everything is deterministic for a seed: the population draws (numpy's PCG64 seeded with ``seed``), the chain
(fixed deployer nonces, genesis timestamp and block interval, so the same transactions give the same block and
transaction hashes), the engines (``seed`` only orders random ADL). Two runs with the same configuration store
the same rows (same content hash) and write the same report data (:mod:`toolkit.crash.report`).

Defaults and time budget: 80 borrowers and the 72 hourly closes of the default window take about a minute on
two cores (``README.md``, "Crash replay"); the devchain start, the position openings (about eight transactions
each) and the oracle moves (about twelve transactions per step) dominate. The starting insurance fund of every
venue is :data:`INSURANCE_FUND_SHARE` of the population's long notional unless given: a model choice, large
enough to absorb the first gaps of a crash, small enough that a deep one empties it, so both the fund and ADL
show.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from toolkit.cex import PricePath, SimulationResult
from toolkit.compare import VenueContract
from toolkit.crash.driver import OracleDriver
from toolkit.crash.events import ASSET_TOKENS, CrashEvent, check_asset, crash_event, load_paths
from toolkit.crash.keeper import Keeper, KeeperAction, KeeperFailure, PositionState
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

    def to_json(self) -> dict[str, Any]:
        """The configuration as JSON-able values (decimals as strings, times as ISO 8601)."""
        record = asdict(self)
        record["population"] = {k: list(map(str, v)) if isinstance(v, tuple) else v
                                for k, v in asdict(self.population).items()}
        record["venues"] = list(self.venues)
        record["start"] = self.start.isoformat() if self.start else None
        record["end"] = self.end.isoformat() if self.end else None
        record["insurance_fund"] = None if self.insurance_fund is None else str(self.insurance_fund)
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
    """One venue's engine run: population, result, opening quotes of the longs, outcomes and ledger."""

    population: VenuePopulation
    result: SimulationResult
    quotes: dict[str, PerpQuote]
    outcomes: dict[str, PerpOutcome]
    ledger: dict[str, Decimal]

    @property
    def contract(self) -> VenueContract:
        return self.population.contract


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
    paths = load_paths(event, start=config.start, end=config.end, steps_per_bar=config.steps_per_bar)
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


def _chain(checked: Plan, config: ReplayConfig, store_path: Path, progress: Progress) -> _OnChain:
    """Steps 1-4 of the module docstring."""
    from toolkit.devchain import Devchain
    from toolkit.pipeline import PullRequest, pull_async, run_blocking

    times = checked.paths[checked.asset].times
    opening = _prices(checked.paths, 0)
    borrowers = build_population(config.population, ASSET_TOKENS[checked.asset], opening[checked.asset], config.seed)
    protocols = list(dict.fromkeys(b.protocol for b in borrowers))
    progress("devchain", 0, 1)
    with Devchain.start() as devchain:
        progress("devchain", 1, 1)
        driver = OracleDriver(devchain)
        driver.move(opening)
        liquidity = open_positions(devchain, borrowers, lambda done: progress("positions", done, len(borrowers)))
        keeper = Keeper(devchain, borrowers)
        keeper.fund()
        steps = []
        for index, moment in enumerate(times):
            first = devchain.chain.w3.eth.block_number + 1
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
        store_path.parent.mkdir(parents=True, exist_ok=True)
        for done, protocol in enumerate(protocols, start=1):
            run_blocking(pull_async(PullRequest(chain="devchain", protocol=protocol, rpc_url=devchain.url,
                                                store_path=store_path)))
            progress("pull", done, len(protocols))
        return _OnChain(borrowers, steps, keeper, final, liquidity, devchain.chain_id, blocks)


def replay(config: ReplayConfig, store_path: Path, progress: Progress | None = None) -> ReplayResult:
    """Run the replay of ``config`` (module docstring); the liquidations are stored in a new store at
    ``store_path`` (an existing file there is replaced)."""
    checked = plan(config)
    report: Progress = progress or (lambda phase, done, total: None)
    for stale in (store_path, store_path.with_name(store_path.name + ".wal")):
        stale.unlink(missing_ok=True)
    shutil.rmtree(segments.directory(store_path), ignore_errors=True)
    chain = _chain(checked, config, store_path, report)
    borrowers = chain.borrowers
    path = checked.paths[checked.asset]
    opening = path.marks[next(iter(path.marks))][0]
    fund = config.insurance_fund
    if fund is None:
        notional = sum((perp_position(b, opening).notional for b in borrowers), Decimal(0))
        fund = (notional * INSURANCE_FUND_SHARE).quantize(Decimal("0.01"))
    runs = []
    for done, contract in enumerate(checked.contracts, start=1):
        population = venue_population(contract, borrowers, path.times[0], opening, _prices(checked.paths, 0))
        result = run_venue(population, path, fund, config.seed)
        runs.append(VenueRun(population, result, quote_longs(population), outcomes(result, population, path),
                             ledger(result, population.accounts, population.profile)))
        report("venues", done, len(checked.contracts))
    return ReplayResult(config, checked.event, checked.asset, checked.paths, borrowers, chain.steps,
                        chain.keeper.actions, chain.keeper.failures, chain.final, chain.liquidity, store_path,
                        chain.chain_id, chain.blocks, fund, runs)
