"""Benchmark 6: the notebook read path, 1,000,000 stored liquidations into pandas (not a test).

``python bench/bench_read.py [--rows 1000000 --repeat 3]``

A new store gets ``--rows`` liquidations through the store's own writer (``Writer.commit_chunk``, 100,000
rows per chunk): the decode columns of seeded raw logs (``bench_decode.raw_logs``, decoded by the Aave
adapter) and every state column filled with seeded values of its type, so each row is as wide as an
enriched one. Then ``toolkit.liquidations(store)`` -- open and validate the store read-only, select every
column in canonical order, Arrow, typed pandas frame -- is timed ``--repeat`` times (best kept), next to
DuckDB's own ``.df()`` of the same ``SELECT`` on one connection for reference. Prints a table and
merges the figures into ``bench/results.json`` under ``"read"``.
"""

from __future__ import annotations

import random
import tempfile
import warnings
from pathlib import Path
from typing import Any

from bench_decode import EMITTER, raw_logs
from benchlib import argument_parser, peak_rss_mb, print_table, timed, write_results

import duckdb

import toolkit
from toolkit.pipeline import PullRequest, resolve_deployments
from toolkit.protocols import adapter_for
from toolkit.store import schema, segments
from toolkit.store.arrow import columns_to_table
from toolkit.store.db import LiquidationFilter, Store

CHUNK = 100_000


def state_values(column: schema.Column, count: int, rng: random.Random) -> list[Any]:
    """``count`` seeded values of a state column's type (a tenth NULL)."""
    kinds = {"DOUBLE": lambda: rng.random() * 10_000, "BIGINT": lambda: rng.getrandbits(40),
             "INTEGER": lambda: rng.getrandbits(14), "BOOLEAN": lambda: rng.random() < 0.5,
             "VARCHAR": lambda: str(rng.getrandbits(70)), "TIMESTAMPTZ": lambda: 1_735_689_600 + rng.getrandbits(25)}
    make = kinds[column.sql_type]
    return [None if rng.random() < 0.1 else make() for _ in range(count)]


def fill_store(path: Path, rows: int) -> Store:
    """A new store with ``rows`` liquidations, committed ``CHUNK`` at a time by the store's writer."""
    deployment = resolve_deployments(PullRequest(chain="devchain", protocol="aave-v3", rpc_url="http://127.0.0.1:1",
                                                 store_path=path, address=EMITTER))[0]
    adapter = adapter_for(deployment)
    store = Store(path)
    rng = random.Random(11)
    first_block = 0
    with store.writer() as writer:
        writer.start_run(run_id="bench-read", command="bench", args_json="{}", rpc_host=None,
                         chain_id=deployment.chain.chain_id, protocol=deployment.protocol, deployment=deployment.name,
                         from_block=None, to_block=None, node_client_version=None, package_version="bench",
                         git_commit=None)
        for start in range(0, rows, CHUNK):
            logs = raw_logs(min(CHUNK, rows - start), seed=start)
            for offset, log in enumerate(logs):  # every chunk its own blocks and transactions
                log["blockNumber"] = hex(int(log["blockNumber"], 16) + start // 500)
                log["transactionHash"] = f"0x{start + offset:064x}"
            columns = adapter.decode_columns(logs, deployment)
            assert columns is not None
            for column in schema.LIQUIDATION_COLUMNS:
                if column.needs_state:
                    columns[column.name] = state_values(column, len(logs), rng)
            numbers = columns["block_number"].to_pylist()
            first_block = numbers[0] if start == 0 else first_block
            writer.commit_chunk(chain_id=deployment.chain.chain_id, protocol=deployment.protocol,
                                deployment=deployment.name, first_block=first_block,
                                chunk_start=numbers[0], chunk_end=numbers[-1],
                                rows=columns_to_table(schema.LIQUIDATION_COLUMNS, columns, len(logs)), blocks=[],
                                last_block_hash=None, run_id=None)
        # as a pull ends: the run is recorded, and small segment files are merged (Writer)
        writer.finish_run(run_id="bench-read", status="ok", rows_added=rows, report_json=None, error=None)
    return store


def duckdb_df(path: Path) -> int:
    """DuckDB's own pandas conversion of the same query, on one read-only connection; its row count."""
    sql, params = LiquidationFilter().select_sql()
    with duckdb.connect(str(path), read_only=True) as con, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # duckdb 2.0's .df() calls a pandas method pandas 3.1 deprecates
        con.execute("SET enable_progress_bar = false")
        return len(con.execute(sql, params).df())


def main(argv: list[str] | None = None) -> None:
    parser = argument_parser(__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="bench-read-") as tmp:
        path = Path(tmp) / "liquidations.duckdb"
        _, fill_seconds = timed(fill_store, path, args.rows)
        size_mb = sum(f.stat().st_size for f in (path, *segments.directory(path).iterdir())) / 2**20
        before = peak_rss_mb()
        frame, first = timed(toolkit.liquidations, path)
        rss = peak_rss_mb()
        seconds = [first]
        for _ in range(args.repeat - 1):
            del frame  # one frame at a time: a million rows of 77 columns take gigabytes
            frame, taken = timed(toolkit.liquidations, path)
            seconds.append(taken)
        reference = [timed(duckdb_df, path)[1] for _ in range(args.repeat)]
    if len(frame) != args.rows or list(frame.columns) != [c.name for c in schema.LIQUIDATION_COLUMNS]:
        raise SystemExit(f"toolkit.liquidations returned {len(frame)} rows and columns {list(frame.columns)[:5]}...")
    best = min(seconds)
    print_table(f"Notebook read path: {args.rows:,} stored liquidations into pandas (best of {args.repeat})",
                ("path", "seconds", "rows/s"),
                [("toolkit.liquidations(store) (typed frame)", best, round(args.rows / best)),
                 ("  reference: duckdb .df() of the same SELECT", min(reference), round(args.rows / min(reference)))])
    print(f"\nstore: {size_mb:,.0f} MiB, filled in {fill_seconds:,.1f} s by {args.rows // CHUNK} commits; "
          f"peak RSS {rss:,.0f} MiB after the first read ({before:,.0f} before it)")
    if not args.no_write:
        write_results("read", {
            "rows": args.rows, "columns": len(frame.columns), "store_mb": round(size_mb, 1),
            "fill_seconds": round(fill_seconds, 2), "commit_rows": CHUNK,
            "seconds": [round(taken, 3) for taken in seconds],
            "duckdb_df_seconds": [round(seconds, 3) for seconds in reference],
            "rows_per_second": round(args.rows / best), "peak_rss_mb": round(rss),
        })


if __name__ == "__main__":
    main()
