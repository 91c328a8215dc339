"""Where the RPC URL and the store come from when they are not given explicitly.

RPC URL: ``--rpc`` / ``rpc=``, else the chain's environment variable from the registry
(``LIQTK_RPC_ETHEREUM``, ``LIQTK_RPC_DEVCHAIN``, ...). Store: ``--store`` / ``store=``, else
``$LIQTK_HOME/liquidations.duckdb``, else the platform data directory.
"""

from __future__ import annotations

import os
from pathlib import Path

from toolkit.errors import UserInputError
from toolkit.protocols import registry
from toolkit.store.location import default_store_path


def resolve_rpc_url(chain: str, rpc: str | None) -> str:
    """The RPC URL to use for ``chain``; a clear error names the variable to set when none is given."""
    if rpc:
        return rpc
    variable = registry().chain(chain).rpc_env
    url = os.environ.get(variable, "").strip()
    if not url:
        raise UserInputError(f"no RPC URL for {chain}: pass --rpc URL or set {variable}")
    return url


def resolve_store_path(store: str | Path | None) -> Path:
    return Path(store).expanduser() if store else default_store_path()
