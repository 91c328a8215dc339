"""The layers of the package (docs/conventions.md, README "Layout"): core -- ``toolkit.chain``,
``toolkit.protocols``, ``toolkit.store``, ``toolkit.compare``, ``toolkit.cex``, ``toolkit.snapshot`` -- and the
pull path (``toolkit.pipeline``, ``toolkit.schedule``, ``toolkit.settings``) never import the local chain
(``toolkit.devchain``), the crash replay (``toolkit.crash``), the fault proxy (a test helper) or the command
line (``toolkit.cli``). Local chain and replays sit above them, the CLI on top.

Each check runs in a fresh interpreter, so that modules other tests imported cannot hide a violation.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

CORE = ("toolkit.chain", "toolkit.protocols", "toolkit.store", "toolkit.compare", "toolkit.cex", "toolkit.snapshot")
PULL_PATH = ("toolkit.pipeline", "toolkit.pull_request", "toolkit.pull_session", "toolkit.schedule", "toolkit.settings",
             "toolkit.decode", "toolkit.reading", "toolkit")
#: What the layers above the core are called (module name prefixes).
ABOVE = ("toolkit.devchain", "toolkit.crash", "toolkit.cli", "fault_proxy")

#: Imports ``target`` and every module of it (packages walked), then prints what of ABOVE was imported.
PROBE = """
import importlib, json, pkgutil, sys
target = sys.argv[1]
module = importlib.import_module(target)
names = [target]
if hasattr(module, "__path__") and target != "toolkit":
    names += [info.name for info in pkgutil.walk_packages(module.__path__, target + ".")]
for name in names:
    importlib.import_module(name)
above = tuple(sys.argv[2].split(","))
print(json.dumps({"modules": names, "above": sorted(m for m in sys.modules if m.startswith(above))}))
"""


@pytest.mark.parametrize("target", [*CORE, *PULL_PATH])
def test_core_and_pull_path_do_not_import_the_layers_above(target: str) -> None:
    done = subprocess.run([sys.executable, "-c", PROBE, target, ",".join(ABOVE)], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    found = json.loads(done.stdout.splitlines()[-1])
    assert found["modules"] and found["above"] == [], f"{target} imports {found['above']}"


def test_the_issue_example() -> None:
    """``import toolkit.store, toolkit.pipeline, toolkit.compare`` imports no local chain, replay, proxy or CLI."""
    code = ("import sys, toolkit.store, toolkit.pipeline, toolkit.compare\n"
            f"print([m for m in sys.modules if m.startswith({ABOVE!r})])")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=True)
    assert done.stdout.strip() == "[]"
