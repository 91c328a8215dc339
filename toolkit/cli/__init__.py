"""``liqtk``: the command line, thin over the library.

Conventions (option names, ``--json``/``--quiet``, exit codes): docs/conventions.md; tests/test_cli_conventions.py
holds every command to them. Exit codes: 0 success (also a pull that found nothing new), 1 failed, 2 invalid
input, 3 nothing new (only with ``pull --exit-nothing-new``), 4 partial (committed chunks kept, the next run
resumes), 5 store locked by another process. ``pull --config`` / ``--all`` exit with the most severe code of
their pulls (:func:`worst_exit_code`).
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Iterable
from typing import TYPE_CHECKING, Annotated, Any

import typer
from typer.core import TyperCommand, TyperGroup
from typer.exceptions import TyperException
from typer.main import get_group

from toolkit.cli import output
from toolkit.errors import ToolkitError

if TYPE_CHECKING:
    from typer._click import Command, Context  # the click typer bundles

EXIT_OK, EXIT_FAILED, EXIT_INPUT, EXIT_NOTHING_NEW, EXIT_PARTIAL, EXIT_LOCKED = 0, 1, 2, 3, 4, 5

#: True in the ``liqtk`` console script's own process (:func:`run`, which ends the process when the command
#: returns): a command may then set process-wide options that code calling :func:`main` in its own process
#: (tests, notebooks) must not get.
OWN_PROCESS = False

#: Exit code of a pull by how it ended (:class:`toolkit.schedule.PlanOutcome` statuses). Nothing new is a
#: success (0, so ``liqtk pull && liqtk export`` works); ``pull --exit-nothing-new`` makes it
#: :data:`EXIT_NOTHING_NEW` (:func:`pull_exit_code`).
STATUS_EXIT: dict[str, int] = {"ok": EXIT_OK, "nothing_new": EXIT_OK, "partial": EXIT_PARTIAL,
                               "failed": EXIT_FAILED, "invalid": EXIT_INPUT, "locked": EXIT_LOCKED}
#: Most severe first: what a run of several pulls exits with when they ended differently.
SEVERITY = (EXIT_FAILED, EXIT_INPUT, EXIT_PARTIAL, EXIT_LOCKED, EXIT_OK, EXIT_NOTHING_NEW)


def pull_exit_code(status: str, *, nothing_new_code: bool = False) -> int:
    """The exit code of a pull that ended with ``status``: :data:`STATUS_EXIT`, except that nothing new is
    :data:`EXIT_NOTHING_NEW` when ``nothing_new_code`` (``--exit-nothing-new``)."""
    if status == "nothing_new" and nothing_new_code:
        return EXIT_NOTHING_NEW
    return STATUS_EXIT[status]


def worst_exit_code(codes: Iterable[int]) -> int:
    """The most severe of ``codes`` in :data:`SEVERITY` order (0 when any pull changed the store, 3 when none
    did and nothing-new codes were asked for); :data:`EXIT_OK` when there are none."""
    return min(codes, key=SEVERITY.index, default=EXIT_OK)


#: Every command, in ``liqtk --help`` order: name -> (``module:attribute``, the summary ``liqtk --help`` shows).
#: The attribute is a command function or a :class:`typer.Typer` of subcommands. A module is imported only when
#: one of its commands runs or shows its own help: ``liqtk pull`` loads neither the CEX engines nor the analyses
#: nor the crash replay. Each summary is the start of the command's own help (tests/test_startup.py checks).
COMMANDS: dict[str, tuple[str, str]] = {
    "pull": ("toolkit.cli.pull_command:pull",
             "Pull liquidation events into the store: incremental, idempotent, resumable."),
    "decode": ("toolkit.cli.chain_commands:decode",
               "Decode raw logs to normalized JSON lines without a node (state columns null)."),
    "protocols": ("toolkit.cli.chain_commands:protocols", "List the protocol deployments in the registry."),
    "status": ("toolkit.cli.store_commands:status",
               "What the store holds per chain/protocol/deployment, checkpoints, and the last runs."),
    "export": ("toolkit.cli.store_commands:export",
               "Export liquidations (canonical order) with a citable manifest (content sha256, block range, "
               "provenance)."),
    "upgrade": ("toolkit.cli.store_commands:upgrade",
                "Upgrade a store of an earlier schema version to this toolkit's, keeping everything it holds."),
    "verify": ("toolkit.cli.store_commands:verify",
               "Check every segment file of the store against what was recorded with it (size, SHA-256, rows, "
               "columns); --repair unlists damaged ones so that the next pull reads their blocks again."),
    "devchain": ("toolkit.cli.devchain_commands:devchain",
                 "Start anvil with real Aave v3 + v2 deployed (and the demo liquidations), print its RPC URL, run "
                 "until Ctrl-C."),
    "demo": ("toolkit.cli.devchain_commands:demo",
             "Local chain, real Aave liquidations, liqtk pull into DuckDB, a summary table and a Parquet export."),
    "report": ("toolkit.cli.analysis_commands:report",
               "Run a notebook with parameters (papermill) and write it as HTML (nbconvert), for scheduled reports."),
    "cite": ("toolkit.cli.analysis_commands:cite",
             "Print the citation of a dataset or figure from its manifest (plain text and BibTeX)."),
    "positions": ("toolkit.cli.positions_commands:positions",
                  "Snapshot every open borrow position of a deployment at a block: collateral and debt per asset, "
                  "prices, thresholds, e-mode and health factor, as the protocol computes them; incremental and "
                  "resumable."),
    "levels": ("toolkit.cli.positions_commands:levels",
               "Liquidation levels of positions snapshots: collateral and debt that become liquidatable as a price "
               "falls, on the lending protocols and, for the same exposure, on the venues' engines; CSV files and a "
               "citable chart."),
    "replay": ("toolkit.cli.replay_commands:replay",
               "Replay a real crash: real Aave v3/v2, Venus and Morpho Blue on a local chain (or the real positions "
               "of a fork of a chain) and the venues' engines, driven by the same prices; writes an HTML report with "
               "charts, CSV files and a manifest."),
    "cex": ("toolkit.cli.cex:cex_app",
            "Centralized-exchange liquidation engines: liquidation prices and population simulations."),
}


def load_command(name: str) -> Command:
    """The click command typer builds for ``name`` of :data:`COMMANDS`, importing its module now."""
    module, attribute = COMMANDS[name][0].split(":")
    target = getattr(importlib.import_module(module), attribute)
    holder = typer.Typer()
    if isinstance(target, typer.Typer):
        holder.add_typer(target, name=name)
    else:
        holder.command(name)(target)
    return get_group(holder).commands[name]


class LazyGroup(TyperGroup):
    """A group that lists :data:`COMMANDS` by their summaries and loads a command (:func:`load_command`)
    only once it is resolved: run, or asked for its own ``--help``.

    Typer has no lazy loading of its own: it builds every command, importing its module, before parsing.
    """

    def __init__(self, **attrs: Any) -> None:
        attrs.pop("commands", None)  # typer passes the commands registered on the Typer: none, they are lazy
        super().__init__(commands={name: TyperCommand(name, short_help=summary)
                                   for name, (_, summary) in COMMANDS.items()}, **attrs)

    def resolve_command(self, ctx: Context, args: list[str]) -> tuple[str | None, Command | None, list[str]]:
        name, command, rest = super().resolve_command(ctx, args)  # an unknown name is a usage error here
        if name is not None:
            command = self.commands[name] = load_command(name)
        return name, command, rest


def _version(value: bool) -> None:
    if value:
        from toolkit import __version__

        typer.echo(f"liqtk (liquidation-toolkit) {__version__}")
        raise typer.Exit(EXIT_OK)


_root = typer.Typer(
    cls=LazyGroup, name="liqtk", no_args_is_help=True, add_completion=True,
    help="DeFi lending liquidations from any Ethereum node, next to centralized liquidation engines.",
    epilog="Conventions and exit codes: docs/conventions.md. Shell completion: liqtk --install-completion.",
)


@_root.callback()
def _options(
    version: Annotated[bool, typer.Option("--version", "-V", callback=_version, is_eager=True,
                                          help="Print the version and exit.")] = False,
) -> None:
    """DeFi lending liquidations from any Ethereum node, next to centralized liquidation engines."""


#: The ``liqtk`` group: :class:`LazyGroup` with ``--version`` and typer's shell completion
#: (``--install-completion``, ``--show-completion``).
app: LazyGroup = typer.main.get_command(_root)  # type: ignore[assignment]


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``liqtk`` console script."""
    try:
        code = app.main(args=argv, standalone_mode=False)
    except TyperException as exc:  # usage errors of typer's bundled click (missing or bad options)
        code = exc.exit_code if exc.exit_code in (EXIT_FAILED, EXIT_INPUT) else EXIT_INPUT
        output.error(exc.format_message().replace("\n", " "), code)
    except typer.Abort:
        output.error("aborted", EXIT_FAILED)
        code = EXIT_FAILED
    except ToolkitError as exc:
        output.error(str(exc), exc.exit_code)
        code = exc.exit_code
    except KeyboardInterrupt:
        output.error("interrupted; committed chunks are kept and the next run resumes", EXIT_PARTIAL)
        code = EXIT_PARTIAL
    except Exception as exc:  # an unexpected failure still ends in one clean line
        output.error(f"internal error ({type(exc).__name__}): {exc}; rerun with LIQTK_DEBUG=1 for a traceback",
                     EXIT_FAILED)
        if os.environ.get("LIQTK_DEBUG"):
            raise
        code = EXIT_FAILED
    sys.exit(code if isinstance(code, int) else EXIT_OK)


def run() -> None:
    """Entry point of the ``liqtk`` console script and ``python -m toolkit``: :func:`main`, then a quick exit.

    Once the command has finished and its output is flushed, the process ends with :func:`os._exit`:
    the interpreter's own shutdown -- tearing down pyarrow, DuckDB, pandas and every other module --
    adds about 0.1 s to every command (measured on the README's benchmark machine) and does nothing a
    finished command needs: its store connections are closed and its files written. Code that calls
    :func:`main` itself (tests, notebooks) gets its ``SystemExit`` as before.
    """
    global OWN_PROCESS
    OWN_PROCESS = True
    try:
        main()
    except SystemExit as done:
        code = done.code if isinstance(done.code, int) else EXIT_OK if done.code is None else EXIT_FAILED
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe (``liqtk ... | head``): nothing more can be written
            pass
    os._exit(code)
