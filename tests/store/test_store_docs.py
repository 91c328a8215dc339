"""docs/schema.md is the output of ``python -m toolkit.store.schema``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from toolkit.store import schema

DOC = Path(__file__).resolve().parents[2] / "docs" / "schema.md"


def test_schema_doc_is_in_sync() -> None:
    assert DOC.read_text(encoding="utf-8") == schema.markdown(), (
        "docs/schema.md is stale: run `python -m toolkit.store.schema > docs/schema.md`")


def test_module_prints_the_doc() -> None:
    printed = subprocess.run([sys.executable, "-m", "toolkit.store.schema"], capture_output=True, text=True,
                             check=True, cwd=DOC.parents[1]).stdout
    assert printed == schema.markdown()
    for table in schema.TABLES:
        assert f"## `{table}`" in printed
    assert "## Content hash of an export" in printed and "## Protocol fee" in printed
