"""Positions snapshots in the store: the ``position_snapshots`` and ``positions`` tables (schema in
:mod:`toolkit.store.schema`; written by :mod:`toolkit.snapshot`).

A snapshot is written in batches of accounts. :func:`begin` records it as ``partial`` with its base snapshot;
each :func:`commit_batch` inserts the rows of the next accounts and advances ``accounts_done`` in the same
transaction, so a snapshot killed at any moment holds whole batches and resumes after the last one (the account
order is deterministic); :func:`complete` marks it ``complete``. Readers see only complete snapshots unless they
ask for a partial one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pandas as pd

from toolkit._version import __version__
from toolkit.errors import StoreError
from toolkit.store import positions_schema, schema
from toolkit.store.arrow import rows_to_table, to_pandas
from toolkit.store.db import Store, Writer
from toolkit.store.manifest import Manifest, content_sha256, utc_now
from toolkit.store.provenance import git_commit


def snapshot_id(chain_id: int, protocol: str, deployment: str, block: int) -> str:
    """``chain_id:protocol:deployment:block``."""
    return f"{chain_id}:{protocol}:{deployment}:{block}"


@dataclass(frozen=True)
class SnapshotRecord:
    """A row of ``position_snapshots``."""

    snapshot_id: str
    chain_id: int
    protocol: str
    deployment: str
    block_number: int
    block_hash: str
    block_timestamp: datetime
    base_snapshot_id: str | None
    scanned_from_block: int
    accounts_read: int
    accounts_carried: int
    accounts_done: int
    positions: int
    status: str
    run_id: str | None
    updated_at: datetime | None = None
    rules: str | None = None


def _records(store: Store, where: str, params: Sequence[Any]) -> list[SnapshotRecord]:
    with store.reader() as con:
        rows = con.sql(f"SELECT * FROM position_snapshots WHERE {where} ORDER BY block_number, snapshot_id",
                       params=list(params)).to_arrow_table().to_pylist()
    return [SnapshotRecord(**row) for row in rows]


def record(store: Store, snapshot: str) -> SnapshotRecord | None:
    """The snapshot called ``snapshot``, complete or not."""
    found = _records(store, "snapshot_id = ?", [snapshot])
    return found[0] if found else None


def snapshots(store: Store, *, chain_id: int | None = None, protocol: str | None = None,
              deployment: str | None = None, complete_only: bool = True) -> list[SnapshotRecord]:
    """Snapshots matching the filters, by block."""
    clauses, params = ["true"], []
    for column, value in (("chain_id", chain_id), ("protocol", protocol), ("deployment", deployment)):
        if value is not None:
            clauses.append(f"{column} = ?")
            params.append(value)
    if complete_only:
        clauses.append("status = 'complete'")
    return _records(store, " AND ".join(clauses), params)


def base_for(store: Store, chain_id: int, protocol: str, deployment: str, block: int) -> SnapshotRecord | None:
    """The latest complete snapshot of the deployment strictly below ``block`` (what an incremental one builds on)."""
    below = [r for r in snapshots(store, chain_id=chain_id, protocol=protocol, deployment=deployment)
             if r.block_number < block]
    return below[-1] if below else None


def begin(writer: Writer, snapshot: SnapshotRecord) -> None:
    """Record ``snapshot`` (status ``partial``, nothing done) unless it is already recorded."""
    with writer.transaction() as con:
        con.register("incoming", rows_to_table(positions_schema.POSITION_SNAPSHOT_COLUMNS, [snapshot.__dict__]))
        con.execute("INSERT INTO position_snapshots BY NAME SELECT * REPLACE (current_timestamp AS updated_at) "
                    "FROM incoming ON CONFLICT DO NOTHING")


def commit_batch(writer: Writer, snapshot: str, rows: Sequence[Mapping[str, Any]], accounts_done: int) -> None:
    """Insert ``rows`` (positions columns) and set ``accounts_done``, in one transaction. Rows of accounts a
    killed run had already written are replaced."""
    table = rows_to_table(positions_schema.POSITION_COLUMNS, rows)
    with writer.transaction() as con:
        con.register("incoming", table)
        con.execute("INSERT OR REPLACE INTO positions BY NAME SELECT * FROM incoming")
        updated = con.execute("UPDATE position_snapshots SET accounts_done = ?, updated_at = current_timestamp "
                              "WHERE snapshot_id = ? AND status = 'partial'", [accounts_done, snapshot]).fetchall()
        if not updated or not updated[0][0]:
            raise StoreError(f"positions snapshot {snapshot} is not being written in {writer.store.path}")


def complete(writer: Writer, snapshot: str, *, accounts_read: int, accounts_carried: int,
             rules: str | None = None) -> int:
    """Mark the snapshot complete with its counts and ``rules``; returns the number of accounts with a position."""
    with writer.transaction() as con:
        positions = con.execute("SELECT count(DISTINCT (market_id, account)) FROM positions WHERE snapshot_id = ?",
                                [snapshot]).fetchone()[0]
        con.execute("UPDATE position_snapshots SET status = 'complete', accounts_read = ?, accounts_carried = ?, "
                    "positions = ?, rules = ?, updated_at = current_timestamp WHERE snapshot_id = ?",
                    [accounts_read, accounts_carried, positions, rules, snapshot])
    return positions


def read_positions(store: Store, snapshot: str | Sequence[str]) -> pd.DataFrame:
    """The rows of one or more snapshots as a typed frame, ordered by snapshot, market, account and asset."""
    ids = [snapshot] if isinstance(snapshot, str) else list(snapshot)
    with store.reader() as con:
        table = con.sql("SELECT * FROM positions WHERE list_contains(?, snapshot_id) "
                        "ORDER BY snapshot_id, market_id, account, asset", params=[ids]).to_arrow_table()
    return to_pandas(table)


_ORDER = "snapshot_id, market_id, account, asset"


def snapshot_dataset(store: Store, snapshot: str | Sequence[str], *, name: str = "positions"
                     ) -> tuple[pd.DataFrame, Manifest]:
    """The rows of the snapshots (as :func:`read_positions`) and a manifest for citing them (figures, exports):
    content SHA-256 over the ``positions`` columns in the order ``snapshot_id, market_id, account, asset``, each
    snapshot's block and hash as a block range, the snapshot records as checkpoints, the runs that wrote the rows
    with their node versions and redacted RPC hosts."""
    ids = [snapshot] if isinstance(snapshot, str) else list(snapshot)
    with store.reader() as con:
        table = con.sql(f"SELECT * FROM positions WHERE list_contains(?, snapshot_id) ORDER BY {_ORDER}",
                        params=[ids]).to_arrow_table()
        records = con.sql("SELECT * EXCLUDE (updated_at), strftime(block_timestamp, '%Y-%m-%dT%H:%M:%SZ') AS at "
                          "FROM position_snapshots WHERE list_contains(?, snapshot_id) ORDER BY snapshot_id",
                          params=[ids]).to_arrow_table().to_pylist()
        runs = con.sql("SELECT list(DISTINCT run_id ORDER BY run_id) AS run_ids, list(DISTINCT node_client_version "
                       "ORDER BY node_client_version) FILTER (WHERE node_client_version IS NOT NULL) AS versions, "
                       "list(DISTINCT rpc_host ORDER BY rpc_host) FILTER (WHERE rpc_host IS NOT NULL) AS hosts "
                       "FROM runs WHERE list_contains(?, run_id)",
                       params=[sorted({r["run_id"] for r in records if r["run_id"]})]).to_arrow_table().to_pylist()[0]
    ranges = []
    for chain_id in sorted({r["chain_id"] for r in records}):
        mine = sorted((r["block_number"], r["block_hash"]) for r in records if r["chain_id"] == chain_id)
        ranges.append({"chain_id": chain_id, "first_block": mine[0][0], "last_block": mine[-1][0],
                       "first_block_hash": mine[0][1], "last_block_hash": mine[-1][1]})
    checkpoints = [{k: v for k, v in r.items() if k != "block_timestamp"} for r in records]
    manifest = Manifest(
        name=name, created_at=utc_now(), format="dataset", file_name="", file_sha256=None, file_bytes=None,
        content_sha256=content_sha256(table, positions_schema.POSITION_COLUMNS), row_count=table.num_rows,
        schema_version=schema.SCHEMA_VERSION,
        columns=[{"name": c.name, "type": c.sql_type, "unit": c.unit} for c in positions_schema.POSITION_COLUMNS],
        filters={"snapshot_ids": ids}, chain_ids=sorted({r["chain_id"] for r in records}), block_ranges=ranges,
        checkpoints=checkpoints, run_ids=runs["run_ids"] or [], node_client_versions=runs["versions"] or [],
        rpc_hosts=runs["hosts"] or [], package_version=__version__, git_commit=git_commit())
    return to_pandas(table), manifest
