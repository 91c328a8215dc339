"""``liqtk devchain`` (a local chain to point commands at) and ``liqtk demo`` (the README's main job)."""

from __future__ import annotations

import asyncio
import signal
import threading
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from toolkit.cli import output
from toolkit.cli.options import JsonOption, QuietOption

DEMO_PROTOCOLS = ("aave-v3", "aave-v2")


def devchain(
    port: Annotated[Optional[int], typer.Option(help="TCP port on 127.0.0.1 (default: a free port).")] = None,
    scenario: Annotated[bool, typer.Option(help="Run the demo liquidation scenario after deploying.")] = True,
    aave_v36: Annotated[bool, typer.Option(
        "--aave-v36", help="Also deploy Aave v3.6 (compiled from npm on first use) and, with the scenario, "
                           "run the v3.0/v3.6 version scenario.")] = False,
    json_output: JsonOption = False,
) -> None:
    """Start anvil with real Aave v3 + v2 deployed (and the demo liquidations), print its RPC URL, run until Ctrl-C.

    --json prints the URL, chain id, addresses and liquidations as one JSON line, then keeps running.
    """
    from toolkit.devchain import Devchain, run_demo_scenario
    from toolkit.devchain.aave_versions_scenario import run_versions_scenario

    output.configure(json=json_output)
    with Devchain.start(port=port, aave_v36=aave_v36) as chain:
        liquidations = run_demo_scenario(chain) if scenario else []
        if scenario and aave_v36:
            liquidations += run_versions_scenario(chain)
        record = {"event": "devchain.running", "url": chain.url, "chain_id": chain.chain_id, "pid": chain.node.pid,
                  "addresses": chain.addresses(), "liquidations": liquidations}
        output.emit(record, lambda: _print_devchain(chain, liquidations))
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        try:
            stop.wait()
        except KeyboardInterrupt:
            pass


def _print_devchain(chain, liquidations: list) -> None:
    """The running devchain in text: URL, the Aave pools, the demo liquidations, a command to try."""
    output.result(f"devchain running at {chain.url} (chain id {chain.chain_id}, anvil PID {chain.node.pid})")
    v36 = chain.addresses().get("aave_v36")
    output.result(f"Aave v3 Pool {chain.addresses()['aave_v3']['pool']}, "
                  f"Aave v2 LendingPool {chain.addresses()['aave_v2']['lendingPool']}"
                  + (f", Aave v3.6 Pool {v36['pool']}" if v36 else ""))
    for item in liquidations:
        kind = item.get("kind") or item.get("case")
        output.result(f"  {item['market']} {kind} liquidation in block {item['block_number']}: {item['tx_hash']}")
    output.result(f"try: liqtk pull --chain devchain --protocol aave-v3 --rpc {chain.url}   (Ctrl-C stops the chain)")
    if v36:
        output.result(f"     Aave v3.6: the same with --address {v36['pool']}")


def demo(
    out: Annotated[Path, typer.Option(help="Directory for the store and the exports.")] = Path("out/demo"),
    json_output: JsonOption = False,
    quiet: QuietOption = False,
) -> None:
    """Local chain, real Aave liquidations, liqtk pull into DuckDB, a summary table and a Parquet export."""
    from toolkit.devchain import Devchain, run_demo_scenario
    from toolkit.pipeline import PullRequest, pull_async
    from toolkit.store.db import Store
    from toolkit.store.export import export_liquidations, manifest_path

    output.configure(quiet=quiet, json=json_output)
    out.mkdir(parents=True, exist_ok=True)
    store_path = out / "liquidations.duckdb"
    with Devchain.start() as chain:
        output.log("devchain.started", url=chain.url, chain_id=chain.chain_id)
        liquidations = run_demo_scenario(chain)
        output.log("scenario.done", liquidations=len(liquidations))
        for protocol in DEMO_PROTOCOLS:
            output.log("pull", command=f"liqtk pull --chain devchain --protocol {protocol} --rpc {chain.url} "
                                       f"--store {store_path}")
            request = PullRequest(chain="devchain", protocol=protocol, rpc_url=chain.url, store_path=store_path)
            with output.progress_bar(f"devchain/{protocol}") as progress:
                result = asyncio.run(pull_async(request, progress))
            output.log("pull.finished", protocol=protocol, status=result.status, rows_added=result.rows_added)
    store = Store(store_path, create=False)
    frame = store.liquidations()
    parquet = out / "liquidations.parquet"
    manifest = export_liquidations(store, parquet, "parquet")
    if output.wants_json():
        output.result({"event": "demo.finished", "rows": len(frame), "store": str(store_path),
                       "export": str(parquet), "content_sha256": manifest.content_sha256})
        return
    table = Table("protocol", "block", "tx", "debt repaid", "collateral to liquidator", "protocol fee",
                  "HF before", "bonus USD", "bonus %", title=f"{len(frame)} liquidations in {store_path}")
    for row in frame.itertuples():
        table.add_row(row.protocol, str(row.block_number), row.tx_hash[:12] + "…",
                      f"{row.debt_repaid:,.4f} {row.debt_symbol}", f"{row.collateral_seized:,.6f} {row.collateral_symbol}",
                      f"{row.protocol_fee:,.6f}", f"{row.health_factor_before:.4f}",
                      f"{row.liquidation_bonus_usd:,.2f}", f"{row.liquidation_bonus_pct:.2f}")
    output.table(table)
    output.result(f"Parquet export {parquet} (content sha256 {manifest.content_sha256}), manifest {manifest_path(parquet)}")
