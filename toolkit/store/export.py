"""Exports of the liquidations table as CSV or Parquet, each with a citable manifest.

An export is never half-written: the file and its sidecar ``<file>.manifest.json`` are written
under temporary names in the same directory and renamed into place (cryo's write-then-rename,
docs/sources/store.md#cryo-dataset-layout), the data file first. Rows are in canonical order
(:data:`toolkit.store.schema.LIQUIDATION_ORDER`) and everything in the manifest is read from one
read-only connection, so the file, its content hash and its manifest describe the same committed
state of the store.
"""

from __future__ import annotations

import glob
import os
import re
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any, BinaryIO, Literal

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from toolkit._version import __version__
from toolkit.store import integrity
from toolkit.store.db import RUNS_PER_DEPLOYMENT, LiquidationFilter, Store
from toolkit.store.manifest import PARQUET_KEY, Manifest, content_sha256, file_sha256, utc_now
from toolkit.store.provenance import git_commit
from toolkit.store.schema import LIQUIDATION_COLUMNS, SCHEMA_VERSION

ExportFormat = Literal["csv", "parquet"]

#: DuckDB ``COPY`` options per format. CSV: NULL is an empty field, an empty string is ``""``,
#: doubles are written in shortest round-trip form, timestamps in ISO-8601 UTC (``2024-01-01T00:00:00Z``; the
#: exported timestamps are block timestamps, whole seconds).
_COPY_OPTIONS: dict[str, str] = {
    "csv": "FORMAT csv, HEADER true, DELIMITER ',', QUOTE '\"', ESCAPE '\"', TIMESTAMPFORMAT '%Y-%m-%dT%H:%M:%SZ'",
    "parquet": "FORMAT parquet, COMPRESSION zstd",
}

_BLOCK_RANGES = """
    WITH ends AS (SELECT chain_id, min(block_number) AS first_block, max(block_number) AS last_block
                  FROM export_rows GROUP BY chain_id)
    SELECT e.chain_id, e.first_block, coalesce(bf.block_hash, rf.block_hash) AS first_block_hash,
           e.last_block, coalesce(bl.block_hash, rl.block_hash) AS last_block_hash
    FROM ends e
    LEFT JOIN blocks bf ON bf.chain_id = e.chain_id AND bf.block_number = e.first_block
    LEFT JOIN blocks bl ON bl.chain_id = e.chain_id AND bl.block_number = e.last_block
    LEFT JOIN (SELECT DISTINCT ON (chain_id, block_number) chain_id, block_number, block_hash FROM export_rows) rf
           ON rf.chain_id = e.chain_id AND rf.block_number = e.first_block
    LEFT JOIN (SELECT DISTINCT ON (chain_id, block_number) chain_id, block_number, block_hash FROM export_rows) rl
           ON rl.chain_id = e.chain_id AND rl.block_number = e.last_block
    ORDER BY e.chain_id
"""


def write_with_manifest(out: Path, manifest: Manifest, write: Callable[[Path], None], *, suffix: str = "") -> Manifest:
    """Publish a file and its sidecar manifest (:func:`manifest_path`), each written to a temporary file
    beside it and renamed into place, so that readers never see a half-written file or a sidecar
    without its file. ``write(tmp)`` writes the file (``suffix`` ends the temporary name, for writers
    that go by the extension). Returns ``manifest`` with the file's name, SHA-256 and size."""
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}{suffix}")
    sidecar = manifest_path(out)
    for target in (out, sidecar):
        remove_stale_temporaries(target)
    sidecar_tmp = sidecar.with_name(f".{sidecar.name}.tmp-{os.getpid()}")
    try:
        write(tmp)
        manifest = replace(manifest, file_name=out.name, file_sha256=file_sha256(tmp), file_bytes=tmp.stat().st_size)
        sidecar_tmp.write_text(manifest.to_json(), encoding="utf-8")
        os.replace(tmp, out)
        os.replace(sidecar_tmp, sidecar)
    finally:
        tmp.unlink(missing_ok=True)
        sidecar_tmp.unlink(missing_ok=True)
    return manifest


