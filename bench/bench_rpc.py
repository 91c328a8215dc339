"""Benchmark 3: billed JSON-RPC calls per 1,000 enriched Aave liquidations, per state mode (not a test).

``python bench/bench_rpc.py [--liquidations 1000 --per-block 20 --single 200]``

A fresh devchain (real Aave v3, npm @aave/core-v3, on anvil at 127.0.0.1) gets ``--liquidations`` +
``--single`` borrowers (impersonated accounts), each supplying 0.01 WBTC and borrowing 0.14 WETH; BTC then
falls from $60,000 to $48,000 (health factor about 0.89) and one liquidator liquidates every borrower, half
of them taking aTokens: the first ``--liquidations`` clustered ``--per-block`` per block, then ``--single``
ones alone in their block. Each case below is then pulled (``toolkit.pull`` of aave-v3 over the case's
blocks, into a new store) through its own :class:`~fault_proxy.FaultProxy` with no faults, which counts
HTTP requests and JSON-RPC calls (a batch is one request holding many calls; providers bill each call):

* ``before_tx``: the clustered liquidations, ``--state before-tx`` (a ``prestateTracer`` trace per
  transaction that is not first in its block, one reader ``eth_call`` per transaction);
* ``block``: the clustered liquidations, ``--state block`` (one reader ``eth_call`` per block);
* ``block_single`` and ``before_tx_single``: the one-per-block liquidations in both modes.

Every row's state must be read (``state_status`` ok, ``state_position`` as the mode says; the counts of
the store are printed). Prints calls per 1,000 stored rows by method and wall time per 1,000 rows against
the goals of issue 15, and merges them into ``bench/results.json`` under ``"rpc"``. Nothing is asserted
about time.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from benchlib import argument_parser, print_table, write_results

from web3 import Web3
from web3.contract.contract import ContractFunction
from web3.types import RPCEndpoint

from toolkit.devchain import Devchain
from toolkit.devchain.assets import MAX_UINT256, USD_DECIMALS, to_raw
from fault_proxy import FaultProxy
from toolkit.devchain.market import VARIABLE_RATE
from toolkit.devchain.scenario import BTC_USD_CRASH, FINALITY_BLOCKS, LIQUIDATOR_INDEX, LIQUIDITY_PROVIDER_INDEX
from toolkit.pipeline import PullRequest, pull_async, run_blocking
from toolkit.store.db import Store

COLLATERAL_WBTC = Decimal("0.01")
DEBT_WETH = Decimal("0.14")
#: Gas sent with each transaction (automine is off, so nothing is estimated).
GAS = hex(1_500_000)
#: Goals of issue 15 ("Fewer, cheaper calls"): most billed JSON-RPC calls per enriched liquidation.
GOALS = {"before_tx": 2.5, "block": 0.3, "block_single": 2.0}
#: ``state_position`` every row of a mode must have (no fallback on anvil, which serves traces and overrides).
POSITIONS = {"before-tx": "before_tx", "block": "block_start"}


@dataclass(frozen=True)
class Blocks:
    """The blocks (inclusive) holding one group of liquidations, and how many."""

    first: int
    last: int
    liquidations: int


def liquidations_on_devchain(devchain: Devchain, clustered: int, per_block: int, single: int) -> tuple[Blocks, Blocks]:
    """Open ``clustered + single`` positions, crash BTC, liquidate ``clustered`` of them ``per_block`` per
    block, then ``single`` one per block; return the blocks of each group."""
    chain, v3 = devchain.chain, devchain.v3
    request = chain.w3.manager.request_blocking
    accounts = devchain.accounts
    provider, liquidator = accounts[LIQUIDITY_PROVIDER_INDEX], accounts[LIQUIDATOR_INDEX]
    count = clustered + single
    weth_needed = DEBT_WETH * count + 10
    devchain.fund_and_supply(v3, provider, {"WETH": weth_needed})
    devchain.fund(liquidator, "WETH", devchain.to_raw("WETH", weth_needed))
    v3.approve(liquidator, "WETH", MAX_UINT256)

    def send(sender: str, fn: ContractFunction) -> None:
        data = chain.w3.eth.contract(abi=fn.contract_abi).encode_abi(fn.abi_element_identifier, args=fn.args)
        request(RPCEndpoint("eth_sendTransaction"), [{"from": sender, "to": fn.address, "data": data, "gas": GAS}])

    wbtc, weth = v3.reserve("WBTC").underlying, v3.reserve("WETH").underlying
    collateral, debt = devchain.to_raw("WBTC", COLLATERAL_WBTC), devchain.to_raw("WETH", DEBT_WETH)
    borrowers = [Web3.to_checksum_address(f"0x{0xB0770000 + k:040x}") for k in range(count)]
    request(RPCEndpoint("evm_setAutomine"), [False])
    for k, borrower in enumerate(borrowers):
        request(RPCEndpoint("anvil_impersonateAccount"), [borrower])
        request(RPCEndpoint("anvil_setBalance"), [borrower, hex(10**19)])
        send(borrower, devchain.token("WBTC").functions.mint(borrower, collateral))
        send(borrower, devchain.token("WBTC").functions.approve(v3.pool.address, collateral))
        send(borrower, getattr(v3.pool.functions, v3.supply_function)(wbtc, collateral, borrower, 0))
        send(borrower, v3.pool.functions.borrow(weth, debt, VARIABLE_RATE, 0, borrower))
        if (k + 1) % 50 == 0 or k + 1 == count:
            request(RPCEndpoint("evm_mine"), [])
    request(RPCEndpoint("evm_setAutomine"), [True])
    v3.set_price("WBTC", to_raw(BTC_USD_CRASH, USD_DECIMALS))
    groups = []
    for group, size in ((borrowers[:clustered], per_block), (borrowers[clustered:], 1)):
        first = chain.w3.eth.block_number + 1
        request(RPCEndpoint("evm_setAutomine"), [False])
        for k, borrower in enumerate(group):
            send(liquidator, v3.pool.functions.liquidationCall(wbtc, weth, borrower, MAX_UINT256, k % 2 == 0))
            if (k + 1) % size == 0 or k + 1 == len(group):
                request(RPCEndpoint("evm_mine"), [])
        request(RPCEndpoint("evm_setAutomine"), [True])
        last = chain.w3.eth.block_number
        found = chain.w3.eth.get_logs({"address": v3.pool.address, "fromBlock": first, "toBlock": last,
                                       "topics": [v3.pool.events.LiquidationCall().topic]})
        if len(found) != len(group):
            raise SystemExit(f"{len(found)} of {len(group)} liquidations were mined in blocks {first}-{last}")
        groups.append(Blocks(first, last, len(group)))
    devchain.mine(FINALITY_BLOCKS)
    return groups[0], groups[1]


def measure(devchain: Devchain, name: str, mode: str, blocks: Blocks, store_path: Path) -> dict[str, Any]:
    """Pull ``blocks`` in ``mode`` through a fresh proxy into a new store; the counts and the store's check."""
    with FaultProxy(devchain.url) as proxy:
        started = time.perf_counter()
        result = run_blocking(pull_async(
            PullRequest(chain="devchain", protocol="aave-v3", rpc_url=proxy.url, store_path=store_path,
                        from_block=blocks.first, to=blocks.last, state=mode), notice=lambda text: print("notice:", text)))
        seconds = time.perf_counter() - started
        requests, calls, methods = proxy.stats.requests, proxy.stats.rpc_calls, dict(proxy.stats.methods)
    frame = Store(store_path, create=False).liquidations()
    rows = len(frame)
    positions = {str(k): int(v) for k, v in frame.state_position.value_counts(dropna=False).items()}
    statuses = {str(k): int(v) for k, v in frame.state_status.value_counts(dropna=False).items()}
    checks = {str(k): int(v) for k, v in frame.state_check.value_counts(dropna=False).items()}
    print(f"\n{name}: {rows:,} rows in blocks {blocks.first}-{blocks.last}; state_position {positions}; "
          f"state_status {statuses}; state_check {checks}")
    if rows != blocks.liquidations or statuses != {"ok": rows} or positions != {POSITIONS[mode]: rows}:
        raise SystemExit(f"{name}: {rows} rows stored for {blocks.liquidations} liquidations, not all with their "
                         f"state read at {POSITIONS[mode]}")
    per_1000 = 1000 / rows
    return {
        "mode": mode, "liquidations": rows, "blocks": blocks.last - blocks.first + 1,
        "http_requests": requests, "rpc_calls": calls, "calls_by_method": methods,
        "http_requests_per_1000": round(requests * per_1000, 1), "rpc_calls_per_1000": round(calls * per_1000, 1),
        "calls_by_method_per_1000": {m: round(n * per_1000, 1) for m, n in methods.items()},
        "calls_per_row": round(calls / rows, 3), "pull_seconds": round(seconds, 2),
        "seconds_per_1000": round(seconds * per_1000, 2), "goal_calls_per_row": GOALS.get(name),
        "state_position": positions, "state_status": statuses, "state_check": checks,
        "client_count": {"http_requests": result.report["rpc"]["http_requests"],
                         "rpc_calls": result.report["rpc"]["rpc_calls"]},
    }


