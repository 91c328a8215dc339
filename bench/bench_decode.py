"""Benchmark 2: decoding raw ``LiquidationCall`` logs in memory, against eth-abi and web3.py (not a test).

``python bench/bench_decode.py [--logs 1000000 --baseline-logs 50000]``

``--logs`` raw logs shaped as a node's ``eth_getLogs`` answer (hex strings, as parsed from JSON) are
built in memory, seeded: 500 logs per block, 250 per transaction, random users and amounts up to 2**96.
Then, on the same logs:

* **liqtk, columns**: the Aave adapter's ``decode_columns`` on chunks of 10,000 logs: every normalized
  column of the ``liquidations`` table that the logs give, as Arrow arrays decoded a column at a time
  (:mod:`toolkit.hexarrays`), exact integers as decimal strings, no dict per row;
* **liqtk, Arrow table**: the same plus ``columns_to_table``, the table the store inserts;
* **liqtk, one log at a time**: ``adapter.decode(log)`` per log, the row path other adapters use;
* **eth-abi**: ``eth_abi.decode`` of each log's data and indexed topics (values only, no normalization);
* **web3.py**: ``contract.events.LiquidationCall().process_log(log)`` per log.

liqtk's column paths decode all ``--logs``; the per-log paths, far slower, decode the first
``--baseline-logs`` (logs/s is a rate, so the ratios hold). A sample of logs must decode to the same
values in all of them. The input logs are frozen out of the garbage collector's view (``gc.freeze``)
before timing: in a pull they live only as long as their chunk. Prints a table and merges the figures
into ``bench/results.json`` under ``"decode"``.
"""

from __future__ import annotations

import gc
import random
from pathlib import Path
from typing import Any

from benchlib import COMPARED, argument_parser, canonical, print_table, timed, write_results

from eth_abi import decode as abi_decode
from web3 import Web3

from toolkit.devchain.emitter import LIQUIDATION_CALL_TOPIC0, compile_emitter
from toolkit.pipeline import PullRequest, resolve_deployments
from toolkit.protocols import adapter_for
from toolkit.store import schema
from toolkit.store.arrow import columns_to_table

CHUNK = 10_000
EMITTER = "0x5fbdb2315678afecb367f032d93f642f64180aa3"
DATA_TYPES = ["uint256", "uint256", "address", "bool"]


def _word(value: int) -> str:
    return f"{value:064x}"


