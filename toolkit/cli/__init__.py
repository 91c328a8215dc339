"""``liqtk``: the command line, thin over the library.

Exit codes (README.md, "Exit codes"): 0 the store changed / command succeeded, 1 failed,
2 invalid input, 3 nothing new, 4 partial (committed chunks kept, the next run resumes),
5 store locked by another process. ``pull --config`` / ``--all`` exit with the most severe code of
their pulls (:func:`worst_exit_code`).
"""

from __future__ import annotations

import sys
from collections.abc import Iterable

import typer
from typer.exceptions import TyperException

from toolkit.cli import output
from toolkit.errors import ToolkitError

EXIT_OK, EXIT_FAILED, EXIT_INPUT, EXIT_NOTHING_NEW, EXIT_PARTIAL, EXIT_LOCKED = 0, 1, 2, 3, 4, 5

#: Exit code of a pull by how it ended (:class:`toolkit.schedule.PlanOutcome` statuses).
STATUS_EXIT: dict[str, int] = {"ok": EXIT_OK, "nothing_new": EXIT_NOTHING_NEW, "partial": EXIT_PARTIAL,
                               "failed": EXIT_FAILED, "invalid": EXIT_INPUT, "locked": EXIT_LOCKED}
#: Most severe first: what a run of several pulls exits with when they ended differently.
SEVERITY = (EXIT_FAILED, EXIT_INPUT, EXIT_PARTIAL, EXIT_LOCKED, EXIT_OK, EXIT_NOTHING_NEW)


def worst_exit_code(codes: Iterable[int]) -> int:
    """The most severe of ``codes`` in :data:`SEVERITY` order; :data:`EXIT_NOTHING_NEW` when there are none."""
    return min(codes, key=SEVERITY.index, default=EXIT_NOTHING_NEW)

app = typer.Typer(
    name="liqtk",
    help="DeFi lending liquidations from any Ethereum node, next to centralized liquidation engines.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _register() -> None:
    from toolkit.cli import (analysis_commands, chain_commands, devchain_commands, pull_command, replay_commands,
                             store_commands)
    from toolkit.cli.cex import cex_app

    for module in (pull_command, chain_commands, store_commands, devchain_commands, analysis_commands,
                   replay_commands):
        module.register(app)
    app.add_typer(cex_app, name="cex")


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``liqtk`` console script."""
    _register()
    try:
        code = app(args=argv, standalone_mode=False)
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
        if __import__("os").environ.get("LIQTK_DEBUG"):
            raise
        code = EXIT_FAILED
    sys.exit(code if isinstance(code, int) else EXIT_OK)
