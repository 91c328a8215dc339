"""Benchmarks 1 and 4: pull throughput against web3.py and cryo, and the pull's peak memory (not a test).

``python bench/bench_pull.py [--logs 100000 --repeat 3]``

A local anvil node (127.0.0.1, stopped by PID) gets the ``LiquidationCallEmitter`` and ``--logs``
Aave-v3-shaped ``LiquidationCall`` logs, 250 per transaction, two transactions per block. Then, in one
run, on the same node and blocks:

* **liqtk**: ``liqtk pull --chain devchain --protocol aave-v3 --address <emitter> --no-state`` as a
  subprocess into a new store: fetch, decode, normalize, check against block headers and store
  (segment files listed in the DuckDB file). Timed from process start to exit (interpreter start-up
  included); its peak RSS is that process's own (``wait4``). The pull's own duration (its run report)
  is recorded too.
* **liqtk, the Python API**: ``toolkit.pull(...)`` with the same arguments in this warm process, into a
  new store, as a notebook calls it: the counterpart of ``cryo.collect`` in a warm process.
* **liqtk, fetch and decode only**: the same reader and adapter in this process, into one Arrow table
  of the ``liquidations`` columns, nothing stored: what ``cryo.collect`` does.
* **cryo**: ``cryo.collect("logs", ..., event_signature=...)`` (Rust: fetch and decode into a polars
  frame, nothing stored) in this warm process, and for reference without ``event_signature`` (fetch
  only); and the same decoded collect as a command, ``python -c "import cryo; cryo.collect(...)"`` in a
  new interpreter, timed like ``liqtk pull`` from process start to exit (start-up and imports included
  on both sides).
* **web3.py**: ``contract.events.LiquidationCall().get_logs(...)`` (sync), which decodes every log.

Each contender runs ``--repeat`` times in turn (web3.py once: it takes minutes) and keeps its best
time. All must return the same number of logs, and a sample of logs must agree on every decoded value.
Prints a table and merges the figures into ``bench/results.json`` under ``"pull"``.
"""

from __future__ import annotations

import asyncio
import gc
import json
import random
import sys
import tempfile
from pathlib import Path
from typing import Any

from benchlib import (COMPARED, EmitterLogs, argument_parser, canonical, emitter_logs, print_table, run_measured,
                      timed, write_results)

import duckdb
import pyarrow as pa
from web3 import Web3

import toolkit
from toolkit.chain.logs import LogFilter, LogReader, reset_endpoint_limits
from toolkit.chain.rpc import RpcClient
from toolkit.devchain.emitter import compile_emitter
from toolkit.pipeline import CHUNK_LOGS, PullRequest, resolve_deployments
from toolkit.protocols import adapter_for
from toolkit.store import schema
from toolkit.store.arrow import columns_to_table

#: cryo's event signature argument (the Solidity declaration, with parameter names).
EVENT_DECLARATION = ("event LiquidationCall(address indexed collateralAsset, address indexed debtAsset, "
                     "address indexed user, uint256 debtToCover, uint256 liquidatedCollateralAmount, "
                     "address liquidator, bool receiveAToken)")
SAMPLE = 200


def pull_liqtk(logs: EmitterLogs, store: Path) -> dict[str, Any]:
    """One ``liqtk pull`` subprocess into ``store``: wall seconds, peak RSS, run-report seconds, rows."""
    command = [str(Path(sys.executable).with_name("liqtk")), "pull", "--chain", "devchain", "--protocol",
               "aave-v3", "--address", logs.emitter, "--no-state", "--from-block", str(logs.first_block),
               "--to", str(logs.last_block), "--rpc", logs.url, "--store", str(store), "--quiet"]
    done, seconds, rss = run_measured(command)
    if done.returncode != 0:
        raise SystemExit(f"liqtk pull failed ({done.returncode}): {done.stderr.strip()[-2000:]}")
    with duckdb.connect(str(store), read_only=True) as con:
        report = json.loads(con.execute("SELECT report_json FROM runs").fetchone()[0])
    return {"seconds": seconds, "peak_rss_mb": rss, "pipeline_seconds": report["seconds"],
            "rows": report["rows_added"], "rpc": report["rpc"]}


