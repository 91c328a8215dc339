"""An export killed before its rename leaves temporary files (``.<name>.tmp-<pid>``); the next export beside it
removes those of processes that are gone, and keeps those of a running one (issue 16, 5)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from toolkit.store.db import Store
from toolkit.store.export import export_liquidations
from toolkit.store.partitioned import export_partitioned
from storework import commit


def dead_pid() -> int:
    """The PID of a process that ran and is gone."""
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    return int(done.stdout)


def test_the_next_export_removes_what_a_killed_export_left(store: Store, tmp_path: Path) -> None:
    with store.writer() as writer:
        commit(writer, 0, 9, 2)
    out, tree = tmp_path / "out" / "e.parquet", tmp_path / "out" / "tree"
    out.parent.mkdir()
    gone, running = dead_pid(), subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    left = [out.with_name(f".e.parquet.tmp-{gone}.parquet"), out.with_name(f".e.parquet.manifest.json.tmp-{gone}"),
            out.with_name(f".tree.tmp-{gone}")]
    kept = out.with_name(f".e.parquet.tmp-{running.pid}.parquet")
    for path in (*left[:2], kept):
        path.write_bytes(b"half an export")
    left[2].mkdir()
    (left[2] / "data_0.parquet").write_bytes(b"half")
    try:
        export_liquidations(store, out, "parquet")
        export_partitioned(store, tree)
        assert not any(path.exists() for path in left) and kept.exists()
        assert sorted(p.name for p in out.parent.iterdir()) == sorted(
            [kept.name, "e.parquet", "e.parquet.manifest.json", "tree"])
    finally:
        running.kill()
        running.wait()
