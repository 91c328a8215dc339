"""``pair``: each stored DeFi liquidation next to what chosen venues would have done, in one frame.

One row per liquidation and venue contract, in the order of ``liquidations`` then of ``venues``:

* identity of the liquidation (chain, protocol, block, transaction, log index, borrower, assets);
* thresholds in force: the protocol's native parameter as stored on the row (``defi_parameter``,
  ``defi_native_value``, ``defi_native_unit``; :func:`toolkit.compare.thresholds.row_threshold`), its
  liquidation threshold ``defi_threshold`` and ``defi_maintenance_share = 1 - LT``, next to the venue tier's
  maintenance rate ``perp_maintenance_rate`` (the common axis of docs/sources/store.md#common-axis);
* the DeFi penalty and the perpetual outcome (:mod:`toolkit.compare.penalties`: trigger prices and
  ``trigger_distance``, share closed, the borrower's penalty and the trader's loss in USD and in % of
  collateral and equity);
* ``loss_difference_usd = defi_penalty_usd - perp_trader_loss_usd``: what the DeFi liquidation cost the
  borrower beyond what the venue would have taken (negative: the venue takes more).

Method, assumptions and sources: the docstrings of :mod:`toolkit.compare.penalties`,
:mod:`toolkit.compare.equivalent` and :mod:`toolkit.compare.leverage`, summarized in README.md
("Comparing DeFi and centralized engines").
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

from toolkit.compare.contracts import VenueContract
from toolkit.compare.penalties import IDENTITY, penalties
from toolkit.compare.thresholds import DEFAULT_VENUES, row_threshold


def _threshold_columns(row: Any) -> dict[str, Any]:
    record = row_threshold(row)
    if record is None:
        return {"defi_parameter": None, "defi_native_value": None, "defi_native_unit": None,
                "defi_threshold": None, "defi_maintenance_share": None}
    return {"defi_parameter": record.parameter, "defi_native_value": record.native_raw,
            "defi_native_unit": record.native_unit, "defi_threshold": float(record.threshold),
            "defi_maintenance_share": float(1 - record.threshold)}


def pair(liquidations: pd.DataFrame, venues: Sequence[VenueContract | str] = DEFAULT_VENUES) -> pd.DataFrame:
    """The side-by-side frame (module docstring) of ``liquidations`` (a frame of
    :func:`toolkit.liquidations`) and ``venues`` (``"bitmex"``, ``"binance-usdm:BTCUSDT"``, or
    :class:`~toolkit.compare.contracts.VenueContract`)."""
    frame = penalties(liquidations, venues)
    if frame.empty:
        return frame
    keys = ["chain_id", "tx_hash", "log_index"]
    thresholds = pd.DataFrame([{**{k: row[k] for k in keys}, **_threshold_columns(row)}
                               for _, row in liquidations.iterrows()])
    merged = frame.merge(thresholds, on=keys, how="left", validate="many_to_one")
    if "perp_trader_loss_usd" in merged:
        merged["loss_difference_usd"] = merged["defi_penalty_usd"] - merged["perp_trader_loss_usd"]
    added = [c for c in thresholds.columns if c not in keys]
    order = [*IDENTITY, *added, *(c for c in merged.columns if c not in IDENTITY and c not in added)]
    return merged[order]
