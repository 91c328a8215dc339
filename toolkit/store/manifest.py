"""What makes an export citable: a content hash independent of the file format, and the manifest.

The manifest follows docs/sources/store.md#dataset-manifest (paradigm-data-portal's ``files[name, hash, n_bytes]`` plus
schema and version, and the provenance cryo left as a TODO: node client version and RPC host).
It is written as a JSON sidecar ``<file>.manifest.json`` and, for Parquet, also embedded in the
file's key-value metadata under ``liqtk_manifest``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa

from toolkit.store.schema import Column

#: Key of the manifest in a Parquet file's key-value metadata.
PARQUET_KEY = "liqtk_manifest"

#: Canonical text of a non-null value, by DuckDB type of its column.
_CANONICAL: dict[str, Callable[[Any], str]] = {
    "VARCHAR": str,
    "BIGINT": str,
    "INTEGER": str,
    "BOOLEAN": lambda value: "true" if value else "false",
    "DOUBLE": repr,
    "TIMESTAMPTZ": lambda value: value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
}


def _json_line(values: Sequence[str | None]) -> str:
    return json.dumps(values, ensure_ascii=False, separators=(",", ":")) + "\n"


def content_sha256(table: pa.Table, columns: Sequence[Column]) -> str:
    """SHA-256 (hex) of the rows of ``table``, as ordered, over ``columns``: the same for CSV and Parquet.

    It is the SHA-256 of the UTF-8 bytes of a text made of

    1. one header line: the JSON array of the column names, in schema order;
    2. one line per row, in canonical order (``ORDER BY chain_id, block_number, log_index, tx_hash``):
       the JSON array of the row's values in schema order, where NULL is JSON ``null`` and every
       other value is a JSON string:

       * VARCHAR: the string itself (raw amounts are base-10 integer strings);
       * BIGINT, INTEGER: the base-10 integer, e.g. ``"12"``, ``"-3"``;
       * BOOLEAN: ``"true"`` or ``"false"``;
       * DOUBLE: Python's ``repr`` (shortest text that reads back to the same double), e.g.
         ``"0.1"``, ``"1e+20"``, ``"-0.0"``, ``"nan"``, ``"inf"``;
       * TIMESTAMPTZ: UTC as ``YYYY-MM-DDTHH:MM:SS.ffffffZ`` (always six fraction digits).

    Each line is ``json.dumps(values, ensure_ascii=False, separators=(",", ":"))`` followed by
    ``"\\n"`` (no spaces; only ``"``, ``\\`` and control characters are escaped).
    """
    digest = hashlib.sha256(_json_line([c.name for c in columns]).encode())
    formats = [_CANONICAL[c.sql_type] for c in columns]
    for batch in table.select([c.name for c in columns]).to_batches(max_chunksize=10_000):
        texts = [[None if value is None else canonical(value) for value in array.to_pylist()]
                 for canonical, array in zip(formats, batch.columns, strict=True)]
        digest.update("".join(_json_line(row) for row in zip(*texts, strict=True)).encode())
    return digest.hexdigest()


def file_sha256(path: Path) -> str:
    """SHA-256 (hex) of a file's bytes."""
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def utc_now() -> str:
    """Current UTC time as ISO 8601 with a ``Z`` suffix, to the second."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Manifest:
    """Everything needed to cite, verify and reproduce one exported file."""

    #: Dataset name (the file name without its extension unless given).
    name: str
    #: When the export was made (UTC, ISO 8601); the only field that differs between two exports of the same data.
    created_at: str
    #: ``csv`` or ``parquet``.
    format: str
    #: File name of the export (no directory).
    file_name: str
    #: SHA-256 of the file's bytes; ``None`` in the copy embedded in the Parquet file itself.
    file_sha256: str | None
    #: Size of the file in bytes; ``None`` in the embedded copy.
    file_bytes: int | None
    #: :func:`content_sha256` of the rows: identical for the same rows in any format.
    content_sha256: str
    row_count: int
    #: :data:`toolkit.store.schema.SCHEMA_VERSION` of the columns.
    schema_version: int
    #: ``{"name", "type", "unit"}`` per column, in file order.
    columns: list[dict[str, str]]
    #: Filters of the query that selected the rows (block bounds inclusive).
    filters: dict[str, Any]
    chain_ids: list[int]
    #: Per chain: first and last ``block_number`` of the rows, with the stored hash of each.
    block_ranges: list[dict[str, Any]]
    #: Checkpoint of every deployment matching the filters: the block range that was pulled, so a
    #: deployment with no rows still says "no liquidation in these blocks".
    checkpoints: list[dict[str, Any]]
    #: Runs that pulled these deployments over the exported block window.
    run_ids: list[str]
    #: ``web3_clientVersion`` of the nodes those runs read from.
    node_client_versions: list[str]
    #: Redacted RPC hosts (``scheme://host:port``) of those runs.
    rpc_hosts: list[str]
    #: liquidation-toolkit version that made the export.
    package_version: str
    #: Git commit of the toolkit checkout that made the export, when it runs from one.
    git_commit: str | None

    def to_json(self) -> str:
        """Indented JSON text, fields in declaration order."""
        return json.dumps(asdict(self), indent=2, ensure_ascii=False) + "\n"

    @classmethod
    def from_json(cls, text: str | bytes) -> Manifest:
        """Parse :meth:`to_json` output (a sidecar or the Parquet ``liqtk_manifest`` value)."""
        return cls(**json.loads(text))

    def embedded(self) -> Manifest:
        """The copy stored inside the file: without the file's own hash and size."""
        return replace(self, file_sha256=None, file_bytes=None)
