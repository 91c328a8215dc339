"""Integrity you can check (issue 16, 3): each segment file's SHA-256 is recorded with it in the transaction
that lists it; a quick check (sizes, at every open) and a full one (``Store.verify``, every export: hashes,
row counts, columns) name a damaged file and how to recover; ``Writer.repair`` unlists it and moves its
deployment's checkpoint back, so that committing its blocks again restores the identical rows."""

from __future__ import annotations

import random
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from toolkit.errors import StoreError
from toolkit.store import schema
from toolkit.store.db import Store
from toolkit.store.export import export_liquidations
from toolkit.store.manifest import content_sha256, file_sha256
from storework import CHAIN_ID, DEPLOYMENT, PROTOCOL, commit

KEY = {"chain_id": CHAIN_ID, "protocol": PROTOCOL, "deployment": DEPLOYMENT}


def three_segments(store: Store) -> list[Path]:
    """Blocks 0-29 of one deployment in three segment files (10 blocks each), in block order."""
    with store.writer() as writer:
        for start in (0, 10, 20):
            commit(writer, start, start + 9, 3)
    with store.reader() as con:
        return [store.segments_dir / f for (f,) in con.execute("SELECT file FROM segments ORDER BY first_block").fetchall()]


def corrupt(path: Path, seed: int = 16) -> None:
    """4,096 random bytes written into the middle of the file, its size kept (the issue's probe)."""
    data = bytearray(path.read_bytes())
    middle = len(data) // 2 - 2048
    data[middle:middle + 4096] = random.Random(seed).randbytes(4096)[:len(data[middle:middle + 4096])]
    path.write_bytes(bytes(data))


def liqtk(*args: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "toolkit", *map(str, args)], capture_output=True, text=True,
                          timeout=120)


def test_each_segment_file_is_listed_with_its_sha256(store: Store) -> None:
    files = three_segments(store)
    with store.reader() as con:
        recorded = dict(con.execute("SELECT file, sha256 FROM segments").fetchall())
    assert recorded == {path.name: file_sha256(path) for path in files}
    assert store.verify() == []


def test_a_segment_corrupted_in_place_is_named_by_verify_and_refused_by_exports_with_the_recovery_command(
        store: Store, tmp_path: Path) -> None:
    files = three_segments(store)
    corrupt(files[1])
    assert Store(store.path).status()[0]["rows"] == 90  # the quick check (sizes) at open does not read the files
    (damage,) = store.verify()
    assert damage.path == files[1] and damage.problem == "has another SHA-256 than the one recorded with it"
    expected = (f"store {store.path} is damaged: its segment file {files[1]} has another SHA-256 than the one "
                f"recorded with it; restore the store file and its liquidations.duckdb.segments directory together, "
                f"or recover: `liqtk verify --store {store.path} --repair` unlists the damaged file "
                f"(1/aave-v3/core, blocks 10-19) and prints the `liqtk pull` that reads its blocks again")
    with pytest.raises(StoreError) as refused:
        export_liquidations(store, tmp_path / "out.parquet", "parquet")
    assert str(refused.value) == expected and not (tmp_path / "out.parquet").exists()
    for args in (("verify", "--store", store.path), ("export", "--store", store.path, "--out", tmp_path / "o.csv",
                                                       "--format", "csv")):
        done = liqtk(*args)
        assert done.returncode == 1 and done.stderr == f"error: {expected}\n", done.stderr


def test_a_read_that_meets_a_damaged_file_names_it_instead_of_duckdbs_error(store: Store) -> None:
    files = three_segments(store)
    data = files[2].read_bytes()
    files[2].write_bytes(data[:4] + bytes(len(data) - 8) + data[-4:])  # the pages zeroed, header and footer kept
    with pytest.raises(StoreError, match=f"is damaged: its segment file {files[2]} has another SHA-256"):
        store.liquidations()


def test_verify_repair_unlists_the_damaged_file_and_its_blocks_committed_again_restore_the_rows(store: Store) -> None:
    files = three_segments(store)
    before = content_sha256(store.liquidations_table(), schema.LIQUIDATION_COLUMNS)
    corrupt(files[1])
    done = liqtk("verify", "--store", store.path, "--repair")
    assert done.returncode == 0, done.stderr
    assert f"unlisted: its segment file {files[1]} has another SHA-256" in done.stdout
    assert "reads again from block 10: liqtk pull --chain 1 --protocol aave-v3 --market core --store" in done.stdout \
        or "reads again from block 10: liqtk pull --chain ethereum --protocol aave-v3 --market core --store" in done.stdout
    checkpoint = store.checkpoint(**KEY)
    assert (checkpoint.first_block, checkpoint.last_block) == (0, 9)
    assert store.verify() == [] and store.liquidations_table().num_rows == 60  # consistent, blocks 10-19 missing
    with store.writer() as writer:  # what the next pull does: from the checkpoint to the top again
        commit(writer, 10, 19, 3)
        commit(writer, 20, 29, 3)
    assert content_sha256(store.liquidations_table(), schema.LIQUIDATION_COLUMNS) == before
    assert liqtk("verify", "--store", store.path).returncode == 0


def test_a_cut_or_missing_segment_is_refused_at_open_with_the_recovery_command(store: Store) -> None:
    files = three_segments(store)
    files[0].write_bytes(files[0].read_bytes()[:-10])
    done = liqtk("status", "--store", store.path)
    assert done.returncode == 1 and "is damaged: its segment file" in done.stderr and "--repair" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert liqtk("verify", "--store", store.path, "--repair").returncode == 0
    assert Store(store.path).checkpoint(**KEY).last_block == -1  # nothing left before the damaged file: from 0 again


def test_a_version_3_store_gets_the_hashes_of_its_files_on_upgrade(store: Store) -> None:
    """Version 3 is version 4 without ``segments.sha256``."""
    files = three_segments(store)
    with duckdb.connect(str(store.path)) as con:
        con.execute("ALTER TABLE segments DROP COLUMN sha256")
        con.execute("DELETE FROM store_meta")
        con.execute("INSERT INTO store_meta VALUES (3, current_timestamp, '0.1.0')")
    with pytest.raises(StoreError, match="has schema version 3, .* upgrade it with `liqtk upgrade"):
        Store(store.path)
    with Store(store.path, check_version=False).writer() as writer:
        assert writer.upgrade() == 0  # the files already have the liquidations columns: none rewritten
    upgraded = Store(store.path)
    with upgraded.reader() as con:
        assert dict(con.execute("SELECT file, sha256 FROM segments").fetchall()) == \
            {path.name: file_sha256(path) for path in files}
    assert upgraded.verify() == []
