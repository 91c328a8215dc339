"""``liqtk status``, ``liqtk export``, ``liqtk upgrade`` and ``liqtk verify``."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from toolkit.cli import output
from toolkit.cli.options import (ChainFilterOption, FromBlockOption, JsonOption, ProtocolFilterOption, QuietOption,
                                 StoreOption, ToBlockOption)
from toolkit.errors import UserInputError


def _open(store: Path | None):
    from toolkit.settings import resolve_store_path
    from toolkit.store.db import Store

    return Store(resolve_store_path(store), create=False)


def status(chain: ChainFilterOption = None, protocol: ProtocolFilterOption = None, store: StoreOption = None,
           json_output: JsonOption = False, quiet: QuietOption = False) -> None:
    """What the store holds per chain/protocol/deployment, checkpoints, and the last runs.

    The JSON result holds every run's full report (requests, retries, faults, reorganizations, errors).
    """
    from toolkit.settings import chain_id_of

    from toolkit.reading import check_protocol

    output.configure(quiet=quiet, json=json_output)
    chain_id = chain_id_of(chain) if chain is not None else None
    protocol = check_protocol(protocol, "--protocol") if protocol is not None else None
    opened = _open(store)

    def wanted(row: dict) -> bool:
        return ((chain_id is None or row["chain_id"] == chain_id)
                and (protocol is None or row["protocol"] == protocol))
    rows = [r for r in opened.status() if wanted(r)]
    runs = [{**run, "report": json.loads(run["report_json"]) if run["report_json"] else None}
            for run in opened.runs(limit=5) if wanted(run)]
    if output.wants_json():
        output.result({"store": str(opened.path), "deployments": rows,
                       "runs": [{k: v for k, v in run.items() if k != "report_json"} for run in runs]})
        return
    table = Table("chain", "protocol", "deployment", "rows", "exact state", "liquidation blocks", "checkpoint",
                  "last run", title=f"store {opened.path}")
    for r in rows:
        blocks = (f"{r['first_liquidation_block']}..{r['last_liquidation_block']}"
                  if r["first_liquidation_block"] is not None else "-")
        checkpoint = (f"{r['first_block']}..{r['last_block']} ({(r['last_block_hash'] or '')[:10]}…)"
                      if r["last_block"] is not None else "-")
        run = f"{r['last_run_status']} {r['last_run_finished_at'] or ''}".strip() if r["last_run_id"] else "-"
        table.add_row(str(r["chain_id"]), r["protocol"], r["deployment"], str(r["rows"]), _exact_share(r), blocks,
                      checkpoint, run)
    output.table(table)
    recent = Table("run", "status", "chain", "protocol", "blocks", "rows added", "retries", "faults", "reorgs",
                   "node", "finished", "error", title="recent runs (full reports: liqtk status --json)")
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


def _exact_share(row: dict) -> str:
    """The share of a deployment's checked rows whose state_check is exact, with the counts (``-``: none checked)."""
    if not row["state_checked"]:
        return "-"
    share = f"{100 * row['state_exact'] / row['state_checked']:.1f}% ({row['state_exact']}/{row['state_checked']})"
    return share + (f", {row['state_mismatch']} mismatch" if row["state_mismatch"] else "")


def export(
    out: Annotated[Optional[str], typer.Option(help="Output file, or - for stdout; the manifest is written beside a file as <out>.manifest.json.")] = None,
    partitioned: Annotated[Optional[Path], typer.Option("--partitioned", help="Write Hive-partitioned Parquet (chain_id=/protocol=/month=) under this directory, manifest in DIR/_manifest.json; instead of --out.")] = None,
    format: Annotated[str, typer.Option("--format", help="csv or parquet.")] = "parquet",
    chain: ChainFilterOption = None,
    protocol: ProtocolFilterOption = None,
    from_block: FromBlockOption = None,
    to: ToBlockOption = None,
    store: StoreOption = None,
    json_output: JsonOption = False,
    quiet: QuietOption = False,
) -> None:
    """Export liquidations (canonical order) with a citable manifest (content sha256, block range, provenance).

    CSV: one header line, timestamps in ISO-8601 UTC (2024-08-05T12:00:00Z), raw amounts as exact integers.
    With --out - the data goes to stdout and the manifest's summary to stderr.
    """
    from toolkit.settings import chain_id_of
    from toolkit.store.export import export_liquidations, export_to_stream, manifest_path
    from toolkit.store.partitioned import MANIFEST_NAME, export_partitioned

    output.configure(quiet=quiet, json=json_output)
    if (out is None) == (partitioned is None):
        raise UserInputError("give either --out FILE (or - for stdout) or --partitioned DIR")
    from toolkit.reading import check_protocol

    filters = {"chain_id": chain_id_of(chain) if chain is not None else None,
               "protocol": check_protocol(protocol, "--protocol") if protocol is not None else None,
               "from_block": from_block, "to_block": to}
    if partitioned is not None:
        with output.activity("export"):
            manifest = export_partitioned(_open(store), partitioned, **filters)
        target, manifest_file = str(partitioned), str(partitioned / MANIFEST_NAME)
    else:
        if format not in ("csv", "parquet"):
            raise UserInputError(f"--format {format!r} is not csv or parquet")
        if out == "-":
            sys.stdout.flush()
            manifest = export_to_stream(_open(store), sys.stdout.buffer, format, **filters)  # type: ignore[arg-type]
            output.log("export.finished", out="-", rows=manifest.row_count, content_sha256=manifest.content_sha256)
            return
        with output.activity("export"):
            manifest = export_liquidations(_open(store), Path(out), format, **filters)
        target, manifest_file = out, str(manifest_path(Path(out)))
    record = {"event": "export.finished", "out": target, "manifest": manifest_file,
              "rows": manifest.row_count, "content_sha256": manifest.content_sha256}
    output.emit(record, f"wrote {manifest.row_count} rows to {target} (content sha256 {manifest.content_sha256}); "
                        f"manifest {manifest_file}")


