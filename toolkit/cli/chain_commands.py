"""``liqtk decode`` and ``liqtk protocols`` (``liqtk pull`` is :mod:`toolkit.cli.pull_command`)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from toolkit.cli import EXIT_INPUT, EXIT_OK, output
from toolkit.errors import UserInputError


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
    """List the protocol deployments in the registry: protocol, version (``params.version``), chain,
    market, every emitter address (one per line), first block and the source of the addresses."""
    from toolkit.protocols import registry

    table = Table()
    for name in ("protocol", "version", "chain", "market", "emitters", "start block", "source"):
        if name == "emitters":
            table.add_column(name, min_width=42, no_wrap=True)  # whole addresses, never cut
        else:
            table.add_column(name, overflow="fold")  # long paths wrap instead of being cut
    for d in registry().deployments:
        table.add_row(d.protocol, str(d.params.get("version", "-")), d.chain.name, d.name, "\n".join(d.emitters),
                      str(d.start_block), d.source)
    output.table(table)
