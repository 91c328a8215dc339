"""Where a pull's settings come from when they are not given explicitly, and how typed values are read.

RPC URL: ``--rpc`` / ``rpc=``, else the chain's environment variable from the registry
(``LIQTK_RPC_ETHEREUM``, ``LIQTK_RPC_DEVCHAIN``, ...). Store: ``--store`` / ``store=``, else
``$LIQTK_HOME/liquidations.duckdb``, else the platform data directory. Bounds and dates are read the
same way from the command line and from ``pulls.toml`` (:mod:`toolkit.schedule`); ``name`` is what
an error message calls the value (``--to``, ``pulls.toml pull[1].to``).
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

from toolkit.errors import UserInputError
from toolkit.protocols import registry
from toolkit.store.location import default_store_path

#: Block tags a pull may end at (``--to``); ``finalized`` is the default.
BOUND_TAGS = ("finalized", "safe", "latest")


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
    """``store`` with ``~`` expanded, else the default store path."""
    return Path(store).expanduser() if store else default_store_path()


def parse_bound(value: str | int, name: str = "--to") -> str | int:
    """A pull's last block: ``finalized``, ``safe``, ``latest`` or a block number (``123`` or ``"123"``)."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    if isinstance(value, str) and value in BOUND_TAGS:
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    raise UserInputError(f"{name} {value!r} is not finalized, safe, latest or a block number")


def parse_since(value: str, name: str = "--since") -> datetime:
    """An ISO date or date-time, read as UTC when it has no offset."""
    try:
        moment = datetime.fromisoformat(value)
    except (TypeError, ValueError):
        raise UserInputError(f"{name} {value!r} is not an ISO date such as 2024-08-05 or 2024-08-05T12:00") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
