"""Provenance stamped on runs and exports: run ids and the git commit of the toolkit checkout."""

from __future__ import annotations

import secrets
import subprocess
from datetime import UTC, datetime
from pathlib import Path


#: Root of the checkout when the toolkit runs from a source tree (``<root>/toolkit/__init__.py``).
_CHECKOUT = Path(__file__).resolve().parents[2]


def git_commit() -> str | None:
    """Full hash of ``HEAD`` of the checkout the toolkit runs from, or ``None``.

    ``None`` when the package is not in a git checkout (an installed wheel), when the checkout has
    no commit yet, or when ``git`` is not installed. Only a ``.git`` directly in the checkout root
    counts, so an installed package inside some other repository is not stamped with its commit.
    """
    if not (_CHECKOUT / ".git").exists():
        return None
    try:
        done = subprocess.run(
            ["git", "-C", str(_CHECKOUT), "rev-parse", "--verify", "--quiet", "HEAD"],
            capture_output=True, text=True, timeout=10, check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    commit = done.stdout.strip()
    return commit if done.returncode == 0 and commit else None


def new_run_id() -> str:
    """A unique, sortable run id: UTC start time plus 8 random hex digits, e.g. ``20260101T120000Z-1f2e3d4c``."""
    return f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{secrets.token_hex(4)}"
