"""What the CLI prints (docs/conventions.md): results on stdout, logs and progress on stderr.

* A command's **result** goes to stdout: text or a rich table for people, one JSON document with ``--json``
  (indented on a terminal, one line otherwise, keys sorted; exact numbers as strings).
* **Log lines**, progress and errors go to stderr: dim text lines and a progress bar on a terminal; with
  ``--quiet`` JSON lines and no bar (``--quiet`` also implies ``--json``: the cron form).
* When stderr is **not a terminal** (a cron log, CI), a long command prints a progress line at least every
  :data:`PROGRESS_SECONDS` seconds (:func:`progress_bar`, :func:`activity`), so the log shows life.

Every line passes through :func:`toolkit.redact.scrub` for each RPC URL the command was given, as a last line of
defence against secrets in third-party error texts. rich is imported on the first text line, table or bar:
a ``--quiet`` run prints JSON only and starts without it.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from functools import cache
from typing import TYPE_CHECKING, Any

from toolkit.redact import scrub

if TYPE_CHECKING:
    from rich.console import Console

_state: dict[str, Any] = {"quiet": False, "json": False, "secrets": []}

#: Seconds between two progress lines when stderr is not a terminal (``LIQTK_PROGRESS_SECONDS`` overrides).
PROGRESS_SECONDS = 10.0


@cache
def _console(stderr: bool) -> Console:
    """The rich console of stderr or of stdout, made on first use. Tables keep their columns when stdout is a
    file or pipe (rich would assume 80 columns there)."""
    from rich.console import Console

    if stderr:
        return Console(stderr=True, highlight=False, soft_wrap=True)
    return Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 160)


def configure(*, quiet: bool = False, json: bool = False, rpc_urls: list[str | None] | None = None) -> None:
    """Set the output mode (``--quiet``, ``--json``) and the URLs whose secrets must never be printed."""
    _state["quiet"] = quiet
    _state["json"] = json or quiet
    _state["secrets"] = [u for u in (rpc_urls or []) if u]


def hide(*urls: str | None) -> None:
    """Also keep the secrets of ``urls`` out of every line printed from now on."""
    _state["secrets"] += [u for u in urls if u and u not in _state["secrets"]]


def is_quiet() -> bool:
    """``--quiet``: JSON log lines on stderr, no progress bar."""
    return bool(_state["quiet"])


def wants_json() -> bool:
    """``--json`` (or ``--quiet``): the result as JSON on stdout."""
    return bool(_state["json"])


def clean(text: str) -> str:
    for url in _state["secrets"]:
        text = scrub(text, url)
    return text


def _default(value: Any) -> Any:
    """JSON for what :mod:`json` does not know: exact decimals as strings, times in ISO-8601 UTC with ``Z``."""
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(UTC).replace(tzinfo=None).isoformat() + "Z"
    if isinstance(value, date):  # a date, or a naive datetime
        return value.isoformat()
    return str(value)  # Decimal (exact text), Path, and anything else


def dumps(record: Any, *, indent: int | None = None) -> str:
    """``record`` as JSON text the way every command prints it (keys sorted, exact values as strings)."""
    return json.dumps(record, default=_default, sort_keys=True, indent=indent)


def log(event: str, **fields: Any) -> None:
    """One log event: a JSON line on stderr with ``--quiet``, a dim text line otherwise."""
    if is_quiet():
        record = {"ts": datetime.now(UTC).isoformat(timespec="seconds"), "event": event, **fields}
        sys.stderr.write(clean(dumps(record)) + "\n")
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


def warn(message: str) -> None:
    """A warning line on stderr (a JSON ``warning`` event with ``--quiet``)."""
    if is_quiet():
        log("warning", message=message)
    else:
        sys.stderr.write(clean(f"warning: {message}") + "\n")


def result(text_or_record: str | dict[str, Any] | list[Any]) -> None:
    """A command's result on stdout: a record (dict or list) as JSON, indented on a terminal; text as is."""
    if isinstance(text_or_record, dict | list):
        indent = 2 if sys.stdout.isatty() and not is_quiet() else None
        sys.stdout.write(clean(dumps(text_or_record, indent=indent)) + "\n")
        sys.stdout.flush()
    else:
        _console(stderr=False).print(clean(text_or_record))