def pull_in_process(logs: EmitterLogs, store: Path) -> int:
    """``toolkit.pull`` in this process into the new ``store`` (what it learned about the node is forgotten
    first, as in a new process): the rows added."""
    reset_endpoint_limits()
    result = toolkit.pull("devchain", "aave-v3", rpc=logs.url, store=store, from_block=logs.first_block,
                          to=logs.last_block, no_state=True, address=logs.emitter)
    return result.rows_added


def fetch_and_decode(logs: EmitterLogs) -> pa.Table:
    """The pull's reader and adapter in this process, without a store: one Arrow table of the rows."""
    deployment = resolve_deployments(PullRequest(chain="devchain", protocol="aave-v3", rpc_url=logs.url,
                                                 store_path=Path("unused"), address=logs.emitter))[0]
    adapter = adapter_for(deployment)
    reset_endpoint_limits()  # what the previous run learned about the node is not reused

    async def read() -> pa.Table:
        tables = []
        async with RpcClient(logs.url) as client:
            reader = LogReader(client, share_ranges=True, target_logs=CHUNK_LOGS, columns=True)  # as the pull reads
            log_filter = LogFilter(addresses=deployment.emitters, topics0=adapter.topics0(deployment))
            async for chunk in reader.iter_chunks(log_filter, logs.first_block, logs.last_block + 1):
                columns = adapter.decode_columns(chunk.logs, deployment)
                tables.append(columns_to_table(schema.LIQUIDATION_COLUMNS, columns, len(chunk.logs)))
        return pa.concat_tables(tables)

    return asyncio.run(read())


def stored_sample(store: Path, keys: list[tuple[str, int]]) -> dict[tuple[str, int], dict[str, Any]]:
    """The compared columns of the stored rows with the given (tx hash, log index) keys."""
    names = ", ".join(column for column, _ in COMPARED)
    with duckdb.connect(str(store), read_only=True) as con:
        rows = con.execute(f"SELECT tx_hash, log_index, {names} FROM liquidations").fetchall()
    wanted = set(keys)
    return {(r[0], r[1]): dict(zip((c for c, _ in COMPARED), r[2:], strict=True)) for r in rows
            if (r[0], r[1]) in wanted}


def pull_cryo(logs: EmitterLogs, decode: bool) -> Any:
    """cryo's logs of the emitter over the blocks, decoded with the event signature or raw."""
    import cryo

    extra = {"event_signature": EVENT_DECLARATION} if decode else {}
    return cryo.collect("logs", blocks=[f"{logs.first_block}:{logs.last_block + 1}"], rpc=logs.url,
                        contract=[logs.emitter], verbose=False, **extra)


def pull_cryo_command(logs: EmitterLogs) -> float:
    """Wall seconds of a new interpreter that imports cryo and collects the decoded logs (the count is checked)."""
    script = ("import sys, cryo; frame = cryo.collect('logs', blocks=[sys.argv[1]], rpc=sys.argv[2], "
              "contract=[sys.argv[3]], event_signature=sys.argv[4], verbose=False); print(len(frame))")
    done, seconds, _ = run_measured([sys.executable, "-c", script, f"{logs.first_block}:{logs.last_block + 1}",
                                     logs.url, logs.emitter, EVENT_DECLARATION])
    if done.returncode != 0 or int(done.stdout.strip() or -1) != logs.count:
        raise SystemExit(f"cryo as a command failed ({done.returncode}): {done.stderr.strip()[-2000:]}")
    return seconds