def upgrade(store: StoreOption = None, json_output: JsonOption = False, quiet: QuietOption = False) -> None:
    """Upgrade a store of an earlier schema version to this toolkit's, keeping everything it holds.

    Missing tables are created and columns added since are null in the rows stored before (their segment
    files rewritten); a version-2 store's rows move into Parquet segment files. A store of this version is
    left as it is.
    """
    from toolkit.settings import resolve_store_path
    from toolkit.store.db import Store
    from toolkit.store.schema import SCHEMA_VERSION

    output.configure(quiet=quiet, json=json_output)
    path = resolve_store_path(store)
    opened = Store(path, create=False, check_version=False)
    with opened.writer() as writer, output.activity("upgrade"):
        moved = writer.upgrade()
    output.emit({"event": "store.upgraded", "store": str(path), "schema_version": SCHEMA_VERSION, "rows": moved},
                f"store {path} has schema version {SCHEMA_VERSION} ({moved:,} rows moved)")


def verify(
    store: StoreOption = None,
    repair: Annotated[bool, typer.Option("--repair", help="Unlist the damaged segment files and move their deployments' checkpoints back before them; prints the liqtk pull that reads those blocks again.")] = False,
    json_output: JsonOption = False,
    quiet: QuietOption = False,
) -> None:
    """Check every segment file of the store against what was recorded with it (size, SHA-256, rows, columns);
    --repair unlists damaged ones so that the next pull reads their blocks again.

    Exit 0 when every file matches (or, with --repair, once the damaged ones are unlisted), 1 when one does not.
    """
    from toolkit.protocols import registry
    from toolkit.settings import resolve_store_path
    from toolkit.store.db import Store
    from toolkit.store.integrity import damage_error, listed_totals

    output.configure(quiet=quiet, json=json_output)
    opened = Store(resolve_store_path(store), create=False, check_segments=False)
    damages = opened.verify(full=True)
    if not damages:
        files, rows = listed_totals(opened)
        output.emit({"event": "store.verified", "store": str(opened.path), "segments": files, "rows": rows,
                     "damaged": []},
                    f"store {opened.path}: {files} segment files, {rows:,} rows; sizes, SHA-256, row counts and "
                    "columns match what was recorded")
        return
    if not repair:
        raise damage_error(opened.path, damages)
    with opened.writer() as writer:
        rewound = writer.repair(damages)
    names = {chain.chain_id: name for name, chain in registry().chains.items()}
    commands = [f"liqtk pull --chain {names.get(r.chain_id, r.chain_id)} --protocol {r.protocol} --market "
                f"{r.deployment} --store {opened.path}" for r in rewound]

    def text() -> None:
        for damage in damages:
            output.result(f"unlisted: {damage.describe()} ({damage.rows()})")
        for r, command in zip(rewound, commands, strict=True):
            output.result(f"{r.protocol}/{r.deployment} reads again from block {r.from_block}: {command}")

    output.emit({"event": "store.repaired", "store": str(opened.path),
                 "damaged": [f"{d.describe()} ({d.rows()})" for d in damages],
                 "pull_again": [{"chain_id": r.chain_id, "protocol": r.protocol, "deployment": r.deployment,
                                 "from_block": r.from_block, "command": c}
                                for r, c in zip(rewound, commands, strict=True)]}, text)