def emit(record: dict[str, Any] | list[Any], text: str | Callable[[], None]) -> None:
    """The result of a command: ``record`` as JSON with ``--json``/``--quiet``, else ``text`` (a string, or a
    function that prints tables and lines)."""
    if wants_json():
        result(record)
    elif callable(text):
        text()
    else:
        result(text)


def table(renderable: Any) -> None:
    _console(stderr=False).print(renderable)


def _interval() -> float:
    try:
        return max(0.05, float(os.environ.get("LIQTK_PROGRESS_SECONDS", PROGRESS_SECONDS)))
    except ValueError:
        return PROGRESS_SECONDS


class _Heartbeat:
    """Prints ``describe()`` on stderr every :func:`_interval` seconds from a daemon thread, until stopped.

    Text lines normally, ``progress`` JSON log lines with ``--quiet``. Used only when stderr is not a terminal
    (a terminal has the bar)."""

    def __init__(self, event: str, describe: Callable[[], dict[str, Any]]) -> None:
        self._event, self._describe = event, describe
        self._stop = threading.Event()
        self._started = time.monotonic()
        self._thread = threading.Thread(target=self._run, name="liqtk-progress", daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(_interval()):
            fields, elapsed = self._describe(), round(time.monotonic() - self._started)
            try:
                if is_quiet():
                    log("progress", task=self._event, **fields, elapsed_s=elapsed)
                else:
                    details = "".join(f"{k.replace('_', ' ')} {v}, " for k, v in fields.items())
                    sys.stderr.write(clean(f"{self._event}: {details}{elapsed} s elapsed") + "\n")
                    sys.stderr.flush()
            except (OSError, ValueError):  # stderr closed: nothing more to say
                return

    def __enter__(self) -> _Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=1)


def _stderr_is_terminal() -> bool:
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


@contextmanager
def activity(description: str, status: Callable[[], dict[str, Any]] | None = None) -> Iterator[None]:
    """A long step without a bar of its own (running a notebook, writing a report): when stderr is not a
    terminal, a progress line every :data:`PROGRESS_SECONDS` seconds with ``status()`` and the time elapsed."""
    if _stderr_is_terminal():
        yield
        return
    with _Heartbeat(description, status or dict):
        yield


@contextmanager
def progress_bar(description: str) -> Iterator[Any]:
    """A ``progress(done, total, rows)`` callback: a bar on a terminal; with ``--quiet`` a JSON progress event
    per update; when stderr is not a terminal, also a progress line at least every :data:`PROGRESS_SECONDS`."""
    latest: dict[str, Any] = {"blocks_done": 0, "blocks_total": None, "rows_added": 0}

    def remember(done: int, total: int, rows: int) -> None:
        latest.update(blocks_done=done, blocks_total=total, rows_added=rows)

    if is_quiet():
        def report(done: int, total: int, rows: int) -> None:
            remember(done, total, rows)
            log("progress", blocks_done=done, blocks_total=total, rows_added=rows)
        with activity(description, lambda: dict(latest)):
            yield report
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    console = _console(stderr=True)
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TextColumn("blocks, {task.fields[rows]} rows"), TimeElapsedColumn(),
                  console=console, transient=False, disable=not console.is_terminal) as bar, \
            activity(description, lambda: dict(latest)):
        task = bar.add_task(description, total=None, rows=0)

        def update(done: int, total: int, rows: int) -> None:
            remember(done, total, rows)
            bar.update(task, completed=done, total=total, rows=rows)
        yield update