def pull_web3(logs: EmitterLogs) -> list[Any]:
    """web3.py's decoded ``LiquidationCall`` events of the emitter over the blocks."""
    w3 = Web3(Web3.HTTPProvider(logs.url, request_kwargs={"timeout": 600}))
    contract = w3.eth.contract(address=Web3.to_checksum_address(logs.emitter), abi=compile_emitter().abi)
    return contract.events.LiquidationCall().get_logs(from_block=logs.first_block, to_block=logs.last_block)


def check_agreement(ours: dict[tuple[str, int], dict[str, Any]], web3_events: list[Any] | None,
                    cryo_frame: Any) -> int:
    """Compare the sample across the three (two without web3.py); raise on any difference; return the values
    compared."""
    by_key_web3 = {("0x" + e.transactionHash.hex().removeprefix("0x"), e.logIndex): e for e in web3_events or []}
    cryo_rows = {("0x" + r["transaction_hash"].hex(), r["log_index"]): r for r in cryo_frame.to_dicts()}
    compared = 0
    for key, row in ours.items():
        event, record = by_key_web3.get(key), cryo_rows[key]
        for column, argument in COMPARED:
            cryo_value = record.get(f"event__{argument}_string", record.get(f"event__{argument}"))
            values = {canonical(row[column]), canonical(cryo_value)}
            if event is not None:
                values.add(canonical(event.args[argument]))
            if len(values) != 1:
                raise SystemExit(f"{key} {column}: liqtk, web3.py and cryo disagree: {values}")
            compared += 1
    return compared


