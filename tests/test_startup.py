"""Start-up: ``liqtk <command>`` imports only what that command needs (README.md, "Performance": the
benchmarked ``liqtk pull`` counts interpreter start-up and imports).

Every check runs a fresh interpreter, so that modules other tests imported cannot hide a regression.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from toolkit.cli import COMMANDS, load_command

#: What a pull never needs: pandas, plots, rich (with --quiet), the CEX engines, the analyses, the crash
#: replay, the local chain and the other commands' modules.
NOT_FOR_PULL = {"pandas", "matplotlib", "rich", "toolkit.cex", "toolkit.compare", "toolkit.crash", "toolkit.devchain",
                "toolkit.cli.cex", "toolkit.cli.chain_commands", "toolkit.cli.store_commands",
                "toolkit.cli.devchain_commands", "toolkit.cli.analysis_commands", "toolkit.cli.replay_commands"}

#: ``liqtk ARGS`` in process, then the names of the imported modules as the last line of stdout.
RUN_LIQTK = "import sys, toolkit.cli\ntry:\n    toolkit.cli.main(sys.argv[1:])\nfinally:\n    print(*sys.modules)"


def liqtk_modules(*args: str | Path) -> tuple[subprocess.CompletedProcess[str], set[str]]:
    """``liqtk ARGS`` in a fresh interpreter, and the modules it imported."""
    done = subprocess.run([sys.executable, "-c", RUN_LIQTK, *map(str, args)], capture_output=True, text=True,
                          timeout=120)
    return done, set(done.stdout.splitlines()[-1].split())


def heavy(modules: set[str]) -> list[str]:
    """The modules of :data:`NOT_FOR_PULL`, and their submodules, among ``modules``."""
    return sorted(m for m in modules if any(m == name or m.startswith(name + ".") for name in NOT_FOR_PULL))


def test_the_pull_path_imports_no_heavy_module() -> None:
    """Everything ``liqtk pull`` imports before it reaches the node: the command, the pipeline, the store,
    the settings and ``--config`` schedules."""
    code = ("import sys\nfrom toolkit.cli import load_command\nload_command('pull')\n"
            "import toolkit.pipeline, toolkit.schedule, toolkit.settings\nprint(*sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    modules = set(done.stdout.split())
    assert {"toolkit.cli.pull_command", "toolkit.pipeline", "toolkit.store.db"} <= modules
    assert heavy(modules) == []


#: The console script's entry point (:func:`toolkit.cli.run`, which ends the process with ``os._exit``) on ARGS,
#: printing the names of the imported modules as the last line of stdout just before the process ends.
RUN_CONSOLE_SCRIPT = ("import os, sys, toolkit.cli\nend = os._exit\n"
                      "def _exit(code):\n    print(*sys.modules, flush=True)\n    end(code)\n"
                      "os._exit = _exit\nsys.argv[0] = 'liqtk'\ntoolkit.cli.run()")


@pytest.mark.node
def test_a_quiet_pull_by_the_console_script_imports_no_heavy_module(devchain, tmp_path: Path) -> None:
    """A whole ``liqtk pull --quiet --address`` by the console script's entry point, as benchmarked: not even
    pandas, which pyarrow imports on its first conversion of a Python object unless told there is none
    (``toolkit.cli.pull_command._own_process_for_pulls``)."""
    pool = devchain.addresses()["aave_v3"]["pool"]
    done = subprocess.run([sys.executable, "-c", RUN_CONSOLE_SCRIPT, "pull", "--chain", "devchain", "--protocol",
                           "aave-v3", "--rpc", devchain.url, "--address", pool, "--store", str(tmp_path / "s.duckdb"),
                           "--quiet"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    modules = set(done.stdout.splitlines()[-1].split())
    assert "toolkit.protocols.aave" in modules
    assert heavy(modules) == []


def test_help_lists_every_command_without_importing_any() -> None:
    done, modules = liqtk_modules("--help")
    assert done.returncode == 0, done.stderr
    assert all(f" {name} " in done.stdout for name in COMMANDS)
    assert sorted(m for m in modules if m.startswith("toolkit.cli.")) == ["toolkit.cli.output"]


@pytest.mark.parametrize("name", COMMANDS)
def test_each_command_loads_under_its_name_and_its_help_starts_as_listed(name: str) -> None:
    """``liqtk --help`` shows :data:`toolkit.cli.COMMANDS`' summaries without loading the commands: each must
    stay the start of the command's own help."""
    command = load_command(name)
    assert command.name == name
    assert " ".join((command.help or "").split()).startswith(COMMANDS[name][1].removesuffix("."))