def remove_stale_temporaries(target: Path) -> None:
    """Delete what writers killed before their rename left beside ``target``: ``.<name>.tmp-<pid>...`` and
    ``.<name>.old-<pid>`` files or directories of processes that are gone (a running writer's are kept)."""
    pattern = re.compile(rf"\.{re.escape(target.name)}\.(?:tmp|old)-(\d+)")
    if not target.parent.is_dir():
        return
    for path in target.parent.glob(f".{glob.escape(target.name)}.*"):
        match = pattern.match(path.name)
        if match is None or _alive(int(match.group(1))):
            continue
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    """Whether process ``pid`` runs (this one included)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    return True


def manifest_path(out: Path) -> Path:
    """The sidecar manifest of an export: ``<file>.manifest.json``."""
    return out.with_name(out.name + ".manifest.json")


def _sql_string(text: str) -> str:
    """SQL string literal (``COPY ... TO`` and ``KV_METADATA`` take no parameters)."""
    return "'" + text.replace("'", "''") + "'"


def export_provenance(con: duckdb.DuckDBPyConnection, filters: LiquidationFilter) -> dict[str, Any]:
    """Block ranges (hash of each end from ``blocks``, else from the rows), checkpoints of the
    deployments matching the filters, and the runs that pulled them over the exported block window,
    for the rows registered as ``export_rows``."""
    where, params = filters.where(blocks=False)
    checkpoints = con.sql(
        "SELECT chain_id, protocol, deployment, first_block, last_block, last_block_hash, run_id, "
        f"strftime(updated_at, '%Y-%m-%dT%H:%M:%S.%fZ') AS updated_at FROM checkpoints {where} "
        "ORDER BY chain_id, protocol, deployment", params=params).to_arrow_table().to_pylist()
    overlaps = [filters.to_block, filters.to_block, filters.from_block, filters.from_block]
    runs = con.sql(f"""
        WITH deployments AS (SELECT chain_id, protocol, deployment FROM checkpoints {where}
                             UNION SELECT chain_id, protocol, deployment FROM export_rows)
        SELECT list(DISTINCT run_id ORDER BY run_id) AS run_ids,
               list(DISTINCT node_client_version ORDER BY node_client_version)
                   FILTER (WHERE node_client_version IS NOT NULL) AS node_client_versions,
               list(DISTINCT rpc_host ORDER BY rpc_host) FILTER (WHERE rpc_host IS NOT NULL) AS rpc_hosts
        FROM ({RUNS_PER_DEPLOYMENT}) SEMI JOIN deployments USING (chain_id, protocol, deployment)
        WHERE (from_block IS NULL OR ?::BIGINT IS NULL OR from_block <= ?)
          AND (to_block IS NULL OR ?::BIGINT IS NULL OR to_block >= ?)
    """, params=[*params, *overlaps]).to_arrow_table().to_pylist()[0]
    return {
        "chain_ids": [r["chain_id"] for r in con.sql("SELECT DISTINCT chain_id FROM export_rows ORDER BY 1")
                      .to_arrow_table().to_pylist()],
        "block_ranges": con.sql(_BLOCK_RANGES).to_arrow_table().to_pylist(),
        "checkpoints": checkpoints,
        **{key: value or [] for key, value in runs.items()},
    }


def export_liquidations(store: Store, out: Path, fmt: ExportFormat, *, name: str | None = None,
                        **filters: int | str | None) -> Manifest:
    """Write the liquidations matching ``filters`` (``chain_id``, ``protocol``, ``deployment``,
    ``from_block``, ``to_block``; block bounds inclusive) to ``out`` as ``fmt``, plus the sidecar
    manifest (:func:`manifest_path`); for Parquet the manifest is also embedded in the file's
    key-value metadata under ``liqtk_manifest`` (without the file's own hash and size).

    Returns the manifest of the sidecar. Two exports of the same rows have the same
    ``content_sha256`` (see :func:`toolkit.store.manifest.content_sha256`) whatever the format.
    """
    if fmt not in _COPY_OPTIONS:
        raise ValueError(f"unknown export format {fmt!r}; use one of {sorted(_COPY_OPTIONS)}")
    query = LiquidationFilter(**filters)
    out = Path(out).absolute()
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        with store.checked_reader(query) as con:  # a damaged segment file is named, with how to recover
            select, params = query.select_sql()
            rows = con.sql(select, params=params).to_arrow_table()
            con.register("export_rows", rows)
            provenance = export_provenance(con, query)
    except duckdb.Error as exc:
        raise integrity.failure(store, exc) from exc
    manifest = Manifest(
        name=name or out.stem, created_at=utc_now(), format=fmt, file_name=out.name,
        file_sha256=None, file_bytes=None, content_sha256=content_sha256(rows, LIQUIDATION_COLUMNS),
        row_count=rows.num_rows, schema_version=SCHEMA_VERSION,
        columns=[{"name": c.name, "type": c.sql_type, "unit": c.unit} for c in LIQUIDATION_COLUMNS],
        filters=query.as_dict(), **provenance, package_version=__version__, git_commit=git_commit(),
    )
    options = _COPY_OPTIONS[fmt]
    if fmt == "parquet":
        options += f", KV_METADATA {{{PARQUET_KEY}: {_sql_string(manifest.embedded().to_json())}}}"

    def write(tmp: Path) -> None:
        with duckdb.connect() as writer:
            writer.execute("SET TimeZone = 'UTC'")
            writer.register("export_rows", rows)
            writer.execute(f"COPY (SELECT * FROM export_rows) TO {_sql_string(str(tmp))} ({options})")

    return write_with_manifest(out, manifest, write)


def export_to_stream(store: Store, stream: BinaryIO, fmt: ExportFormat, **filters: int | str | None) -> Manifest:
    """:func:`export_liquidations` to a binary stream (``liqtk export --out -``: stdout): the file is written in a
    temporary directory, copied to ``stream`` and removed; returns its manifest (the file is named
    ``liquidations.<fmt>`` there)."""
    with tempfile.TemporaryDirectory(prefix="liqtk-export-") as work:
        path = Path(work) / f"liquidations.{fmt}"
        manifest = export_liquidations(store, path, fmt, name="liquidations", **filters)
        with path.open("rb") as data:
            shutil.copyfileobj(data, stream)
        stream.flush()
    return manifest


def read_export(path: Path, fmt: ExportFormat) -> pa.Table:
    """Rows of an export file with the store's column types, in file order."""
    if fmt == "parquet":
        return pq.read_table(path)
    columns = "{" + ", ".join(f"'{c.name}': '{c.sql_type}'" for c in LIQUIDATION_COLUMNS) + "}"
    with duckdb.connect() as con:
        con.execute("SET TimeZone = 'UTC'")
        return con.sql(f"SELECT * FROM read_csv(?, header = true, delim = ',', quote = '\"', escape = '\"', "
                       f"allow_quoted_nulls = false, columns = {columns})", params=[str(path)]).to_arrow_table()


def verify_export(path: Path) -> list[str]:
    """Check an export against its sidecar manifest: file hash and size, row count, content hash,
    and (Parquet) the embedded manifest. Returns the problems found; empty when the export is intact."""
    path = Path(path)
    manifest = Manifest.from_json(manifest_path(path).read_text(encoding="utf-8"))
    problems = []
    if (actual := file_sha256(path)) != manifest.file_sha256:
        problems.append(f"file sha256 {actual} != manifest {manifest.file_sha256}")
    if (size := path.stat().st_size) != manifest.file_bytes:
        problems.append(f"file size {size} != manifest {manifest.file_bytes}")
    rows = read_export(path, manifest.format)  # type: ignore[arg-type]
    if rows.num_rows != manifest.row_count:
        problems.append(f"{rows.num_rows} rows != manifest {manifest.row_count}")
    if (content := content_sha256(rows, LIQUIDATION_COLUMNS)) != manifest.content_sha256:
        problems.append(f"content sha256 {content} != manifest {manifest.content_sha256}")
    if manifest.format == "parquet":
        embedded = (pq.read_schema(path).metadata or {}).get(PARQUET_KEY.encode())
        if embedded is None or Manifest.from_json(embedded) != manifest.embedded():
            problems.append(f"embedded {PARQUET_KEY} is missing or differs from the sidecar manifest")
    return problems
