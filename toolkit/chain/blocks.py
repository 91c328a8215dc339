"""Block headers (number, hash, parent hash, timestamp) and the upper bound of a read.

Headers are fetched with batched ``eth_getBlockByNumber(hex, false)`` and kept in memory: log
timestamps cannot be taken from ``eth_getLogs`` across providers (anvil adds ``blockTimestamp``, most
nodes do not; docs/sources/chain.md#block-timestamps), and hashes are needed to detect reorgs on resume
(docs/sources/chain.md#reorg-handling).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from toolkit.chain.errors import Fatal, RpcError, Transient
from toolkit.chain.rpc import RpcClient
from toolkit.errors import UserInputError

#: Block tags accepted as the end of a read. ``finalized``/``safe`` need a post-merge node.
BLOCK_TAGS = ("finalized", "safe", "latest")


class UnsupportedBlockTag(RpcError):
    """The node does not know the ``finalized``/``safe`` tag (pre-merge clients, some L2 nodes)."""


class BlockNotFound(Transient):
    """The node returned ``null`` for a block number: it is behind the head another node of its load
    balancer announced, still syncing, or a reorganization made the chain shorter."""

    def __init__(self, message: str, *, number: int) -> None:
        super().__init__(message)
        #: The block the node did not have.
        self.number = number


@dataclass(frozen=True)
class BlockHeader:
    """What the toolkit keeps of a block. ``timestamp`` is in seconds since the Unix epoch (UTC)."""

    number: int
    hash: str
    parent_hash: str
    timestamp: int
    #: The block's ``logsBloom`` (hex, 256 bytes) as the node sent it, for completeness checks
    #: (:mod:`toolkit.chain.completeness`); None when the node sent none. Not part of a header's identity.
    logs_bloom: str | None = field(default=None, compare=False, repr=False)

    @classmethod
    def from_json(cls, block: Mapping[str, Any]) -> BlockHeader:
        """From an ``eth_getBlockByNumber`` result (hex quantities)."""
        return cls(
            number=int(block["number"], 16),
            hash=block["hash"],
            parent_hash=block["parentHash"],
            timestamp=int(block["timestamp"], 16),
            logs_bloom=block.get("logsBloom"),
        )


class BlockHeaders:
    """Fetch and cache block headers of one endpoint.

    :param client: the endpoint.
    :param batch_size: ``eth_getBlockByNumber`` calls per JSON-RPC batch.
    :param missing_retries: times a block the node answered ``null`` for is asked again (after the
        client's backoff) before :class:`BlockNotFound`; kept small because a block removed by a
        reorganization never comes back.
    """

    def __init__(self, client: RpcClient, *, batch_size: int = 100, missing_retries: int = 3) -> None:
        self._client = client
        self._batch_size = batch_size
        self._missing_retries = missing_retries
        self._cache: dict[int, BlockHeader] = {}

    def clear(self) -> None:
        """Forget every cached header (after a reorganization, cached headers may be orphaned)."""
        self._cache.clear()

    async def get(self, numbers: Iterable[int], *, refresh: bool = False, keep: bool = True) -> dict[int, BlockHeader]:
        """Headers of the given block numbers (fetched once, then served from memory).

        :param refresh: fetch again even if cached (to compare stored hashes with the node's after a
            possible reorganisation).
        :param keep: keep what was fetched in memory; false for the headers of whole ranges a completeness
            check reads once (a pull over months of blocks would otherwise keep them all).
        :raises BlockNotFound: the node still answers ``null`` for one of the blocks after
            ``missing_retries`` retries.
        """
        wanted = sorted(set(numbers))
        found = {} if refresh else {n: self._cache[n] for n in wanted if n in self._cache}
        missing = [n for n in wanted if n not in found]
        attempt = 0
        while missing:
            pieces = [missing[i:i + self._batch_size] for i in range(0, len(missing), self._batch_size)]
            absent = []
            for piece, blocks in zip(pieces, await asyncio.gather(*(self._fetch(p) for p in pieces)), strict=True):
                for number, block in zip(piece, blocks, strict=True):
                    if block is None:
                        absent.append(number)
                    else:
                        found[number] = BlockHeader.from_json(block)
            if absent:
                error = BlockNotFound(f"{self._client.redacted_url} has no block {absent[0]}; the node may be "
                                      "behind its load balancer or still syncing, or a reorganization removed "
                                      "the block", number=absent[0])
                self._client.stats.faults[type(error).__name__] += 1
                if attempt >= self._missing_retries:
                    raise error
                await self._client.pause_before_retry(error, attempt)
                attempt += 1
            missing = absent
        if keep:
            self._cache.update(found)
        return {n: found[n] for n in wanted}

    async def _fetch(self, numbers: list[int]) -> list[Any]:
        return await self._client.batch([("eth_getBlockByNumber", [hex(n), False]) for n in numbers])

    async def first_block_at_or_after(self, timestamp: int) -> int:
        """The first block whose timestamp is >= ``timestamp`` (Unix seconds, UTC), by binary search.

        Block timestamps never decrease along a chain, so this takes about log2(head) header reads.
        Returns ``head + 1`` when even the head is older than ``timestamp``.
        """
        low, high = 0, int(await self._client.call("eth_blockNumber"), 16) + 1
        while low < high:
            middle = (low + high) // 2
            if (await self.get([middle]))[middle].timestamp >= timestamp:
                high = middle
            else:
                low = middle + 1
        return low

    async def resolve_bound(self, to: str | int, confirmations: int = 0) -> int:
        """The last block (inclusive) of a read ending at ``to``.

        :param to: ``"finalized"``, ``"safe"``, ``"latest"`` or a block number (``"123"`` accepted).
        :param confirmations: blocks to stay behind the head; applies to ``"latest"`` only
            (``latest - confirmations``).
        :raises UnsupportedBlockTag: the node does not know ``finalized``/``safe``.
        :raises UserInputError: unknown tag, negative numbers, or a block beyond the node's head.
        """
        if confirmations < 0:
            raise UserInputError(f"--confirmations must be >= 0, got {confirmations}")
        if isinstance(to, str) and to.strip().isdigit():
            to = int(to)
        if isinstance(to, int) or to == "latest":
            head = int(await self._client.call("eth_blockNumber"), 16)
            if to == "latest":
                return max(0, head - confirmations)
            if to < 0 or to > head:
                raise UserInputError(f"block {to} is outside the node's chain (head is {head})")
            return to
        if to not in BLOCK_TAGS:
            raise UserInputError(f"--to must be one of {', '.join(BLOCK_TAGS)} or a block number, got {to!r}")
        try:
            block = await self._client.call("eth_getBlockByNumber", [to, False])
        except Fatal as error:
            # Pre-merge geth: "'finalized' tag not supported on pre-merge network"; others answer
            # -32602 "invalid block tag"/"unknown block" — any non-retryable answer means the same here.
            raise UnsupportedBlockTag(
                f"{self._client.redacted_url} does not support the '{to}' block tag ({error}); "
                "use --to latest --confirmations 64") from None
        if block is None:
            raise UnsupportedBlockTag(
                f"{self._client.redacted_url} has no '{to}' block; use --to latest --confirmations 64")
        header = BlockHeader.from_json(block)
        self._cache[header.number] = header
        return header.number
