"""Shared pytest fixtures.

``devchain`` / ``devchain_liquidations``: one local anvil chain per test session (per xdist worker)
with real Aave v3 and v2 markets and the demo liquidations already done
(:func:`toolkit.devchain.run_demo_scenario`). The node is stopped by PID when the session ends.
Tests using them should be marked ``@pytest.mark.node``. A test that changes chain state must
restore it (``devchain.snapshot()`` / ``devchain.revert(id)``).

``devchain_v36`` / ``devchain_v36_liquidations``: another chain per session (per worker) started with
``Devchain.start(aave_v36=True)`` (Aave v3.6 from npm aave-v3-origin next to v3.0; compiled once per
machine and cached) and :func:`toolkit.devchain.aave_versions_scenario.run_versions_scenario` done: the same
five liquidations on v3.0 and v3.6. Keep tests using it in one ``xdist_group`` so one worker starts it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from toolkit.devchain import Devchain, run_demo_scenario
from toolkit.devchain.aave_versions_scenario import run_versions_scenario


@pytest.fixture(scope="session")
def _devchain_with_demo() -> Iterator[tuple[Devchain, list[dict[str, Any]]]]:
    with Devchain.start() as devchain:
        yield devchain, run_demo_scenario(devchain)


@pytest.fixture(scope="session")
def devchain(_devchain_with_demo: tuple[Devchain, list[dict[str, Any]]]) -> Devchain:
    """A running :class:`~toolkit.devchain.Devchain` after the demo scenario (finalized head)."""
    return _devchain_with_demo[0]


@pytest.fixture(scope="session")
def devchain_liquidations(
    _devchain_with_demo: tuple[Devchain, list[dict[str, Any]]],
) -> list[dict[str, Any]]:
    """The list :func:`~toolkit.devchain.run_demo_scenario` returned (one dict per liquidation)."""
    return _devchain_with_demo[1]


@pytest.fixture(scope="session")
def _devchain_v36_with_scenario() -> Iterator[tuple[Devchain, list[dict[str, Any]]]]:
    with Devchain.start(aave_v36=True) as devchain:
        yield devchain, run_versions_scenario(devchain)


@pytest.fixture(scope="session")
def devchain_v36(_devchain_v36_with_scenario: tuple[Devchain, list[dict[str, Any]]]) -> Devchain:
    """A :class:`~toolkit.devchain.Devchain` with Aave v3.6 (``devchain.v36``) after the version scenario."""
    return _devchain_v36_with_scenario[0]


@pytest.fixture(scope="session")
def devchain_v36_liquidations(
    _devchain_v36_with_scenario: tuple[Devchain, list[dict[str, Any]]],
) -> list[dict[str, Any]]:
    """The list :func:`~toolkit.devchain.aave_versions_scenario.run_versions_scenario` returned."""
    return _devchain_v36_with_scenario[1]
