"""Enrich a chunk's rows with the state each liquidation saw, and say for every row how it was read.

Modes (``liqtk pull --state``; docs/sources/state.md):

* ``before-tx`` (default): the state right before the liquidation's transaction, after the earlier
  transactions of its block. The first transaction of a block reads the previous block's state as is;
  any other is traced once (``debug_traceTransaction`` with the ``prestateTracer``,
  :mod:`toolkit.chain.prestate`) and read with its pre-state as a state override. Rows of one
  transaction share its trace and its reads. ``state_position`` = ``before_tx``.
* ``block``: the state at the start of the liquidation's block (the previous block's post-state), read
  once per block for all its rows. ``state_position`` = ``block_start``.

Both run the views in the liquidation block's context (its number and timestamp, an ``eth_call`` block
override, so interest accrues to the liquidation's time) when the node takes it. A row that asked for
``before-tx`` and got the block start says why in ``state_fallback_reason``: the node has no
``debug_traceTransaction``, refuses state overrides, or refuses block overrides (a transaction's pre-state
read at the previous block's timestamp can revert: Aave's index accrual subtracts a later update time);
one notice for the pull; or that transaction's trace failed twice (execution timeout, response too large). Then every row gets its ``state_check``
(:mod:`toolkit.protocols.checks`): the protocol's own computation redone from the state read.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from toolkit.chain.blocks import BlockHeaders
from toolkit.chain.calls import NodeFeatures, StatePoint, StateReader
from toolkit.chain.prestate import TraceFailure, TracesUnsupported, trace_prestates
from toolkit.chain.rpc import RpcClient
from toolkit.protocols.base import Adapter
from toolkit.protocols.checks import check_rows
from toolkit.protocols.registry import Deployment

#: Values of ``--state``.
STATE_MODES = ("before-tx", "block", "none")
BEFORE_TX, BLOCK_START = "before_tx", "block_start"


@dataclass
class StateSession:
    """What the enrichments of one pull share: the node, the mode, what the node takes, the notices
    already told and the rows counted per ``state_position`` and ``state_check``."""

    client: RpcClient
    headers: BlockHeaders
    mode: str = "before-tx"
    features: NodeFeatures = field(default_factory=NodeFeatures)
    #: Called once with each notice (a fallback of the whole pull), as it is met.
    notify: Callable[[str], None] | None = None
    _told: int = 0

    def tell(self) -> None:
        """Pass the notices not told yet to :attr:`notify`."""
        notices = self.features.notices
        if self.notify is not None:
            for text in notices[self._told:]:
                self.notify(text)
        self._told = len(notices)

    def reader(self) -> StateReader:
        """A state reader of this pull's node (one per read: a repair must not reuse orphaned state)."""
        return StateReader(self.client, features=self.features)


async def enrich_rows(adapter: Adapter, rows: list[dict[str, Any]], deployment: Deployment,
                      state: StateReader, session: StateSession) -> None:
    """Fill the state columns of ``rows`` (whole transactions of whole blocks) in place: the adapter's
    columns, ``state_position``, ``state_fallback_reason`` and the ``state_check`` columns."""
    if not rows:
        return
    contexts = await _contexts(rows, session.headers)
    first = min(row["block_number"] for row in rows)
    await state.probe(first - 1, contexts[first])
    for number, context in contexts.items():
        state.at(StatePoint(number - 1), context=context)
    reasons = await _points(rows, session, state, contexts) if session.mode == "before-tx" else {}
    by_tx: dict[str, list[dict[str, Any]]] = {}
    plain: list[dict[str, Any]] = []
    for row in rows:
        (plain if row["tx_hash"] in reasons or session.mode != "before-tx" else
         by_tx.setdefault(row["tx_hash"], [])).append(row)
    jobs = [adapter.enrich(group, deployment, state.at(StatePoint(group[0]["block_number"] - 1, tx)))
            for tx, group in by_tx.items()]
    if plain:
        jobs.append(adapter.enrich(plain, deployment, state))
    await asyncio.gather(*jobs)
    for tx, group in by_tx.items():
        degraded = state.degraded(StatePoint(group[0]["block_number"] - 1, tx))
        for row in group:
            row["state_position"] = BLOCK_START if degraded else BEFORE_TX
            row["state_fallback_reason"] = degraded
    for row in plain:
        row["state_position"] = BLOCK_START
        row["state_fallback_reason"] = reasons.get(row["tx_hash"])
    for row in rows:
        row["_check_block_time"] = int(contexts[row["block_number"]]["time"], 16)
    check_rows(adapter.family, rows)
    state.clear()
    session.tell()


def count_states(table: pa.Table, positions: dict[str, int], checks: dict[str, int]) -> None:
    """Add the rows of ``table`` per ``state_position`` and per ``state_check`` to the two counts (run report)."""
    for column, counts in (("state_position", positions), ("state_check", checks)):
        for item in pc.value_counts(table.column(column)).to_pylist():
            if item["values"] is not None:
                counts[item["values"]] = counts.get(item["values"], 0) + item["counts"]


async def _contexts(rows: list[dict[str, Any]], headers: BlockHeaders) -> dict[int, dict[str, str]]:
    """The block override of each liquidation block: its number and timestamp (from the logs, else the
    headers)."""
    stamps: dict[int, int | None] = {}
    for row in rows:
        stamp = row.get("block_timestamp")
        if isinstance(stamp, int) and not isinstance(stamp, bool):
            stamps.setdefault(row["block_number"], stamp)
        else:
            stamps.setdefault(row["block_number"], None)
    missing = [number for number, stamp in stamps.items() if stamp is None]
    if missing:
        for number, header in (await headers.get(missing)).items():
            stamps[number] = header.timestamp
    return {number: {"number": hex(number), "time": hex(int(stamp or 0))} for number, stamp in stamps.items()}


async def _points(rows: list[dict[str, Any]], session: StateSession, state: StateReader,
                  contexts: dict[int, dict[str, str]]) -> dict[str, str]:
    """Register each transaction's point (its pre-state override, none for the first transaction of a
    block); return the transactions that fall back to the block start, with the reason."""
    features = session.features
    first_in_block = {row["tx_hash"]: row["block_number"] for row in rows if row["tx_index"] == 0}
    traced = {row["tx_hash"]: row["block_number"] for row in rows if row["tx_hash"] not in first_in_block}
    for tx, number in first_in_block.items():
        state.at(StatePoint(number - 1, tx), context=contexts[number])
    if not traced:
        return {}
    if features.overrides is False:
        return dict.fromkeys(traced, "the node does not take eth_call state overrides")
    if features.block_overrides is False:  # a pre-state read at the previous block's time can revert (accruals)
        return dict.fromkeys(traced, "the node does not take eth_call block overrides, which a transaction's "
                                     "pre-state needs (its block's timestamp)")
    if features.traces is not False:
        try:
            prestates = await trace_prestates(session.client, traced)
            features.traces = True
        except TracesUnsupported as missing:
            features.traces = False
            features.notice(f"the node does not serve debug_traceTransaction ({missing}): state is read at the "
                            "start of each liquidation's block (state_position block_start)")
    if features.traces is False:
        return dict.fromkeys(traced, "the node does not serve debug_traceTransaction")
    reasons: dict[str, str] = {}
    for tx, number in traced.items():
        prestate = prestates[tx]
        if isinstance(prestate, TraceFailure):
            reasons[tx] = prestate.reason
        else:
            state.at(StatePoint(number - 1, tx), override=prestate, context=contexts[number])
    return reasons
