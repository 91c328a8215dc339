"""Run bookkeeping: each pull's row in ``runs``, from ``running`` to how it ended, with its report.

A run is recorded as ``running`` when it starts; the writer holds the store's lock, so runs still
``running`` at that moment belong to a process that ended without finishing them (killed, crashed,
powered off) and are marked ``interrupted``. The end of a run records its status, rows added, report
(JSON, secrets redacted by the caller) and error.
"""

from __future__ import annotations

import duckdb

#: ``runs`` with one row per deployment: a run that pulls several deployments of a protocol records
#: their names comma-separated (``core,prime``).
RUNS_PER_DEPLOYMENT = ("SELECT * EXCLUDE (deployment), unnest(string_split(deployment, ',')) AS deployment "
                       "FROM runs WHERE chain_id IS NOT NULL AND protocol IS NOT NULL")
#: ``runs.error`` of a run whose process ended without finishing it.
INTERRUPTED_ERROR = "the process ended before the run finished (killed or crashed); committed chunks were kept"


def start(con: duckdb.DuckDBPyConnection, run_id: str, command: str, args_json: str, rpc_host: str | None,
          chain_id: int | None, protocol: str | None, deployment: str | None, from_block: int | None,
          to_block: int | None, node_client_version: str | None, package_version: str,
          git_commit: str | None) -> None:
    """In the transaction of ``con``: mark runs still ``running`` as interrupted, record this one as running."""
    con.execute("UPDATE runs SET status = 'interrupted', error = ? WHERE status = 'running'", [INTERRUPTED_ERROR])
    con.execute("""
        INSERT INTO runs BY NAME
        SELECT ? AS run_id, ? AS command, 'running' AS status, current_timestamp AS started_at,
               ? AS chain_id, ? AS protocol, ? AS deployment, ? AS from_block, ? AS to_block,
               ? AS rpc_host, ? AS node_client_version, ? AS package_version, ? AS git_commit,
               ? AS args_json
    """, [run_id, command, chain_id, protocol, deployment, from_block, to_block, rpc_host,
          node_client_version, package_version, git_commit, args_json])


def finish(con: duckdb.DuckDBPyConnection, run_id: str, status: str, rows_added: int, report_json: str | None,
           error: str | None) -> bool:
    """In the transaction of ``con``: record the end of a run, finished now; False when no such run was started."""
    updated = con.execute("UPDATE runs SET status = ?, finished_at = current_timestamp, rows_added = ?, "
                          "report_json = ?, error = ? WHERE run_id = ?",
                          [status, rows_added, report_json, error, run_id]).fetchall()[0][0]
    return bool(updated)
