"""``liqtk status``, ``liqtk export`` and ``liqtk upgrade``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from toolkit.cli import output
from toolkit.cli.options import QuietOption, StoreOption
from toolkit.errors import UserInputError


def _open(store: Path | None):
    from toolkit.settings import resolve_store_path
    from toolkit.store.db import Store

    return Store(resolve_store_path(store), create=False)


def status(store: StoreOption = None, quiet: QuietOption = False) -> None:
    """What the store holds per chain/protocol/deployment, checkpoints, and the last runs."""
    output.configure(quiet=quiet)
    opened = _open(store)
    rows = opened.status()
    runs = [{**run, "report": json.loads(run["report_json"]) if run["report_json"] else None}
            for run in opened.runs(limit=5)]
    if quiet:
        output.result({"store": str(opened.path), "deployments": rows,
                       "runs": [{k: v for k, v in run.items() if k != "report_json"} for run in runs]})
        return
    table = Table("chain", "protocol", "deployment", "rows", "liquidation blocks", "checkpoint", "last run",
                  title=f"store {opened.path}")
    for r in rows:
        blocks = (f"{r['first_liquidation_block']}..{r['last_liquidation_block']}"
                  if r["first_liquidation_block"] is not None else "-")
        checkpoint = (f"{r['first_block']}..{r['last_block']} ({(r['last_block_hash'] or '')[:10]}…)"
                      if r["last_block"] is not None else "-")
        run = f"{r['last_run_status']} {r['last_run_finished_at'] or ''}".strip() if r["last_run_id"] else "-"
        table.add_row(str(r["chain_id"]), r["protocol"], r["deployment"], str(r["rows"]), blocks, checkpoint, run)
    output.table(table)
    recent = Table("run", "status", "chain", "protocol", "blocks", "rows added", "retries", "faults", "reorgs",
                   "node", "finished", "error", title="recent runs (reports: liqtk status --quiet)")
    for r in runs:
        report = r["report"] or {}
        faults = report.get("rpc", {}).get("faults", {})
        read = [f"{d['from_block']}..{d['to_block']}" for d in report.get("deployments", [])
                if d.get("from_block") is not None]
        recent.add_row(r["run_id"], r["status"], str(r["chain_id"]), r["protocol"] or "-",
                       ", ".join(read) or "-", str(r["rows_added"] if r["rows_added"] is not None else "-"),
                       str(report.get("rpc", {}).get("retries", "-")),
                       ", ".join(f"{kind} {n}" for kind, n in faults.items()) or "-",
                       str(sum(len(d.get("reorgs", [])) for d in report.get("deployments", []))),
                       r["node_client_version"] or "-", str(r["finished_at"] or "-"), r["error"] or "")
    output.table(recent)


def export(
    out: Annotated[Optional[Path], typer.Option(help="Output file; the manifest is written beside it as <out>.manifest.json.")] = None,
    partitioned: Annotated[Optional[Path], typer.Option("--partitioned", help="Write Hive-partitioned Parquet (chain_id=/protocol=/month=) under this directory, manifest in DIR/_manifest.json; instead of --out.")] = None,
    format: Annotated[str, typer.Option("--format", help="csv or parquet.")] = "parquet",
    chain_id: Annotated[Optional[int], typer.Option("--chain-id", help="Only this chain id.")] = None,
    protocol: Annotated[Optional[str], typer.Option(help="Only this protocol.")] = None,
    from_block: Annotated[Optional[int], typer.Option("--from-block", help="First block (inclusive).")] = None,
    to_block: Annotated[Optional[int], typer.Option("--to-block", help="Last block (inclusive).")] = None,
    store: StoreOption = None,
    quiet: QuietOption = False,
) -> None:
    """Export liquidations (canonical order) with a citable manifest (content sha256, block range, provenance)."""
    from toolkit.store.export import export_liquidations, manifest_path
    from toolkit.store.partitioned import MANIFEST_NAME, export_partitioned

    output.configure(quiet=quiet)
    if (out is None) == (partitioned is None):
        raise UserInputError("give either --out FILE or --partitioned DIR")
    filters = {"chain_id": chain_id, "protocol": protocol, "from_block": from_block, "to_block": to_block}
    if partitioned is not None:
        manifest = export_partitioned(_open(store), partitioned, **filters)
        target, manifest_file = partitioned, partitioned / MANIFEST_NAME
    else:
        if format not in ("csv", "parquet"):
            raise UserInputError(f"--format {format!r} is not csv or parquet")
        manifest = export_liquidations(_open(store), out, format, **filters)
        target, manifest_file = out, manifest_path(out)
    record = {"event": "export.finished", "out": str(target), "manifest": str(manifest_file),
              "rows": manifest.row_count, "content_sha256": manifest.content_sha256}
    output.result(record if quiet else f"wrote {manifest.row_count} rows to {target} "
                                       f"(content sha256 {manifest.content_sha256}); manifest {manifest_file}")


def upgrade(store: StoreOption = None, quiet: QuietOption = False) -> None:
    """Upgrade a store of an earlier schema version to this toolkit's, keeping everything it holds.

    Missing tables are created and columns added since are null in the rows stored before (their segment
    files rewritten); a version-2 store's rows move into Parquet segment files. A store of this version is
    left as it is.
    """
    from toolkit.settings import resolve_store_path
    from toolkit.store.db import Store
    from toolkit.store.schema import SCHEMA_VERSION

    output.configure(quiet=quiet)
    path = resolve_store_path(store)
    opened = Store(path, create=False, check_version=False)
    with opened.writer() as writer:
        moved = writer.upgrade()
    output.result({"event": "store.upgraded", "store": str(path), "schema_version": SCHEMA_VERSION, "rows": moved}
                  if quiet else f"store {path} has schema version {SCHEMA_VERSION} ({moved:,} rows moved)")
