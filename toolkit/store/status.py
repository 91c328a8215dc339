"""What ``liqtk status`` shows of a store: per chain, protocol and deployment, the rows and blocks (from the
listing of the segment files), the checkpoint, the latest run, and the counts of the state columns
(``state_check``, ``state_position``). :meth:`Store.status <toolkit.store.db.Store.status>` and
:meth:`Store.state_counts <toolkit.store.db.Store.state_counts>` call these.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from toolkit.errors import StoreError
from toolkit.store.runs import RUNS_PER_DEPLOYMENT

if TYPE_CHECKING:
    from toolkit.store.db import Store


def status(store: Store) -> list[dict[str, Any]]:
    """One dict per chain/protocol/deployment known to the store (rows, checkpoints or runs), from the
    listing of the segment files: ``rows``, ``first_liquidation_block`` / ``last_liquidation_block`` (blocks
    with liquidations), ``state_checked`` / ``state_exact`` / ``state_mismatch`` / ``state_before_tx``
    (:func:`state_counts`; None when a segment file cannot be read),
    ``first_block`` / ``last_block`` / ``last_block_hash`` (checkpoint), ``last_run_id`` /
    ``last_run_status`` / ``last_run_finished_at`` (latest run started for it)."""
    rows = store._arrow(f"""
        WITH run_deployments AS ({RUNS_PER_DEPLOYMENT}), keys AS (
            SELECT chain_id, protocol, deployment FROM checkpoints
            UNION SELECT chain_id, protocol, deployment FROM segments
            UNION SELECT chain_id, protocol, deployment FROM run_deployments
        ), counts AS (  -- from the listing: quick, and without reading a segment file
            SELECT chain_id, protocol, deployment, sum(rows)::BIGINT AS rows,
                   min(first_block) AS first_liquidation_block, max(last_block) AS last_liquidation_block
            FROM segments GROUP BY ALL
        ), last_runs AS (
            SELECT chain_id, protocol, deployment, run_id AS last_run_id, status AS last_run_status,
                   finished_at AS last_run_finished_at
            FROM run_deployments
            QUALIFY row_number() OVER (PARTITION BY chain_id, protocol, deployment
                                       ORDER BY started_at DESC, run_id DESC) = 1
        )
        SELECT k.chain_id, k.protocol, k.deployment, coalesce(n.rows, 0) AS rows,
               n.first_liquidation_block, n.last_liquidation_block,
               c.first_block, c.last_block, c.last_block_hash,
               r.last_run_id, r.last_run_status, r.last_run_finished_at
        FROM keys k
        LEFT JOIN counts n USING (chain_id, protocol, deployment)
        LEFT JOIN checkpoints c USING (chain_id, protocol, deployment)
        LEFT JOIN last_runs r USING (chain_id, protocol, deployment)
        ORDER BY k.chain_id, k.protocol, k.deployment
    """).to_pylist()
    try:
        counts = state_counts(store)
    except StoreError:  # a damaged segment file: the listing still answers, `liqtk verify` names the file
        counts = None
    keys = ("state_checked", "state_exact", "state_mismatch", "state_before_tx")
    for row in rows:
        found = None if counts is None else counts.get((row["chain_id"], row["protocol"], row["deployment"]), {})
        row.update({key: None if found is None else found.get(key, 0) for key in keys})
    return rows


def state_counts(store: Store) -> dict[tuple[int, str, str], dict[str, int]]:
    """Per ``(chain_id, protocol, deployment)``: rows with a ``state_check`` (``state_checked``), how many are
    ``exact`` and ``mismatch``, and how many were read right before their transaction (``state_before_tx``).
    Reads the two state columns of every segment file."""
    table = store._arrow("""
        SELECT chain_id, protocol, deployment, count(state_check) AS state_checked,
               count(*) FILTER (WHERE state_check = 'exact') AS state_exact,
               count(*) FILTER (WHERE state_check = 'mismatch') AS state_mismatch,
               count(*) FILTER (WHERE state_position = 'before_tx') AS state_before_tx
        FROM liquidations GROUP BY ALL""")
    return {(r.pop("chain_id"), r.pop("protocol"), r.pop("deployment")): r for r in table.to_pylist()}
