"""Scheduled reports: run a notebook with parameters (papermill) and render it as HTML (nbconvert).

Papermill injects the parameters after the cell tagged ``parameters`` and saves the executed copy
(docs/sources/store.md#papermill-parameters), whose ``metadata.papermill.parameters`` records them; that executed
``.ipynb`` is kept next to the HTML so the report can be archived and cited with the manifests it prints. A notebook
is named by path (``.ipynb``, or a jupytext ``py:percent`` ``.py`` source) or by name in the checkout's
``notebooks/`` directory (``02_thresholds``, or ``thresholds`` when one notebook ends with it). It runs in its own
directory, with the ``python3`` kernel, which talks to this process over IPC sockets (no TCP port, nothing in plain
text on the network).

Figures go next to the report: a notebook that has an ``out_dir`` parameter gets the report's directory unless
``out_dir`` is given; run by hand, its figures go to :func:`figure_dir` (``out/figures`` of the checkout).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from toolkit.errors import ToolkitError, UserInputError

#: The checkout's notebook directory (``<root>/notebooks``).
NOTEBOOK_DIR = Path(__file__).resolve().parents[2] / "notebooks"
#: Where a notebook run by hand saves its figures (its ``out_dir`` is None): ``out/figures`` of the checkout.
FIGURE_DIR = NOTEBOOK_DIR.parent / "out" / "figures"


def figure_dir(out_dir: str | Path | None) -> Path:
    """The directory a notebook saves its figures in: ``out_dir`` (``liqtk report`` passes the report's
    directory), else :data:`FIGURE_DIR`; created when missing."""
    path = Path(out_dir) if out_dir else FIGURE_DIR
    path.mkdir(parents=True, exist_ok=True)
    return path


def _ipc_kernel_manager() -> type:
    """A kernel manager whose kernel listens on IPC sockets in a private directory instead of TCP ports:
    ipykernel warns on every TCP start that the traffic is unencrypted, and a report needs no network."""
    from jupyter_client.manager import AsyncKernelManager

    class IpcKernelManager(AsyncKernelManager):
        def __init__(self, **kwargs: Any) -> None:
            super().__init__(transport="ipc", **kwargs)
            runtime = Path(tempfile.mkdtemp(prefix="liqtk-kernel-"))
            self.ip = str(runtime / "kernel")

        async def _async_cleanup_resources(self, restart: bool = False) -> None:
            await super()._async_cleanup_resources(restart=restart)
            if not restart:
                shutil.rmtree(Path(self.ip).parent, ignore_errors=True)

    return IpcKernelManager


def parse_param(text: str) -> tuple[str, Any]:
    """``k=v`` -> ``(k, v)``: ``v`` as JSON when it parses (numbers, ``true``, ``null``, quoted strings, lists),
    else the text itself."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip().isidentifier():
        raise UserInputError(f"--param {text!r} is not NAME=VALUE with a Python identifier as NAME")
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        value = raw
    return key.strip(), value


def find_notebook(name: str | Path) -> Path:
    """The notebook ``name`` names (module docstring)."""
    path = Path(name)
    if path.is_file():
        return path.absolute()
    stem = path.name.removesuffix(".ipynb").removesuffix(".py")
    candidates = sorted({p for p in NOTEBOOK_DIR.glob("*.ipynb") if p.stem == stem or p.stem.endswith(f"_{stem}")})
    if len(candidates) == 1:
        return candidates[0]
    known = ", ".join(sorted(p.stem for p in NOTEBOOK_DIR.glob("*.ipynb"))) or "none"
    what = "several notebooks match" if candidates else "no notebook"
    raise UserInputError(f"--notebook {name}: {what} (notebooks: {known}); pass a name or a path")


@dataclass(frozen=True)
class Report:
    """Where a report went: the HTML and the executed notebook beside it."""

    html: Path
    executed: Path


def run_report(notebook: str | Path, out: str | Path, parameters: dict[str, Any] | None = None, *,
               no_input: bool = False, timeout: int | None = None) -> Report:
    """Execute ``notebook`` with ``parameters`` and write ``out`` (HTML) and ``<out stem>.ipynb`` beside it,
    each under a temporary name first and then renamed into place. ``no_input`` hides the code cells.

    :raises ToolkitError: a cell failed (its number, error and the executed copy are named).
    """
    import jupytext
    import nbformat
    import papermill
    from nbconvert import HTMLExporter

    source = find_notebook(notebook)
    out = Path(out).absolute()
    out.parent.mkdir(parents=True, exist_ok=True)
    executed = out.with_suffix(".ipynb")
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=f".{out.stem}.") as work:
        work_dir = Path(work)
        if source.suffix == ".py":
            start = work_dir / f"{source.stem}.ipynb"
            nbformat.write(jupytext.read(source), start)
        else:
            start = source
        run = work_dir / executed.name
        parameters = dict(parameters or {})
        if "out_dir" in papermill.inspect_notebook(str(start)) and "out_dir" not in parameters:
            parameters["out_dir"] = str(out.parent)  # the figures go next to the report
        try:
            papermill.execute_notebook(str(start), str(run), parameters=parameters, kernel_name="python3",
                                       cwd=str(source.parent), progress_bar=False, log_output=False,
                                       execution_timeout=timeout, kernel_manager_class=_ipc_kernel_manager())
        except papermill.PapermillExecutionError as exc:
            if run.exists():
                os.replace(run, executed)
            raise ToolkitError(f"notebook {source.name} failed in cell {exc.exec_count}: {exc.ename}: "
                               f"{exc.evalue}; the executed copy is {executed}") from None
        body, _ = HTMLExporter(exclude_input=no_input).from_filename(str(run))
        html = work_dir / out.name
        html.write_text(body, encoding="utf-8")
        os.replace(run, executed)
        os.replace(html, out)
    return Report(out, executed)
