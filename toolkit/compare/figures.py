"""Citable figures: a matplotlib figure saved as PNG, SVG and PDF with a caption and a manifest of the data
behind it.

A figure is drawn from a *dataset*: liquidations of a store (:func:`store_dataset`) or rows decoded elsewhere
(:func:`rows_dataset`, e.g. ``liqtk decode`` of fixture logs). The dataset's manifest is the one an export of the
same rows carries (:func:`toolkit.store.partitioned.selection_manifest`: content SHA-256 over the canonical row
order, chain ids, block range with the hashes at both ends, checkpoints, runs, node client versions, redacted RPC
hosts, package version and git commit, the query's filters, creation time).

:func:`save_figure` writes the caption under the figure (data source, chains, block range and hashes, dataset
hash; "local test chain" when the data comes from one), saves the figure as PNG, SVG and PDF, each under a
temporary name renamed into place, and writes ``<file>.manifest.json`` beside each: the dataset's manifest with
the file's format, name, SHA-256 and size, so ``liqtk cite`` reads figures and exports alike. SVG and PDF are
written without creation dates, so the same figure gives the same bytes.

Helpers for figures an author can use as they are: :func:`utc_time_axis` (dates with the year, in UTC, labels
that do not overlap) and :func:`no_data` (a panel with nothing to show says so in words).
"""

from __future__ import annotations

import textwrap
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
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

#: Chain ids of local development chains (anvil and Hardhat: 31337; Ganache: 1337). Data read there shows how
#: the protocols work, not what happened on a public chain: every caption of such data says so.
LOCAL_CHAIN_IDS = frozenset({31337, 1337})
#: The formats :func:`save_figure` writes: PNG for screens and the HTML reports, SVG and PDF for print.
FORMATS = ("png", "svg", "pdf")
#: Caption font size (points) and a character's mean width in that font (points), for wrapping.
CAPTION_SIZE, _CHAR_WIDTH = 7.0, 7.0 * 0.52


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


def is_local(dataset: Manifest) -> bool:
    """Whether the dataset's rows come from a local development chain (:data:`LOCAL_CHAIN_IDS`)."""
    chains = {r["chain_id"] for r in dataset.block_ranges} | set(dataset.chain_ids or [])
    return bool(chains & LOCAL_CHAIN_IDS)


def caption(dataset: Manifest, source: str, noun: str = "liquidation") -> str:
    """One caption: data source, chains with block ranges and end hashes, dataset hash, software; it starts with
    "Local test chain" when the data comes from one (:func:`is_local`). ``noun`` is what a row of the dataset is
    (``liquidation``, ``position row``)."""
    ranges = "; ".join(f"chain {r['chain_id']} blocks {r['first_block']}-{r['last_block']} "
                       f"({_short(r['first_block_hash'])} / {_short(r['last_block_hash'])})"
                       for r in dataset.block_ranges) or "no rows"
    commit = f", commit {dataset.git_commit[:10]}" if dataset.git_commit else ""
    local = ("Local test chain (anvil, chain id 31337): shows how the protocols work, not mainnet data. "
             if is_local(dataset) else "")
    count = f"{dataset.row_count} {noun}{'' if dataset.row_count == 1 else 's'}"
    return (f"{local}Source: {source}. {count}, {ranges}. Dataset sha256 "
            f"{dataset.content_sha256[:16]}…; liquidation-toolkit {dataset.package_version}{commit}.")


def _place_caption(fig: Figure, text: str) -> None:
    """Write ``text`` under everything the figure holds, wrapped to its width (saving with a tight bounding box
    keeps it in the file), so it never overlaps tick labels or legends."""
    fig.draw_without_rendering()
    bottom = fig.get_tightbbox().y0  # inches from the figure's bottom edge (negative below it)
    width = fig.get_figwidth()
    lines = textwrap.wrap(text, width=max(40, int(width * 72 / _CHAR_WIDTH)))
    fig.text(0.01, (bottom - 0.08) / fig.get_figheight(), "\n".join(lines), fontsize=CAPTION_SIZE, va="top",
             ha="left", color="0.25")


def _writer(fig: Figure, fmt: str, dpi: int, text: str, source: str):
    """The function :func:`~toolkit.store.export.write_with_manifest` calls to write ``fig`` as ``fmt``."""
    metadata = {"png": {"Description": text, "Source": source},
                "svg": {"Description": text, "Date": None, "Creator": "liquidation-toolkit"},
                "pdf": {"Subject": text, "CreationDate": None, "Creator": "liquidation-toolkit"}}[fmt]

    def write(tmp: Path) -> None:
        import matplotlib

        with matplotlib.rc_context({"svg.hashsalt": "liquidation-toolkit", "svg.fonttype": "none"}):
            fig.savefig(tmp, dpi=dpi, format=fmt, metadata=metadata, bbox_inches="tight", pad_inches=0.1)
    return write


def save_figure(fig: Figure, out: str | Path, dataset: Manifest, *, source: str, dpi: int = 150,
                formats: Sequence[str] = FORMATS, noun: str = "liquidation") -> Manifest:
    """Caption ``fig`` (:func:`caption`), save it at ``out`` (PNG) and beside it in the other ``formats``
    (``out`` with ``.svg``, ``.pdf``), each with its ``<file>.manifest.json`` (write-then-rename); returns the
    PNG's manifest (the first format's)."""
    out = Path(out).absolute()
    out.parent.mkdir(parents=True, exist_ok=True)
    text = caption(dataset, source, noun)
    _place_caption(fig, text)
    written = []
    for fmt in formats:
        path = out if out.suffix.lstrip(".").lower() == fmt else out.with_suffix(f".{fmt}")
        base = replace(dataset, name=out.stem, created_at=utc_now(), format=fmt)
        written.append(write_with_manifest(path, base, _writer(fig, fmt, dpi, text, source), suffix=f".{fmt}"))
    return written[0]


def utc_time_axis(ax: Axes, *, label: str = "time (UTC)") -> None:
    """Dates on ``ax``'s x axis with the year, in UTC, labelled ``label``; tick labels turned so they do not
    overlap."""
    from datetime import UTC

    import matplotlib.dates as mdates

    locator = mdates.AutoDateLocator(tz=UTC, minticks=3, maxticks=8)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%Y-%m-%d %H:%M", tz=UTC))
    ax.set_xlabel(label)
    for tick in ax.get_xticklabels():
        tick.set_rotation(30)
        tick.set_horizontalalignment("right")


def no_data(ax: Axes, message: str) -> None:
    """Mark ``ax`` as a panel with nothing to show: ``message`` in words, no ticks."""
    ax.set_xticks([])
    ax.set_yticks([])
    ax.text(0.5, 0.5, message, transform=ax.transAxes, ha="center", va="center", wrap=True, fontsize=10,
            color="0.35")
