"""``liqtk positions`` (a positions snapshot at a block, :mod:`toolkit.snapshot`) and ``liqtk levels`` (liquidation
levels of a snapshot next to the venues, :mod:`toolkit.compare.level_report`)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from toolkit.cli import EXIT_NOTHING_NEW, EXIT_OK, output
from toolkit.cli.options import QuietOption, StoreOption


def positions(
    chain: Annotated[str, typer.Option(help="Chain name from the registry (ethereum, devchain, ...).")],
    protocol: Annotated[str, typer.Option(help="Protocol id: aave-v3, aave-v2, spark, compound-v2, venus, morpho-blue.")],
    block: Annotated[str, typer.Option(help="Block of the snapshot: a number, latest, safe or finalized.")] = "finalized",
    rpc: Annotated[Optional[str], typer.Option(help="JSON-RPC URL (default: the chain's LIQTK_RPC_<CHAIN> variable). Never printed or stored.")] = None,
    market: Annotated[Optional[str], typer.Option(help="Only this market of the protocol (deployment name).")] = None,
    address: Annotated[Optional[str], typer.Option(help="Pool / Comptroller / Morpho address of a fork or custom deployment.")] = None,
    batch_accounts: Annotated[int, typer.Option("--batch-accounts", help="Accounts read and committed together (a killed snapshot resumes after the last batch).")] = 500,
    rpc_timeout: Annotated[float, typer.Option("--rpc-timeout", help="Seconds one request to the node may take before it is retried.")] = 30.0,
    wait: Annotated[float, typer.Option(help="Seconds to wait for another run that holds the store (exit 5 after that).")] = 0.0,
    store: StoreOption = None,
    quiet: QuietOption = False,
) -> None:
    """Snapshot every open borrow position of a deployment at a block: collateral and debt per asset, prices,
    thresholds, e-mode and health factor, as the protocol computes them; incremental and resumable."""
    from toolkit.settings import parse_bound, resolve_rpc_url, resolve_store_path
    from toolkit.snapshot import SnapshotRequest, snapshot_async

    output.configure(quiet=quiet, rpc_urls=[rpc])
    request = SnapshotRequest(chain=chain, protocol=protocol, rpc_url=resolve_rpc_url(chain, rpc),
                              store_path=resolve_store_path(store), block=parse_bound(block, "--block"),
                              deployment=market, address=address, batch_accounts=batch_accounts,
                              rpc_timeout=rpc_timeout, lock_wait=wait)
    output.configure(quiet=quiet, rpc_urls=[rpc, request.rpc_url])

    def progress(deployment: str, phase: str, done: int, total: int) -> None:
        if quiet:
            output.log("positions.progress", deployment=deployment, phase=phase, done=done, total=total)

    result = asyncio.run(snapshot_async(request, progress))
    record: dict[str, Any] = {"event": "positions.finished", "run_id": result.run_id, "status": result.status,
                              "chain_id": result.chain_id, "block": result.block_number,
                              "block_hash": result.block_hash, "seconds": result.seconds,
                              "snapshots": [o.__dict__ for o in result.outcomes], "store": str(request.store_path)}
    if quiet:
        output.result(record)
    else:
        for o in result.outcomes:
            how = (f"{o.accounts_read} accounts read, {o.accounts_carried} carried from {o.base_snapshot_id}"
                   if o.base_snapshot_id else f"{o.accounts_read} accounts read (events from block "
                   f"{o.scanned_from_block})")
            output.result(f"{o.protocol}/{o.deployment} at block {result.block_number}: {o.positions} open positions; "
                          + (how if o.status == "complete" else "already complete"))
        output.result(f"run {result.run_id}: {result.status}, store {request.store_path}")
    raise typer.Exit(EXIT_OK if result.status == "ok" else EXIT_NOTHING_NEW)
