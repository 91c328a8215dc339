"""``liqtk pull``: one protocol on one chain, the pulls of a ``pulls.toml`` (``--config``), or every
protocol of the registry (``--all``); see :mod:`toolkit.pipeline` and :mod:`toolkit.schedule`."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from toolkit.cli import output, pull_exit_code, worst_exit_code
from toolkit.cli.options import ChainOption, JsonOption, QuietOption, StoreOption, WaitOption
from toolkit.errors import UserInputError


def _summary(result: Any, store: Path) -> dict[str, Any]:
    """The JSON record of a finished pull (``--json`` stdout); ``result`` is a PullResult."""
    return {"event": "pull.finished", "run_id": result.run_id, "status": result.status, "chain_id": result.chain_id,
            "to_block": result.to_block, "rows_added": result.rows_added,
            "deployments": [{**d.__dict__, "rows_deleted": d.rows_deleted} for d in result.deployments],
            "store": str(store)}


def _print_result(result: Any, store: Path) -> None:
    """A finished pull in text: one line per deployment, then the run."""
    for d in result.deployments:
        repairs = (f", {len(d.reorgs)} reorganization(s) repaired (rewound to block {d.reorgs[-1]['rewound_to']})"
                   if d.reorgs else "")
        states = "".join(f"; {label}: " + ", ".join(f"{n} {name}" for name, n in sorted(counts.items()))
                         for label, counts in (("state", d.state_positions), ("check", d.state_checks)) if counts)
        output.result(f"{d.protocol}/{d.deployment}: blocks {d.from_block}..{d.to_block}, "
                      f"{d.rows_added} new rows in {d.chunks} chunks{repairs}{states}")
    output.result(f"run {result.run_id}: {result.status}, store {store}")


def pull(
    chain: ChainOption = None,
    protocol: Annotated[Optional[str], typer.Option(help="Protocol id (aave-v3, aave-v2, spark, ...).")] = None,
    config: Annotated[Optional[Path], typer.Option("--config", help="Run the pulls a pulls.toml lists (docs: Scheduled pulls).")] = None,
    all_protocols: Annotated[bool, typer.Option("--all", help="Pull every protocol of the registry on --chain (or on every chain whose LIQTK_RPC_<CHAIN> is set).")] = False,
    rpc: Annotated[Optional[str], typer.Option(help="JSON-RPC URL (default: the chain's LIQTK_RPC_<CHAIN> variable). Never printed or stored.")] = None,
    from_block: Annotated[Optional[int], typer.Option("--from-block", help="First block (first pull only; later pulls resume from the checkpoint).")] = None,
    since: Annotated[Optional[str], typer.Option(help="First block at or after this UTC date/time (first pull only).")] = None,
    to: Annotated[Optional[str], typer.Option(help="Last block: finalized (default), safe, latest or a number.")] = None,
    confirmations: Annotated[Optional[int], typer.Option(help="With --to latest: stay this many blocks behind the head (default: 0).")] = None,
    no_state: Annotated[bool, typer.Option("--no-state", help="Skip eth_call state reads (no archive node needed); state columns stay null. Same as --state none.")] = False,
    state: Annotated[Optional[str], typer.Option("--state", help="Where state is read: before-tx (default: right before each liquidation's transaction, exact; needs debug_traceTransaction, else falls back with a notice), block (start of its block, fewer calls) or none.")] = None,
    address: Annotated[Optional[str], typer.Option(help="Pool address of a fork or custom deployment of --protocol.")] = None,
    market: Annotated[Optional[str], typer.Option(help="Only this market of the protocol (deployment name).")] = None,
    blocks_per_request: Annotated[Optional[int], typer.Option("--blocks-per-request", help="Most blocks per eth_getLogs request and committed chunk (default: adaptive).")] = None,
    rpc_timeout: Annotated[Optional[float], typer.Option("--rpc-timeout", help="Seconds one request to the node may take before it is retried (default: 30).")] = None,
    verify: Annotated[Optional[str], typer.Option(help="How each eth_getLogs answer is proven complete before it is stored: bloom (default: result caps and block blooms), receipts (also each matching block against its receipts), none (trust the node).")] = None,
    wait: WaitOption = 0.0,
    exit_nothing_new: Annotated[bool, typer.Option("--exit-nothing-new", help="Exit 3 instead of 0 when no pull changed the store (for cron jobs that act only on new rows).")] = False,
    store: StoreOption = None,
    json_output: JsonOption = False,
    quiet: QuietOption = False,
) -> None:
    """Pull liquidation events into the store: incremental, idempotent, resumable.

    Exit 0 when the pull succeeded, also when there was nothing new (the JSON result says so in ``status``);
    --exit-nothing-new makes that 3.
    """
    from toolkit.settings import chain_name_of, parse_bound, parse_since

    output.configure(quiet=quiet, json=json_output, rpc_urls=[rpc])
    if chain is not None:
        chain = chain_name_of(chain)
    options = {"to": parse_bound(to) if to is not None else None, "confirmations": confirmations,
               "from_block": from_block, "since": parse_since(since) if since else None,
               "no_state": no_state or None, "state": state, "blocks_per_request": blocks_per_request,
               "rpc_timeout": rpc_timeout, "verify": verify}
    given = {key: value for key, value in options.items() if value is not None}
    codes = {"nothing_new_code": exit_nothing_new}
    if no_state and state not in (None, "none"):
        raise UserInputError(f"pass either --no-state or --state {state}, not both")
    if config is not None and all_protocols:
        raise UserInputError("pass either --config or --all, not both")
    if config is not None:
        extra = [name for name, value in (("--chain", chain), ("--protocol", protocol), ("--rpc", rpc),
                                          ("--address", address), ("--market", market)) if value is not None]
        extra += ["--" + key.replace("_", "-") for key in given]
        if extra:
            raise UserInputError(f"--config takes chains, protocols and options from the file; drop {extra[0]} "
                                 "(set it in the file)")
        _run_schedule(config=config, chain=None, rpc=None, options={}, store=store, wait=wait, **codes)
    elif all_protocols:
        extra = [name for name, value in (("--protocol", protocol), ("--address", address), ("--market", market))
                 if value is not None]
        if extra:
            raise UserInputError(f"--all pulls every protocol of the registry; drop {extra[0]}")
        _run_schedule(config=None, chain=chain, rpc=rpc, options=given, store=store, wait=wait, **codes)
    else:
        for name, value in (("--chain", chain), ("--protocol", protocol)):
            if value is None:
                raise UserInputError(f"Missing option '{name}': pass {name} (or --config FILE, or --all)")
        _run_one(chain, protocol, rpc=rpc, options=given, address=address, market=market, store=store, wait=wait,
                 **codes)


def _own_process_for_pulls() -> None:
    """Process-wide settings for pulls, applied only in the console script's own process
    (:data:`toolkit.cli.OWN_PROCESS`), before pyarrow and numpy are imported. Measured on the README's
    benchmark machine (bench/bench_pull.py):

    * pyarrow asks whether pandas is installed on its first conversion of a Python object (to test whether
      the object is a pandas one), and imports pandas to answer: 0.2 s on the pull's critical path, before
      its first chunk is decoded (apache/arrow#34994). The answer is kept for the process; a pull converts
      nothing to pandas, so pyarrow is told here that there is none (``import pandas`` fails while it asks).
      pandas itself still imports normally afterwards.
    * numpy's OpenBLAS starts a thread per core at import, which spin-waits for work for a while: about
      0.1 s of CPU taken from the node and the store on 2 cores. A pull does no linear algebra.
    """
    from toolkit import cli

    if not cli.OWN_PROCESS:
        return
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    if "pandas" in sys.modules:
        return
    import pyarrow as pa

    sys.meta_path.insert(0, _NoPandasWhilePyarrowAsks)
    try:
        pa.array([0])
    finally:
        sys.meta_path.remove(_NoPandasWhilePyarrowAsks)


class _NoPandasWhilePyarrowAsks:
    """An import finder (PEP 451) that fails ``import pandas`` (see :func:`_own_process_for_pulls`)."""

    @staticmethod
    def find_spec(name: str, path: object = None, target: object = None) -> None:
        if name == "pandas":
            raise ModuleNotFoundError("a pull does not use pandas", name=name)


def _run_one(chain: str, protocol: str, *, rpc: str | None, options: dict[str, Any], address: str | None,
             market: str | None, store: Path | None, wait: float, nothing_new_code: bool) -> None:
    _own_process_for_pulls()
    from toolkit.pipeline import PullRequest, pull_async
    from toolkit.settings import resolve_rpc_url, resolve_store_path

    request = PullRequest(chain=chain, protocol=protocol, rpc_url=resolve_rpc_url(chain, rpc),
                          store_path=resolve_store_path(store), address=address, deployment=market, lock_wait=wait,
                          **options)
    output.hide(request.rpc_url)
    with output.progress_bar(f"{chain}/{protocol}") as progress:
        result = asyncio.run(pull_async(request, progress, _notice))
    output.emit(_summary(result, request.store_path), lambda: _print_result(result, request.store_path))
    raise typer.Exit(pull_exit_code(result.status, nothing_new_code=nothing_new_code))


def _notice(text: str) -> None:
    """A fallback of the whole pull, told once (a JSON line with --quiet)."""
    output.log("pull.notice", message=text)


def _run_schedule(*, config: Path | None, chain: str | None, rpc: str | None, options: dict[str, Any],
                  store: Path | None, wait: float, nothing_new_code: bool) -> None:
    """``--config`` / ``--all``: validate everything, then run the pulls one by one; exit with the most
    severe outcome (README.md, "Exit codes")."""
    _own_process_for_pulls()
    from toolkit.schedule import PlanOutcome, all_protocols, load_schedule, run_schedule
    from toolkit.settings import resolve_store_path

    schedule = load_schedule(config) if config is not None else all_protocols(chain, os.environ, options,
                                                                                rpc_given=rpc is not None)
    store_path = resolve_store_path(store or schedule.store)
    pulls = [(plan, plan.request(store_path, os.environ, rpc_url=rpc, lock_wait=wait)) for plan in schedule.plans]
    output.hide(*(request.rpc_url for _, request in pulls))

    async def run() -> list[PlanOutcome]:
        outcomes = []
        async for outcome in run_schedule(pulls, lambda p: output.progress_bar(f"{p.chain}/{p.protocol}"), _notice):
            outcomes.append(outcome)
            where = {"chain": outcome.plan.chain, "protocol": outcome.plan.protocol, "status": outcome.status}
            if outcome.result is not None and output.wants_json():  # stdout holds the JSON result only
                output.log("pull.finished", **where, rows_added=outcome.result.rows_added)
            elif outcome.result is not None:
                _print_result(outcome.result, store_path)
            else:
                output.log("pull.failed", **where, error=outcome.error)
        return outcomes

    outcomes = asyncio.run(run())
    code = worst_exit_code(pull_exit_code(o.status, nothing_new_code=nothing_new_code) for o in outcomes)
    counts: dict[str, int] = {}
    for o in outcomes:
        counts[o.status] = counts.get(o.status, 0) + 1
    output.emit({"event": "pulls.finished", "exit_code": code, "store": str(store_path), "pulls": [
        {"chain": o.plan.chain, "protocol": o.plan.protocol, "status": o.status, "error": o.error,
         **({"run_id": o.result.run_id, "rows_added": o.result.rows_added} if o.result else {})}
        for o in outcomes]},
        f"{len(outcomes)} of {len(pulls)} pulls ran: "
        + ", ".join(f"{n} {status.replace('_', ' ')}" for status, n in sorted(counts.items()))
        + f"; exit code {code}")
    raise typer.Exit(code)
