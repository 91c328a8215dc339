"""``liqtk decode`` and ``liqtk protocols`` (``liqtk pull`` is :mod:`toolkit.cli.pull_command`)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from toolkit.cli import EXIT_INPUT, EXIT_OK, output
from toolkit.cli.options import ChainFilterOption, JsonOption, ProtocolFilterOption, StoreOption
from toolkit.errors import StoreError, UserInputError


def decode(
    file: Annotated[str, typer.Argument(help="File of raw logs or receipts (JSON array or JSON lines); - for stdin.")] = "-",
    protocol: Annotated[Optional[str], typer.Option(help="Decode logs of unknown emitters as this protocol.")] = None,
    chain: Annotated[Optional[str], typer.Option(help="Only match deployments of this chain (name or chain id).")] = None,
    store: StoreOption = None,
) -> None:
    """Decode raw logs to normalized JSON lines without a node (state columns null).

    The output is always JSON lines, one per log (an error line for a log that cannot be decoded); exit 2 when
    any line failed. Every argument of the event is in ``event_args`` (a JSON object). Logs of the markets the
    registry contracts list (cTokens, Aave pools, Maker auction contracts, Euler vaults) are attributed with
    the markets a store's pulls discovered: --store, else the default store when there is one.
    """
    from toolkit.decode import decode_logs, input_text
    from toolkit.settings import chain_name_of, resolve_store_path
    from toolkit.store.db import Store

    chain = chain_name_of(chain) if chain is not None else None
    name = "standard input" if file == "-" else file
    if file == "-":
        data = sys.stdin.buffer.read()
    else:
        if not Path(file).is_file():
            raise UserInputError(f"{file}: no such file; pass a file of logs or - for stdin")
        data = Path(file).read_bytes()
    text = input_text(data, name)
    store_path = resolve_store_path(store)
    opened = None
    if store is not None:
        opened = Store(store_path, create=False)
    elif store_path.exists():
        try:
            opened = Store(store_path, create=False)
        except StoreError:
            opened = None  # the default store is optional here: decode without its markets
    failures = 0
    for record in decode_logs(text, protocol=protocol, chain=chain, store=opened):
        failures += "error" in record
        if record.get("event_args"):
            record = {**record, "event_args": json.loads(record["event_args"])}  # an object in the JSON line
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
    full and the source of the addresses, --json prints everything. An entry whose markets are found on the
    chain (``discovery``) shows its registry contract(s) instead: the markets they list are read at each pull.
    """
    from toolkit.protocols import registry
    from toolkit.protocols.discovery import method_of
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
                "start_block": d.start_block, "source": d.source, "discovery": d.discovery,
                "registry_contracts": method_of(d).registry_contracts(d) if d.discovery else {}} for d in found]

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
            if d.discovery:  # the markets are what its registry contract(s) list at the pulled block
                registries = list(method_of(d).registry_contracts(d).values())
                emitters = ("\n".join(registries) if wide else _short(registries[0]) if len(registries) == 1
                            else f"{len(registries)} registries")
            row = [d.protocol, str(d.params.get("version", "-")), d.chain.name, d.name, emitters or "-",
                   str(d.start_block)]
            table.add_row(*row, *([d.source] if wide else []))
        output.table(table)
    output.emit(records, show)
