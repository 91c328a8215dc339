"""Fixtures of the reliability tests: a clean pull of the session devchain to compare with, and a node of many
emitter logs (with the hash of a clean pull of them)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from liqtkwork import PROTOCOLS, liqtk, rows_hash
from toolkit.devchain.anvil import start_anvil
from toolkit.devchain.chain import Chain
from toolkit.devchain.emitter import deploy_emitter, emit_many_tx
from toolkit.pipeline import PullRequest, pull_async
from toolkit.store.db import Store


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


@dataclass(frozen=True)
class ManyLogs:
    """A local node holding ``count`` ``LiquidationCall`` logs of ``emitter`` in blocks ``[first_block, last_block]``,
    between empty blocks and blocks where only another emitter logs the same event."""

    url: str
    emitter: str
    first_block: int
    last_block: int
    count: int

    def pull_args(self, url: str, store: Path, *extra: object) -> list[str]:
        """``liqtk pull`` of these logs from ``url`` (the node or a proxy in front of it) into ``store``."""
        return ["pull", "--chain", "devchain", "--protocol", "aave-v3", "--address", self.emitter, "--no-state",
                "--from-block", str(self.first_block), "--to", str(self.last_block), "--rpc", url,
                "--store", str(store), "--quiet", *map(str, extra)]


#: Blocks of :func:`many_logs`; every third holds two transactions of LOGS_PER_TX logs each.
MANY_LOGS_BLOCKS, LOGS_PER_TX = 72, 250


@pytest.fixture(scope="session")
def many_logs() -> Iterator[ManyLogs]:
    """A node of its own with 12,000 emitter logs (24 blocks of 500) among empty blocks and blocks of another
    emitter: dense enough that a 1,000-log cap cuts answers, sparse enough that blooms have blocks to rule out."""
    with start_anvil(extra_args=["--gas-limit", "100000000"]) as node:
        chain = Chain(node.url)
        emitter, other = deploy_emitter(chain), deploy_emitter(chain)
        request = chain.w3.manager.request_blocking
        request("evm_setAutomine", [False])
        first = chain.w3.eth.block_number + 1
        count = 0
        for index in range(MANY_LOGS_BLOCKS):
            if index % 3 == 0:
                for seed in range(2):
                    tx = emit_many_tx(emitter, chain.deployer, LOGS_PER_TX, seed=2 * index + seed)
                    request("eth_sendTransaction", [{**tx, "gas": hex(2_000_000 + 5_000 * LOGS_PER_TX)}])
                    count += LOGS_PER_TX
            elif index % 3 == 1:
                tx = emit_many_tx(other, chain.deployer, 20, seed=index)
                request("eth_sendTransaction", [{**tx, "gas": hex(2_000_000)}])
            request("evm_mine", [])
        request("evm_setAutomine", [True])
        yield ManyLogs(node.url, emitter, first, chain.w3.eth.block_number, count)


@pytest.fixture(scope="session")
def many_logs_hash(many_logs: ManyLogs, tmp_path_factory: pytest.TempPathFactory) -> str:
    """Content sha256 of a pull of :func:`many_logs` straight from the node."""
    store = tmp_path_factory.mktemp("many") / "clean.duckdb"
    done = liqtk(*many_logs.pull_args(many_logs.url, store))
    assert done.returncode == 0, done.stderr
    assert Store(store, create=False).liquidations_table().num_rows == many_logs.count
    return rows_hash(store)
