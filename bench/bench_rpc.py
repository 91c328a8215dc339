"""Benchmark 3: requests per 1,000 enriched Aave liquidations on the local chain (not a test).

``python bench/bench_rpc.py [--liquidations 1000 --per-block 20]``

A fresh devchain (real Aave v3, npm @aave/core-v3, on anvil at 127.0.0.1) gets ``--liquidations``
borrowers (impersonated accounts), each supplying 0.01 WBTC and borrowing 0.14 WETH; BTC then falls
from $60,000 to $48,000 (health factor about 0.89) and one liquidator liquidates every borrower,
``--per-block`` liquidations per block, half of them taking aTokens. Then ``toolkit.pull`` of aave-v3
with state reads (configuration, account data, e-mode, oracle prices, ...) runs through the
:class:`~fault_proxy.FaultProxy` with no faults, which counts HTTP requests and
JSON-RPC calls (a batch is one request holding many calls) by method. Prints the counts per 1,000
stored rows and merges them into ``bench/results.json`` under ``"rpc"``.
"""

from __future__ import annotations

import tempfile
import time
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


def liquidations_on_devchain(devchain: Devchain, count: int, per_block: int) -> int:
    """Open ``count`` positions, crash BTC, liquidate them all; return the number of liquidations mined."""
    chain, v3 = devchain.chain, devchain.v3
    request = chain.w3.manager.request_blocking
    accounts = devchain.accounts
    provider, liquidator = accounts[LIQUIDITY_PROVIDER_INDEX], accounts[LIQUIDATOR_INDEX]
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
    request(RPCEndpoint("evm_setAutomine"), [False])
    for k, borrower in enumerate(borrowers):
        send(liquidator, v3.pool.functions.liquidationCall(wbtc, weth, borrower, MAX_UINT256, k % 2 == 0))
        if (k + 1) % per_block == 0 or k + 1 == count:
            request(RPCEndpoint("evm_mine"), [])
    request(RPCEndpoint("evm_setAutomine"), [True])
    devchain.mine(FINALITY_BLOCKS)
    found = chain.w3.eth.get_logs({"address": v3.pool.address, "fromBlock": 0, "toBlock": "latest",
                                   "topics": [v3.pool.events.LiquidationCall().topic]})
    return len(found)


def main(argv: list[str] | None = None) -> None:
    parser = argument_parser(__doc__)
    parser.add_argument("--liquidations", type=int, default=1000)
    parser.add_argument("--per-block", type=int, default=20, help="liquidations mined per block")
    args = parser.parse_args(argv)

    with Devchain.start(anvil_args=["--gas-limit", "1000000000"]) as devchain, \
            tempfile.TemporaryDirectory(prefix="bench-rpc-") as tmp:
        started = time.perf_counter()
        mined = liquidations_on_devchain(devchain, args.liquidations, args.per_block)
        setup_seconds = time.perf_counter() - started
        if mined != args.liquidations:
            raise SystemExit(f"{mined} of {args.liquidations} liquidations were mined")
        store_path = Path(tmp) / "liquidations.duckdb"
        with FaultProxy(devchain.url) as proxy:
            started = time.perf_counter()
            result = run_blocking(pull_async(PullRequest(chain="devchain", protocol="aave-v3", rpc_url=proxy.url,
                                                         store_path=store_path)))
            pull_seconds = time.perf_counter() - started
        frame = Store(store_path, create=False).liquidations()
        requests, calls, methods = proxy.stats.requests, proxy.stats.rpc_calls, dict(proxy.stats.methods)
    rows = len(frame)
    unenriched = int((frame.state_status != "ok").sum())
    if rows != args.liquidations or unenriched:
        raise SystemExit(f"{rows} rows stored, {unenriched} without state, for {args.liquidations} liquidations")
    per_1000 = 1000 / rows

    def per(value: int) -> float:
        return round(value * per_1000, 1)

    print_table(f"RPC efficiency: {rows:,} enriched Aave v3 liquidations on the local chain, {args.per_block} per "
                "block (counted by the proxy)", ("requests", "total", "per 1,000 rows"),
                [("HTTP requests", requests, per(requests)), ("JSON-RPC calls", calls, per(calls)),
                 *((f"  {method} calls", n, per(n)) for method, n in sorted(methods.items(), key=lambda m: -m[1]))])
    print(f"\npull: {pull_seconds:.1f} s ({rows / pull_seconds:,.0f} enriched rows/s); client's own count: "
          f"{result.report['rpc']['http_requests']} HTTP requests, {result.report['rpc']['rpc_calls']} calls; "
          f"setup {setup_seconds:.0f} s")
    if not args.no_write:
        record: dict[str, Any] = {
            "liquidations": rows, "per_block": args.per_block, "http_requests": requests, "rpc_calls": calls,
            "http_requests_per_1000": per(requests), "rpc_calls_per_1000": per(calls),
            "calls_by_method": methods, "pull_seconds": round(pull_seconds, 2),
        }
        write_results("rpc", record)


if __name__ == "__main__":
    main()
