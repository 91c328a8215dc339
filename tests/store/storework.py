"""Synthetic liquidation rows for the store tests, and the worker processes the concurrency tests run.

Run as a script (``python storework.py <command> ...``):

* ``commit-loop STORE CHUNKS PER_BLOCK`` -- resume from the checkpoint and commit ``CHUNKS`` chunks
  of :data:`CHUNK_BLOCKS` blocks, printing ``committed <last_block>`` after each;
* ``hold-writer STORE`` -- take the write lock, print ``locked``, hold it until stdin closes;
* ``hold-open STORE ro|rw`` -- keep a DuckDB connection to the file open until stdin closes (a
  notebook that forgot to close), after printing ``open``.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from typing import Any

import duckdb

from toolkit.store.db import Store, Writer

CHAIN_ID, PROTOCOL, DEPLOYMENT = 1, "aave-v3", "core"
#: Blocks per chunk in the worker processes.
CHUNK_BLOCKS = 10


def block_hash(number: int, fork: str = "") -> str:
    """A fake 32-byte block hash; ``fork`` gives another hash for the same number (a reorg)."""
    return "0x" + f"{fork}{number}".encode().hex().rjust(64, "0")[:64]


def make_rows(start: int, end: int, per_block: int, *, deployment: str = DEPLOYMENT, fork: str = "",
              chain_id: int = CHAIN_ID) -> list[dict[str, Any]]:
    """``per_block`` liquidation rows in each block of ``[start, end]`` with every kind of column
    filled: uint256 raw amounts beyond 2**64, doubles, booleans, timestamps as Unix seconds."""
    rows = []
    for number in range(start, end + 1):
        for index in range(per_block):
            rows.append({
                "chain_id": chain_id, "protocol": PROTOCOL, "deployment": deployment,
                "emitter": "0x87870bca3f3fd6335c3f4ce8392d69350b4fa4e2",
                "market_id": "0x87870bca3f3fd6335c3f4ce8392d69350b4fa4e2",
                "block_number": number, "block_hash": block_hash(number, fork),
                "block_timestamp": 1_700_000_000 + 12 * number,
                "tx_hash": f"0x{deployment}{fork}{number:012d}{index:06d}", "tx_index": index, "log_index": 2 * index,
                "event": "LiquidationCall",
                "borrower": f"0x{index:040x}", "liquidator": f"0x{number:040x}",
                "debt_asset": "0xa0b86991c6218b36c1d19d4a2e9eb0ce3606eb48", "debt_symbol": "USDC", "debt_decimals": 6,
                "debt_repaid_raw": str(10**20 + number * 1000 + index), "debt_repaid": (10**20 + number) / 1e6,
                "collateral_seized_raw": str(2**200 + index), "collateral_seized": 2**200 / 1e18,
                "receive_a_token": index % 2 == 0, "state_block": number - 1,
                "liquidation_bonus_pct": 0.1 + index / 3, "state_status": "ok",
            })
    return rows


def make_blocks(numbers: range | list[int], fork: str = "", chain_id: int = CHAIN_ID) -> list[dict[str, Any]]:
    """Block headers matching :func:`make_rows` (timestamps as aware datetimes)."""
    return [{"chain_id": chain_id, "block_number": n, "block_hash": block_hash(n, fork),
             "parent_hash": block_hash(n - 1, fork),
             "block_timestamp": datetime.fromtimestamp(1_700_000_000 + 12 * n, UTC)} for n in numbers]


def commit(writer: Writer, start: int, end: int, per_block: int, *, first_block: int = 0,
           deployment: str = DEPLOYMENT, fork: str = "", run_id: str | None = "run-test") -> int:
    """Commit chunk ``[start, end]`` of :func:`make_rows` with its blocks."""
    return writer.commit_chunk(
        chain_id=CHAIN_ID, protocol=PROTOCOL, deployment=deployment, first_block=first_block,
        chunk_start=start, chunk_end=end, rows=make_rows(start, end, per_block, deployment=deployment, fork=fork),
        blocks=make_blocks(range(start, end + 1), fork), last_block_hash=block_hash(end, fork), run_id=run_id)


def _commit_loop(path: str, chunks: int, per_block: int) -> None:
    store = Store(path)
    with store.writer(wait=30) as writer:
        for _ in range(chunks):
            checkpoint = store.checkpoint(CHAIN_ID, PROTOCOL, DEPLOYMENT)
            start = checkpoint.last_block + 1 if checkpoint else 0
            commit(writer, start, start + CHUNK_BLOCKS - 1, per_block)
            print(f"committed {start + CHUNK_BLOCKS - 1}", flush=True)


def _hold_writer(path: str) -> None:
    with Store(path).writer():
        print("locked", flush=True)
        sys.stdin.read()


def _hold_open(path: str, mode: str) -> None:
    with duckdb.connect(path, read_only=mode == "ro"):
        print("open", flush=True)
        sys.stdin.read()


if __name__ == "__main__":
    command, store_path, *numbers = sys.argv[1:]
    if command == "commit-loop":
        _commit_loop(store_path, int(numbers[0]), int(numbers[1]))
    elif command == "hold-writer":
        _hold_writer(store_path)
    elif command == "hold-open":
        _hold_open(store_path, numbers[0])
    else:
        raise SystemExit(f"unknown command {command}")
