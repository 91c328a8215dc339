"""liquidation-toolkit: DeFi lending liquidations next to centralized liquidation engines.

Two calls cover the usual notebook session::

    import toolkit
    toolkit.pull("ethereum", "aave-v3", rpc="https://...")      # or LIQTK_RPC_ETHEREUM
    df = toolkit.liquidations(protocol="aave-v3")               # typed pandas DataFrame (as_="arrow" | "polars")

and two the forward-looking one::

    book = toolkit.positions("ethereum", "aave-v3", block=21_000_000)   # every open position at a block
    report = toolkit.compare.levels(store)                             # liquidation levels vs the venues

The public API is :data:`__all__` (``dir(toolkit)`` shows exactly that); the analyses are in
:mod:`toolkit.compare`, the centralized engines in :mod:`toolkit.cex`. Names follow the CLI's
(docs/conventions.md). Importing ``toolkit`` is cheap: each function imports what it needs when called.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from toolkit import _registry_files
from toolkit._version import __version__
from toolkit.errors import ToolkitError, UserInputError
from toolkit.reading import liquidations

__all__ = ["__version__", "liquidations", "positions", "pull", "ToolkitError", "UserInputError"]

# the local chain's deployments (chain "devchain", id 31337) live with the local chain: known by path, not imported
_registry_files.add(_registry_files.LOCAL_CHAIN)

if TYPE_CHECKING:
    from toolkit.pipeline import pull


def __getattr__(name: str) -> Any:
    """``toolkit.pull`` is :func:`toolkit.pipeline.pull` itself (its real signature and docstring), imported on
    first use so that ``import toolkit`` and the ``liqtk`` start-up do not load the pull machinery."""
    if name == "pull":
        from toolkit.pipeline import pull

        return pull
    raise AttributeError(f"module 'toolkit' has no attribute {name!r}")


def positions(chain: str, protocol: str, *, rpc: str | None = None, store: str | Path | None = None,
              block: int | str = "finalized", market: str | None = None, address: str | None = None) -> Any:
    """Snapshot every open borrow position of ``protocol`` on ``chain`` at ``block`` into the store (or find the
    snapshot already there; an interrupted one resumes) and return its rows as a pandas DataFrame (columns:
    docs/schema.md, ``positions``). See :mod:`toolkit.snapshot`; the CLI is ``liqtk positions``."""
    from toolkit.settings import resolve_store_path
    from toolkit.snapshot import snapshot
    from toolkit.store import positions as stored
    from toolkit.store.db import Store

    result = snapshot(chain, protocol, rpc=rpc, store=store, block=block, market=market, address=address)
    return stored.read_positions(Store(resolve_store_path(store), create=False),
                                 [o.snapshot_id for o in result.outcomes])


def __dir__() -> list[str]:
    return sorted(__all__)
