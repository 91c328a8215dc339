"""Run ids and the git commit of the toolkit checkout."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from toolkit.store import provenance


def test_run_ids_are_unique_and_start_with_utc_time() -> None:
    ids = {provenance.new_run_id() for _ in range(100)}
    assert len(ids) == 100
    assert all(re.fullmatch(r"\d{8}T\d{6}Z-[0-9a-f]{8}", run_id) for run_id in ids)


def test_git_commit_outside_a_checkout(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(provenance, "_CHECKOUT", tmp_path)
    assert provenance.git_commit() is None


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_git_commit_of_a_checkout(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(tmp_path), *args], capture_output=True, text=True, check=True).stdout

    git("init", "-q")
    monkeypatch.setattr(provenance, "_CHECKOUT", tmp_path)
    assert provenance.git_commit() is None  # no commit yet
    (tmp_path / "f").write_text("x")
    git("add", "f")
    git("-c", "user.name=t", "-c", "user.email=t@example.invalid", "commit", "-q", "-m", "m")
    assert provenance.git_commit() == git("rev-parse", "HEAD").strip()
