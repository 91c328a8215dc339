"""Exports: canonical rows, format-independent content hash, manifests in the sidecar and the Parquet footer."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from toolkit.store import schema
from toolkit.store.db import Store
from toolkit.store.export import export_liquidations, manifest_path, read_export, verify_export
from toolkit.store.manifest import PARQUET_KEY, Manifest, content_sha256
from storework import CHAIN_ID, DEPLOYMENT, PROTOCOL, block_hash, commit, make_rows


@pytest.fixture
def filled(store: Store) -> Store:
    with store.writer() as writer:
        writer.start_run("run-1", "pull", "{}", "https://node.example:8443/***", CHAIN_ID, PROTOCOL, DEPLOYMENT,
                         0, 29, "anvil/v1.7.1", "0.1.0", None)
        commit(writer, 0, 29, 2, run_id="run-1")
        writer.finish_run("run-1", "ok", 60, "{}", None)
        writer.start_run("run-2", "pull", "{}", "http://127.0.0.1:8545", CHAIN_ID, PROTOCOL, "prime",
                         100, 200, "reth/v1.0", "0.1.0", None)
        writer.commit_chunk(chain_id=CHAIN_ID, protocol=PROTOCOL, deployment="prime", first_block=100,
                            chunk_start=100, chunk_end=200, rows=[], blocks=[], last_block_hash=block_hash(200),
                            run_id="run-2")
        writer.finish_run("run-2", "nothing_new", 0, "{}", None)
    return store


def test_same_rows_same_hash_in_any_format(filled: Store, tmp_path: Path) -> None:
    first = export_liquidations(filled, tmp_path / "a.parquet", "parquet")
    second = export_liquidations(filled, tmp_path / "b.parquet", "parquet")
    as_csv = export_liquidations(filled, tmp_path / "a.csv", "csv")
    assert first.content_sha256 == second.content_sha256 == as_csv.content_sha256
    assert first.row_count == as_csv.row_count == 60
    assert first.file_sha256 != as_csv.file_sha256
    for out in ("a.parquet", "b.parquet", "a.csv"):
        assert verify_export(tmp_path / out) == []
        assert read_export(tmp_path / out, "csv" if out.endswith("csv") else "parquet").equals(
            filled.liquidations_table(), check_metadata=False)
    assert sorted(os.listdir(tmp_path)) == sorted(
        ["liquidations.duckdb", "liquidations.duckdb.lock", "liquidations.duckdb.segments", "a.parquet", "a.parquet.manifest.json", "b.parquet",
         "b.parquet.manifest.json", "a.csv", "a.csv.manifest.json"])


def test_one_changed_row_changes_the_hash(filled: Store, tmp_path: Path) -> None:
    before = export_liquidations(filled, tmp_path / "x.csv", "csv")
    rows = make_rows(0, 9, 2)
    rows[7]["liquidation_bonus_pct"] = rows[7]["liquidation_bonus_pct"] + 1e-12
    with filled.writer() as writer:
        writer.commit_chunk(chain_id=CHAIN_ID, protocol=PROTOCOL, deployment=DEPLOYMENT, first_block=0, chunk_start=0,
                            chunk_end=9, rows=rows, blocks=[], last_block_hash=block_hash(9), run_id=None)
    after = export_liquidations(filled, tmp_path / "x.csv", "csv")
    assert after.row_count == before.row_count and after.content_sha256 != before.content_sha256
    assert verify_export(tmp_path / "x.csv") == []


def test_content_hash_follows_its_documented_definition() -> None:
    columns = (schema.Column("n", "BIGINT", "-", "-", "-"), schema.Column("s", "VARCHAR", "-", "-", "-"),
               schema.Column("d", "DOUBLE", "-", "-", "-"), schema.Column("b", "BOOLEAN", "-", "-", "-"),
               schema.Column("t", "TIMESTAMPTZ", "-", "-", "-"))
    table = pa.table({"n": [12, None], "s": ['a"é', ""], "d": [0.1, -0.0], "b": [True, None],
                      "t": pa.array([1_700_000_000_000_001, None], pa.timestamp("us", tz="UTC"))})
    text = ('["n","s","d","b","t"]\n'
            '["12","a\\"é","0.1","true","2023-11-14T22:13:20.000001Z"]\n'
            '[null,"","-0.0",null,null]\n')
    assert content_sha256(table, columns) == hashlib.sha256(text.encode()).hexdigest()


def test_manifest_records_provenance(filled: Store, tmp_path: Path) -> None:
    out = tmp_path / "aave.parquet"
    manifest = export_liquidations(filled, out, "parquet", protocol=PROTOCOL, from_block=5, to_block=24)
    sidecar = json.loads(manifest_path(out).read_text())
    assert Manifest.from_json(manifest_path(out).read_text()) == manifest
    assert sidecar["name"] == "aave" and sidecar["file_name"] == "aave.parquet" and sidecar["format"] == "parquet"
    assert sidecar["created_at"].endswith("Z")
    assert sidecar["file_bytes"] == out.stat().st_size
    assert sidecar["file_sha256"] == hashlib.sha256(out.read_bytes()).hexdigest()
    assert sidecar["row_count"] == 40 and sidecar["schema_version"] == schema.SCHEMA_VERSION
    assert sidecar["columns"][0] == {"name": "chain_id", "type": "BIGINT", "unit": "-"}
    assert [c["name"] for c in sidecar["columns"]] == [c.name for c in schema.LIQUIDATION_COLUMNS]
    assert sidecar["filters"] == {"protocol": PROTOCOL, "from_block": 5, "to_block": 24}
    assert sidecar["chain_ids"] == [CHAIN_ID]
    assert sidecar["block_ranges"] == [{"chain_id": CHAIN_ID, "first_block": 5, "first_block_hash": block_hash(5),
                                        "last_block": 24, "last_block_hash": block_hash(24)}]
    assert [(c["deployment"], c["first_block"], c["last_block"]) for c in sidecar["checkpoints"]] == [
        ("core", 0, 29), ("prime", 100, 200)]
    # run-2 pulled prime over blocks 100-200, outside the exported window 5-24
    assert sidecar["run_ids"] == ["run-1"]
    assert sidecar["node_client_versions"] == ["anvil/v1.7.1"]
    assert sidecar["rpc_hosts"] == ["https://node.example:8443/***"]
    assert sidecar["package_version"] and "git_commit" in sidecar
    later = export_liquidations(filled, tmp_path / "prime.csv", "csv", deployment="prime", from_block=150,
                                to_block=300)
    assert (later.row_count, later.run_ids, later.rpc_hosts) == (0, ["run-2"], ["http://127.0.0.1:8545"])
    assert [c["deployment"] for c in later.checkpoints] == ["prime"]


def test_parquet_footer_holds_the_manifest(filled: Store, tmp_path: Path) -> None:
    out = tmp_path / "all.parquet"
    manifest = export_liquidations(filled, out, "parquet")
    from_pyarrow = pq.read_metadata(out).metadata[PARQUET_KEY.encode()]
    with duckdb.connect() as con:
        from_duckdb = con.execute("SELECT value FROM parquet_kv_metadata(?) WHERE decode(key) = ?",
                                  [str(out), PARQUET_KEY]).fetchone()[0]
    assert Manifest.from_json(from_pyarrow) == Manifest.from_json(from_duckdb) == manifest.embedded()
    assert manifest.embedded().file_sha256 is None and manifest.run_ids == ["run-1", "run-2"]
    assert sorted(manifest.node_client_versions) == ["anvil/v1.7.1", "reth/v1.0"]


def test_verify_finds_tampering(filled: Store, tmp_path: Path) -> None:
    out = tmp_path / "t.csv"
    export_liquidations(filled, out, "csv")
    lines = out.read_text().splitlines(keepends=True)
    out.write_text("".join(lines[:1] + lines[2:]))
    problems = verify_export(out)
    assert any("file sha256" in p for p in problems) and any("rows" in p for p in problems)
    assert any("content sha256" in p for p in problems)


def test_empty_export_and_bad_format(store: Store, tmp_path: Path) -> None:
    manifest = export_liquidations(store, tmp_path / "none.parquet", "parquet", chain_id=999)
    assert manifest.row_count == 0 and manifest.block_ranges == [] and manifest.chain_ids == []
    assert verify_export(tmp_path / "none.parquet") == []
    with pytest.raises(ValueError, match="unknown export format"):
        export_liquidations(store, tmp_path / "x.json", "json")  # type: ignore[arg-type]
    assert not (tmp_path / "x.json").exists()
