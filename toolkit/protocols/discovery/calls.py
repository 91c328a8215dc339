"""Reads of registry contracts at a block, with the failure that ends a pull when a registry does not answer.

A registry that does not answer at the pulled block raises :class:`RegistryUnavailable`: one line naming the
registry, its address and the block, and what to do. Two causes are told apart: the node has no state for
the block (a node that keeps only recent state, asked about an older block), and no answer from the
contract (not deployed yet at that block, or not this contract).
"""

from __future__ import annotations

from typing import Any

from toolkit.abi import FunctionSpec
from toolkit.chain.calls import StateReader
from toolkit.chain.errors import ExecutionReverted, NoArchiveState, RpcError
from toolkit.protocols.discovery.model import RegistryUnavailable

#: What to do when the node has no state for the block.
_PRUNED = ("the node has no state for that block (it keeps only recent state); pull up to a more recent block "
           "(--to) or use an archive node")
#: What to do when the contract does not answer.
_ABSENT = "it is not deployed yet at that block, or is not this contract; pull up to a later block (--to)"


def _node_failure(what: str, address: str, block: int, exc: RpcError) -> RegistryUnavailable:
    reason = _PRUNED if isinstance(exc, NoArchiveState) else f"{exc}"
    return RegistryUnavailable(f"{what} ({address}) does not answer at block {block}: {reason}")


async def call_at(state: StateReader, block: int, to: str, fn: FunctionSpec, *args: Any, what: str) -> tuple[Any, ...]:
    """``fn(*args)`` of ``to`` at ``block``, decoded.

    :raises RegistryUnavailable: the call reverts, returns nothing that decodes (no code there) or the node
        has no state for the block; the message names ``what`` (the registry), its address and the block.
    """
    try:
        (answer,) = await state.call_many([(block, to, fn.encode(*args))])
    except RpcError as exc:
        raise _node_failure(what, to, block, exc) from None
    if isinstance(answer, ExecutionReverted):
        raise RegistryUnavailable(f"{what} ({to}) does not answer {fn.name}() at block {block} (the call reverts): "
                                  f"{_ABSENT}")
    try:
        return fn.decode_output(answer)
    except Exception:  # eth-abi raises several types; empty return data means no code at that address then
        raise RegistryUnavailable(f"{what} ({to}) does not answer {fn.name}() at block {block} (no code there, or "
                                  f"an answer that does not decode): {_ABSENT}") from None


async def try_call(state: StateReader, block: int, to: str, fn: FunctionSpec, *args: Any) -> tuple[Any, ...] | str:
    """``fn(*args)`` of ``to`` at ``block`` decoded, or the reason it failed (a revert or undecodable answer);
    node failures propagate."""
    (answer,) = await state.call_many([(block, to, fn.encode(*args))])
    if isinstance(answer, ExecutionReverted):
        return f"{fn.name}() of {to} reverts at block {block}"
    try:
        return fn.decode_output(answer)
    except Exception:  # eth-abi raises several types for short or malformed return data
        return f"{fn.name}() of {to} returns no decodable answer at block {block}"


async def require_code(state: StateReader, block: int, address: str, what: str) -> None:
    """Check that ``address`` has code at ``block`` (for registries read from their logs only).

    :raises RegistryUnavailable: no code, or the node has no state for the block.
    """
    try:
        code = await state.client.call("eth_getCode", [address, hex(block)])
    except RpcError as exc:
        raise _node_failure(what, address, block, exc) from None
    if not isinstance(code, str) or code in ("0x", "0x0", ""):
        raise RegistryUnavailable(f"{what} ({address}) has no code at block {block}: {_ABSENT}")
