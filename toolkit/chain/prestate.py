"""The state right before a transaction: its ``prestateTracer`` trace, as an ``eth_call`` state override.

``debug_traceTransaction(tx, {"tracer": "prestateTracer"})`` returns, for every account the transaction
touched, its balance, nonce and the storage slots it read or wrote, as they were **before** the
transaction ran, after the earlier transactions of its block (go-ethereum built-in tracers;
docs/sources/state.md#prestate-tracer). An ``eth_call`` at the previous block with those values as a
state override (per-slot ``stateDiff``, which leaves every other slot as it was; ``state`` would wipe
them) then answers view functions as of right before the transaction, for everything the transaction
itself read: prices, the borrower's position, reserve indexes.

* The trace is asked without code (``tracerConfig.disableCode``: about 20 times smaller, 11 kB against
  250 kB for an Aave v3 liquidation on the devchain); code is never overridden, so a contract created
  earlier in the same block and read by a view function would be missing. State the transaction did not
  touch (a USD conversion feed, a symbol) is read at the previous block.
* The first transaction of a block needs no trace: the state before it is the previous block's.
* One trace per transaction, shared by its rows; traces go out as JSON-RPC batches.

Failures (real provider texts in docs/sources/state.md#trace-errors):

* the node has no ``debug_traceTransaction`` (geth: ``-32601 "the method debug_traceTransaction does
  not exist/is not available"``): :class:`TracesUnsupported`, for the whole pull;
* a trace that times out (geth ``"execution timeout"``) or is too large (reth ``-32008 "Response is too
  big"``), or any other error of one transaction: asked once more, then that transaction gets a
  :class:`TraceFailure` with the reason, and its rows fall back to the block's start.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from toolkit.chain.errors import Fatal, RateLimited, RpcError
from toolkit.chain.rpc import RpcClient

#: Tracer options: pre-state of the touched accounts, without code.
TRACER = {"tracer": "prestateTracer", "tracerConfig": {"disableCode": True}}
#: Transactions traced per JSON-RPC batch (traces are heavier than reads for the node).
TRACE_BATCH = 20
#: Messages that mean "this node has no debug_traceTransaction" (besides JSON-RPC code -32601).
_UNSUPPORTED = re.compile(r"does not exist/is not available|method not found|not supported|unsupported method"
                          r"|not available on|is not whitelisted|namespace is disabled", re.IGNORECASE)


class TracesUnsupported(RpcError):
    """The node does not serve ``debug_traceTransaction`` with the ``prestateTracer``."""


@dataclass(frozen=True)
class TraceFailure:
    """Why the pre-state of one transaction could not be read (after one more attempt)."""

    reason: str


def is_unsupported(error: RpcError) -> bool:
    """True when ``error`` says the node lacks the method (not that one trace failed)."""
    return isinstance(error, Fatal) and (error.code == -32601 or bool(_UNSUPPORTED.search(str(error))))


def state_override(prestate: Mapping[str, Any]) -> dict[str, Any]:
    """A ``prestateTracer`` result (address -> ``{balance, nonce, storage}``) as an ``eth_call`` state
    override: balance and nonce as hex quantities, storage as per-slot ``stateDiff``; code left out."""
    override: dict[str, Any] = {}
    for address, account in prestate.items():
        if not isinstance(account, Mapping):
            raise ValueError(f"prestateTracer entry of {address} is not an object")
        entry: dict[str, Any] = {}
        if account.get("balance") is not None:
            entry["balance"] = _quantity(account["balance"])
        if account.get("nonce") is not None:
            entry["nonce"] = _quantity(account["nonce"])
        storage = account.get("storage")
        if storage:
            entry["stateDiff"] = {_word(slot): _word(value) for slot, value in storage.items()}
        override[address.lower()] = entry
    return override


def _quantity(value: Any) -> str:
    """A JSON number or hex string as a minimal hex quantity."""
    number = value if isinstance(value, int) else int(str(value), 16 if str(value).startswith("0x") else 10)
    return hex(number)


def _word(value: Any) -> str:
    """A storage key or value as a 32-byte 0x word."""
    text = str(value)
    digits = text[2:] if text.startswith("0x") else text
    return "0x" + digits.rjust(64, "0")


async def trace_prestates(client: RpcClient, tx_hashes: Iterable[str]) -> dict[str, dict[str, Any] | TraceFailure]:
    """The state override of each transaction (:func:`state_override`), or why there is none.

    :raises TracesUnsupported: the node has no ``debug_traceTransaction``.
    :raises RpcError: the node failed as a whole (unreachable, rate limits beyond the client's retries).
    """
    hashes = list(dict.fromkeys(tx_hashes))
    out: dict[str, dict[str, Any] | TraceFailure] = {}
    failed: dict[str, RpcError] = {}
    for start in range(0, len(hashes), TRACE_BATCH):
        piece = hashes[start:start + TRACE_BATCH]
        answers = await client.batch([("debug_traceTransaction", [tx, TRACER]) for tx in piece],
                                     item_errors=_not_rate_limit)
        for tx, answer in zip(piece, answers, strict=True):
            if isinstance(answer, RpcError):
                if is_unsupported(answer):
                    raise TracesUnsupported(str(answer), code=answer.code) from None
                failed[tx] = answer
            else:
                out[tx] = _override_or_failure(answer)
    for tx in failed:  # once more, one at a time
        try:
            out[tx] = _override_or_failure(await client.call("debug_traceTransaction", [tx, TRACER],
                                                             item_errors=_not_rate_limit))
        except RpcError as error:
            if is_unsupported(error):
                raise TracesUnsupported(str(error), code=error.code) from None
            out[tx] = TraceFailure(f"debug_traceTransaction failed twice: {error}")
    return {tx: out[tx] for tx in hashes}


def _not_rate_limit(error: RpcError) -> bool:
    """Item errors the trace layer handles itself (all but rate limits, which the client waits out)."""
    return not isinstance(error, RateLimited)


def _override_or_failure(answer: Any) -> dict[str, Any] | TraceFailure:
    if not isinstance(answer, Mapping):
        return TraceFailure(f"debug_traceTransaction answered {type(answer).__name__}, not a prestate object")
    try:
        return state_override(answer)
    except (ValueError, TypeError) as exc:
        return TraceFailure(f"debug_traceTransaction answer is not a prestate: {exc}")
