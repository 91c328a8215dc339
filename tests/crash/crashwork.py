"""Helpers of the crash-replay tests: the small replay they share and ``liqtk`` run in process."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import toolkit.cli as cli
from toolkit.crash.population import PopulationSpec
from toolkit.crash.report import write_report
from toolkit.crash.run import ReplayConfig, ReplayResult, replay

#: Small but eventful: every protocol twice, through the steepest hours of Black Thursday.
SMALL = ReplayConfig(event="2020-03-12", asset="ETH", population=PopulationSpec(borrowers=8), seed=7,
                     start=datetime(2020, 3, 12, 6, tzinfo=UTC), end=datetime(2020, 3, 13, 3, tzinfo=UTC))


def run_small(out: Path) -> tuple[ReplayResult, dict[str, Any]]:
    """The :data:`SMALL` replay with its report in ``out``."""
    result = replay(SMALL, out / "replay.duckdb")
    return result, write_report(result, out)


def liqtk(argv: list[str]) -> int:
    """``liqtk`` in process (errors funnelled by ``toolkit.cli.main``). Returns the exit code."""
    try:
        cli.main(argv)
    except SystemExit as done:
        return int(done.code or 0)
    return 0
