"""Every ``liqtk`` command follows docs/conventions.md: ``--version``, ``--help`` of each command (also commands
added later: they are found through :data:`toolkit.cli.COMMANDS`), one option name per concept, ``--json`` on
every command that prints a result, help texts that render whole.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import toolkit
from toolkit.cli import COMMANDS, load_command
from toolkit.cli.options import CANONICAL

#: Commands that print a result but take no ``--json``, and why.
NO_JSON = {("decode",): "its output is always JSON lines, one per log"}
#: Long option names: lower-case words joined by ``-``.
LONG_NAME = re.compile(r"^--[a-z][a-z0-9]*(-[a-z0-9]+)*$")
#: Replaced names -> the canonical name to use instead (options.CANONICAL).
REPLACED = {old: new for new, olds in CANONICAL.items() for old in olds}
#: Value types each canonical option must take, by click type name.
TYPES = {"--chain": "str", "--from-block": "int", "--wait": "float", "--store": "path", "--rpc": "str"}
#: What is left of a help text whose ``[...]`` rich dropped: a lone period or comma after a space, empty brackets.
STRAY = re.compile(r"\s[.,](?![.\w])|\(\s*\)")


def _commands() -> list[tuple[tuple[str, ...], object]]:
    """Every leaf command as (path, click command), subcommands of groups (``cex ...``) included."""
    found = []

    def walk(path: tuple[str, ...], command: object) -> None:
        sub = getattr(command, "commands", None)
        if sub:
            for name, child in sub.items():
                walk((*path, name), child)
        else:
            found.append((path, command))
    for name in COMMANDS:
        walk((name,), load_command(name))
    return found


COMMAND_PATHS = [path for path, _ in _commands()]
#: The console script, as users run it.
LIQTK = str(Path(sys.executable).with_name("liqtk"))


def _liqtk(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1", "TERM": "dumb"}
    return subprocess.run([LIQTK, *args], capture_output=True, text=True, timeout=120, env=env)


def test_version() -> None:
    for flag in ("--version", "-V"):
        done = _liqtk(flag)
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == f"liqtk (liquidation-toolkit) {toolkit.__version__}"


def test_shell_completion_is_offered() -> None:
    done = _liqtk("--help")
    assert done.returncode == 0 and "--install-completion" in done.stdout and "--show-completion" in done.stdout


@pytest.mark.parametrize("path", COMMAND_PATHS, ids=" ".join)
def test_help_of_every_command_renders_whole(path: tuple[str, ...]) -> None:
    """``liqtk ... --help`` exits 0 and shows every option's help without stray fragments: rich reads
    ``[text]`` as markup and drops it (``Mark price [default: entry].`` became ``Mark price .``)."""
    done = _liqtk(*path, "--help")
    assert done.returncode == 0, done.stderr
    assert f"Usage: liqtk {' '.join(path)}" in " ".join(done.stdout.split())
    stray = STRAY.search(done.stdout)
    assert stray is None, f"liqtk {' '.join(path)} --help shows {done.stdout[stray.start() - 30:stray.end() + 5]!r}"


@pytest.mark.parametrize("path", COMMAND_PATHS, ids=" ".join)
def test_option_names_follow_the_scheme(path: tuple[str, ...]) -> None:
    command = dict(_commands())[path]
    names = {}
    for param in command.params:  # type: ignore[attr-defined]
        if param.param_type_name != "option":
            continue
        for opt in [*param.opts, *param.secondary_opts]:
            names[opt] = param
        help_text = param.help or ""
        assert help_text.strip(), f"liqtk {' '.join(path)} {param.opts[0]}: no help text"
        assert "[" not in help_text and "]" not in help_text, (
            f"liqtk {' '.join(path)} {param.opts[0]}: square brackets in the help are eaten as markup")
    for opt, param in names.items():
        if opt.startswith("--"):
            assert LONG_NAME.match(opt), f"liqtk {' '.join(path)} {opt}: long options are lower-case-with-dashes"
        assert opt not in REPLACED, f"liqtk {' '.join(path)} {opt}: call it {REPLACED[opt]} (docs/conventions.md)"
        if opt in TYPES:
            assert param.type.name == TYPES[opt], f"liqtk {' '.join(path)} {opt}: takes {TYPES[opt]}"
    if "--quiet" in names:
        assert "-q" in names["--quiet"].opts and names["--quiet"].is_flag
    if path not in NO_JSON:
        assert "--json" in names, f"liqtk {' '.join(path)}: every command that prints a result takes --json"
        assert names["--json"].is_flag and names["--json"].help == "Print the result as JSON on stdout."


def test_protocols_table_fits_100_columns_and_json_has_everything() -> None:
    from toolkit.protocols import registry

    table = _liqtk("protocols")
    assert table.returncode == 0 and max(len(line.rstrip()) for line in table.stdout.splitlines()) <= 100
    listed = json.loads(_liqtk("protocols", "--chain", "ethereum", "--json").stdout)
    assert {d["chain"] for d in listed} == {"ethereum"}
    assert len(listed) == sum(d.chain.name == "ethereum" for d in registry().deployments)
    # an entry whose markets are found on the chain names its registry contract(s) instead of emitters
    assert all((d["emitters"] or d["registry_contracts"]) and d["source"] for d in listed)
    assert json.loads(_liqtk("protocols", "--chain", "1", "--json").stdout) == listed
    wide = _liqtk("protocols", "--chain", "ethereum", "--protocol", "aave-v3", "--wide")
    registry_address = registry().find("ethereum", "aave-v3")[0].address("addresses_provider_registry")
    assert registry_address in wide.stdout and "source" in wide.stdout
    unknown = _liqtk("protocols", "--protocol", "aave_v3")
    assert unknown.returncode == 2 and "did you mean 'aave-v3'" in unknown.stderr


def test_venue_ids_are_the_same_for_cex_and_replay() -> None:
    """``binance`` and ``binance-usdm`` name one profile everywhere (docs/conventions.md, "Venue ids")."""
    from toolkit.cex.venues import VENUE_ALIASES, VENUE_IDS, load_venue, venue_id

    for name in (*VENUE_IDS, *VENUE_ALIASES):
        assert load_venue(name).id == venue_id(name) == VENUE_ALIASES.get(name, name)
    args = ["cex", "liquidation-price", "--symbol", "BTCUSDT", "--side", "long", "--qty", "1", "--entry", "50000",
            "--leverage", "10", "--json"]
    short, full = (json.loads(_liqtk(*args, "--venue", v).stdout) for v in ("binance", "binance-usdm"))
    assert short == full
    assert "binance-usdm" in _liqtk("replay", "--help").stdout


def test_python_names_match_the_cli() -> None:
    """``toolkit.pull`` shows its real signature with the CLI's names; ``dir(toolkit)`` is the public API."""
    import inspect

    parameters = inspect.signature(toolkit.pull).parameters
    assert {"chain", "protocol", "rpc", "store", "from_block", "since", "to", "wait", "market"} <= set(parameters)
    assert "lock_wait" not in parameters
    assert set(inspect.signature(toolkit.liquidations).parameters) == {
        "store", "chain", "protocol", "market", "from_block", "to", "as_"}
    assert dir(toolkit) == sorted(toolkit.__all__) and "pull" in dir(toolkit)
    with pytest.raises(toolkit.UserInputError, match="unknown protocol 'aave_v3'"):
        toolkit.liquidations("/nonexistent/store.duckdb", protocol="aave_v3")


@pytest.mark.parametrize("quiet", [False, True])
def test_progress_lines_on_a_non_terminal(quiet: bool, capsys, monkeypatch) -> None:
    """With stderr not a terminal (cron, CI) a long command prints a progress line every interval
    (``LIQTK_PROGRESS_SECONDS``, 10 s by default) even when no chunk finishes in between."""
    import time

    from toolkit.cli import output

    monkeypatch.setenv("LIQTK_PROGRESS_SECONDS", "0.1")
    output.configure(quiet=quiet)
    try:
        with output.progress_bar("devchain/aave-v3") as progress:
            progress(10, 100, 2)
            time.sleep(0.45)
    finally:
        output.configure()
    lines = [line for line in capsys.readouterr().err.splitlines() if "elapsed" in line]
    assert len(lines) >= 2
    if quiet:
        record = json.loads(lines[0])
        assert (record["event"], record["task"], record["blocks_done"], record["rows_added"]) == (
            "progress", "devchain/aave-v3", 10, 2)
    else:
        assert re.fullmatch(r"devchain/aave-v3: blocks done 10, blocks total 100, rows added 2, \d+ s elapsed", lines[0])