def main(argv: list[str] | None = None) -> None:
    parser = argument_parser(__doc__)
    parser.add_argument("--liquidations", type=int, default=1000, help="liquidations clustered per-block per block")
    parser.add_argument("--per-block", type=int, default=20, help="clustered liquidations mined per block")
    parser.add_argument("--single", type=int, default=200, help="liquidations alone in their block")
    args = parser.parse_args(argv)

    with Devchain.start(anvil_args=["--gas-limit", "1000000000"]) as devchain, \
            tempfile.TemporaryDirectory(prefix="bench-rpc-") as tmp:
        started = time.perf_counter()
        clustered, single = liquidations_on_devchain(devchain, args.liquidations, args.per_block, args.single)
        setup_seconds = time.perf_counter() - started
        cases = [("before_tx", "before-tx", clustered), ("block", "block", clustered),
                 ("block_single", "block", single), ("before_tx_single", "before-tx", single)]
        results = {name: measure(devchain, name, mode, blocks, Path(tmp) / f"{name}.duckdb")
                   for name, mode, blocks in cases}
    methods = sorted({m for r in results.values() for m in r["calls_by_method"]},
                     key=lambda m: -max(r["calls_by_method"].get(m, 0) for r in results.values()))
    rows: list[tuple[Any, ...]] = [
        ("liquidations (blocks)", *(f"{r['liquidations']:,} ({r['blocks']:,})" for r in results.values())),
        ("HTTP requests", *(r["http_requests_per_1000"] for r in results.values())),
        ("JSON-RPC calls (billed)", *(r["rpc_calls_per_1000"] for r in results.values())),
        *((f"  {m}", *(r["calls_by_method_per_1000"].get(m, 0.0) for r in results.values())) for m in methods),
        ("calls per row", *(r["calls_per_row"] for r in results.values())),
        ("goal: calls per row at most", *(r["goal_calls_per_row"] or "" for r in results.values())),
        ("wall seconds per 1,000 rows", *(r["seconds_per_1000"] for r in results.values())),
    ]
    print_table(f"RPC efficiency per 1,000 enriched Aave v3 liquidations on the local chain ({args.per_block} per "
                "block clustered; counted by the proxy)", ("per 1,000 rows", *results), rows)
    missed = [name for name, r in results.items() if r["goal_calls_per_row"] and r["calls_per_row"] > r["goal_calls_per_row"]]
    print(f"\ngoals missed: {', '.join(missed) or 'none'}; setup {setup_seconds:.0f} s")
    if not args.no_write:
        write_results("rpc", {"per_block": args.per_block, "cases": results, "setup_seconds": round(setup_seconds, 1)})


if __name__ == "__main__":
    main()
