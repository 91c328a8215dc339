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


def chain_id_of(value: str | int, name: str = "--chain") -> int:
    """The chain id ``value`` names: a chain id (``1``, ``"31337"``) as is, or a chain name of the registry
    (``ethereum``); the same ``--chain`` on every command and ``chain=`` in Python."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    text = str(value).strip()
    if text.isdigit():
        return int(text)
    try:
        return registry().chain(text).chain_id
    except UserInputError as exc:
        raise UserInputError(f"{name}: {exc}") from None


def chain_name_of(value: str | int, name: str = "--chain") -> str:
    """The registry name of the chain ``value`` names (a name, or a chain id of a registry chain)."""
    text = str(value).strip()
    if not text.isdigit():
        registry().chain(text)  # an unknown name: one line naming the known ones
        return text
    for chain in registry().chains.values():
        if chain.chain_id == int(text):
            return chain.name
    raise UserInputError(f"{name}: no chain with id {text} in the registry; known chains: "
                         f"{', '.join(f'{c.name} ({c.chain_id})' for c in registry().chains.values())}")
