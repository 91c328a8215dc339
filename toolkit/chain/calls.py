"""Contract state at a block: many ``eth_call`` s as JSON-RPC batches, cached per (block, to, data).

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


class StateReader:
    """Batched, cached ``eth_call`` reader.

    :param client: the endpoint.
    :param batch_size: ``eth_call`` s per JSON-RPC batch.
    """

    def __init__(self, client: RpcClient, *, batch_size: int = 50) -> None:
        self._client = client
        self._batch_size = batch_size
        self._cache: dict[tuple[int, str, bytes], bytes | ExecutionReverted] = {}

    async def call_many(
        self, block: int, calls: Sequence[tuple[str, bytes]]
    ) -> list[bytes | ExecutionReverted]:
        """Run ``(to, calldata)`` calls at block ``block``; return data or the revert, in call order.

        :raises NoArchiveState: the node has pruned the state of ``block``.
        :raises RpcError: any other failure after the client's retries.
        """
        keys = [(block, to.lower(), bytes(data)) for to, data in calls]
        missing = list(dict.fromkeys(k for k in keys if k not in self._cache))
        pieces = [missing[i:i + self._batch_size] for i in range(0, len(missing), self._batch_size)]
        answers = await asyncio.gather(*(self._client.batch(
            [("eth_call", [{"to": to, "data": "0x" + data.hex()}, hex(number)]) for number, to, data in piece],
            return_reverts=True) for piece in pieces))
        for piece, results in zip(pieces, answers):
            for key, result in zip(piece, results):
                self._cache[key] = result if isinstance(result, ExecutionReverted) else bytes.fromhex(result[2:])
        return [self._cache[k] for k in keys]
