"""Segment compaction: copies of segment files without some blocks, and small files merged into one.

Segment files are immutable (:mod:`toolkit.store.segments`): a chunk committed again, or a chain
rewound after a reorganization, replaces the files that overlap it by copies without the blocks
concerned (:func:`copy_without`); a scheduled pull that adds a few rows a run leaves many small files,
which the last write of a pull merges into one file per deployment (:func:`merge`), so reads never meet
thousands of tiny files. The caller lists the new files and unlists the old ones in its transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from toolkit.store import schema, segments
from toolkit.store.segments import Segment

#: ``write(rows, chain_id=, protocol=, deployment=)``: a new segment file holding ``rows``.
SegmentWrite = Callable[..., Segment]


def copy_without(con: duckdb.DuckDBPyConnection, folder: Path, segment: Segment, keep: str, params: Sequence[Any],
                 write: SegmentWrite) -> Segment | None:
    """A new segment with the rows of ``segment`` that match ``keep`` (SQL over the liquidations columns),
    or ``None`` when none does."""
    rows = con.sql(f"{segments.rows_sql(folder, [segment.file])} WHERE {keep}", params=list(params)).to_arrow_table()
    if rows.num_rows == 0:
        return None
    return write(rows, chain_id=segment.chain_id, protocol=segment.protocol, deployment=segment.deployment)


def merge(con: duckdb.DuckDBPyConnection, folder: Path, small: Sequence[Segment],
          write: SegmentWrite) -> tuple[list[Segment], list[Segment]]:
    """The ``small`` segments as one new file per deployment, rows in canonical order: ``(replaced, written)``
    (a deployment with a single small file keeps it)."""
    by_deployment: dict[tuple[int, str, str], list[Segment]] = {}
    for segment in small:
        by_deployment.setdefault((segment.chain_id, segment.protocol, segment.deployment), []).append(segment)
    groups = [group for group in by_deployment.values() if len(group) > 1]
    order = ", ".join(schema.LIQUIDATION_ORDER)
    written = []
    for group in groups:
        rows: pa.Table = con.sql(f"{segments.rows_sql(folder, [s.file for s in group])} ORDER BY {order}"
                                 ).to_arrow_table()
        written.append(write(rows, chain_id=group[0].chain_id, protocol=group[0].protocol,
                             deployment=group[0].deployment))
    return [segment for group in groups for segment in group], written
