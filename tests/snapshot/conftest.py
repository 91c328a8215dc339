"""Fixtures of the positions-snapshot tests: one local chain per session (per xdist worker) holding a book of open
positions on Aave v3, Aave v2, Venus and Morpho Blue (:func:`snapwork.open_book`).

Tests that change chain state (new borrows for the incremental snapshot) take an EVM snapshot first and revert it.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from snapwork import Book, open_book
from toolkit.devchain import Devchain


@pytest.fixture(scope="session")
def book() -> Iterator[Book]:
    with Devchain.start() as devchain:
        yield open_book(devchain)
