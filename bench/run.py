"""Run every benchmark of ``bench/`` in turn (``make bench``); each prints its table and merges its
figures into ``bench/results.json``. Arguments are passed to none of them: run a script alone to
change its sizes (``python bench/bench_pull.py --help``)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

#: In the order of the issue's list: pull (throughput and memory), decode, RPC efficiency, CEX engine, read path.
SCRIPTS = ("bench_pull.py", "bench_decode.py", "bench_rpc.py", "bench_cex.py", "bench_read.py")


def main() -> int:
    """Run the scripts; stop at the first that fails and return its exit code."""
    here = Path(__file__).resolve().parent
    for script in SCRIPTS:
        print(f"\n=== {script}", flush=True)
        code = subprocess.call([sys.executable, str(here / script)])
        if code:
            print(f"{script} failed with exit code {code}", file=sys.stderr)
            return code
    return 0


if __name__ == "__main__":
    sys.exit(main())
