"""Figures and report tables an author can use as they are: PNG, SVG and PDF with manifests, local-chain data
labelled in the caption, dates with the year in UTC, empty panels that say so, numbers rounded for display."""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from toolkit.compare.citation import load_manifest  # noqa: E402
from toolkit.compare.display import data_uri, display_number, html_table  # noqa: E402
from toolkit.compare.figures import caption, no_data, rows_dataset, save_figure, utc_time_axis  # noqa: E402


def _dataset(chain_id: int):
    rows = [{"chain_id": chain_id, "protocol": "aave-v3", "deployment": "core", "block_number": 10, "log_index": 1,
             "tx_hash": "0xa", "block_hash": "0xaa"}]
    return rows_dataset(rows, name="sample")[1]


def test_caption_labels_local_chain_data() -> None:
    local, public = caption(_dataset(31337), "test"), caption(_dataset(1), "test")
    assert local.startswith("Local test chain (anvil, chain id 31337)") and "chain 31337 blocks 10-10" in local
    assert "Local" not in public and public.startswith("Source: test.")


def test_figure_in_three_formats_each_with_its_manifest(tmp_path) -> None:
    fig, ax = plt.subplots(figsize=(6, 3))
    ax.plot([datetime(2025, 10, 10, h, tzinfo=UTC) for h in range(4)], [1, 3, 2, 4])
    utc_time_axis(ax)
    manifest = save_figure(fig, tmp_path / "f.png", _dataset(31337), source="test")
    for fmt in ("png", "svg", "pdf"):
        path = tmp_path / f"f.{fmt}"
        sidecar = load_manifest(path)
        assert sidecar.format == fmt and sidecar.file_sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
        assert sidecar.content_sha256 == manifest.content_sha256
    svg = (tmp_path / "f.svg").read_text()
    assert "Local test chain" in svg and "time (UTC)" in svg and re.search(r"2025-10-10 0\d:00", svg)
    again = plt.subplots(figsize=(6, 3))
    again[1].plot([datetime(2025, 10, 10, h, tzinfo=UTC) for h in range(4)], [1, 3, 2, 4])
    utc_time_axis(again[1])
    save_figure(again[0], tmp_path / "g.png", _dataset(31337), source="test", formats=("svg", "pdf"))
    for fmt in ("svg", "pdf"):  # no creation dates: the same figure gives the same bytes
        assert (tmp_path / f"g.{fmt}").read_bytes() == (tmp_path / f"f.{fmt}").read_bytes()
    assert not list(tmp_path.glob(".*"))


def test_caption_does_not_overlap_tick_labels(tmp_path) -> None:
    """The caption is placed under everything the figure holds (rotated date labels included)."""
    fig, ax = plt.subplots(figsize=(5, 3))
    ax.plot([datetime(2020, 3, 12, tzinfo=UTC) + timedelta(hours=h) for h in range(48)], range(48))
    utc_time_axis(ax)
    save_figure(fig, tmp_path / "f.png", _dataset(1), source="test", formats=("png",))
    renderer = fig.canvas.get_renderer()
    caption_box = fig.texts[-1].get_window_extent(renderer)
    for label in ax.get_xticklabels() + [ax.xaxis.label]:
        assert label.get_window_extent(renderer).y0 > caption_box.y1


def test_an_empty_panel_says_so(tmp_path) -> None:
    fig, ax = plt.subplots()
    no_data(ax, "no liquidations on aave-v2")
    assert [t.get_text() for t in ax.texts] == ["no liquidations on aave-v2"] and not ax.get_xticks().size


@pytest.mark.parametrize(("value", "shown"), [
    ("19471.61760984617166", "19,471.62"), (Decimal("0E-8"), "0"), ("0.000123456", "0.0001235"), (3, "3"),
    ("1500", "1500"), (-2.5, "-2.50"), ("0x12ab", "0x12ab"), ("bitmex:XBTUSD", "bitmex:XBTUSD"), ("", ""),
    (None, ""), (True, "True"), ("—", "—"), (float("nan"), ""),
])
def test_numbers_are_rounded_for_display(value, shown) -> None:
    assert display_number(value) == shown


def test_html_table_rounds_and_data_uri_embeds(tmp_path) -> None:
    table = html_table(pd.DataFrame({"place": ["aave-v3"], "penalty_usd": ["19471.61760984617166"]}))
    assert "19,471.62" in table and "19471.6176" not in table
    (tmp_path / "x.png").write_bytes(b"\x89PNG")
    assert data_uri(tmp_path / "x.png") == "data:image/png;base64,iVBORw=="


def test_report_puts_figures_next_to_it_without_kernel_warnings(tmp_path) -> None:
    """``liqtk report`` gives a notebook's ``out_dir`` the report's directory, and the kernel talks over IPC
    sockets: no "Kernel is running over TCP" warning on stderr."""
    import subprocess
    import sys

    import nbformat

    code = ("import matplotlib.pyplot as plt\nfrom pathlib import Path\n"
            "from toolkit.compare.figures import rows_dataset, save_figure\nfrom toolkit.compare.reports import figure_dir\n"
            "rows = [{'chain_id': 1, 'protocol': 'aave-v3', 'deployment': 'core', 'block_number': 10, 'log_index': 1,"
            " 'tx_hash': '0xa', 'block_hash': '0xaa'}]\n"
            "fig, ax = plt.subplots()\nax.plot([1, 2], [3, 4])\n"
            "save_figure(fig, figure_dir(out_dir) / 'tiny.png', rows_dataset(rows, name='t')[1], source='test')")
    notebook = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("out_dir = None", metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell(code)])
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(notebook, tmp_path / "tiny.ipynb")
    done = subprocess.run([sys.executable, "-m", "toolkit", "report", "--notebook", str(tmp_path / "tiny.ipynb"),
                           "--out", str(tmp_path / "r" / "report.html"), "--json"], capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr
    assert "TCP" not in done.stderr and "Warning" not in done.stderr, done.stderr
    assert {p.name for p in (tmp_path / "r").glob("tiny.*")} >= {"tiny.png", "tiny.svg", "tiny.pdf"}
    assert "data:image/png;base64," in (tmp_path / "r" / "report.html").read_text()
