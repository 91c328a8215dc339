"""What the CLI prints: a progress bar for people, JSON lines for cron (``--quiet``).

Logs and errors go to stderr; a command's result goes to stdout. Every line passes through
:func:`toolkit.redact.scrub` for each RPC URL the command was given, as a last line of defence
against secrets in third-party error texts. rich is imported on the first text line, table or bar:
a ``--quiet`` run prints JSON only and starts without it.
"""

from __future__ import annotations

import json
import sys
from contextlib import contextmanager
from collections.abc import Iterator
from datetime import UTC, datetime
from functools import cache
from typing import TYPE_CHECKING, Any

from toolkit.redact import scrub

if TYPE_CHECKING:
    from rich.console import Console

_state: dict[str, Any] = {"quiet": False, "secrets": []}


@cache
def _console(stderr: bool) -> Console:
    """The rich console of stderr or of stdout, made on first use. Tables keep their columns when stdout is a
    file or pipe (rich would assume 80 columns there)."""
    from rich.console import Console

    if stderr:
        return Console(stderr=True, highlight=False, soft_wrap=True)
    return Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 160)


def configure(*, quiet: bool = False, rpc_urls: list[str | None] | None = None) -> None:
    """Set the output mode and the URLs whose secrets must never be printed."""
    _state["quiet"] = quiet
    _state["secrets"] = [u for u in (rpc_urls or []) if u]


def is_quiet() -> bool:
    return bool(_state["quiet"])


def clean(text: str) -> str:
    for url in _state["secrets"]:
        text = scrub(text, url)
    return text


def log(event: str, **fields: Any) -> None:
    """One log event: a JSON line on stderr with ``--quiet``, a dim text line otherwise."""
    if is_quiet():
        record = {"ts": datetime.now(UTC).isoformat(timespec="seconds"), "event": event, **fields}
        sys.stderr.write(clean(json.dumps(record, default=str)) + "\n")
        sys.stderr.flush()
    else:
        details = " ".join(f"{k}={v}" for k, v in fields.items())
        _console(stderr=True).print(clean(f"[dim]{event}[/dim] {details}".rstrip()))


def error(message: str, exit_code: int) -> None:
    """The one line a failing command prints."""
    if is_quiet():
        log("error", message=message, exit_code=exit_code)
    else:
        sys.stderr.write(clean(f"error: {message}") + "\n")


def result(text_or_record: str | dict[str, Any]) -> None:
    """A command's result on stdout (records as JSON with ``--quiet``)."""
    if isinstance(text_or_record, dict):
        sys.stdout.write(clean(json.dumps(text_or_record, default=str, sort_keys=True)) + "\n")
    else:
        _console(stderr=False).print(clean(text_or_record))


def table(renderable: Any) -> None:
    _console(stderr=False).print(renderable)


@contextmanager
def progress_bar(description: str) -> Iterator[Any]:
    """A ``progress(done, total, rows)`` callback: a bar on a terminal, nothing when stderr is a file,
    JSON progress events with ``--quiet``."""
    if is_quiet():
        def report(done: int, total: int, rows: int) -> None:
            log("progress", blocks_done=done, blocks_total=total, rows_added=rows)
        yield report
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    console = _console(stderr=True)
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TextColumn("blocks, {task.fields[rows]} rows"), TimeElapsedColumn(),
                  console=console, transient=False, disable=not console.is_terminal) as bar:
        task = bar.add_task(description, total=None, rows=0)

        def report(done: int, total: int, rows: int) -> None:
            bar.update(task, completed=done, total=total, rows=rows)
        yield report
