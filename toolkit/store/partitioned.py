"""Hive-partitioned Parquet exports (``chain_id=/protocol=/month=``) for DuckDB, Spark and Trino.

Layout::

    DIR/_manifest.json                                   the manifest (a :class:`~toolkit.store.manifest.Manifest`)
    DIR/chain_id=1/protocol=aave-v3/month=2024-08/data_0.parquet
    DIR/chain_id=1/protocol=aave-v3/month=__HIVE_DEFAULT_PARTITION__/data_0.parquet   (rows without a timestamp)

* Written with DuckDB ``COPY ... (FORMAT parquet, PARTITION_BY (chain_id, protocol, month))``: the partition
  columns live in the directory names only (the Hive convention: Spark refuses a column that is both in the
  files and in the path), values are percent-encoded and NULL is ``__HIVE_DEFAULT_PARTITION__``.
  ``month`` is ``block_timestamp`` in UTC as ``YYYY-MM``; it is not a column of the store.
* Every file also carries the manifest in its key-value metadata under ``liqtk_manifest`` (without the
  directory's hash and size), as flat Parquet exports do (:mod:`toolkit.store.export`).
* The manifest is ``_manifest.json`` at the root: Hadoop-style readers (Spark, Trino's Hive connector) skip
  names starting with ``_``, and DuckDB reads ``DIR/**/*.parquet``.
* Its ``content_sha256`` is the flat export's (:func:`toolkit.store.manifest.content_sha256` over the same rows
  in canonical order), so a partitioned and a flat export of the same rows cite the same hash.
  ``file_sha256`` is the SHA-256 of the directory listing (:func:`directory_sha256`), ``file_bytes`` the total
  size of the data files, ``format`` is ``parquet-hive``.
* Write-then-rename: the tree is written to ``.DIR.tmp-<pid>`` beside ``DIR`` and renamed into place; an
  existing ``DIR`` is first renamed aside and removed after the new tree is in place, so ``DIR`` always holds
  a complete export (docs/sources/store.md#cryo-dataset-layout, cryo's write-then-rename).

Reading back, as is::

    SELECT * FROM read_parquet('DIR/**/*.parquet', hive_partitioning = true,
                               hive_types = {'chain_id': BIGINT, 'protocol': VARCHAR, 'month': VARCHAR})
    spark.read.parquet("DIR")
    -- Trino: CREATE TABLE ... WITH (external_location = 'DIR', format = 'PARQUET',
    --                               partitioned_by = ARRAY['chain_id', 'protocol', 'month'])
"""

from __future__ import annotations

import hashlib
import os
import shutil
from dataclasses import replace
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from toolkit._version import __version__
from toolkit.store import integrity
from toolkit.errors import UserInputError
from toolkit.store.arrow import rows_to_table
from toolkit.store.db import LiquidationFilter, Store
from toolkit.store.export import export_provenance, remove_stale_temporaries
from toolkit.store.manifest import PARQUET_KEY, Manifest, content_sha256, file_sha256, utc_now
from toolkit.store.provenance import git_commit
from toolkit.store.schema import LIQUIDATION_COLUMNS, SCHEMA_VERSION

#: ``format`` of a partitioned export's manifest.
FORMAT = "parquet-hive"
#: Manifest file at the root of a partitioned export.
MANIFEST_NAME = "_manifest.json"
#: Partition keys, outermost first.
PARTITION_KEYS = ("chain_id", "protocol", "month")
#: DuckDB ``hive_types`` that read the partition values back with the store's types.
HIVE_TYPES = "{'chain_id': BIGINT, 'protocol': VARCHAR, 'month': VARCHAR}"


def selection_manifest(con: duckdb.DuckDBPyConnection, rows: pa.Table, query: LiquidationFilter, *, name: str,
                       fmt: str, file_name: str) -> Manifest:
    """The manifest of ``rows`` (liquidations in canonical order) before any file exists (``file_sha256`` and
    ``file_bytes`` are ``None``), with the provenance :func:`toolkit.store.export.export_liquidations` records:
    block ranges with the hashes of both ends (from ``blocks``, else from the rows), the checkpoints and runs of
    the deployments matching ``query``, node client versions and redacted RPC hosts, all read through ``con``
    (a store connection, or any connection holding the store's tables)."""
    con.register("export_rows", rows)
    try:
        provenance = export_provenance(con, query)
    finally:
        con.unregister("export_rows")
    return Manifest(
        name=name, created_at=utc_now(), format=fmt, file_name=file_name, file_sha256=None, file_bytes=None,
        content_sha256=content_sha256(rows, LIQUIDATION_COLUMNS), row_count=rows.num_rows,
        schema_version=SCHEMA_VERSION,
        columns=[{"name": c.name, "type": c.sql_type, "unit": c.unit} for c in LIQUIDATION_COLUMNS],
        filters=query.as_dict(), **provenance, package_version=__version__, git_commit=git_commit(),
    )


def read_selection(store: Store, *, name: str, fmt: str, file_name: str,
                   **filters: int | str | None) -> tuple[pa.Table, Manifest]:
    """The liquidations matching ``filters`` (canonical order) and their :func:`selection_manifest`, read from
    one read-only connection, so rows, content hash and provenance describe the same committed state and the
    content hash equals a flat export's."""
    query = LiquidationFilter(**filters)
    try:
        with store.checked_reader(query) as con:  # a damaged segment file is named, with how to recover
            select, params = query.select_sql()
            rows = con.sql(select, params=params).to_arrow_table()
            return rows, selection_manifest(con, rows, query, name=name, fmt=fmt, file_name=file_name)
    except duckdb.Error as exc:
        raise integrity.failure(store, exc) from exc


