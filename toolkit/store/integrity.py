"""Integrity of the segment files: what was recorded with each file, checked quickly or fully, and repaired.

Each segment file is listed with its size and its SHA-256 in the transaction that commits its rows
(:func:`toolkit.store.segments.write`). Two checks compare the files with that record:

* **quick** (every time a store is opened, ``liqtk status``): each listed file is there with its size;
* **full** (``liqtk verify``, and every export for the files it reads): also its SHA-256, and its Parquet
  footer -- readable, with the rows listed and the liquidations columns of the schema.

A damaged file is named with its deployment and block range, and how to recover: ``liqtk verify --repair``
unlists it and moves its deployment's checkpoint back before its first block (:func:`repair`), so that the
next pull of that deployment reads those blocks again from the node.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from toolkit.errors import StoreError
from toolkit.store import schema
from toolkit.store.arrow import arrow_schema
from toolkit.store.attach import first_line
from toolkit.store.manifest import file_sha256
from toolkit.store.records import LiquidationFilter
from toolkit.store.segments import Segment, listed

if TYPE_CHECKING:
    from toolkit.store.db import Store, Writer


@dataclass(frozen=True)
class Damage:
    """A listed segment file that does not match what was recorded with it."""

    segment: Segment
    #: Where the file is (or should be).
    path: Path
    #: What is wrong, e.g. ``has another SHA-256 than the one recorded with it``.
    problem: str

    def describe(self) -> str:
        """``its segment file <path> <problem>``."""
        return f"its segment file {self.path} {self.problem}"

    def rows(self) -> str:
        """Whose rows the file held: ``<chain id>/<protocol>/<deployment>, blocks <first>-<last>``."""
        s = self.segment
        return f"{s.chain_id}/{s.protocol}/{s.deployment}, blocks {s.first_block}-{s.last_block}"


@dataclass(frozen=True)
class Rewound:
    """A deployment :func:`repair` moved back: its next pull reads again from ``from_block``."""

    chain_id: int
    protocol: str
    deployment: str
    from_block: int


def check(folder: Path, listed: Sequence[Segment], *, full: bool) -> list[Damage]:
    """The listed segments of ``folder`` that do not match their record (see the module docstring)."""
    damages = []
    columns = arrow_schema(schema.LIQUIDATION_COLUMNS)
    for segment in listed:
        path = folder / segment.file
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            damages.append(Damage(segment, path, "is missing"))
            continue
        if size != segment.bytes:
            damages.append(Damage(segment, path, f"has {size} bytes, {segment.bytes} were written"))
            continue
        if not full:
            continue
        if segment.sha256 is not None and file_sha256(path) != segment.sha256:
            damages.append(Damage(segment, path, "has another SHA-256 than the one recorded with it"))
            continue
        try:
            footer = pq.read_metadata(path)
            found = footer.schema.to_arrow_schema().remove_metadata()
        except (pa.ArrowException, OSError) as exc:
            reason = " ".join(str(exc).split())[:120]
            damages.append(Damage(segment, path, f"is not a readable Parquet file ({reason})"))
            continue
        if footer.num_rows != segment.rows:
            damages.append(Damage(segment, path, f"holds {footer.num_rows} rows, {segment.rows} were written"))
        elif found != columns:
            damages.append(Damage(segment, path, f"does not have the liquidations columns of schema version "
                                           f"{schema.SCHEMA_VERSION}"))
    return damages


def listed_totals(store: Store) -> tuple[int, int]:
    """How many segment files the store lists and how many liquidation rows they hold (from the listing)."""
    with store.reader() as con:
        files, rows = con.execute("SELECT count(*), coalesce(sum(rows), 0) FROM segments").fetchall()[0]
    return int(files), int(rows)


def damage_error(store_path: Path, damages: Sequence[Damage]) -> StoreError:
    """The one-line error naming the (first) damaged segment and the recovery command."""
    first = damages[0]
    more = f" (and {len(damages) - 1} more damaged segment files)" if len(damages) > 1 else ""
    return StoreError(f"store {store_path} is damaged: {first.describe()}{more}; restore the store file and its "
                      f"{first.path.parent.name} directory together, or recover: `liqtk verify --store {store_path} "
                      f"--repair` unlists the damaged file ({first.rows()}) and prints the `liqtk pull` that reads "
                      "its blocks again")


@contextmanager
def checked_reader(store: Store, filters: LiquidationFilter) -> Iterator[duckdb.DuckDBPyConnection]:
    """``store.reader()``, after a full :func:`check` of the segment files holding the rows ``filters`` select,
    on the same connection (so of the same committed state); a damaged file raises :func:`damage_error`."""
    where, params = filters.where(blocks=False)
    bounds = [("last_block >= ?", filters.from_block), ("first_block <= ?", filters.to_block)]
    conditions = [where.removeprefix("WHERE ")] if where else []
    conditions += [condition for condition, value in bounds if value is not None]
    params += [value for _, value in bounds if value is not None]
    with store.reader() as con:
        damages = check(store.segments_dir, listed(con, " AND ".join(conditions) or "true", params), full=True)
        if damages:
            raise damage_error(store.path, damages)
        yield con


def failure(store: Store, exc: duckdb.Error, doing: str = "reading") -> StoreError:
    """The error of a read or write of ``store`` that DuckDB failed: the damaged segment files when a full check
    finds some (DuckDB reading a damaged file says nothing useful, e.g. "Out of buffer"), else DuckDB's first line."""
    try:
        damages = store.verify()
    except (StoreError, duckdb.Error, OSError):
        damages = []
    if damages:
        return damage_error(store.path, damages)
    return StoreError(f"{doing} store {store.path} failed: {first_line(exc)}")


def repair(writer: Writer, damages: Sequence[Damage]) -> list[Rewound]:
    """In one transaction: unlist the damaged segments and move each of their deployments' checkpoint back to
    the block before its first damaged one (the deployment's later segments stay listed: the next pull reads
    those blocks again and replaces their rows, as it does for any chunk committed twice). A checkpoint moved
    before its first block covers nothing: the next pull starts at that first block."""
    firsts: dict[tuple[int, str, str], int] = {}
    for damage in damages:
        s = damage.segment
        key = (s.chain_id, s.protocol, s.deployment)
        firsts[key] = min(firsts.get(key, s.first_block), s.first_block)
    with writer._transaction() as con:
        writer._relist(con, drop=[d.segment for d in damages], add=(), run_id=None)
        for (chain_id, protocol, deployment), first in firsts.items():
            _rewind_checkpoint(con, chain_id, protocol, deployment, first - 1)
    return [Rewound(chain_id, protocol, deployment, first) for (chain_id, protocol, deployment), first
            in sorted(firsts.items())]


def _rewind_checkpoint(con: duckdb.DuckDBPyConnection, chain_id: int, protocol: str, deployment: str,
                       last_block: int) -> None:
    """Move the deployment's checkpoint back to ``last_block`` (never forward), with that block's stored hash."""
    con.execute("""
        UPDATE checkpoints SET last_block = $last,
               last_block_hash = (SELECT block_hash FROM blocks WHERE chain_id = $chain AND block_number = $last),
               updated_at = current_timestamp
        WHERE chain_id = $chain AND protocol = $protocol AND deployment = $deployment AND last_block > $last
    """, {"last": last_block, "chain": chain_id, "protocol": protocol, "deployment": deployment})
