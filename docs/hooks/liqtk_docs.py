"""MkDocs hooks of the documentation site (mkdocs.yml ``hooks:``): generated parts, so nothing is kept in sync
by hand.

* **Sources nav**: every ``docs/sources/*.md`` is listed under "Sources" (``index.md`` first), so a page added
  there is in the site, and its anchors are checked by ``mkdocs build --strict``, without a nav edit.
* **CLI reference**: ``<!-- liqtk-cli-reference -->`` in a page (up to ``<!-- /liqtk-cli-reference -->``) becomes the reference of every ``liqtk``
  command, built from the typer app itself (:data:`toolkit.cli.COMMANDS`, subcommands included): usage, help
  text, and each option's names, type, default and help.
* **Docstring roles**: the API reference and method pages render module docstrings, which use Sphinx roles
  (``:func:`toolkit.pull```); the role prefix is dropped from the HTML, leaving the code span.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

CLI_MARKER = "<!-- liqtk-cli-reference -->"
_CLI_BLOCK = re.compile(re.escape(CLI_MARKER) + r"(?:.*?<!-- /liqtk-cli-reference -->)?", re.DOTALL)
_ROLE = re.compile(r":(?:py:)?(?:func|class|mod|meth|data|attr|exc|obj|const|ref|term):<code>~?")


def on_config(config: Any) -> Any:
    """Fill the "Sources" section of the nav with every page of ``docs/sources/``."""
    sources = Path(config["docs_dir"]) / "sources"
    pages = sorted(p.relative_to(sources.parent).as_posix() for p in sources.glob("*.md"))
    pages.sort(key=lambda name: name != "sources/index.md")
    for entry in config["nav"] or []:
        if isinstance(entry, dict) and "Sources" in entry:
            entry["Sources"] = pages
    return config


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    """Replace the CLI marker, and what stands between it and ``<!-- /liqtk-cli-reference -->`` (a note for
    readers of the unbuilt file), with the generated reference."""
    if CLI_MARKER in markdown:
        markdown = _CLI_BLOCK.sub(lambda _: cli_reference(), markdown)
    return markdown


def on_page_content(html: str, page: Any, config: Any, files: Any) -> str:
    return _ROLE.sub("<code>", html)


# -- CLI reference ---------------------------------------------------------------------------------------------


def _cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def _option_row(param: Any) -> str:
    names = ", ".join(f"`{name}`" for name in [*param.opts, *param.secondary_opts])
    kind = "flag" if getattr(param, "is_flag", False) else param.type.name
    default = param.default
    shown = "" if default in (None, False, ()) or callable(default) else f"`{getattr(default, 'value', default)}`"
    if getattr(param, "required", False):
        shown = "required"
    return f"| {names} | {kind} | {shown} | {_cell(param.help or '')} |"


def _command_markdown(path: list[str], command: Any) -> list[str]:
    name = " ".join(["liqtk", *path])
    lines = [f"## `{name}`", ""]  # its anchor: #liqtk-<path joined by ->
    help_text = (command.help or "").strip()
    if help_text:
        lines += [help_text.replace("\b\n", ""), ""]
    subcommands = getattr(command, "commands", None)
    if subcommands:
        lines += ["Subcommands: " + ", ".join(f"[`{name} {sub}`](#{'-'.join(['liqtk', *path, sub])})"
                                            for sub in subcommands), ""]
        for sub_name, sub in subcommands.items():
            lines += _command_markdown([*path, sub_name], sub)
        return lines
    arguments = [p for p in command.params if p.param_type_name == "argument"]
    usage = " ".join([name, "[OPTIONS]", *(p.name.upper() for p in arguments)])
    lines += ["```text", usage, "```", ""]
    for argument in arguments:
        lines += [f"`{argument.name.upper()}`: {_cell(getattr(argument, 'help', '') or '')}", ""]
    options = [p for p in command.params if p.param_type_name == "option"]
    if options:
        lines += ["| option | type | default | description |", "|---|---|---|---|"]
        lines += [_option_row(p) for p in options]
        lines += [""]
    return lines


def cli_reference() -> str:
    """Markdown reference of every ``liqtk`` command, from the app itself."""
    from toolkit.cli import COMMANDS, app, load_command

    root = [p for p in app.params if p.param_type_name == "option"]
    lines = ["## `liqtk`", "", (app.help or "").strip(), "", "```text", "liqtk [OPTIONS] COMMAND [ARGS]...", "```", "",
             "| option | type | default | description |", "|---|---|---|---|",
             *[_option_row(p) for p in root], "", "| command | what it does |", "|---|---|",
             *[f"| [`{name}`](#liqtk-{name}) | {_cell(summary)} |" for name, (_, summary) in COMMANDS.items()], ""]
    for name in COMMANDS:
        lines += _command_markdown([name], load_command(name))
    return "\n".join(lines)
