"""Fixtures of the crash-replay tests: one small replay (:data:`crashwork.SMALL`: 8 positions over 22 hourly steps
of the 2020-03-12 crash, ETH) with its report, shared by the tests of this package.

The replay starts its own local chain (anvil from npm) and stops it by PID when done.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from crashwork import run_small
from toolkit.crash.run import ReplayResult


@pytest.fixture(scope="session")
def small(tmp_path_factory: pytest.TempPathFactory) -> tuple[ReplayResult, dict[str, Any], Path]:
    """The :data:`SMALL` replay, its report manifest and the report directory."""
    out = tmp_path_factory.mktemp("replay")
    result, manifest = run_small(out)
    return result, manifest, out
