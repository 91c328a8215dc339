"""liquidation-toolkit: DeFi lending liquidations next to centralized liquidation engines.

Two calls cover the usual notebook session::

    import toolkit
    toolkit.pull("ethereum", "aave-v3", rpc="https://...")      # or LIQTK_RPC_ETHEREUM
    df = toolkit.liquidations(protocol="aave-v3")               # typed pandas DataFrame
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from toolkit._version import __version__

if TYPE_CHECKING:
    import pandas

    from toolkit.pipeline import PullResult


def liquidations(store: str | Path | None = None, *, chain_id: int | None = None, protocol: str | None = None,
                 deployment: str | None = None, from_block: int | None = None,
                 to_block: int | None = None) -> "pandas.DataFrame":
    """Stored liquidations as a DataFrame in canonical order (columns: docs/schema.md).

    Raw uint256 amounts are exact strings (``*_raw``); decimal-adjusted and USD values are floats.
    """
    from toolkit.settings import resolve_store_path
    from toolkit.store.db import Store

    return Store(resolve_store_path(store), create=False).liquidations(
        chain_id=chain_id, protocol=protocol, deployment=deployment, from_block=from_block, to_block=to_block)


def pull(chain: str, protocol: str, **kwargs: Any) -> "PullResult":
    """Pull liquidations into the store; see :func:`toolkit.pipeline.pull` for the arguments."""
    from toolkit.pipeline import pull as run_pull

    return run_pull(chain, protocol, **kwargs)
