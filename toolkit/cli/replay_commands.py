"""``liqtk replay``: a real crash replayed through real lending protocols and the venues' engines
(:mod:`toolkit.crash`), with a report in ``--out``."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from toolkit.cli import output
from toolkit.cli.options import ChainOption, JsonOption, QuietOption, comma_list
from toolkit.errors import UserInputError

#: What each phase of :func:`toolkit.crash.run.replay` is called on the progress bar.
PHASES = {"devchain": "start the chain, deploy Aave v3/v2, Venus, Morpho", "positions": "open positions and snapshot",
          "steps": "replay the price path", "pull": "pull liquidations", "venues": "run the venue engines"}


def _pair(text: str, name: str) -> tuple[Decimal, Decimal]:
    """``"1.03,1.5"`` -> two decimals."""
    parts = text.split(",")
    try:
        low, high = (Decimal(p.strip()) for p in parts)
    except (ValueError, InvalidOperation):
        raise UserInputError(f"{name}: give two numbers separated by a comma, like 1.03,1.50; got {text!r}") from None
    if not (low.is_finite() and high.is_finite()):
        raise UserInputError(f"{name}: give finite numbers, got {text!r}")
    return low, high


def _writable(out: Path) -> None:
    """Create ``out`` and check that a file can be written there."""
    probe = out / f".liqtk-write-test-{uuid.uuid4().hex}"
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise UserInputError(f"--out: cannot write to {out} ({exc.strerror or exc}); choose a writable "
                             "directory") from None


@contextmanager
def _progress(quiet: bool) -> Iterator[Any]:
    """A ``progress(phase, done, total)`` callback: one bar per phase on a terminal, JSON lines with --quiet;
    when stderr is not a terminal, a progress line at least every 10 s (:func:`toolkit.cli.output.activity`)."""
    latest: dict[str, Any] = {}

    def remember(phase: str, done: int, total: int) -> None:
        latest.clear()
        latest.update(phase=PHASES.get(phase, phase), done=done, total=total)

    if quiet:
        def log(phase: str, done: int, total: int) -> None:
            remember(phase, done, total)
            if done == total or phase == "steps" and done % 12 == 0:
                output.log("replay.progress", phase=phase, done=done, total=total)
        with output.activity("replay", lambda: dict(latest)):
            yield log
        return
    console = Console(stderr=True, highlight=False)
    with Progress(TextColumn("{task.description:<48}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console, disable=not console.is_terminal) as bar, \
            output.activity("replay", lambda: dict(latest)):
        tasks: dict[str, Any] = {}

        def update(phase: str, done: int, total: int) -> None:
            remember(phase, done, total)
            if phase not in tasks:
                tasks[phase] = bar.add_task(PHASES[phase], total=total)
            bar.update(tasks[phase], completed=done, total=total)
        yield update


def replay(
    out: Annotated[Path, typer.Option(help="Directory for the report, its CSV files, charts, manifest and the store replay.duckdb (replaced).")],
    event: Annotated[str, typer.Option(help="Crash to replay: 2020-03-12, 2021-05-19, 2022-11-08 or 2025-10-10.")] = "2025-10-10",
    asset: Annotated[str, typer.Option(help="Collateral asset whose real price path drives the replay: ETH or BTC.")] = "ETH",
    borrowers: Annotated[int, typer.Option(help="Number of positions in the population.")] = 80,
    seed: Annotated[int, typer.Option(help="Seed of the population draws (and of random ADL ordering).")] = 0,
    venues: Annotated[str, typer.Option(help="Venues, comma-separated, as liqtk cex --venue names them: bitmex, binance-usdm (or binance), hyperliquid, bybit, okx, dydx-v4 (or dydx); venue:SYMBOL names the contract whose tiers apply.")] = "bitmex,binance,hyperliquid",
    protocols: Annotated[Optional[str], typer.Option(help="Lending protocols the positions are spread over, in turn (default: aave-v3,aave-v2,venus,morpho-blue); with --fork-url, the protocols replayed (default: every one of --chain with positions snapshots).")] = None,
    health_factor: Annotated[str, typer.Option("--health-factor", help="Range of the opening health factor (uniform).")] = "1.03,1.50",
    collateral_usd: Annotated[str, typer.Option("--collateral-usd", help="Range of the collateral value in USD (log-uniform).")] = "1000,50000",
    stable_share: Annotated[str, typer.Option("--stable-share", help="Range of the share of collateral posted as USDC (uniform; 0 on Morpho Blue).")] = "0,0.3",
    start: Annotated[Optional[str], typer.Option(help="First step, UTC (default: 00:00 of the day before the event, or of the day of the 1-minute bars).")] = None,
    end: Annotated[Optional[str], typer.Option(help="Last step, UTC (default: 23:00 of the day after the event, or 23:59 of the day of the 1-minute bars).")] = None,
    steps_per_bar: Annotated[int, typer.Option("--steps-per-bar", help="Price steps per hourly bar, linearly interpolated.")] = 1,
    resolution: Annotated[str, typer.Option(help="auto (the event's 1-minute bars when the fixtures have them: 2025-10-10), minute, or hourly.")] = "auto",
    leverage_distribution: Annotated[str, typer.Option("--leverage-distribution", help="The venues' second population: leverage:share pairs, default (docs/sources/leverage.md) or none.")] = "default",
    insurance_fund: Annotated[Optional[str], typer.Option("--insurance-fund", help="Starting insurance fund of every venue, USD (default: 0.5% of the population's notional).")] = None,
    fork_url: Annotated[Optional[str], typer.Option("--fork-url", help="Replay on a fork of this node (anvil --fork-url): its real positions, parameters and code. Only its host is recorded.")] = None,
    fork_block: Annotated[Optional[int], typer.Option("--fork-block", help="Block to fork at (with --fork-url).")] = None,
    chain: ChainOption = None,
    json_output: JsonOption = False,
    quiet: QuietOption = False,
) -> None:
    """Replay a real crash: real Aave v3/v2, Venus and Morpho Blue on a local chain (or the real positions of a fork
    of a chain) and the venues' engines, driven by the same prices; writes an HTML report with charts, CSV files and
    a manifest."""
    from toolkit.compare.venue_levels import DEFAULT_LEVERAGE_DISTRIBUTION, parse_distribution
    from toolkit.crash.population import PopulationSpec
    from toolkit.crash.report import write_report
    from toolkit.crash.run import ReplayConfig, plan
    from toolkit.crash.run import replay as run_replay
    from toolkit.settings import parse_since

    output.configure(quiet=quiet, json=json_output, rpc_urls=[fork_url])
    fund = None
    if insurance_fund is not None:
        try:
            fund = Decimal(insurance_fund)
        except InvalidOperation:
            fund = None
        if fund is None or not fund.is_finite():
            raise UserInputError(f"--insurance-fund: {insurance_fund!r} is not a number of USD")
    chosen = tuple(comma_list(protocols))
    population = PopulationSpec(
        borrowers=borrowers, protocols=chosen if chosen and fork_url is None else PopulationSpec().protocols,
        collateral_usd=_pair(collateral_usd, "--collateral-usd"), health_factor=_pair(health_factor, "--health-factor"),
        stable_share=_pair(stable_share, "--stable-share"))
    mix = (None if leverage_distribution == "none" else DEFAULT_LEVERAGE_DISTRIBUTION
           if leverage_distribution == "default" else parse_distribution(leverage_distribution))
    config = ReplayConfig(event=event, asset=asset, population=population,
                          venues=tuple(comma_list(venues)), seed=seed,
                          start=parse_since(start, "--start") if start else None,
                          end=parse_since(end, "--end") if end else None, steps_per_bar=steps_per_bar,
                          insurance_fund=fund, resolution=resolution, leverage_distribution=mix)
    plan(config)
    fork = None
    if fork_url is not None or fork_block is not None:
        from toolkit.crash.fork import ForkConfig, check_source, fork_deployments
        from toolkit.pipeline import run_blocking
        from toolkit.settings import chain_name_of

        if fork_url is None or fork_block is None:
            raise UserInputError("pass both --fork-url and --fork-block to replay on a fork")
        fork = ForkConfig(config, fork_url, fork_block, chain_name_of(chain or "ethereum"), chosen or None)
        fork_deployments(fork)
        run_blocking(check_source(fork))  # before anything is written
    _writable(out)
    began = time.monotonic()
    with _progress(quiet) as progress:
        if fork is not None:
            from toolkit.crash.fork import replay_fork

            result = replay_fork(fork, out / "replay.duckdb", progress)
        else:
            result = run_replay(config, out / "replay.duckdb", progress)
    manifest = write_report(result, out)
    seconds = round(time.monotonic() - began, 1)
    record = {"event": "replay.finished", "out": str(out), "report": str(out / "report.html"),
              "data_sha256": manifest["data_sha256"], "store_content_sha256": manifest["store"]["content_sha256"],
              "liquidations": manifest["store"]["row_count"], "seconds": seconds}
    if output.wants_json():
        output.result(record)
        return
    table = Table("place", "positions liquidated", "liquidations", "volume USD", "penalty USD",
                  "losses USD", title=f"{result.event.title}, {result.asset}: "
                                                     f"{len(result.borrowers)} positions")
    summary = _summary_rows(out)
    for row in summary:
        table.add_row(*row)
    output.table(table)
    for place, amount in _uncovered(out):
        output.warn(f"{place}: the insurance fund paid {amount:,.2f} USD beyond its balance (ADL found too few "
                    "counterparties); summary.csv insurance_fund_uncovered_usd")
    output.result(f"report {out / 'report.html'} ({seconds} s); data sha256 {manifest['data_sha256']}, "
                  f"store content sha256 {manifest['store']['content_sha256']}")


def _uncovered(out: Path) -> list[tuple[str, Decimal]]:
    """Venues of ``summary.csv`` whose fund paid at least a cent beyond its balance
    (``insurance_fund_uncovered_usd``)."""
    import pandas as pd

    frame = pd.read_csv(out / "summary.csv", dtype=str, keep_default_na=False)
    column = frame.get("insurance_fund_uncovered_usd", pd.Series([""] * len(frame)))
    return [(place, Decimal(v)) for place, v in zip(frame["place"], column, strict=True)
            if v and Decimal(v) >= Decimal("0.005")]  # shown to the cent: rounding residues are not a loss


def _summary_rows(out: Path) -> list[tuple[str, ...]]:
    """The report's ``summary.csv`` as table rows, each figure one of its columns rounded to cents (``losses_usd``:
    bad debt on chain, or what the fund paid plus the ADL haircut; its definition is in toolkit.crash.report)."""
    import pandas as pd

    frame = pd.read_csv(out / "summary.csv", dtype=str, keep_default_na=False)
    rows = []
    for row in frame.itertuples():
        rows.append((row.place, f"{row.liquidated_positions} of {row.positions}", row.liquidations,
                     f"{Decimal(row.volume_usd):,.2f}", f"{Decimal(row.penalty_usd):,.2f}",
                     f"{Decimal(row.losses_usd):,.2f}"))
    return rows
