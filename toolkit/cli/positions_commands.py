"""``liqtk positions`` (a positions snapshot at a block, :mod:`toolkit.snapshot`) and ``liqtk levels`` (liquidation
levels of a snapshot next to the venues, :mod:`toolkit.compare.level_report`)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from toolkit.cli import output
from toolkit.cli.options import ChainOption, ChainFilterOption, JsonOption, ProtocolFilterOption, QuietOption, \
    StoreOption, WaitOption, comma_list


def positions(
    protocol: Annotated[str, typer.Option(help="Protocol id: aave-v3, aave-v2, spark, compound-v2, venus, morpho-blue.")],
    chain: ChainOption = None,
    block: Annotated[str, typer.Option(help="Block of the snapshot: a number, latest, safe or finalized.")] = "finalized",
    rpc: Annotated[Optional[str], typer.Option(help="JSON-RPC URL (default: the chain's LIQTK_RPC_<CHAIN> variable). Never printed or stored.")] = None,
    market: Annotated[Optional[str], typer.Option(help="Only this market of the protocol (deployment name).")] = None,
    address: Annotated[Optional[str], typer.Option(help="Pool / Comptroller / Morpho address of a fork or custom deployment.")] = None,
    batch_accounts: Annotated[int, typer.Option("--batch-accounts", help="Accounts read and committed together (a killed snapshot resumes after the last batch).")] = 500,
    rpc_timeout: Annotated[float, typer.Option("--rpc-timeout", help="Seconds one request to the node may take before it is retried.")] = 30.0,
    wait: WaitOption = 0.0,
    store: StoreOption = None,
    json_output: JsonOption = False,
    quiet: QuietOption = False,
) -> None:
    """Snapshot every open borrow position of a deployment at a block: collateral and debt per asset, prices,
    thresholds, e-mode and health factor, as the protocol computes them; incremental and resumable."""
    from toolkit.errors import UserInputError
    from toolkit.settings import chain_name_of, parse_bound, resolve_rpc_url, resolve_store_path
    from toolkit.snapshot import SnapshotRequest, snapshot_async

    output.configure(quiet=quiet, json=json_output, rpc_urls=[rpc])
    if chain is None:
        raise UserInputError("Missing option '--chain': pass the chain of the deployment (ethereum, devchain, ...)")
    chain = chain_name_of(chain)
    request = SnapshotRequest(chain=chain, protocol=protocol, rpc_url=resolve_rpc_url(chain, rpc),
                              store_path=resolve_store_path(store), block=parse_bound(block, "--block"),
                              deployment=market, address=address, batch_accounts=batch_accounts,
                              rpc_timeout=rpc_timeout, lock_wait=wait)
    output.configure(quiet=quiet, json=json_output, rpc_urls=[rpc, request.rpc_url])

    latest: dict[str, Any] = {}

    def progress(deployment: str, phase: str, done: int, total: int) -> None:
        latest.update(deployment=deployment, phase=phase, done=done, total=total)
        if quiet:
            output.log("positions.progress", deployment=deployment, phase=phase, done=done, total=total)

    with output.activity("positions", lambda: dict(latest)):
        result = asyncio.run(snapshot_async(request, progress))
    record: dict[str, Any] = {"event": "positions.finished", "run_id": result.run_id, "status": result.status,
                              "chain_id": result.chain_id, "block": result.block_number,
                              "block_hash": result.block_hash, "seconds": result.seconds,
                              "snapshots": [o.__dict__ for o in result.outcomes], "store": str(request.store_path)}
    for o in result.outcomes:
        for line in o.warnings:
            output.log("positions.warning", deployment=o.deployment, message=line)

    def show() -> None:
        for o in result.outcomes:
            how = (f"{o.accounts_read} accounts read, {o.accounts_carried} carried from {o.base_snapshot_id}"
                   if o.base_snapshot_id else f"{o.accounts_read} accounts read (events from block "
                   f"{o.scanned_from_block})")
            output.result(f"{o.protocol}/{o.deployment} at block {result.block_number}: {o.positions} open positions; "
                          + (how if o.status == "complete" else "already complete"))
        output.result(f"run {result.run_id}: {result.status}, store {request.store_path}")

    output.emit(record, show)


#: Moves the text summary of ``liqtk levels`` shows.
SUMMARY_MOVES = (5, 10, 20, 30, 40, 60)


def levels(
    out: Annotated[Path, typer.Option(help="Directory for levels.csv, venue_levels.csv, level_accounts.csv, levels.png (+ manifest).")],
    protocol: ProtocolFilterOption = None,
    chain: ChainFilterOption = None,
    market: Annotated[Optional[str], typer.Option(help="Only snapshots of this market (deployment name).")] = None,
    block: Annotated[Optional[int], typer.Option(help="The snapshots at this block (default: each deployment's latest).")] = None,
    asset: Annotated[Optional[str], typer.Option(help="Collateral symbol the venues and the chart follow (default: the largest collateral).")] = None,
    venues: Annotated[str, typer.Option(help="Venues, comma-separated, as liqtk cex --venue names them; venue:SYMBOL names the contract.")] = "bitmex,binance-usdm,hyperliquid",
    leverage_distribution: Annotated[Optional[str], typer.Option("--leverage-distribution", help="leverage:share pairs of the venue population, e.g. 5:0.2,10:0.2,25:0.195,50:0.195,125:0.21 (the default; docs/sources/leverage.md).")] = None,
    max_move: Annotated[int, typer.Option("--max-move", help="Largest fall, in whole percent.")] = 60,
    event: Annotated[Optional[str], typer.Option(help="A crash (2020-03-12, 2021-05-19, 2022-11-08, 2025-10-10) whose largest fall of the asset is marked; warns when the snapshot is far from its date.")] = None,
    store: StoreOption = None,
    json_output: JsonOption = False,
    quiet: QuietOption = False,
) -> None:
    """Liquidation levels of positions snapshots: collateral and debt that become liquidatable as a price falls, on
    the lending protocols and, for the same exposure, on the venues' engines; CSV files and a citable chart."""
    import warnings

    from toolkit.compare.level_report import levels as level_report
    from toolkit.compare.venue_levels import DEFAULT_LEVERAGE_DISTRIBUTION, parse_distribution
    from toolkit.settings import resolve_store_path

    output.configure(quiet=quiet, json=json_output)
    distribution = parse_distribution(leverage_distribution) if leverage_distribution else DEFAULT_LEVERAGE_DISTRIBUTION
    path = label = None
    if event is not None:
        from toolkit.crash.events import crash_event, load_paths

        crash = crash_event(event)
        underlying = "BTC" if asset and "BTC" in asset.upper() else "ETH"
        path, label = load_paths(crash)[underlying], f"{crash.id} {underlying}"
    with warnings.catch_warnings(record=True), output.activity("levels"):
        warnings.simplefilter("always")
        report = level_report(resolve_store_path(store), chain=chain, protocol=protocol, market=market,
                              block=block, asset=asset, venues=comma_list(venues),
                              max_move=max_move, leverage_distribution=distribution, path=path, path_label=label)
    for message in report.warnings:
        output.log("levels.warning", message=message)
    paths = report.save(out)
    lending = report.lending.curve(report.asset)
    steps = [m for m in SUMMARY_MOVES if m <= max_move]
    record: dict[str, Any] = {"event": "levels.finished", "asset": report.asset, "out": str(out),
                              "files": {k: str(v) for k, v in paths.items()},
                              "snapshots": [s.snapshot_id for s in report.snapshots], "warnings": report.warnings,
                              "lending_collateral_usd": {m: float(lending.loc[m, "collateral_usd"]) for m in steps}}
    def show() -> None:
        from rich.table import Table

        table = Table("place", *(f"-{m} %" for m in steps),
                      title=f"Collateral liquidatable (USD, snapshot prices) as {report.asset} falls")
        table.add_row("lending (all)", *(f"{lending.loc[m, 'collateral_usd']:,.0f}" for m in steps))
        for (place, population), rows in report.venues.groupby(["place", "population"], sort=False):
            rows = rows.set_index("move_pct")
            table.add_row(f"{place} ({population})", *(f"{rows.loc[m, 'collateral_usd']:,.0f}" for m in steps))
        output.table(table)
        output.result(f"levels of {len(report.snapshots)} snapshot(s) in {out}: "
                      + ", ".join(p.name for p in paths.values()))

    output.emit(record, show)
