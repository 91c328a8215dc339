"""``liqtk pull``, ``liqtk decode`` and ``liqtk protocols``."""

from __future__ import annotations

import asyncio
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from toolkit.cli import EXIT_INPUT, EXIT_NOTHING_NEW, EXIT_OK, output
from toolkit.errors import UserInputError
from toolkit.protocols import registry

StoreOption = Annotated[Optional[Path], typer.Option("--store", help="DuckDB store file [default: $LIQTK_HOME/liquidations.duckdb or the platform data dir].")]
QuietOption = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar; JSON log lines on stderr, JSON result on stdout (for cron).")]


def parse_bound(value: str) -> str | int:
    """``--to``: ``finalized``, ``safe``, ``latest`` or a block number."""
    if value in ("finalized", "safe", "latest"):
        return value
    if value.isdigit():
        return int(value)
    raise UserInputError(f"--to {value!r} is not finalized, safe, latest or a block number")


def parse_since(value: str) -> datetime:
    """``--since``: an ISO date or date-time, read as UTC when it has no offset."""
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise UserInputError(f"--since {value!r} is not an ISO date such as 2024-08-05 or 2024-08-05T12:00") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def pull(
    chain: Annotated[str, typer.Option(help="Chain name from the registry (ethereum, devchain, ...).")],
    protocol: Annotated[str, typer.Option(help="Protocol id (aave-v3, aave-v2, spark, ...).")],
    rpc: Annotated[Optional[str], typer.Option(help="JSON-RPC URL [default: the chain's LIQTK_RPC_<CHAIN> variable]. Never printed or stored.")] = None,
    from_block: Annotated[Optional[int], typer.Option("--from-block", help="First block (first pull only; later pulls resume from the checkpoint).")] = None,
    since: Annotated[Optional[str], typer.Option(help="First block at or after this UTC date/time (first pull only).")] = None,
    to: Annotated[str, typer.Option(help="Last block: finalized (default), safe, latest or a number.")] = "finalized",
    confirmations: Annotated[int, typer.Option(help="With --to latest: stay this many blocks behind the head.")] = 0,
    no_state: Annotated[bool, typer.Option("--no-state", help="Skip eth_call state reads (no archive node needed); state columns stay null.")] = False,
    address: Annotated[Optional[str], typer.Option(help="Pool address of a fork or custom deployment of --protocol.")] = None,
    market: Annotated[Optional[str], typer.Option(help="Only this market of the protocol (deployment name).")] = None,
    blocks_per_request: Annotated[Optional[int], typer.Option("--blocks-per-request", help="Most blocks per eth_getLogs request and committed chunk [default: adaptive].")] = None,
    store: StoreOption = None,
    quiet: QuietOption = False,
) -> None:
    """Pull liquidation events into the store: incremental, idempotent, resumable."""
    from toolkit.pipeline import PullRequest, pull_async
    from toolkit.settings import resolve_rpc_url, resolve_store_path

    output.configure(quiet=quiet, rpc_urls=[rpc])
    if from_block is not None and since is not None:
        raise UserInputError("pass either --from-block or --since, not both")
    request = PullRequest(
        chain=chain, protocol=protocol, rpc_url=resolve_rpc_url(chain, rpc), store_path=resolve_store_path(store),
        from_block=from_block, since=parse_since(since) if since else None, to=parse_bound(to),
        confirmations=confirmations, no_state=no_state, address=address, deployment=market,
        blocks_per_request=blocks_per_request,
    )
    output.configure(quiet=quiet, rpc_urls=[rpc, request.rpc_url])
    with output.progress_bar(f"{chain}/{protocol}") as progress:
        result = asyncio.run(pull_async(request, progress))
    summary = {"event": "pull.finished", "run_id": result.run_id, "status": result.status,
               "chain_id": result.chain_id, "to_block": result.to_block, "rows_added": result.rows_added,
               "deployments": [d.__dict__ for d in result.deployments], "store": str(request.store_path)}
    if quiet:
        output.result(summary)
    else:
        for d in result.deployments:
            rewound = f", rewound to block {d.rewound_to} after a reorg" if d.rewound_to is not None else ""
            output.result(f"{d.protocol}/{d.deployment}: blocks {d.from_block}..{d.to_block}, "
                          f"{d.rows_added} new rows in {d.chunks} chunks{rewound}")
        output.result(f"run {result.run_id}: {result.status}, store {request.store_path}")
    raise typer.Exit(EXIT_OK if result.status == "ok" else EXIT_NOTHING_NEW)


def decode(
    file: Annotated[str, typer.Argument(help="File of raw logs or receipts (JSON array or JSON lines); - for stdin.")] = "-",
    protocol: Annotated[Optional[str], typer.Option(help="Decode logs of unknown emitters as this protocol.")] = None,
    chain: Annotated[Optional[str], typer.Option(help="Only match deployments of this chain.")] = None,
) -> None:
    """Decode raw logs to normalized JSON lines without a node (state columns null)."""
    from toolkit.decode import decode_logs

    if file == "-":
        text = sys.stdin.read()
    else:
        path = Path(file)
        if not path.is_file():
            raise UserInputError(f"{file}: no such file; pass a file of logs or - for stdin")
        text = path.read_text()
    failures = 0
    for record in decode_logs(text, protocol=protocol, chain=chain):
        failures += "error" in record
        sys.stdout.write(json.dumps(record, default=str) + "\n")
    raise typer.Exit(EXIT_INPUT if failures else EXIT_OK)


def protocols() -> None:
    """List the protocol deployments in the registry."""
    table = Table("protocol", "chain", "market", "family", "emitters", "start block", "source")
    for d in registry().deployments:
        table.add_row(d.protocol, d.chain.name, d.name, d.family, ", ".join(d.emitters), str(d.start_block), d.source)
    output.table(table)


def register(app: typer.Typer) -> None:
    app.command()(pull)
    app.command()(decode)
    app.command()(protocols)
