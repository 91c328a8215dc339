"""Citable results: partitioned exports, figures and their manifests, ``liqtk cite`` and ``liqtk report``.

The content hash is checked against the flat export (toolkit.store.export) of the same rows and against a
second export; block hashes against the node itself (``eth_getBlockByNumber``); the figure's file hash against
the PNG's bytes; the read-back rows against the store's.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import duckdb
import matplotlib
import nbformat
import pytest
import typer
from typer.testing import CliRunner

from toolkit.cli import analysis_commands
from toolkit.compare.citation import load_manifest
from toolkit.compare.figures import rows_dataset, save_figure, store_dataset
from toolkit.errors import UserInputError
from toolkit.store.db import LiquidationFilter, Store
from toolkit.store.export import export_liquidations
from toolkit.store.manifest import content_sha256
from toolkit.store.partitioned import MANIFEST_NAME, export_partitioned, read_partitioned, verify_partitioned
from toolkit.store.schema import LIQUIDATION_COLUMNS

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

app = typer.Typer()
app.command()(analysis_commands.report)
app.command()(analysis_commands.cite)


def _node_hash(chain, number: int) -> str:
    return "0x" + chain.chain.w3.eth.get_block(number).hash.hex().removeprefix("0x")


@pytest.mark.node
def test_partitioned_export_has_the_flat_exports_hash_and_rows(store_path, chain, tmp_path) -> None:
    store = Store(store_path, create=False)
    flat = export_liquidations(store, tmp_path / "flat.parquet", "parquet")
    manifest = export_partitioned(store, tmp_path / "hive")
    again = export_partitioned(store, tmp_path / "hive")  # replaces the previous export in place
    assert manifest.content_sha256 == flat.content_sha256 == again.content_sha256
    assert manifest.row_count == 7 and manifest.format == "parquet-hive"
    assert verify_partitioned(tmp_path / "hive") == []
    back = read_partitioned(tmp_path / "hive")
    assert back.to_pylist() == store.liquidations_table().to_pylist()
    layout = sorted(p.relative_to(tmp_path / "hive").as_posix() for p in (tmp_path / "hive").rglob("*.parquet"))
    assert layout == ["chain_id=31337/protocol=aave-v2/month=2025-01/data_0.parquet",
                      "chain_id=31337/protocol=aave-v3/month=2025-01/data_0.parquet",
                      "chain_id=31337/protocol=morpho-blue/month=2025-01/data_0.parquet"]
    # readable as is by DuckDB's hive reader
    with duckdb.connect() as con:
        count = con.execute(f"SELECT count(*) FROM read_parquet('{tmp_path}/hive/**/*.parquet', "
                            "hive_partitioning = true) WHERE protocol = 'morpho-blue'").fetchone()[0]
    assert count == 3
    (ends,) = manifest.block_ranges
    assert ends["first_block_hash"] == _node_hash(chain, ends["first_block"])
    assert ends["last_block_hash"] == _node_hash(chain, ends["last_block"])
    filtered = export_partitioned(store, tmp_path / "v3", protocol="aave-v3")
    assert filtered.row_count == 2 and filtered.filters == {"protocol": "aave-v3"}


@pytest.mark.node
def test_changing_one_row_changes_the_content_hash(store_path, tmp_path) -> None:
    store = Store(store_path, create=False)
    rows = store.liquidations_table()
    original = content_sha256(rows, LIQUIDATION_COLUMNS)
    changed = rows.set_column(rows.schema.get_field_index("debt_repaid_raw"), "debt_repaid_raw",
                              [[*rows.column("debt_repaid_raw").to_pylist()[:-1], "1"]])
    assert content_sha256(changed, LIQUIDATION_COLUMNS) != original
    assert export_partitioned(store, tmp_path / "a").content_sha256 == original


@pytest.mark.node
def test_partitioned_export_refuses_a_foreign_directory(store_path, tmp_path) -> None:
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep")
    with pytest.raises(UserInputError, match="not a partitioned export"):
        export_partitioned(Store(store_path, create=False), tmp_path / "mine")


@pytest.mark.node
def test_figure_manifest_describes_the_png_and_its_data(store_path, chain, tmp_path) -> None:
    frame, dataset = store_dataset(store_path, protocol="morpho-blue")
    fig, ax = plt.subplots()
    ax.bar(frame.borrower.str[:8], frame.bad_debt_usd.fillna(0))
    manifest = save_figure(fig, tmp_path / "bad_debt.png", dataset, source="test store")
    png = (tmp_path / "bad_debt.png").read_bytes()
    assert manifest.file_sha256 == hashlib.sha256(png).hexdigest() and manifest.file_bytes == len(png)
    rows = Store(store_path, create=False).liquidations_table(LiquidationFilter(protocol="morpho-blue"))
    assert manifest.content_sha256 == content_sha256(rows, LIQUIDATION_COLUMNS)
    assert manifest.filters == {"protocol": "morpho-blue"} and manifest.row_count == 3
    assert manifest.node_client_versions and manifest.node_client_versions[0].startswith("anvil")
    assert manifest.rpc_hosts == [chain.url]  # 127.0.0.1:port, nothing to redact
    (ends,) = manifest.block_ranges
    assert ends["last_block_hash"] == _node_hash(chain, ends["last_block"])
    assert load_manifest(tmp_path / "bad_debt.png") == manifest


def test_rows_dataset_cites_decoded_rows_without_a_store() -> None:
    rows = [{"chain_id": 1, "protocol": "aave-v2", "deployment": "main", "block_number": 20, "log_index": 3,
             "tx_hash": "0xb", "block_hash": "0xbb"},
            {"chain_id": 1, "protocol": "aave-v2", "deployment": "main", "block_number": 10, "log_index": 1,
             "tx_hash": "0xa", "block_hash": "0xaa"}]
    frame, manifest = rows_dataset(rows, name="sample")
    assert list(frame.block_number) == [10, 20]  # canonical order
    assert manifest.block_ranges == [{"chain_id": 1, "first_block": 10, "first_block_hash": "0xaa",
                                      "last_block": 20, "last_block_hash": "0xbb"}]
    assert manifest.run_ids == [] and manifest.checkpoints == []


@pytest.mark.node
def test_cite_prints_text_and_bibtex_for_exports(store_path, tmp_path) -> None:
    store = Store(store_path, create=False)
    flat = export_liquidations(store, tmp_path / "liq.parquet", "parquet")
    hive = export_partitioned(store, tmp_path / "hive")
    runner = CliRunner()
    for target, manifest in ((tmp_path / "liq.parquet", flat), (tmp_path / "hive", hive),
                             (tmp_path / "hive" / MANIFEST_NAME, hive)):
        result = runner.invoke(app, ["cite", str(target)])
        assert result.exit_code == 0, result.output
        text, bib = result.output.split("\n\n")[:2]
        first = manifest.block_ranges[0]
        assert f"Content SHA-256 {manifest.content_sha256}" in text
        assert f"blocks {first['first_block']} ({first['first_block_hash']}) to {first['last_block']}" in text
        assert bib.startswith(f"@misc{{liqtk_{manifest.name}_{manifest.content_sha256[:8]},")
        assert f"content SHA-256 {manifest.content_sha256}" in bib
    (tmp_path / "liq.parquet.manifest.json").unlink()  # the copy embedded in the Parquet file still cites it
    result = runner.invoke(app, ["cite", str(tmp_path / "liq.parquet"), "--format", "text"])
    assert result.exit_code == 0 and flat.content_sha256 in result.output and "@misc" not in result.output
    missing = runner.invoke(app, ["cite", str(tmp_path / "nothing.csv")])
    assert missing.exit_code != 0


def test_report_runs_a_notebook_with_parameters(tmp_path) -> None:
    notebook = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("factor = 1\nlabel = 'x'", metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell("print(f'{label}: {factor * 21}')"),
    ])
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    source = tmp_path / "tiny.ipynb"
    nbformat.write(notebook, source)
    result = CliRunner().invoke(app, ["report", "--notebook", str(source), "--param", "factor=2",
                                      "--param", "label=answer", "--out", str(tmp_path / "r" / "report.html")])
    assert result.exit_code == 0, result.output
    assert "answer: 42" in (tmp_path / "r" / "report.html").read_text()
    executed = json.loads((tmp_path / "r" / "report.ipynb").read_text())
    assert executed["metadata"]["papermill"]["parameters"] == {"factor": 2, "label": "answer"}
    assert not list((tmp_path / "r").glob(".*"))  # nothing half-written left behind


def test_report_names_the_failing_cell(tmp_path) -> None:
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1", metadata={"tags": ["parameters"]}),
                                               nbformat.v4.new_code_cell("raise ValueError('bad input')")])
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(notebook, tmp_path / "fails.ipynb")
    from toolkit.compare.reports import run_report
    from toolkit.errors import ToolkitError

    with pytest.raises(ToolkitError, match="failed in cell 2: ValueError: bad input"):
        run_report(tmp_path / "fails.ipynb", tmp_path / "out.html")
    assert (tmp_path / "out.ipynb").is_file() and not (tmp_path / "out.html").exists()


def test_notebooks_are_paired_and_stripped() -> None:
    import jupytext

    for script in sorted(Path(__file__).resolve().parents[2].joinpath("notebooks").glob("0[2-5]_*.py")):
        paired = nbformat.read(script.with_suffix(".ipynb"), as_version=4)
        source = jupytext.read(script)
        assert [c.source for c in paired.cells] == [c.source for c in source.cells], script.name
        assert all(not c.get("outputs") and c.get("execution_count") is None
                   for c in paired.cells if c.cell_type == "code"), script.name
        assert any("parameters" in c.metadata.get("tags", []) for c in paired.cells), script.name
