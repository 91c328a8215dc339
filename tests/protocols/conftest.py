"""Fixtures of the replay tests: a module that sets ``FIXTURE`` (a replay fixture file) and ``PROTOCOL``
(the registry protocol its logs belong to) gets, once per module, a local anvil with chain id 1
(``node_url``), the fixture replayed on it (``replay``) and the liquidations a pull of ``PROTOCOL`` on the
``ethereum`` registry stores from it (``frame``). A module can define its own fixtures of these names."""

from __future__ import annotations

from collections.abc import Iterator

import pandas as pd
import pytest
import pytest_asyncio

from toolkit.devchain.anvil import start_anvil
from toolkit.devchain.chain import Chain
from toolkit.devchain.replay import ReplayResult, Replayer, load_fixture
from toolkit.pipeline import PullRequest, pull_async
from toolkit.store.db import Store


@pytest.fixture(scope="module")
def node_url() -> Iterator[str]:
    with start_anvil(chain_id=1) as node:
        yield node.url


@pytest.fixture(scope="module")
def replay(node_url: str, request: pytest.FixtureRequest) -> ReplayResult:
    chain = Chain(node_url)
    result = Replayer(chain).run(load_fixture(request.module.FIXTURE).steps)
    chain.mine(2)
    return result


@pytest_asyncio.fixture(scope="module")
async def frame(node_url: str, replay: ReplayResult, request: pytest.FixtureRequest,
                tmp_path_factory: pytest.TempPathFactory) -> pd.DataFrame:
    protocol = request.module.PROTOCOL
    path = tmp_path_factory.mktemp(protocol) / "s.duckdb"
    await pull_async(PullRequest(chain="ethereum", protocol=protocol, rpc_url=node_url, store_path=path,
                                 from_block=0, to=replay.last_block))
    return Store(path, create=False).liquidations()
