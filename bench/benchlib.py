"""What every benchmark of ``bench/`` shares: machine and version facts, the results file, the
printed table, peak memory, and the local chain filled with emitter logs.

Each benchmark measures its contenders in one run, on the same node and data, so the ratios hold on a
shared, noisy machine even when the absolute figures move. Results are merged into
``bench/results.json`` under one key per benchmark (read, update, write a temporary file, atomic
rename), each record with the machine and the versions it was measured with.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any, TypeVar

ROOT = Path(__file__).resolve().parents[1]
# the toolkit from this checkout, and the test helpers the benchmarks share with the tests (tests/fault_proxy.py)
for _path in (ROOT / "tests", ROOT):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

from toolkit.devchain.anvil import AnvilNode, anvil_binary, start_anvil  # noqa: E402
from toolkit.errors import ToolkitError  # noqa: E402

RESULTS = ROOT / "bench" / "results.json"
T = TypeVar("T")

#: Distributions whose versions every record carries (absent ones are reported as None).
VERSIONED = ("web3", "eth-abi", "duckdb", "pyarrow", "pandas", "orjson", "cryo", "polars")


#: Decoded ``LiquidationCall`` values compared across decoders: (``liquidations`` column, event argument).
COMPARED = (("collateral_asset", "collateralAsset"), ("debt_asset", "debtAsset"), ("borrower", "user"),
            ("debt_repaid_raw", "debtToCover"), ("collateral_seized_raw", "liquidatedCollateralAmount"),
            ("liquidator", "liquidator"), ("receive_a_token", "receiveAToken"))


def canonical(value: Any) -> Any:
    """A decoded value in the store's form, whichever decoder gave it: lower-case 0x hex for addresses
    (str, checksummed or bytes), decimal strings for integers, booleans as they are."""
    if isinstance(value, bool):
        return value
    if isinstance(value, bytes):
        return "0x" + value.hex()
    if isinstance(value, str):
        return value.lower()
    return str(value)


def machine() -> dict[str, Any]:
    """CPU model, cores, RAM and OS of this machine."""
    model = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return {"cpu": model, "cores": os.cpu_count(), "ram_gb": round(ram / 2**30, 1),
            "os": f"{platform.system()} {platform.release()}"}


def versions() -> dict[str, str | None]:
    """Python, the libraries the benchmarks compare or use, and anvil."""
    found: dict[str, str | None] = {"python": platform.python_version()}
    for name in VERSIONED:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = None
    try:
        banner = subprocess.run([str(anvil_binary()), "--version"], capture_output=True, text=True, timeout=30)
        found["anvil"] = banner.stdout.split("\n", 1)[0].removeprefix("anvil Version: ").strip() or None
    except (OSError, subprocess.SubprocessError, ToolkitError):  # no node_modules: the record says so
        found["anvil"] = None
    return found


def argument_parser(doc: str) -> argparse.ArgumentParser:
    """A benchmark script's arguments: described by the first line of its ``doc``, with the ``--no-write``
    every script takes (the figures are printed, not merged into bench/results.json)."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--no-write", action="store_true", help="do not update bench/results.json")
    return parser


def write_results(key: str, record: dict[str, Any]) -> None:
    """Merge ``record`` (with machine, versions and the time of measurement) under ``key`` into
    ``bench/results.json``: read, update, write a temporary file, rename it into place."""
    full = {**record, "machine": machine(), "versions": versions(),
            "measured_at": datetime.now(UTC).isoformat(timespec="seconds")}
    existing = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    existing[key] = full
    temporary = RESULTS.with_name(f"results.json.{os.getpid()}.tmp")
    temporary.write_text(json.dumps(existing, indent=2, sort_keys=True) + "\n")
    os.replace(temporary, RESULTS)


