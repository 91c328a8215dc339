"""The toolkit's reader contract: many contract reads, dependent or not, in one ``eth_call``.

``LiquidationToolkitReader`` (``toolkit/chain/reader/LiquidationToolkitReader.sol``, compiled with the
npm ``solc`` the project pins; the runtime code is committed beside it, so pulling needs no Node) is
never deployed: its code is put at :data:`READER_ADDRESS`, an address nobody controls, by the
``eth_call``'s state override (go-ethereum ``eth_call`` "state override set"; docs/sources/state.md#state-overrides).
So it works on any node that accepts overrides, at any block, next to other overrides (the pre-state of
a transaction, :mod:`toolkit.chain.prestate`).

One :func:`read` runs a list of :class:`ReaderCall` in order and returns each call's ``(success,
return data)``. A call may take 32-byte words of earlier calls' return data first (:class:`Patch`): its
target (an oracle address read by an earlier call) or a word of its calldata (an argument), so a chain
of dependent reads costs one billed JSON-RPC call instead of one per step. Calls run as ``STATICCALL``;
``isolated`` calls run as ``CALL`` in a frame that is reverted (functions that write, such as a feed's
``fetchPrice``, are read and their writes discarded).

Every answer also says which block number and timestamp the calls ran in (to check a block override
was applied) and returns a word of the reader's own storage that :func:`reader_override` sets with
``stateDiff`` (to check that the node applied the state override instead of ignoring it, as some do:
moonbeam-foundation/moonbeam#1860).

Python API (also for reading many accounts' positions at a block)::

    calls = [ReaderCall(pool, POOL.fn("getUserAccountData").encode(user)) for user in users]
    answer = await read(client, calls, block=19_000_000)
    for ok, data in answer.results: ...
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from eth_abi import decode as abi_decode
from eth_abi import encode as abi_encode
from eth_utils import keccak

from toolkit.chain.rpc import RpcClient

#: Directory of the Solidity source, its compiled runtime code and the compiler settings used.
READER_DIR = Path(__file__).with_name("reader")
#: Where the reader's code is put by the state override: the last 20 bytes of
#: keccak256("liquidation-toolkit.reader"), an address without a known private key or deployment.
READER_ADDRESS = "0x" + keccak(b"liquidation-toolkit.reader")[12:].hex()
#: The reader's storage slot returned as the probe word (``PROBE_SLOT`` of the contract).
PROBE_SLOT = "0x" + keccak(b"liquidation-toolkit.reader.probe").hex()
#: The value :func:`reader_override` writes there ("liquidation-toolkit" right-aligned).
PROBE_VALUE = "0x" + b"liquidation-toolkit".rjust(32, b"\0").hex()
#: Gas one call of a program may use at most: a broken contract cannot starve the calls after it.
GAS_PER_CALL = 5_000_000
#: ``Patch.offset`` meaning "the call's target" (the contract's ``TARGET``).
TARGET = 0xFFFFFFFF

_RUN_SELECTOR = keccak(b"run((address,bytes,uint256[],bool)[],uint256)")[:4]
_RUN_OUTPUT = ("uint256", "uint256", "bytes32", "(bool,bytes)[]")


@cache
def runtime_code() -> str:
    """The reader's runtime bytecode (``0x`` hex), as committed in ``reader/LiquidationToolkitReader.json``."""
    return json.loads((READER_DIR / "LiquidationToolkitReader.json").read_text())["deployedBytecode"]


@dataclass(frozen=True)
class Patch:
    """Word ``word`` of call ``source``'s return data, written into a call before it runs: at byte
    ``offset`` of its calldata (4 + 32 x i for its i-th static argument), or as its target when
    ``offset`` is :data:`TARGET`."""

    source: int
    word: int = 0
    offset: int = TARGET

    def encoded(self) -> int:
        if not (0 <= self.source < 1 << 16 and 0 <= self.word < 1 << 16 and 0 <= self.offset <= TARGET):
            raise ValueError(f"patch out of range: {self}")
        return self.source | self.word << 16 | self.offset << 32


