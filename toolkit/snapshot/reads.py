"""Batched view calls for snapshots, behind one interface: a :class:`~toolkit.protocols.base.StateCaller`
(``call_many`` of ``(block, to, calldata)``, answers in call order, a revert as an exception instance).

:func:`state_reader` gives :class:`SnapshotReader`, the pulls' :class:`toolkit.chain.calls.StateReader` with its
node features to learn: the calls of each block go to the toolkit's reader contract (:mod:`toolkit.chain.reader`),
at most :data:`CALLS_PER_READ` per ``eth_call``, its code injected by the call's state override. A node that refuses
state overrides, or ignores them (the reader's probe word is missing from the answer), is read with JSON-RPC batches
of plain ``eth_call`` instead, decided at the first read and kept for the client. A node without the block's state
raises :class:`~toolkit.chain.errors.NoArchiveState` either way.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

from toolkit.chain.calls import NodeFeatures, StateReader
from toolkit.chain.rpc import RpcClient
from toolkit.errors import ToolkitError
from toolkit.protocols.base import Call, CallFailed, StateCaller, read_calls

#: Calls per reader ``eth_call`` (the reader's own guidance: about 250 at most, so that a program stays within
#: nodes' gas caps for ``eth_call``).
CALLS_PER_READ = 200


class SnapshotReadFailed(ToolkitError):
    """A view call a snapshot cannot do without reverted or returned undecodable data."""


class SnapshotReader(StateReader):
    """:class:`~toolkit.chain.calls.StateReader` learning whether the node takes the reader contract (module
    docstring); :attr:`mode` says which way it reads."""

    def __init__(self, client: RpcClient) -> None:
        super().__init__(client, features=NodeFeatures(), max_program=CALLS_PER_READ)

    @property
    def mode(self) -> str | None:
        """``reader contract`` or ``eth_call batches`` (``None`` before the first read)."""
        overrides = self.features.overrides if self.features else None
        return None if overrides is None else "reader contract" if overrides else "eth_call batches"


def state_reader(client: RpcClient) -> SnapshotReader:
    """The reader snapshots use (module docstring)."""
    return SnapshotReader(client)


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
