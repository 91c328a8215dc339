"""Batched view calls for snapshots, behind one interface that can be switched.

A snapshot reads through a :class:`~toolkit.protocols.base.StateCaller` (``call_many`` of ``(block, to,
calldata)``): today :class:`toolkit.chain.calls.StateReader`, JSON-RPC batches of ``eth_call`` (:func:`state_reader`).
A reader that answers many reads in one ``eth_call`` plugs in the same way (``state_reader(client, kind=...)``).
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

from toolkit.chain.calls import StateReader
from toolkit.chain.rpc import RpcClient
from toolkit.errors import ToolkitError
from toolkit.protocols.base import Call, CallFailed, StateCaller, read_calls


class SnapshotReadFailed(ToolkitError):
    """A view call a snapshot cannot do without reverted or returned undecodable data."""


def state_reader(client: RpcClient) -> StateCaller:
    """The reader snapshots use: batched ``eth_call`` with a cache per (block, to, calldata)."""
    return StateReader(client)


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