def raw_logs(count: int, seed: int = 7) -> list[dict[str, Any]]:
    """``count`` JSON-RPC ``LiquidationCall`` logs of the emitter, 500 per block and 250 per transaction."""
    rng = random.Random(seed)
    assets = ["0x" + _word(0xC0000 + k) for k in range(4)], ["0x" + _word(0xD0000 + k) for k in range(4)]
    liquidator = "0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266"
    indexes = [hex(k) for k in range(500)]
    logs: list[dict[str, Any]] = []
    for k in range(count):
        block, position = divmod(k, 500)
        if position == 0:
            block_hash, stamp, number = "0x" + _word(rng.getrandbits(256)), hex(1_735_689_600 + 12 * block), hex(block + 2)
        if position % 250 == 0:
            tx_hash, tx_index = "0x" + _word(rng.getrandbits(256)), indexes[position // 250]
        data = "0x" + _word(rng.getrandbits(96) + 1) + _word(rng.getrandbits(96) + 1) + _word(int(liquidator, 16)) \
            + _word(rng.getrandbits(1))
        logs.append({"address": EMITTER, "topics": [LIQUIDATION_CALL_TOPIC0, rng.choice(assets[0]), rng.choice(assets[1]),
                                                    "0x" + _word(rng.getrandbits(160))],
                     "data": data, "blockHash": block_hash, "blockNumber": number, "blockTimestamp": stamp,
                     "transactionHash": tx_hash, "transactionIndex": tx_index, "logIndex": indexes[position],
                     "removed": False})
    return logs


def decode_eth_abi(logs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each log's indexed topics and data decoded by eth-abi."""
    out = []
    for log in logs:
        collateral, debt, user = (abi_decode(["address"], bytes.fromhex(t[2:]))[0] for t in log["topics"][1:])
        debt_to_cover, seized, liquidator, receive = abi_decode(DATA_TYPES, bytes.fromhex(log["data"][2:]))
        out.append({"collateralAsset": collateral, "debtAsset": debt, "user": user, "debtToCover": debt_to_cover,
                    "liquidatedCollateralAmount": seized, "liquidator": liquidator, "receiveAToken": receive})
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argument_parser(__doc__)
    parser.add_argument("--logs", type=int, default=1_000_000)
    parser.add_argument("--baseline-logs", type=int, default=50_000, help="logs decoded one at a time")
    args = parser.parse_args(argv)

    deployment = resolve_deployments(PullRequest(chain="devchain", protocol="aave-v3", rpc_url="http://127.0.0.1:1",
                                                 store_path=Path("unused"), address=EMITTER))[0]
    adapter = adapter_for(deployment)
    event = Web3().eth.contract(abi=compile_emitter().abi).events.LiquidationCall()
    gc.disable()
    logs = raw_logs(args.logs)
    gc.enable()
    gc.collect()
    gc.freeze()
    baseline = logs[:args.baseline_logs]

    def columns() -> int:
        return sum(len(adapter.decode_columns(logs[i:i + CHUNK], deployment)["tx_hash"])
                   for i in range(0, len(logs), CHUNK))

    def tables() -> int:
        return sum(columns_to_table(schema.LIQUIDATION_COLUMNS, adapter.decode_columns(logs[i:i + CHUNK], deployment),
                                    len(logs[i:i + CHUNK])).num_rows for i in range(0, len(logs), CHUNK))

    decoded_columns, columns_seconds = timed(columns)
    decoded_tables, tables_seconds = timed(tables)
    per_log, per_log_seconds = timed(lambda: [adapter.decode(log, deployment) for log in baseline])
    eth_abi_values, eth_abi_seconds = timed(decode_eth_abi, baseline)
    web3_events, web3_seconds = timed(lambda: [event.process_log(log) for log in baseline])
    gc.unfreeze()
    assert decoded_columns == decoded_tables == args.logs

    sample = random.Random(3).sample(range(len(baseline)), min(1000, len(baseline)))
    ours = {name: array.to_pylist() for name, array in
            adapter.decode_columns([baseline[i] for i in sample], deployment).items()}
    for position, i in enumerate(sample):
        for column, argument in COMPARED:
            values = {canonical(ours[column][position]), canonical(per_log[i][column]),
                      canonical(eth_abi_values[i][argument]), canonical(web3_events[i]["args"][argument])}
            if len(values) != 1:
                raise SystemExit(f"log {i} {column}: the decoders disagree: {values}")

    rates = {"liqtk_columns": args.logs / columns_seconds, "liqtk_arrow_table": args.logs / tables_seconds,
             "liqtk_per_log": len(baseline) / per_log_seconds, "eth_abi": len(baseline) / eth_abi_seconds,
             "web3_process_log": len(baseline) / web3_seconds}
    table = rates["liqtk_arrow_table"]
    print_table(f"Decode only: {args.logs:,} raw LiquidationCall logs in memory (per-log decoders on the first "
                f"{len(baseline):,})", ("decoder", "logs", "seconds", "logs/s", "liqtk table speed-up"),
                [("liqtk decode_columns (Arrow columns)", args.logs, columns_seconds,
                  round(rates["liqtk_columns"]), round(table / rates["liqtk_columns"], 2)),
                 ("liqtk decode_columns + Arrow table", args.logs, tables_seconds, round(table), 1.0),
                 ("liqtk adapter.decode, one log at a time", len(baseline), per_log_seconds,
                  round(rates["liqtk_per_log"]), round(table / rates["liqtk_per_log"], 1)),
                 ("eth-abi decode (values only)", len(baseline), eth_abi_seconds, round(rates["eth_abi"]),
                  round(table / rates["eth_abi"], 1)),
                 ("web3.py process_log", len(baseline), web3_seconds, round(rates["web3_process_log"]),
                  round(table / rates["web3_process_log"], 1))])
    print(f"\n{len(sample):,} sampled logs decode to the same values in all five")
    if not args.no_write:
        write_results("decode", {
            "logs": args.logs, "baseline_logs": len(baseline), "chunk": CHUNK,
            "seconds": {"liqtk_columns": round(columns_seconds, 3), "liqtk_arrow_table": round(tables_seconds, 3),
                        "liqtk_per_log": round(per_log_seconds, 3), "eth_abi": round(eth_abi_seconds, 3),
                        "web3_process_log": round(web3_seconds, 3)},
            "logs_per_second": {name: round(value) for name, value in rates.items()},
            "liqtk_table_vs_eth_abi": round(table / rates["eth_abi"], 1),
            "liqtk_table_vs_web3": round(table / rates["web3_process_log"], 1),
        })


if __name__ == "__main__":
    main()
