"""Batched view calls for snapshots, behind one interface: a :class:`~toolkit.protocols.base.StateCaller`
(``call_many`` of ``(block, to, calldata)``, answers in call order, a revert as an exception instance).

:func:`state_reader` gives :class:`ReaderCaller`: the calls of each block go to the toolkit's reader contract
(:mod:`toolkit.chain.reader`), at most :data:`CALLS_PER_READ` per ``eth_call``, its code injected by the call's state
override. A node that refuses state overrides, or ignores them (the reader's probe word is missing from the answer),
is read with JSON-RPC batches of plain ``eth_call`` instead (:class:`toolkit.chain.calls.StateReader`), decided at
the first read and kept for the client. A node without the block's state raises
:class:`~toolkit.chain.errors.NoArchiveState` either way.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Any

from toolkit.chain.calls import StateReader
from toolkit.chain.errors import ExecutionReverted, Fatal
from toolkit.chain.reader import ReaderCall, read as read_program
from toolkit.chain.rpc import RpcClient
from toolkit.errors import ToolkitError
from toolkit.protocols.base import Call, CallFailed, StateCaller, read_calls

#: Calls per reader ``eth_call`` (the reader's own guidance: about 250 at most, so that a program stays within
#: nodes' gas caps for ``eth_call``).
CALLS_PER_READ = 200


class SnapshotReadFailed(ToolkitError):
    """A view call a snapshot cannot do without reverted or returned undecodable data."""


class ReaderCaller:
    """:class:`~toolkit.protocols.base.StateCaller` over the reader contract, with the plain batched reader as
    fallback (module docstring). ``mode`` says which one answers: ``reader contract`` or ``eth_call batches``
    (``None`` before the first read)."""

    def __init__(self, client: RpcClient) -> None:
        self.client = client
        self.fallback = StateReader(client)
        self.mode: str | None = None

    async def call_many(self, calls: Sequence[tuple[int, str, bytes]]) -> list[bytes | Exception]:
        if self.mode == "eth_call batches" or not calls:
            return await self.fallback.call_many(list(calls))
        try:
            answers = await self._read(calls)
        except (Fatal, ValueError):
            if self.mode is not None:
                raise
            self.mode = "eth_call batches"
            return await self.fallback.call_many(list(calls))
        self.mode = "reader contract"
        return answers

    async def _read(self, calls: Sequence[tuple[int, str, bytes]]) -> list[bytes | Exception]:
        out: list[bytes | Exception | None] = [None] * len(calls)
        by_block: dict[int, list[int]] = {}
        for index, (block, _, _) in enumerate(calls):
            by_block.setdefault(block, []).append(index)
        for block, indexes in sorted(by_block.items()):
            for start in range(0, len(indexes), CALLS_PER_READ):
                piece = indexes[start:start + CALLS_PER_READ]
                answer = await read_program(self.client, [ReaderCall(calls[i][1], bytes(calls[i][2])) for i in piece],
                                            block)
                if not answer.override_applied:
                    raise ValueError(f"{self.client.redacted_url} ignored the reader's state override")
                for i, (ok, data) in zip(piece, answer.results, strict=True):
                    out[i] = data if ok else ExecutionReverted(f"call to {calls[i][1]} reverted in the reader "
                                                               f"at block {block}", data="0x" + data.hex())
        return [answer for answer in out if answer is not None]


def state_reader(client: RpcClient) -> ReaderCaller:
    """The reader snapshots use (module docstring)."""
    return ReaderCaller(client)


async def read(state: StateCaller, calls: dict[Hashable, Call]) -> dict[Hashable, tuple[Any, ...] | CallFailed]:
    """:func:`toolkit.protocols.base.read_calls`, nothing sent when there is nothing to read."""
    return await read_calls(state, calls) if calls else {}


def need(results: dict[Hashable, Any], key: Hashable) -> tuple[Any, ...]:
    """The answer for ``key``; :class:`SnapshotReadFailed` when it failed or is missing."""
    value = results.get(key)
    if value is None or isinstance(value, CallFailed):
        raise SnapshotReadFailed(f"positions snapshot: {value or f'{key} was not read'}")
    return value


def optional(results: dict[Hashable, Any], key: Hashable) -> tuple[Any, ...] | None:
    """The answer for ``key``, or ``None`` when it failed or is missing."""
    value = results.get(key)
    return None if value is None or isinstance(value, CallFailed) else value
