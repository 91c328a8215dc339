"""Citable figures: a matplotlib figure saved as PNG with a caption and a manifest of the data behind it.

A figure is drawn from a *dataset*: liquidations of a store (:func:`store_dataset`) or rows decoded elsewhere
(:func:`rows_dataset`, e.g. ``liqtk decode`` of fixture logs). The dataset's manifest is the one an export of the
same rows carries (:func:`toolkit.store.partitioned.selection_manifest`: content SHA-256 over the canonical row
order, chain ids, block range with the hashes at both ends, checkpoints, runs, node client versions, redacted RPC
hosts, package version and git commit, the query's filters, creation time).

:func:`save_figure` writes the caption under the figure (data source, chains, block range and hashes, dataset
hash), saves the PNG under a temporary name and renames it into place, and writes ``<png>.manifest.json``: the
dataset's manifest with ``format`` ``png``, the PNG's name, SHA-256 and size, so ``liqtk cite`` reads figures
and exports alike.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import pandas as pd

from toolkit.store import schema
from toolkit.store.arrow import rows_to_table, to_pandas
from toolkit.store.db import LiquidationFilter, Store
from toolkit.store.export import write_with_manifest
from toolkit.store.manifest import Manifest, utc_now
from toolkit.store.partitioned import read_selection, selection_manifest

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def store_dataset(store: Store | str | Path, *, name: str = "liquidations",
                  **filters: int | str | None) -> tuple[pd.DataFrame, Manifest]:
    """The liquidations of ``store`` matching ``filters`` as a typed frame (as :func:`toolkit.liquidations`)
    and the dataset's manifest."""
    opened = store if isinstance(store, Store) else Store(store, create=False)
    rows, manifest = read_selection(opened, name=name, fmt="dataset", file_name="", **filters)
    return to_pandas(rows), manifest


def rows_dataset(rows: Sequence[Mapping[str, Any]], *, name: str) -> tuple[pd.DataFrame, Manifest]:
    """Normalized liquidation rows held in memory (dicts keyed by store column names, e.g. the rows of
    :func:`toolkit.decode`) in canonical order, as a typed frame, with their manifest: no store, so block hashes
    come from the rows and there are no checkpoints or runs."""
    table = rows_to_table(schema.LIQUIDATION_COLUMNS, rows)
    with duckdb.connect() as con:
        con.execute("SET TimeZone = 'UTC'")
        for table_name in schema.STORED_TABLES:  # empty: the manifest's blocks, checkpoints and runs
            con.execute(schema.create_table_sql(table_name))
        con.register("incoming", table)
        ordered = con.sql(f"SELECT * FROM incoming ORDER BY {', '.join(schema.LIQUIDATION_ORDER)}").to_arrow_table()
        manifest = selection_manifest(con, ordered, LiquidationFilter(), name=name, fmt="dataset", file_name="")
    return to_pandas(ordered), manifest


def _short(block_hash: str | None) -> str:
    return "unknown" if not block_hash else f"{block_hash[:10]}…"


def caption(dataset: Manifest, source: str) -> str:
    """One caption line: data source, chains with block ranges and end hashes, dataset hash, software."""
    ranges = "; ".join(f"chain {r['chain_id']} blocks {r['first_block']}-{r['last_block']} "
                       f"({_short(r['first_block_hash'])} / {_short(r['last_block_hash'])})"
                       for r in dataset.block_ranges) or "no rows"
    commit = f", commit {dataset.git_commit[:10]}" if dataset.git_commit else ""
    return (f"Source: {source}. {dataset.row_count} liquidations, {ranges}. Dataset sha256 "
            f"{dataset.content_sha256[:16]}…; liquidation-toolkit {dataset.package_version}{commit}.")


def save_figure(fig: Figure, out: str | Path, dataset: Manifest, *, source: str, dpi: int = 150) -> Manifest:
    """Caption ``fig`` (:func:`caption`), save it as PNG at ``out`` (write-then-rename) and write
    ``<out>.manifest.json``; returns the figure's manifest."""
    out = Path(out).absolute()
    out.parent.mkdir(parents=True, exist_ok=True)
    text = caption(dataset, source)
    fig.text(0.01, 0.005, text, fontsize=6.5, wrap=True, va="bottom", ha="left", color="0.25")
    fig.subplots_adjust(bottom=max(fig.subplotpars.bottom, 0.2))
    base = replace(dataset, name=out.stem, created_at=utc_now(), format="png")
    return write_with_manifest(
        out, base, lambda tmp: fig.savefig(tmp, dpi=dpi, format="png", metadata={"Description": text, "Source": source}),
        suffix=".png")

