"""Options several ``liqtk`` commands share."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

StoreOption = Annotated[Optional[Path], typer.Option("--store", help="DuckDB store file (default: $LIQTK_HOME/liquidations.duckdb or the platform data dir).")]
QuietOption = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar; JSON log lines on stderr, JSON result on stdout (for cron).")]
