"""Fixtures of the reliability tests: a clean pull of the session devchain to compare with."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from liqtkwork import PROTOCOLS, rows_hash
from toolkit.pipeline import PullRequest, pull_async


@pytest.fixture(scope="session")
def clean_store(devchain, tmp_path_factory) -> Path:
    """A store filled by a clean, direct pull of both Aave markets of the session devchain."""
    path = tmp_path_factory.mktemp("clean") / "clean.duckdb"
    for protocol in PROTOCOLS:
        asyncio.run(pull_async(PullRequest(chain="devchain", protocol=protocol, rpc_url=devchain.url,
                                           store_path=path)))
    return path


@pytest.fixture(scope="session")
def clean_hash(clean_store: Path) -> str:
    """Content sha256 of the clean pull: what every faulted, killed or repaired pull must end with."""
    return rows_hash(clean_store)
