"""Options several ``liqtk`` commands share: one name, one meaning and one help text per concept
(docs/conventions.md; tests/test_cli_conventions.py checks every command against :data:`CANONICAL`).

A command that takes one of these concepts uses the option defined here rather than its own.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

StoreOption = Annotated[Optional[Path], typer.Option(
    "--store", help="DuckDB store file (default: $LIQTK_HOME/liquidations.duckdb or the platform data dir).")]
QuietOption = Annotated[bool, typer.Option(
    "--quiet", "-q", help="No progress bar; log lines as JSON on stderr and the result as JSON on stdout (for cron).")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print the result as JSON on stdout.")]
ChainOption = Annotated[Optional[str], typer.Option(
    "--chain", help="Chain name from the registry (ethereum, devchain, ...) or chain id.")]
ChainFilterOption = Annotated[Optional[str], typer.Option(
    "--chain", help="Only this chain: name from the registry (ethereum, devchain, ...) or chain id.")]
ProtocolFilterOption = Annotated[Optional[str], typer.Option("--protocol", help="Only this protocol (aave-v3, ...).")]
FromBlockOption = Annotated[Optional[int], typer.Option(
    "--from-block", help="First block (inclusive).")]
ToBlockOption = Annotated[Optional[int], typer.Option("--to", help="Last block (inclusive).")]
WaitOption = Annotated[float, typer.Option(
    "--wait", help="Seconds to wait for another pull that holds the store (exit 5 after that).")]

#: The option names with a fixed meaning on every command, and the names they replace (a command that offers
#: one of the replaced names fails tests/test_cli_conventions.py). Python keyword arguments use the same words
#: (``chain``, ``protocol``, ``store``, ``from_block``, ``to``, ``wait``, ``out``).
CANONICAL: dict[str, tuple[str, ...]] = {
    "--chain": ("--chain-id", "--network", "--chain-name"),
    "--protocol": ("--protocols-id",),
    "--store": ("--db", "--database", "--store-path"),
    "--rpc": ("--rpc-url", "--url", "--node", "--endpoint"),
    "--from-block": ("--start-block", "--first-block", "--from"),
    "--to": ("--to-block", "--end-block", "--last-block", "--until"),
    "--wait": ("--lock-wait", "--wait-seconds"),
    "--out": ("--output", "--out-dir", "--output-dir"),
    "--json": ("--json-output", "--as-json", "--format-json"),
    "--quiet": ("--silent",),
    "--venue": ("--exchange",),
    "--venues": ("--exchanges",),
}


def comma_list(text: str | None) -> list[str]:
    """The items of a comma-separated option value (``"bitmex, binance"`` -> ``["bitmex", "binance"]``), blanks
    dropped; ``[]`` for ``None``."""
    return [item.strip() for item in (text or "").split(",") if item.strip()]
