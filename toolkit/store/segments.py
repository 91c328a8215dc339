"""Liquidation rows on disk: immutable Parquet segment files beside the store's DuckDB file.

Layout (a dataset contract in the manner of cryo's, docs/sources/store.md#cryo-dataset-layout): the store
``liquidations.duckdb`` keeps its rows in the directory ``liquidations.duckdb.segments/``, one Parquet
file per commit of one deployment, named by chain, protocol, deployment and block range
(inclusive) plus a random suffix, e.g. ``31337_aave-v3_core_000000002-000000006_1f0c9a2e.parquet``.
A file is written under a hidden temporary name, flushed to disk and renamed into place; it is never
changed afterwards. Which files hold the rows is decided by the ``segments`` table of the DuckDB file,
in the same transaction as the chunk's blocks and checkpoint (:mod:`toolkit.store.db`, :func:`listed`); the
``liquidations`` view reads exactly the listed files (:func:`view_sql`), so a file that is not listed
(left by a process killed before its commit, or replaced by a later commit) is never read, and the
writer deletes it when it next takes the store (:func:`unlisted_files`).

Why not a DuckDB table: measured on 100,000 rows of bench/bench_pull.py (2 cores, DuckDB 2.0,
pyarrow 26), appending them to a 77-column DuckDB table costs 0.62 s of CPU (its compression analysis
and checkpoint, on one thread), writing them as one zstd Parquet file 0.11 s, and the file is half the
size (6.2 MB against 12.3 MB). The commits were the pull's longest stage.

Files are zstd-compressed Parquet with the column types of :func:`toolkit.store.arrow.arrow_schema`;
DuckDB reads them back with the same SQL types (TIMESTAMPTZ as ``TIMESTAMP`` adjusted to UTC).
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from toolkit.store import schema
from toolkit.store.arrow import arrow_schema
from toolkit.store.manifest import file_sha256

#: Suffix of the segment directory's name after the store file's name.
DIRECTORY_SUFFIX = ".segments"
#: Parquet codec of the segment files.
COMPRESSION = "zstd"
#: Columns whose Parquet statistics (min, max, nulls per row group) are written: those reads filter on
#: (``LiquidationFilter``, time ranges, the writer's block ranges). Hashes and amounts gain nothing from
#: them, and writing all 77 costs 12 % of a segment's write (bench/bench_pull.py's rows).
STATISTICS = ("chain_id", "protocol", "deployment", "block_number", "block_timestamp", "event")
_UNSAFE = re.compile(r"[^A-Za-z0-9.-]+")


def directory(store_path: Path) -> Path:
    """The segment directory of the store file ``store_path``."""
    return store_path.with_name(store_path.name + DIRECTORY_SUFFIX)


@dataclass(frozen=True)
class Segment:
    """One listed segment file: its name in the segment directory, whose rows it holds, how many, its size."""

    file: str
    chain_id: int
    protocol: str
    deployment: str
    #: Lowest and highest block number (inclusive) of the file's rows.
    first_block: int
    last_block: int
    rows: int
    #: Size of the file in bytes (a shorter or missing file means the store is damaged).
    bytes: int
    #: SHA-256 (hex) of the file's bytes, recorded with it (:mod:`toolkit.store.integrity`); None for a file
    #: listed before hashes were recorded.
    sha256: str | None = None


def segment_name(chain_id: int, protocol: str, deployment: str, first_block: int, last_block: int) -> str:
    """A new file name for rows of blocks ``[first_block, last_block]`` of one deployment."""
    parts = [str(chain_id), _UNSAFE.sub("-", protocol), _UNSAFE.sub("-", deployment),
             f"{first_block:09d}-{last_block:09d}", secrets.token_hex(4)]
    return "_".join(parts) + ".parquet"


def write(folder: Path, rows: pa.Table, *, chain_id: int, protocol: str, deployment: str) -> Segment:
    """Write ``rows`` (one deployment's, with the ``liquidations`` columns, at least one) as a new segment file
    in ``folder``: a hidden temporary file, flushed to disk, renamed into place, the directory flushed."""
    if rows.num_rows == 0:
        raise ValueError("a segment holds at least one row")
    numbers = rows.column("block_number")
    first, last = pc.min(numbers).as_py(), pc.max(numbers).as_py()
    name = segment_name(chain_id, protocol, deployment, first, last)
    tmp = folder / f".{name}.tmp"
    columns = arrow_schema(schema.LIQUIDATION_COLUMNS)
    if rows.schema != columns:  # rows read back by DuckDB (copies, merges); a commit's rows have the schema
        rows = rows.cast(columns)
    try:
        with open(tmp, "wb") as sink:
            pq.write_table(rows, sink, compression=COMPRESSION, write_statistics=list(STATISTICS))
            sink.flush()
            os.fsync(sink.fileno())
        os.replace(tmp, folder / name)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    sync_directory(folder)
    path = folder / name
    return Segment(name, chain_id, protocol, deployment, first, last, rows.num_rows, path.stat().st_size,
                   file_sha256(path))


def sync_directory(folder: Path) -> None:
    """Flush ``folder``'s entries (a rename or a removal) to disk."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def rows_sql(folder: Path, files: Sequence[str]) -> str:
    """A ``SELECT`` of the rows of ``files`` (names in ``folder``, read by absolute path); without files, no
    row but the same columns."""
    if files:
        listed = ", ".join("'" + str(folder / name).replace("'", "''") + "'" for name in files)
        return f"SELECT * FROM read_parquet([{listed}])"
    return ("SELECT " + ", ".join(f"CAST(NULL AS {c.sql_type}) AS {c.name}" for c in schema.LIQUIDATION_COLUMNS)
            + " WHERE false")


def view_sql(folder: Path, files: Sequence[str], *, temporary: bool = False) -> str:
    """``CREATE OR REPLACE [TEMP] VIEW liquidations``: the rows of ``files`` in ``folder`` (:func:`rows_sql`).

    The store's own view names the files by absolute path, so that DuckDB alone (``duckdb.connect(store)``)
    reads the store. A store moved since its last write still names the old place; a temporary view (of
    one connection; DuckDB resolves ``temp`` before ``main``) then names the new one, and the next writer
    rewrites the store's view."""
    return f"CREATE OR REPLACE {'TEMP ' if temporary else ''}VIEW liquidations AS {rows_sql(folder, files)}"


def listed(con: duckdb.DuckDBPyConnection, where: str = "true", params: Sequence[Any] = ()) -> list[Segment]:
    """The segments the ``segments`` table of the store attached to ``con`` lists, matching ``where`` (SQL
    over its columns), in block order."""
    names = ", ".join(f.name for f in fields(Segment))
    rows = con.execute(f"SELECT {names} FROM segments WHERE {where} "
                       "ORDER BY chain_id, protocol, deployment, first_block, file", list(params)).fetchall()
    return [Segment(*row) for row in rows]


def unlisted_files(folder: Path, listed: Iterable[str]) -> list[Path]:
    """Files in ``folder`` that are not ``listed`` segments: temporary files and segments a later commit
    replaced or a killed process wrote without committing them."""
    keep = set(listed)
    return sorted(path for path in folder.iterdir() if path.name not in keep) if folder.is_dir() else []
