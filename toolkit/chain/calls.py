"""Contract state at given blocks: many ``eth_call`` s as JSON-RPC batches, cached per (block, to, data).

State at a fixed block number never changes once the block is final, so a repeated read (the same
oracle price for many liquidations in one block) costs nothing. A revert is the answer of that one
call, returned in its place; a node without the block's state raises
:class:`~toolkit.chain.errors.NoArchiveState` for the whole read.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from toolkit.chain.errors import ExecutionReverted
from toolkit.chain.rpc import RpcClient

#: ``(block number, contract address, calldata)``.
CallKey = tuple[int, str, bytes]


class StateReader:
    """Batched, cached ``eth_call`` reader.

    :param client: the endpoint.
    :param batch_size: ``eth_call`` s per JSON-RPC batch: geth's default batch limit (``BatchRequestLimit``),
        so a chunk's state reads cost a few HTTP requests; a provider that refuses that many is
        answered in halves (:meth:`~toolkit.chain.rpc.RpcClient.batch` learns its limit).
    """

    def __init__(self, client: RpcClient, *, batch_size: int = 1000) -> None:
        self._client = client
        self._batch_size = batch_size
        self._cache: dict[CallKey, bytes | ExecutionReverted] = {}

    @property
    def client(self) -> RpcClient:
        """The endpoint the reads go to."""
        return self._client

    async def call_many(self, calls: Sequence[tuple[int, str, bytes]]) -> list[bytes | ExecutionReverted]:
        """Run ``(block, to, calldata)`` calls; return the return data or the revert, in call order.

        Calls not in the cache go out as JSON-RPC batches of ``batch_size`` calls, whatever their
        blocks (a batch may mix blocks, so a chunk with liquidations in many blocks still costs few
        HTTP requests); the batches go out concurrently.

        :raises NoArchiveState: the node has pruned the state of one of the blocks.
        :raises RpcError: any other failure after the client's retries.
        """
        keys = [(block, to.lower(), bytes(data)) for block, to, data in calls]
        missing = sorted(dict.fromkeys(k for k in keys if k not in self._cache))
        pieces = [missing[i:i + self._batch_size] for i in range(0, len(missing), self._batch_size)]
        answers = await asyncio.gather(*(self._client.batch(
            [("eth_call", [{"to": to, "data": "0x" + data.hex()}, hex(block)]) for block, to, data in piece],
            return_reverts=True) for piece in pieces))
        for piece, results in zip(pieces, answers, strict=True):
            for key, result in zip(piece, results, strict=True):
                self._cache[key] = result if isinstance(result, ExecutionReverted) else bytes.fromhex(result[2:])
        return [self._cache[k] for k in keys]
