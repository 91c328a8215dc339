"""``liqtk decode`` and ``liqtk protocols`` (``liqtk pull`` is :mod:`toolkit.cli.pull_command`)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from toolkit.cli import EXIT_INPUT, EXIT_OK, output
from toolkit.cli.options import ChainFilterOption, JsonOption, ProtocolFilterOption
from toolkit.errors import UserInputError


def decode(
    file: Annotated[str, typer.Argument(help="File of raw logs or receipts (JSON array or JSON lines); - for stdin.")] = "-",
    protocol: Annotated[Optional[str], typer.Option(help="Decode logs of unknown emitters as this protocol.")] = None,
    chain: Annotated[Optional[str], typer.Option(help="Only match deployments of this chain (name or chain id).")] = None,
) -> None:
    """Decode raw logs to normalized JSON lines without a node (state columns null).

    The output is always JSON lines, one per log (an error line for a log that cannot be decoded); exit 2 when
    any line failed.
    """
    from toolkit.decode import decode_logs, input_text
    from toolkit.settings import chain_name_of

    chain = chain_name_of(chain) if chain is not None else None
    name = "standard input" if file == "-" else file
    if file == "-":
        data = sys.stdin.buffer.read()
    else:
        path = Path(file)
        if not path.is_file():
            raise UserInputError(f"{file}: no such file; pass a file of logs or - for stdin")
        data = path.read_bytes()
    text = input_text(data, name)
    failures = 0
    for record in decode_logs(text, protocol=protocol, chain=chain):
        failures += "error" in record
        sys.stdout.write(json.dumps(record, default=str) + "\n")
    raise typer.Exit(EXIT_INPUT if failures else EXIT_OK)


def _short(address: str) -> str:
    """``0x87870bca…fa4e2``: enough of an address to tell it apart in a table."""
    return f"{address[:10]}…{address[-5:]}"


def protocols(
    chain: ChainFilterOption = None,
    protocol: ProtocolFilterOption = None,
    wide: Annotated[bool, typer.Option("--wide", help="Every emitter address in full and the source of the addresses.")] = False,
    json_output: JsonOption = False,
) -> None:
    """List the protocol deployments in the registry: protocol, version, chain, market, emitters, first block.

    The table fits 100 columns (an emitter is shortened, several are counted); --wide shows every address in
    full and the source of the addresses, --json prints everything.
    """
    from toolkit.protocols import registry
    from toolkit.reading import check_protocol
    from toolkit.settings import chain_id_of

    output.configure(json=json_output)
    chain_id = chain_id_of(chain) if chain is not None else None
    if protocol is not None:
        check_protocol(protocol, "--protocol")
    found = [d for d in registry().deployments
             if (chain_id is None or d.chain.chain_id == chain_id) and (protocol is None or d.protocol == protocol)]
    records = [{"protocol": d.protocol, "version": d.params.get("version"), "chain": d.chain.name,
                "chain_id": d.chain.chain_id, "market": d.name, "family": d.family, "emitters": list(d.emitters),
                "start_block": d.start_block, "source": d.source} for d in found]

    def show() -> None:
        from rich import box

        table = Table(box=box.SIMPLE_HEAD, pad_edge=False, padding=(0, 1, 0, 0))
        table.add_column("protocol", no_wrap=True)
        table.add_column("version", max_width=20, overflow="fold")
        table.add_column("chain", no_wrap=True)
        table.add_column("market", max_width=16, overflow="fold")
        table.add_column("emitters", min_width=42 if wide else 16, no_wrap=True)
        table.add_column("start block", justify="right", no_wrap=True)
        if wide:
            table.add_column("source", overflow="fold")
        for d in found:
            emitters = ("\n".join(d.emitters) if wide else _short(d.emitters[0]) if len(d.emitters) == 1
                        else f"{len(d.emitters)} addresses")
            row = [d.protocol, str(d.params.get("version", "-")), d.chain.name, d.name, emitters or "-",
                   str(d.start_block)]
            table.add_row(*row, *([d.source] if wide else []))
        output.table(table)
    output.emit(records, show)
