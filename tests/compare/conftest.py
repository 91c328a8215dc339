"""Fixtures of the comparison tests: one local chain (per session and xdist worker) with the Aave v3, Aave v2
and Morpho Blue scenarios pulled into a store (:func:`toolkit.devchain.sample.pull_sample`).

The chain is this directory's own, not the ``devchain`` of tests/conftest.py, because the Morpho scenario
changes chain state other tests read. A test that changes state more restores it with ``chain.snapshot()`` /
``chain.revert(id)``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from toolkit.devchain.sample import pull_sample
from toolkit.devchain import Devchain
from toolkit.store.db import Store


@pytest.fixture(scope="session")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Devchain, Path, dict[str, Any]]]:
    path = tmp_path_factory.mktemp("compare") / "liquidations.duckdb"
    with Devchain.start() as devchain:
        scenarios = pull_sample(devchain, path)
        yield devchain, path, scenarios


@pytest.fixture(scope="session")
def chain(sample: tuple[Devchain, Path, dict[str, Any]]) -> Devchain:
    return sample[0]


@pytest.fixture(scope="session")
def store_path(sample: tuple[Devchain, Path, dict[str, Any]]) -> Path:
    return sample[1]


@pytest.fixture(scope="session")
def scenarios(sample: tuple[Devchain, Path, dict[str, Any]]) -> dict[str, Any]:
    return sample[2]


@pytest.fixture(scope="session")
def liquidations(store_path: Path) -> pd.DataFrame:
    return Store(store_path, create=False).liquidations()
