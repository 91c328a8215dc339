"""``liqtk report`` (run a notebook with parameters, render HTML) and ``liqtk cite`` (citation from a manifest)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from toolkit.cli import output
from toolkit.cli.options import JsonOption, QuietOption


def report(
    notebook: Annotated[str, typer.Option(help="Notebook name in notebooks/ (02_thresholds, thresholds, ...) or a path to an .ipynb or jupytext .py file.")],
    out: Annotated[Path, typer.Option(help="HTML report to write; the executed notebook is kept beside it as <out>.ipynb.")],
    param: Annotated[Optional[list[str]], typer.Option("--param", help="NAME=VALUE for the notebook's parameters cell (VALUE as JSON when it parses, else text); repeatable.")] = None,
    no_input: Annotated[bool, typer.Option("--no-input", help="Hide the code cells in the HTML.")] = False,
    timeout: Annotated[Optional[int], typer.Option(help="Seconds one cell may run (default: no limit).")] = None,
    json_output: JsonOption = False,
    quiet: QuietOption = False,
) -> None:
    """Run a notebook with parameters (papermill) and write it as HTML (nbconvert), for scheduled reports.

    The figures the notebook saves go next to the HTML (its out_dir parameter, when it has one).
    """
    from toolkit.compare.reports import parse_param, run_report

    output.configure(quiet=quiet, json=json_output)
    parameters = dict(parse_param(p) for p in param or [])
    with output.activity(f"report {notebook}"):
        done = run_report(notebook, out, parameters, no_input=no_input, timeout=timeout)
    record = {"event": "report.finished", "html": str(done.html), "notebook": str(done.executed),
              "parameters": parameters}
    output.emit(record, f"wrote {done.html} (executed notebook {done.executed})")


def cite(
    path: Annotated[Path, typer.Argument(help="An export file, a partitioned export directory, a figure PNG, or a manifest JSON.")],
    format: Annotated[str, typer.Option("--format", help="text, bibtex or both.")] = "both",
    json_output: JsonOption = False,
) -> None:
    """Print the citation of a dataset or figure from its manifest (plain text and BibTeX).

    --json prints both forms and the manifest's content hash as one JSON object.
    """
    from toolkit.compare.citation import bibtex, citation_text, load_manifest
    from toolkit.errors import UserInputError

    output.configure(json=json_output)
    if json_output:
        manifest = load_manifest(path)
        output.result({"text": citation_text(manifest), "bibtex": bibtex(manifest),
                       "content_sha256": manifest.content_sha256, "name": manifest.name})
        return
    if format not in ("text", "bibtex", "both"):
        raise UserInputError(f"--format {format!r} is not text, bibtex or both")
    manifest = load_manifest(path)
    parts = []
    if format in ("text", "both"):
        parts.append(citation_text(manifest))
    if format in ("bibtex", "both"):
        parts.append(bibtex(manifest))
    typer.echo("\n\n".join(parts) + ("\n\nCite the software with CITATION.cff." if format == "both" else ""))
