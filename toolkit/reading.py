"""Reading stored liquidations from Python (:func:`toolkit.liquidations`): the CLI's filters with the CLI's
names and checks (docs/conventions.md), as pandas, Arrow or polars.

A filter that names no known chain, protocol or market raises :class:`~toolkit.errors.UserInputError` with
the message ``liqtk`` prints for it, instead of returning an empty frame that looks like "no liquidations".
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from toolkit.errors import UserInputError

if TYPE_CHECKING:
    import pandas
    import pyarrow

#: What :func:`liquidations` can return: a pandas DataFrame (typed columns), a pyarrow Table, a polars DataFrame.
Result = Literal["pandas", "arrow", "polars"]


def check_protocol(protocol: str, name: str = "protocol") -> str:
    """``protocol`` when the registry knows it; else one line naming the closest ids and every known one."""
    from toolkit.protocols import registry

    known = registry().protocols()
    if protocol in known:
        return protocol
    close = difflib.get_close_matches(protocol.replace("_", "-").lower(), known, n=1, cutoff=0.6)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    raise UserInputError(f"{name}: unknown protocol {protocol!r}{hint}; known protocols: {', '.join(known)}")


def check_market(market: str, protocol: str | None, name: str = "market") -> str:
    """``market`` when the registry has a deployment of that name (of ``protocol`` when given)."""
    from toolkit.protocols import registry

    known = sorted({d.name for d in registry().deployments if protocol is None or d.protocol == protocol})
    if market in known:
        return market
    where = f" of {protocol}" if protocol else ""
    raise UserInputError(f"{name}: unknown market {market!r}{where}; known markets{where}: {', '.join(known)}")


def liquidations(store: str | Path | None = None, *, chain: str | int | None = None, protocol: str | None = None,
                 market: str | None = None, from_block: int | None = None, to: int | None = None,
                 as_: Result = "pandas") -> pandas.DataFrame | pyarrow.Table | Any:
    """Stored liquidations in canonical order (columns and units: the schema page, docs/schema.md).

    Args:
        store: the store file (default: ``$LIQTK_HOME/liquidations.duckdb``, else the platform data directory).
        chain: only this chain, by registry name (``"ethereum"``) or chain id (``1``).
        protocol: only this protocol id (``"aave-v3"``; ``liqtk protocols`` lists them).
        market: only this market (deployment) of the protocol.
        from_block: first block, inclusive.
        to: last block, inclusive.
        as_: ``"pandas"`` (default: integers ``Int64``, doubles ``float64``, timestamps ``datetime64[us, UTC]``,
            raw amounts ``str``), ``"arrow"`` (a :class:`pyarrow.Table` with the store's types) or ``"polars"``
            (needs the ``polars`` package).

    Raw uint256 amounts are exact base-10 strings (``*_raw``); decimal-adjusted and USD values are floats.

    Raises:
        UserInputError: an unknown chain, protocol, market or ``as_``, or no store at ``store``; the same line
            ``liqtk`` prints for it.
    """
    from toolkit.settings import chain_id_of, resolve_store_path
    from toolkit.store.db import LiquidationFilter, Store

    if as_ not in ("pandas", "arrow", "polars"):
        raise UserInputError(f"as_: {as_!r} is not 'pandas', 'arrow' or 'polars'")
    filters = LiquidationFilter(
        chain_id=chain_id_of(chain, "chain") if chain is not None else None,
        protocol=check_protocol(protocol) if protocol is not None else None,
        deployment=check_market(market, protocol) if market is not None else None,
        from_block=from_block, to_block=to)
    table = Store(resolve_store_path(store), create=False).liquidations_table(filters)
    if as_ == "arrow":
        return table
    if as_ == "polars":
        try:
            import polars
        except ImportError:
            raise UserInputError("as_='polars' needs the polars package: pip install 'liquidation-toolkit[polars]'"
                                 ) from None
        return polars.from_arrow(table)
    from toolkit.store.arrow import to_pandas

    return to_pandas(table)
