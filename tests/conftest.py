"""Shared pytest fixtures.

``devchain`` / ``devchain_liquidations``: one local anvil chain per test session (per xdist worker)
with real Aave v3 and v2 markets and the demo liquidations already done
(:func:`toolkit.devchain.run_demo_scenario`). The node is stopped by PID when the session ends.
Tests using them should be marked ``@pytest.mark.node``. A test that changes chain state must
restore it (``devchain.snapshot()`` / ``devchain.revert(id)``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from toolkit.devchain import Devchain, run_demo_scenario


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
