"""Where the store lives when the user passes no ``--store``."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

#: Environment variable naming the toolkit's home directory (store, caches).
HOME_ENV = "LIQTK_HOME"
#: File name of the store inside the home or user data directory.
STORE_FILE = "liquidations.duckdb"


def default_store_path() -> Path:
    """``$LIQTK_HOME/liquidations.duckdb`` when ``LIQTK_HOME`` is set (and not empty), else
    ``liquidations.duckdb`` in the platform's user data directory for ``liquidation-toolkit``
    (``~/.local/share/liquidation-toolkit`` on Linux). The directory is not created here."""
    home = os.environ.get(HOME_ENV)
    if home:
        return Path(home).expanduser() / STORE_FILE
    return platformdirs.user_data_path("liquidation-toolkit") / STORE_FILE
