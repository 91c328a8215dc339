"""Citations of datasets and figures from their manifests (``liqtk cite``).

A manifest (:class:`toolkit.store.manifest.Manifest`) is found next to what it describes: ``<file>.manifest.json``
beside a CSV / Parquet export or a PNG figure, ``_manifest.json`` at the root of a partitioned export, or inside
a Parquet file's key-value metadata (``liqtk_manifest``) when the sidecar is gone. The citation names the
dataset, what it holds (rows, chains, block range with the hashes of both ends), its content SHA-256 (the
identity of the rows whatever the file format), when and with which software version and commit it was
made, and the nodes it was read from. The software itself is cited from ``CITATION.cff``.
"""

from __future__ import annotations

import re
from pathlib import Path

import pyarrow.parquet as pq

from toolkit.errors import UserInputError
from toolkit.store.export import manifest_path
from toolkit.store.manifest import PARQUET_KEY, Manifest
from toolkit.store.partitioned import MANIFEST_NAME

#: Author of datasets and figures made with the toolkit (as in ``CITATION.cff``).
AUTHOR = "The liquidation-toolkit developers"


def load_manifest(path: str | Path) -> Manifest:
    """The manifest of ``path``: a manifest JSON file, a file with a sidecar manifest, a partitioned export
    directory, or a Parquet file carrying its manifest in its metadata."""
    path = Path(path)
    if path.is_dir():
        candidates = [path / MANIFEST_NAME]
    elif path.name.endswith(".json") and path.is_file():
        candidates = [path]
    else:
        candidates = [manifest_path(path)]
    for candidate in candidates:
        if candidate.is_file():
            try:
                return Manifest.from_json(candidate.read_text(encoding="utf-8"))
            except (ValueError, TypeError) as exc:
                raise UserInputError(f"{candidate} is not a liquidation-toolkit manifest ({exc})") from None
    if path.is_file() and path.suffix == ".parquet":
        embedded = (pq.read_schema(path).metadata or {}).get(PARQUET_KEY.encode())
        if embedded is not None:
            return Manifest.from_json(embedded)
    raise UserInputError(f"no manifest for {path}: expected {candidates[0].name} beside it (written by liqtk export, "
                         "liqtk export --partitioned or toolkit.compare.figures.save_figure)")


def _kind(manifest: Manifest) -> str:
    return "figure" if manifest.format == "png" else "dataset"


def _ranges(manifest: Manifest) -> str:
    return "; ".join(f"chain {r['chain_id']}, blocks {r['first_block']} ({r['first_block_hash']}) to "
                     f"{r['last_block']} ({r['last_block_hash']})" for r in manifest.block_ranges) or "no rows"


def _software(manifest: Manifest) -> str:
    commit = f", commit {manifest.git_commit}" if manifest.git_commit else ""
    return f"liquidation-toolkit {manifest.package_version}{commit}"


def citation_text(manifest: Manifest) -> str:
    """Plain-text citation of a dataset or figure."""
    year = manifest.created_at[:4]
    sources = ", ".join(manifest.node_client_versions) or "unknown node"
    hosts = ", ".join(manifest.rpc_hosts) or "unknown host"
    filters = ", ".join(f"{k}={v}" for k, v in manifest.filters.items()) or "none"
    return (f"{AUTHOR} ({year}). {manifest.name} [{_kind(manifest)}, {manifest.format}]. "
            f"{manifest.row_count} liquidations; {_ranges(manifest)}. Content SHA-256 {manifest.content_sha256}. "
            f"File {manifest.file_name or '-'} (SHA-256 {manifest.file_sha256 or '-'}). Query filters: {filters}. "
            f"Read from {sources} at {hosts}. Created {manifest.created_at} with {_software(manifest)}.")


def _bibtex_escape(text: str) -> str:
    return re.sub(r"([{}%&#_$])", r"\\\1", text)


def bibtex(manifest: Manifest) -> str:
    """BibTeX ``@misc`` entry of a dataset or figure; the key ends in the first 8 hex digits of its content hash."""
    key = re.sub(r"[^A-Za-z0-9]+", "_", manifest.name).strip("_") or "liquidations"
    fields = {
        "author": f"{{{AUTHOR}}}",
        "title": f"{{{_bibtex_escape(manifest.name)}}}: liquidation {_kind(manifest)}",
        "year": manifest.created_at[:4],
        "howpublished": f"Made with {_bibtex_escape(_software(manifest))}",
        "note": _bibtex_escape(f"{manifest.row_count} liquidations; {_ranges(manifest)}; content SHA-256 "
                               f"{manifest.content_sha256}; file {manifest.file_name or '-'} SHA-256 "
                               f"{manifest.file_sha256 or '-'}; created {manifest.created_at}"),
    }
    body = ",\n".join(f"  {name} = {{{value}}}" for name, value in fields.items())
    return f"@misc{{liqtk_{key}_{manifest.content_sha256[:8]},\n{body}\n}}"