def data_files(directory: Path) -> list[Path]:
    """The Parquet files of a partitioned export, sorted by their path relative to ``directory``."""
    return sorted(directory.rglob("*.parquet"), key=lambda p: p.relative_to(directory).as_posix())


def directory_sha256(directory: Path) -> tuple[str, int]:
    """SHA-256 (hex) of the listing of a partitioned export, and the total bytes of its data files.

    The listing has one line per data file in :func:`data_files` order: ``<relative path> <sha256> <bytes>\\n``
    (UTF-8, ``/`` separators); the manifest itself is not listed.
    """
    listing, total = [], 0
    for path in data_files(directory):
        size = path.stat().st_size
        listing.append(f"{path.relative_to(directory).as_posix()} {file_sha256(path)} {size}\n")
        total += size
    return hashlib.sha256("".join(listing).encode()).hexdigest(), total


def _sql_string(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def export_partitioned(store: Store, out_dir: Path, *, name: str | None = None,
                       **filters: int | str | None) -> Manifest:
    """Write the liquidations matching ``filters`` (``chain_id``, ``protocol``, ``deployment``, ``from_block``,
    ``to_block``; block bounds inclusive) as Hive-partitioned Parquet under ``out_dir`` with
    ``out_dir/_manifest.json`` (module docstring). Returns the manifest.

    An existing ``out_dir`` is replaced only when it is a previous partitioned export (it holds
    ``_manifest.json``) or empty; anything else is refused with :class:`~toolkit.errors.UserInputError`.
    """
    out_dir = Path(out_dir).absolute()
    if out_dir.exists() and (not out_dir.is_dir() or (any(out_dir.iterdir())
                                                       and not (out_dir / MANIFEST_NAME).is_file())):
        raise UserInputError(f"{out_dir} exists and is not a partitioned export (no {MANIFEST_NAME}); choose a new "
                             "directory")
    rows, manifest = read_selection(store, name=name or out_dir.name, fmt=FORMAT, file_name=out_dir.name,
                                    **filters)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(out_dir)
    tmp = out_dir.with_name(f".{out_dir.name}.tmp-{os.getpid()}")
    old = out_dir.with_name(f".{out_dir.name}.old-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        with duckdb.connect() as writer:
            writer.execute("SET TimeZone = 'UTC'")
            writer.register("export_rows", rows)
            keys = ", ".join(PARTITION_KEYS)
            writer.execute(
                "COPY (SELECT *, strftime(block_timestamp, '%Y-%m') AS month FROM export_rows) "
                f"TO {_sql_string(str(tmp))} (FORMAT parquet, COMPRESSION zstd, PARTITION_BY ({keys}), "
                f"FILENAME_PATTERN 'data_{{i}}', "
                f"KV_METADATA {{{PARQUET_KEY}: {_sql_string(manifest.embedded().to_json())}}})")
        tmp.mkdir(exist_ok=True)  # COPY creates no directory when there are no rows
        listing_hash, total = directory_sha256(tmp)
        manifest = replace(manifest, file_sha256=listing_hash, file_bytes=total)
        (tmp / MANIFEST_NAME).write_text(manifest.to_json(), encoding="utf-8")
        if out_dir.exists():
            os.replace(out_dir, old)
        os.replace(tmp, out_dir)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(old, ignore_errors=True)
    return manifest


def read_partitioned(directory: Path) -> pa.Table:
    """Rows of a partitioned export with the store's columns and types, in canonical order."""
    names = ", ".join(c.name if c.name not in PARTITION_KEYS else f"{c.name}::{c.sql_type} AS {c.name}"
                      for c in LIQUIDATION_COLUMNS)
    order = "chain_id, block_number, log_index, tx_hash"
    pattern = str(Path(directory) / "**" / "*.parquet")
    with duckdb.connect() as con:
        con.execute("SET TimeZone = 'UTC'")
        return con.sql(f"SELECT {names} FROM read_parquet(?, hive_partitioning = true, hive_types = {HIVE_TYPES}) "
                       f"ORDER BY {order}", params=[pattern]).to_arrow_table()


def verify_partitioned(directory: Path) -> list[str]:
    """Check a partitioned export against its ``_manifest.json``: listing hash and size, row count, content
    hash and each file's embedded manifest. Returns the problems found; empty when the export is intact."""
    directory = Path(directory)
    manifest = Manifest.from_json((directory / MANIFEST_NAME).read_text(encoding="utf-8"))
    problems = []
    listing_hash, total = directory_sha256(directory)
    if listing_hash != manifest.file_sha256:
        problems.append(f"listing sha256 {listing_hash} != manifest {manifest.file_sha256}")
    if total != manifest.file_bytes:
        problems.append(f"data size {total} != manifest {manifest.file_bytes}")
    rows = read_partitioned(directory) if data_files(directory) else rows_to_table(LIQUIDATION_COLUMNS, [])
    if rows.num_rows != manifest.row_count:
        problems.append(f"{rows.num_rows} rows != manifest {manifest.row_count}")
    if (content := content_sha256(rows, LIQUIDATION_COLUMNS)) != manifest.content_sha256:
        problems.append(f"content sha256 {content} != manifest {manifest.content_sha256}")
    for path in data_files(directory):
        embedded = (pq.read_schema(path).metadata or {}).get(PARQUET_KEY.encode())
        if embedded is None or Manifest.from_json(embedded) != manifest.embedded():
            problems.append(f"{path.relative_to(directory)}: embedded {PARQUET_KEY} is missing or differs")
    return problems