def argument_offset(index: int) -> int:
    """Byte offset of the ``index``-th static argument word in calldata (after the 4-byte selector)."""
    return 4 + 32 * index


@dataclass(frozen=True)
class ReaderCall:
    """One call of a program: ``data`` sent to ``target`` after ``patches`` are applied; a patched
    target or argument holds a placeholder (any value) until then."""

    target: str
    data: bytes
    patches: tuple[Patch, ...] = ()
    isolated: bool = False


@dataclass(frozen=True)
class ReaderAnswer:
    """What one :func:`read` returned: the block context the calls ran in, the probe word and one
    ``(success, return data)`` per call."""

    block_number: int
    timestamp: int
    probe: bytes
    results: list[tuple[bool, bytes]] = field(default_factory=list)

    @property
    def override_applied(self) -> bool:
        """True when the probe word is the value :func:`reader_override` set (the node applied ``stateDiff``)."""
        return "0x" + self.probe.hex() == PROBE_VALUE


def encode_run(calls: Sequence[ReaderCall], gas_per_call: int = GAS_PER_CALL) -> bytes:
    """Calldata of ``run(calls, gas_per_call)``."""
    for index, call in enumerate(calls):
        if any(patch.source >= index for patch in call.patches):
            raise ValueError(f"call {index} takes a word of call {max(p.source for p in call.patches)}, "
                             "which does not run before it")
    items = [(call.target, call.data, [patch.encoded() for patch in call.patches], call.isolated) for call in calls]
    return _RUN_SELECTOR + abi_encode(["(address,bytes,uint256[],bool)[]", "uint256"], [items, gas_per_call])


def decode_run(data: bytes) -> ReaderAnswer:
    """The :class:`ReaderAnswer` in ``run``'s return data (:class:`ValueError` when it is not one)."""
    try:
        number, timestamp, probe, results = abi_decode(list(_RUN_OUTPUT), data)
    except Exception as exc:  # eth-abi raises several types for short or malformed data
        raise ValueError(f"the reader's answer does not decode ({len(data)} bytes): {exc}") from None
    return ReaderAnswer(number, timestamp, probe, [(bool(ok), bytes(answer)) for ok, answer in results])


def reader_override(state_override: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """``state_override`` (addresses to override objects) with the reader's code and probe word added."""
    override = {address.lower(): dict(value) for address, value in (state_override or {}).items()}
    if READER_ADDRESS in override:
        raise ValueError(f"the state override already sets {READER_ADDRESS}, the reader's address")
    override[READER_ADDRESS] = {"code": runtime_code(), "stateDiff": {PROBE_SLOT: PROBE_VALUE}}
    return override


def call_params(calls: Sequence[ReaderCall], block: int, *, state_override: Mapping[str, Any] | None = None,
                block_override: Mapping[str, Any] | None = None,
                gas_per_call: int = GAS_PER_CALL) -> list[Any]:
    """The ``eth_call`` params of one :func:`read`: the call object, the block, the state override with
    the reader, and the block override when given (``eth_call``'s fourth parameter; docs/sources/state.md#block-overrides)."""
    params: list[Any] = [{"to": READER_ADDRESS, "data": "0x" + encode_run(calls, gas_per_call).hex()}, hex(block),
                         reader_override(state_override)]
    if block_override:
        params.append(dict(block_override))
    return params


async def read(client: RpcClient, calls: Sequence[ReaderCall], block: int, *,
               state_override: Mapping[str, Any] | None = None, block_override: Mapping[str, Any] | None = None,
               gas_per_call: int = GAS_PER_CALL) -> ReaderAnswer:
    """Run ``calls`` in one ``eth_call`` on the state of ``block`` (with ``state_override`` applied, and
    ``block_override``, e.g. ``{"number": hex(n), "time": hex(t)}``, as the block context).

    :raises ValueError: the node's answer is not the reader's (it ignored the code override).
    :raises RpcError: the node refused the call (for example it does not take overrides) after retries.
    """
    result = await client.call("eth_call", call_params(calls, block, state_override=state_override,
                                                       block_override=block_override, gas_per_call=gas_per_call))
    return decode_run(bytes.fromhex(str(result)[2:]))