def print_table(title: str, header: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """A plain text table: numbers right-aligned with thousands separators."""

    def cell(value: Any) -> str:
        if isinstance(value, bool) or value is None:
            return str(value)
        if isinstance(value, int):
            return f"{value:,}"
        if isinstance(value, float):
            return f"{value:,.2f}" if abs(value) < 100 else f"{value:,.0f}"
        return str(value)

    text = [[cell(v) for v in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in text)) for i, h in enumerate(header)]
    print(f"\n{title}")
    print("  ".join(h.ljust(w) if i == 0 else h.rjust(w) for i, (h, w) in enumerate(zip(header, widths))))
    for row in text:
        print("  ".join(v.ljust(w) if i == 0 else v.rjust(w) for i, (v, w) in enumerate(zip(row, widths))))


def timed(function: Callable[..., T], *args: Any, **kwargs: Any) -> tuple[T, float]:
    """``function(*args, **kwargs)`` and the seconds it took."""
    started = time.perf_counter()
    result = function(*args, **kwargs)
    return result, time.perf_counter() - started


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MiB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_measured(command: Sequence[str], **kwargs: Any) -> tuple[subprocess.CompletedProcess[str], float, float]:
    """Run ``command`` to completion; return it with its wall seconds and its own peak RSS in MiB.

    The peak is the kernel's high-water mark of the process's memory since it started the program
    (``VmHWM`` in ``/proc/<pid>/status``), read every 10 ms until it exits: the rusage of a child
    (``wait4``) would also count the parent's pages it was forked with.
    """
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        started = time.perf_counter()
        process = subprocess.Popen(command, stdout=out, stderr=err, text=True, **kwargs)
        status = Path(f"/proc/{process.pid}/status")
        peak_kib = 0
        while process.poll() is None:
            try:
                lines = status.read_text().splitlines()
            except OSError:  # exited between poll() and the read
                break
            peak_kib = max([peak_kib, *(int(line.split()[1]) for line in lines if line.startswith("VmHWM:"))])
            time.sleep(0.01)
        seconds = time.perf_counter() - started
        out.seek(0)
        err.seek(0)
        done = subprocess.CompletedProcess(list(command), process.returncode, out.read(), err.read())
    return done, seconds, peak_kib / 1024


@dataclass(frozen=True)
class EmitterLogs:
    """A local node holding ``count`` emitter logs in blocks ``[first_block, last_block]``."""

    node: AnvilNode
    emitter: str
    first_block: int
    last_block: int
    count: int

    @property
    def url(self) -> str:
        return self.node.url


@contextmanager
def emitter_logs(count: int, *, logs_per_tx: int = 250, txs_per_block: int = 2) -> Iterator[EmitterLogs]:
    """Start anvil on 127.0.0.1, deploy the ``LiquidationCallEmitter`` and emit ``count`` logs in
    ``count / logs_per_tx`` transactions, ``txs_per_block`` per block; the node is stopped by PID on exit."""
    from toolkit.devchain.chain import Chain
    from toolkit.devchain.emitter import deploy_emitter, emit_many_tx

    if count % logs_per_tx:
        raise ValueError(f"{count} logs do not split into transactions of {logs_per_tx}")
    with start_anvil(extra_args=["--gas-limit", "100000000"]) as node:
        chain = Chain(node.url)
        emitter = deploy_emitter(chain)
        request = chain.w3.manager.request_blocking
        request("evm_setAutomine", [False])
        first = chain.w3.eth.block_number + 1
        txs = count // logs_per_tx
        for index in range(txs):
            tx = emit_many_tx(emitter, chain.deployer, logs_per_tx, seed=index)
            request("eth_sendTransaction", [{**tx, "gas": hex(2_000_000 + 5_000 * logs_per_tx)}])
            if (index + 1) % txs_per_block == 0 or index + 1 == txs:
                request("evm_mine", [])
        request("evm_setAutomine", [True])
        last = chain.w3.eth.block_number
        yield EmitterLogs(node, emitter, first, last, count)