def main(argv: list[str] | None = None) -> None:
    parser = argument_parser(__doc__)
    parser.add_argument("--logs", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3, help="runs of liqtk and cryo (best kept)")
    parser.add_argument("--no-web3", action="store_true",
                        help="leave web3.py out (it takes minutes): for before/after comparisons of the pull")
    args = parser.parse_args(argv)

    with emitter_logs(args.logs) as logs, tempfile.TemporaryDirectory(prefix="bench-pull-") as tmp:
        # What this process imported (web3, cryo, polars, ...) is moved out of the garbage collector's
        # view, as in a fresh process: the in-process contenders are timed, not the bench's own heap.
        gc.collect()
        gc.freeze()
        liqtk_runs: list[dict[str, Any]] = []
        api_seconds: list[float] = []
        api_rows: set[int] = set()
        in_process_seconds: list[float] = []
        cryo_seconds: list[float] = []
        raw_seconds: list[float] = []
        cryo_command_seconds: list[float] = []
        for attempt in range(args.repeat):
            store = Path(tmp) / f"run{attempt}.duckdb"
            liqtk_runs.append(pull_liqtk(logs, store))
            added, seconds = timed(pull_in_process, logs, Path(tmp) / f"api{attempt}.duckdb")
            api_seconds.append(seconds)
            api_rows.add(added)
            in_process, seconds = timed(fetch_and_decode, logs)
            in_process_seconds.append(seconds)
            cryo_frame, seconds = timed(pull_cryo, logs, True)
            cryo_seconds.append(seconds)
            raw_frame, seconds = timed(pull_cryo, logs, False)
            raw_seconds.append(seconds)
            cryo_command_seconds.append(pull_cryo_command(logs))
        web3_events, web3_seconds = timed(pull_web3, logs) if not args.no_web3 else (None, float("nan"))

        counts = {"liqtk": {run["rows"] for run in liqtk_runs}, "toolkit.pull": api_rows,
                  "liqtk (fetch and decode)": {in_process.num_rows},
                  "cryo": {len(cryo_frame)}, "cryo (no decoding)": {len(raw_frame)}}
        if web3_events is not None:
            counts["web3.py"] = {len(web3_events)}
        if any(found != {args.logs} for found in counts.values()):
            raise SystemExit(f"the contenders do not all return {args.logs} logs: {counts}")
        keys = random.Random(7).sample(sorted(("0x" + r["transaction_hash"].hex(), r["log_index"])
                                              for r in cryo_frame.to_dicts()), SAMPLE)
        compared = check_agreement(stored_sample(store, keys), web3_events, cryo_frame)

    best = min(liqtk_runs, key=lambda run: run["seconds"])
    pipeline_best = min(run["pipeline_seconds"] for run in liqtk_runs)
    cryo_best, raw_best, in_process_best = min(cryo_seconds), min(raw_seconds), min(in_process_seconds)
    rates = {"liqtk_command": args.logs / best["seconds"], "liqtk_pipeline": args.logs / pipeline_best,
             "liqtk_api": args.logs / min(api_seconds),
             "liqtk_fetch_decode": args.logs / in_process_best, "cryo": args.logs / cryo_best,
             "cryo_command": args.logs / min(cryo_command_seconds),
             "cryo_no_decoding": args.logs / raw_best, "web3": args.logs / web3_seconds}
    rows = [("liqtk pull --no-state: whole command", best["seconds"], "liqtk_command"),
            ("liqtk pull --no-state: the pull (run report)", pipeline_best, "liqtk_pipeline"),
            ("toolkit.pull(no_state=True), warm process", min(api_seconds), "liqtk_api"),
            ("liqtk fetch + decode to Arrow, no store", in_process_best, "liqtk_fetch_decode"),
            ("cryo.collect, decoded (warm process)", cryo_best, "cryo"),
            ("cryo.collect, decoded, as a command", min(cryo_command_seconds), "cryo_command"),
            ("cryo.collect, not decoded", raw_best, "cryo_no_decoding"),
            ("web3.py get_logs (decoded)", web3_seconds, "web3")][:None if web3_events is not None else -1]
    print_table(f"Pull throughput: {args.logs:,} LiquidationCall logs on a local anvil node "
                f"(best of {args.repeat}; web3.py once)",
                ("contender", "seconds", "logs/s", "vs cryo (warm)", "vs cryo command", "vs web3.py"),
                [(label, seconds, round(rates[key]), round(rates[key] / rates["cryo"], 2),
                  round(rates[key] / rates["cryo_command"], 2),
                  round(rates[key] / rates["web3"], 1)) for label, seconds, key in rows])
    print_table("Memory", ("measure", "MiB"), [("peak RSS of the liqtk pull (max of runs)",
                                                  round(max(run["peak_rss_mb"] for run in liqtk_runs)))])
    print(f"\nall contenders returned {args.logs:,} logs; {compared:,} decoded values of {SAMPLE} sampled logs agree")
    if not args.no_write:
        write_results("pull", {
            "logs": args.logs, "blocks": logs.last_block - logs.first_block + 1, "repeat": args.repeat,
            "liqtk_seconds": [round(run["seconds"], 3) for run in liqtk_runs],
            "liqtk_pipeline_seconds": [run["pipeline_seconds"] for run in liqtk_runs],
            "liqtk_peak_rss_mb": [round(run["peak_rss_mb"]) for run in liqtk_runs],
            "liqtk_rpc": best["rpc"],
            "liqtk_api_seconds": [round(s, 3) for s in api_seconds],
            "liqtk_fetch_decode_seconds": [round(s, 3) for s in in_process_seconds],
            "cryo_seconds": [round(s, 3) for s in cryo_seconds],
            "cryo_command_seconds": [round(s, 3) for s in cryo_command_seconds],
            "cryo_no_decoding_seconds": [round(s, 3) for s in raw_seconds],
            "web3_seconds": round(web3_seconds, 3),
            "logs_per_second": {name: round(value) for name, value in rates.items()},
            "vs_cryo": {key: round(rates[key] / rates["cryo"], 2) for _, _, key in rows},
            "vs_cryo_command": {key: round(rates[key] / rates["cryo_command"], 2) for _, _, key in rows},
            "vs_web3": {key: round(rates[key] / rates["web3"], 1) for _, _, key in rows},
            "values_compared": compared,
        })


if __name__ == "__main__":
    main()
