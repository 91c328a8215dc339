"""A full disk is survivable (issue 16, 2): a pull that runs out of space at any point -- writing a segment
file, committing to DuckDB's write-ahead log, or writing DuckDB's checkpoint -- leaves a store that every
command opens and reads, exits 4 once chunks were committed (1 when none was), and the next pull, after
space is freed, resumes to the same rows as a pull that never ran out of space.

Each test mounts a small tmpfs of its own (the tests run as root; they are skipped, saying why, where
mounting is not allowed). Sizes are fractions of what the whole pull takes, so that they fall at the same
stages when the schema or the file formats change."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from liqtkwork import export_hash, liqtk, rows_hash
from toolkit.store.db import Store

pytestmark = [pytest.mark.node, pytest.mark.slow]


class Disk:
    """A tmpfs mounted at ``path``, resizable."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def resize(self, kib: int) -> None:
        subprocess.run(["mount", "-o", f"remount,size={kib}k", str(self.path)], check=True, capture_output=True)

    def used_kib(self) -> int:
        return int(subprocess.run(["du", "-sk", str(self.path)], capture_output=True, text=True,
                                  check=True).stdout.split()[0])


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[Disk]:
    path = tmp_path / "disk"
    path.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root; the disk-full tests run as root")
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=65536k", "tmpfs", str(path)], capture_output=True,
                             text=True)
    if mounted.returncode != 0:
        pytest.skip(f"mounting a tmpfs is not allowed here ({mounted.stderr.strip() or mounted.returncode})")
    try:
        yield Disk(path)
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


#: Where the disk fills up, as a share of what the whole pull takes: before the first commit (a segment file),
#: at the checkpoint after the first commit, and later commits (segment files, the write-ahead log).
SHARES = (0.19, 0.56, 0.84, 0.93)


def test_a_pull_that_fills_the_disk_at_any_stage_resumes_to_the_same_rows(disk, many_logs, many_logs_hash,
                                                                             tmp_path) -> None:
    # Chunks of 3 blocks, one commit each (a commit of many chunks would fill the disk in one go).
    pull = [*many_logs.pull_args(many_logs.url, disk.path / "s.duckdb"), "--blocks-per-request", "3"]
    assert liqtk(*pull).returncode == 0
    whole = disk.used_kib()
    checkpoint_failed = []
    for share in SHARES:
        subprocess.run(["rm", "-rf", *map(str, disk.path.iterdir())], check=True)
        disk.resize(int(whole * share))
        full = liqtk(*pull)
        stored = Store(disk.path / "s.duckdb", create=False)  # opens while the disk is still full
        rows = stored.liquidations_table().num_rows
        assert full.returncode == (4 if rows else 1), (share, full.returncode, rows, full.stderr)
        error = [json.loads(line) for line in full.stderr.splitlines() if '"event": "error"' in line][-1]["message"]
        assert "No space left on device" in error and "internal error" not in error, error
        assert liqtk("status", "--store", stored.path).returncode == 0
        if rows:
            assert export_hash(stored.path, tmp_path / f"during-{share}.csv") == rows_hash(stored)
        checkpoint_failed.append(Path(f"{stored.path}.wal").exists())
        disk.resize(65536)  # space freed
        resumed = liqtk(*pull)
        assert resumed.returncode == 0, resumed.stderr
        assert rows_hash(stored.path) == many_logs_hash
        assert export_hash(stored.path, tmp_path / f"after-{share}.csv") == many_logs_hash
        assert not Path(f"{stored.path}.wal").exists()  # the next writer wrote the checkpoint again
    assert any(checkpoint_failed), "no size failed during DuckDB's checkpoint"
