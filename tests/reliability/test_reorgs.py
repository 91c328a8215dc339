"""Reorganizations of the real local chain while ``pull --to latest`` reads it, 1 to 10 blocks deep
around the checkpoint: the pull finds the change from the stored block hashes, rewinds to the newest
unchanged block, reads again, and ends exactly as a clean pull of the final chain.

Each round starts from the same base (BTC crashed to $20,000 so that two borrowers stay
liquidatable), mines branch A (one block per action: a liquidation on Aave v3 or v2, or an empty
block) and pulls it one block per chunk. When the checkpoint reaches block ``c`` the chain is
reverted to block ``c - depth`` (``evm_revert``) and branch B is mined instead: a block holding a
transfer A never has, then A's remaining actions one block later, the last one dropped, so the
liquidations above the fork point move or disappear.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest

from liqtkwork import PROTOCOLS, assert_on_chain, rows_hash
from toolkit.devchain import MAX_UINT256, Devchain, run_demo_scenario, to_raw
from toolkit.devchain.assets import USD_DECIMALS, usd_to_eth_answer
from toolkit.devchain.scenario import ETH_USD, LIQUIDATOR_INDEX
from toolkit.pipeline import ProgressCallback, PullRequest, PullResult, pull_async
from toolkit.store.db import Store

pytestmark = [pytest.mark.node, pytest.mark.slow, pytest.mark.xdist_group("reorgs")]

#: Branch A, one block each: "v3"/"v2" a 100 USDC liquidation of the market's borrower, "-" no transaction.
ACTIONS = ("v3", "-", "v2", "v3", "-", "-", "v2", "-", "v3", "v2", "-", "v3")
#: Borrowers left liquidatable after the base's price crash (scenario accounts 2 and 4).
BORROWERS = {"v3": 2, "v2": 4}


@dataclass
class ReorgChain:
    """The chain of this module, its base snapshot, and a store that follows it from round to round."""

    devchain: Devchain
    base_snapshot: str
    base: int
    store: Path
    #: The fork point of the last round (the next round's pull must rewind exactly there).
    last_fork: int | None = None

    def restart(self) -> None:
        """Back to the base state (a snapshot is used once, so take it again)."""
        self.devchain.revert(self.base_snapshot)
        self.base_snapshot = self.devchain.snapshot()

    def mine(self, actions: tuple[str, ...]) -> list[str]:
        """One block per action; the snapshot taken before each (so ``[i]`` is at height ``base + i``
        when mined from the base)."""
        devchain, snapshots = self.devchain, []
        liquidator = devchain.accounts[LIQUIDATOR_INDEX]
        for action in actions:
            snapshots.append(devchain.snapshot())
            if action == "-":
                devchain.mine(1)
            elif action == "x":
                devchain.chain.send(devchain.accounts[7], "0x", to=devchain.accounts[8])
            else:
                market = devchain.v3 if action == "v3" else devchain.v2
                call = market.pool.functions.liquidationCall(
                    market.reserve("WETH").underlying, market.reserve("USDC").underlying,
                    devchain.accounts[BORROWERS[action]], devchain.to_raw("USDC", "100"), False)
                devchain.chain.transact(call, liquidator)
        return snapshots


def pull(chain: ReorgChain, store: Path, protocol: str, progress: ProgressCallback | None = None,
         **options: object) -> PullResult:
    return asyncio.run(pull_async(PullRequest(chain="devchain", protocol=protocol, rpc_url=chain.devchain.url,
                                              store_path=store, **options), progress))


def clean_hash(chain: ReorgChain, directory: Path, to_block: int) -> str:
    """Content hash of a clean pull of the chain as it is now, up to ``to_block``."""
    store = directory / f"clean-{to_block}-{chain.devchain.chain.w3.eth.get_block(to_block).hash.hex()[:8]}.duckdb"
    for protocol in PROTOCOLS:
        pull(chain, store, protocol, to=to_block)
    return rows_hash(store)


@pytest.fixture(scope="module")
def reorg_chain(tmp_path_factory) -> Iterator[ReorgChain]:
    with Devchain.start() as devchain:
        run_demo_scenario(devchain)
        crash = Decimal(20_000)
        devchain.v3.set_price("WBTC", to_raw(crash, USD_DECIMALS))
        devchain.v2.set_price("WBTC", usd_to_eth_answer(crash, ETH_USD))
        for market in (devchain.v3, devchain.v2):
            market.approve(devchain.accounts[LIQUIDATOR_INDEX], "USDC", MAX_UINT256)
        base = devchain.chain.w3.eth.block_number
        chain = ReorgChain(devchain, devchain.snapshot(), base, tmp_path_factory.mktemp("reorgs") / "s.duckdb")
        for protocol in PROTOCOLS:  # the history below the base, read the usual way
            pull(chain, chain.store, protocol, to=base)
        yield chain


@pytest.mark.parametrize("depth", range(1, 11))
def test_a_reorg_during_a_latest_pull_is_repaired(reorg_chain: ReorgChain, depth: int, tmp_path) -> None:
    chain, w3 = reorg_chain, reorg_chain.devchain.chain.w3
    chain.restart()
    snapshots = chain.mine(ACTIONS)
    head = chain.base + len(ACTIONS)
    at = chain.base + min(len(ACTIONS) - 1, depth + depth % 3)  # checkpoint when the chain reorganizes
    fork = at - depth  # last block kept
    fired: list[int] = []

    def reorganize(done: int, total: int, rows: int) -> None:
        checkpoint = Store(chain.store, create=False).checkpoint(31337, "aave-v3", "devchain").last_block
        if not fired and checkpoint >= at:
            chain.devchain.revert(snapshots[fork - chain.base])
            chain.mine(("x", *ACTIONS[fork - chain.base:-1]))
            fired.append(checkpoint)

    # the previous round's branch B is gone too: the newest stored block the node still has is where
    # the pull must rewind first (at most the previous fork point; lower if branch A was mined anew
    # with other timestamps)
    stored = Store(chain.store, create=False).newest_blocks(31337, limit=64)
    unchanged = max(n for n, h in stored if w3.eth.get_block(n).hash.to_0x_hex() == h)
    result = pull(chain, chain.store, "aave-v3", reorganize, to="latest", blocks_per_request=1)
    assert fired == [at] and w3.eth.block_number == head
    reorgs = result.deployments[0].reorgs
    assert len(reorgs) == (2 if unchanged < stored[0][0] else 1), reorgs
    if len(reorgs) == 2:
        assert chain.base <= reorgs[0]["rewound_to"] == unchanged <= chain.last_fork
    moved = ACTIONS[fork - chain.base:at - chain.base].count("v3")  # v3 rows committed above the fork
    assert (reorgs[-1]["rewound_to"], reorgs[-1]["rows_deleted"]) == (fork, moved), reorgs
    pull(chain, chain.store, "aave-v2", to="latest", blocks_per_request=4)
    chain.last_fork = fork
    assert_on_chain(chain.store, w3, above=chain.base)
    assert rows_hash(chain.store) == clean_hash(chain, tmp_path, head)


def test_with_the_default_finalized_bound_nothing_unsafe_is_written(reorg_chain: ReorgChain, tmp_path) -> None:
    """Reorganize the two blocks above ``finalized`` during a default pull: nothing needs repair."""
    chain, w3 = reorg_chain, reorg_chain.devchain.chain.w3
    chain.restart()
    snapshots = chain.mine(ACTIONS)
    finalized = w3.eth.get_block("finalized").number
    assert finalized == chain.base + len(ACTIONS) - 2
    store = tmp_path / "s.duckdb"
    for protocol in PROTOCOLS:
        pull(chain, store, protocol, to=chain.base)
    newest: list[int] = []

    def reorganize_unsafe_blocks(done: int, total: int, rows: int) -> None:
        newest.append(Store(store, create=False).newest_blocks(31337)[0][0])
        assert newest[-1] <= w3.eth.get_block("finalized").number
        if len(newest) == 1:
            chain.devchain.revert(snapshots[finalized - chain.base])
            chain.mine(("x", "v3", "v2"))

    results = [pull(chain, store, protocol, reorganize_unsafe_blocks, blocks_per_request=1) for protocol in PROTOCOLS]
    assert w3.eth.get_block("finalized").number == finalized + 1  # the new branch's first block
    assert [r.to_block for r in results] == [finalized, finalized + 1]
    assert all(r.deployments[0].reorgs == [] for r in results)
    assert_on_chain(store, w3, above=chain.base)
    assert rows_hash(store) == clean_hash(chain, tmp_path, finalized)  # block finalized + 1 holds no liquidation
