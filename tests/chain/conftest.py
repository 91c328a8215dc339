"""Fixtures of the toolkit.chain tests: one anvil node with a few thousand emitter logs.

``log_chain`` deploys two :mod:`~toolkit.devchain.emitter` contracts (compiled with npm solc) and fills a
few hundred blocks with an uneven mix of empty blocks, blocks with several emitting transactions and
one dense block, then records the reference answer: one direct ``eth_getLogs`` on anvil.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from toolkit.chain.logs import LogFilter, reset_endpoint_limits
from toolkit.chain.rpc import RpcClient
from toolkit.devchain.anvil import AnvilNode, start_anvil
from toolkit.devchain.chain import Chain
from toolkit.devchain.emitter import LIQUIDATION_CALL_TOPIC0, deploy_emitter, emit_many_tx

#: Logs in the one dense block.
DENSE_LOGS = 400


@dataclass(frozen=True)
class LogChain:
    """The node and what was emitted on it."""

    url: str
    #: The emitter the reader filters on; a second emitter adds logs that must be filtered out.
    emitter: str
    other_emitter: str
    #: Half-open block range holding every emitted log.
    start: int
    end: int
    #: Block holding ``dense_logs`` logs of ``emitter`` (more than the result caps tests configure).
    dense_block: int
    dense_logs: int
    #: One direct eth_getLogs over [start, end) with :attr:`filter` — the reference answer.
    logs: list[dict[str, Any]]

    @property
    def filter(self) -> LogFilter:
        return LogFilter(addresses=(self.emitter,), topics0=(LIQUIDATION_CALL_TOPIC0,))


@pytest.fixture(scope="session")
def chain_node() -> Iterator[AnvilNode]:
    """An anvil node for the chain tests (stopped by PID at the end of the session)."""
    with start_anvil() as node:
        yield node


@pytest.fixture(scope="session")
async def log_chain(chain_node: AnvilNode) -> LogChain:
    chain = Chain(chain_node.url)
    emitter, other = deploy_emitter(chain), deploy_emitter(chain)
    rng = random.Random(20260921)
    async with RpcClient(chain_node.url) as client:
        start = int(await client.call("eth_blockNumber"), 16) + 1
        await client.call("evm_setAutomine", [False])
        dense_block = None
        for index in range(240):
            if rng.random() < 0.2:
                await client.call("anvil_mine", [hex(rng.randint(1, 6))])
            txs = [emit_many_tx(emitter, chain.deployer, rng.randint(1, 30), rng.getrandbits(64))
                   for _ in range(rng.choice((0, 1, 1, 2, 3)))]
            if rng.random() < 0.3:
                txs.insert(rng.randint(0, len(txs)), emit_many_tx(other, chain.deployer, 5, index))
            if index == 120:
                txs.append(emit_many_tx(emitter, chain.deployer, DENSE_LOGS, 1))
            for tx in txs:
                await client.call("eth_sendTransaction", [tx])
            await client.call("evm_mine")
            if index == 120:
                dense_block = int(await client.call("eth_blockNumber"), 16)
        await client.call("evm_setAutomine", [True])
        end = int(await client.call("eth_blockNumber"), 16) + 1
        flt = LogFilter(addresses=(emitter,), topics0=(LIQUIDATION_CALL_TOPIC0,))
        logs = await client.call("eth_getLogs", [flt.params(start, end)])
    assert len(logs) > 3000 and {log["address"] for log in logs} == {emitter}
    return LogChain(chain_node.url, emitter, other, start, end, dense_block, DENSE_LOGS, logs)


@pytest.fixture(autouse=True)
def _fresh_endpoint_limits() -> Iterator[None]:
    """Proxies reuse ports, so spans learned by one test must not leak into the next."""
    reset_endpoint_limits()
    yield
    reset_endpoint_limits()
