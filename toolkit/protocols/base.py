"""What every protocol adapter provides, and the pieces they share.

An adapter turns raw ``eth_getLogs`` entries into rows of the normalized ``liquidations`` table
(:mod:`toolkit.store.schema`) in two steps, as cryo splits *extract* from *transform*:

1. :meth:`Adapter.decode_logs` -- pure, no node: the columns that come from the logs themselves
   (:data:`toolkit.store.schema.DECODE_COLUMNS`); ``liqtk decode`` stops here. It receives all
   logs of a chunk (whole blocks, so whole transactions) so that protocols whose liquidation spans
   several events (Comet ``AbsorbDebt`` + ``AbsorbCollateral``, Liquity, Euler) can join them.
2. :meth:`Adapter.enrich` -- ``eth_call`` reads at the block before the liquidation: parameters,
   oracle prices, health factor, and the values derived from them.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from itertools import repeat
from typing import Any, Protocol, runtime_checkable

import pyarrow as pa
import pyarrow.compute as pc

from toolkit.abi import EventSpec, FunctionSpec, LogDecodeError
from toolkit.chain.logtable import Logs, first_removed, log_field, optional_field
from toolkit.chain.reader import TARGET, Patch, argument_offset
from toolkit.hexarrays import quantities
from toolkit.protocols.event_args import event_args_array, log_args_json
from toolkit.protocols.registry import Deployment


class StateCaller(Protocol):
    """The part of :class:`toolkit.chain.calls.StateReader` (and its point callers) adapters use."""

    async def call_many(self, calls: list[tuple[Any, ...]]) -> list[bytes | Exception]:
        """``eth_call`` each ``(block, to, calldata[, patches])`` (patches: :class:`toolkit.chain.reader.Patch`
        whose sources index the same list); a revert comes back as an Exception item."""


class Adapter(Protocol):
    """The interface of ``toolkit.protocols.<family>`` adapters."""

    family: str

    def topics0(self, deployment: Deployment) -> tuple[str, ...]:
        """topic0 values of the liquidation events to request with ``eth_getLogs``."""

    def decode_logs(self, logs: list[dict[str, Any]], deployment: Deployment) -> list[dict[str, Any]]:
        """Normalized rows (decode columns only) for ``logs`` (ordered by block and log index), plus
        an error record ``{"error": reason, "tx_hash", "log_index"}`` for each log that does not decode."""

    async def enrich(self, rows: list[dict[str, Any]], deployment: Deployment, state: StateCaller) -> None:
        """Fill the state columns of ``rows`` in place."""


@runtime_checkable
class ColumnDecoder(Protocol):
    """An adapter that can also decode a chunk a column at a time, with no dict per row (what the
    pipeline uses when no state is read)."""

    def decode_columns(self, logs: Logs, deployment: Deployment) -> dict[str, pa.Array] | None:
        """The rows :meth:`Adapter.decode_logs` would give, as ``{column: Arrow array}``, from parsed
        logs or log columns (:mod:`toolkit.chain.logtable`); None when the chunk needs the row path
        (a log it does not decode, or events to join)."""


def log_int(log: dict[str, Any], key: str) -> int:
    """An integer field of a log, given as a JSON-RPC hex quantity or as an int (fixtures)."""
    value = log.get(key)
    if isinstance(value, bool) or value is None:
        raise LogDecodeError(f"log has no {key}")
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            return int(value, 16) if value.startswith("0x") else int(value)
        except ValueError:
            raise LogDecodeError(f"log field {key} is not a number: {value[:20]!r}") from None
    raise LogDecodeError(f"log field {key} has type {type(value).__name__}")


def error_record(log: Any, reason: str) -> dict[str, Any]:
    """What :meth:`Adapter.decode_logs` returns for a log that does not decode."""
    record: dict[str, Any] = {"error": reason}
    if isinstance(log, dict):
        record.update(tx_hash=log.get("transactionHash"), log_index=log.get("logIndex"))
    return record


class PerLogAdapter(ABC):
    """Base for adapters whose every liquidation is one log of one event, :attr:`event`. They give the
    columns that event fills (:meth:`liquidation_fields`) and get both decoders from it: :meth:`decode`,
    log by log, and :meth:`decode_columns`, a chunk a column at a time into Arrow (what a pull without
    state reads stores)."""

    #: The liquidation event.
    event: EventSpec

    @abstractmethod
    def liquidation_fields(self, values: dict[str, Any], identity: dict[str, Any], deployment: Deployment,
                           constant: Callable[[Any], Any]) -> dict[str, Any]:
        """The columns the event fills beyond the identity columns, from its decoded ``values`` and the
        ``identity`` columns: one log's, or columns of logs (Arrow arrays); integers are base-10 strings
        in both. ``constant(value)`` is a value the same for every log (itself for one log, a repeated
        array for columns)."""

    def decode(self, log: dict[str, Any], deployment: Deployment) -> dict[str, Any]:
        """One normalized row; :class:`LogDecodeError` with the reason when the log is malformed."""
        row = log_identity(log, deployment)
        values = {name: str(value) if type(value) is int else value
                  for name, value in self.event.decode(log["topics"], log["data"]).items()}
        row.update(self.liquidation_fields(values, row, deployment, lambda value: value))
        row["event_args"] = log_args_json(self.event, values)
        return row

    def decode_columns(self, logs: Logs, deployment: Deployment) -> dict[str, pa.Array] | None:
        """The rows of a chunk as Arrow columns, decoded a column at a time (:meth:`EventSpec.decode_arrays`,
        :func:`identity_arrays`); None when a log is another event or is not regular, for the row path
        (:meth:`decode_logs`) to take log by log."""
        try:
            topics, data = log_field(logs, "topics"), log_field(logs, "data")
        except (TypeError, KeyError):
            return None
        identity = identity_arrays(logs, deployment)
        values = self.event.decode_arrays(topics, data)
        if identity is None or values is None:
            return None
        n = len(logs)
        return {**identity, **self.liquidation_fields(values, identity, deployment, lambda value: pa.repeat(value, n)),
                "event_args": event_args_array(self.event, values)}

    def column_rows(self, logs: list[dict[str, Any]], deployment: Deployment) -> list[dict[str, Any]] | None:
        """:meth:`decode_columns` as row dicts; None when it declines the chunk."""
        columns = self.decode_columns(logs, deployment)
        return None if columns is None else column_rows({name: array.to_pylist() for name, array in columns.items()})

    def decode_logs(self, logs: list[dict[str, Any]], deployment: Deployment) -> list[dict[str, Any]]:
        rows = self.column_rows(logs, deployment)
        if rows is not None:
            return rows
        out = []
        for log in logs:
            try:
                out.append(self.decode(log, deployment))
            except LogDecodeError as exc:
                out.append(error_record(log, str(exc)))
        return out


def log_timestamp(log: dict[str, Any]) -> int | None:
    """Block timestamp (Unix seconds) carried by some log sources: anvil's ``blockTimestamp`` (hex),
    Etherscan's ``timeStamp``; None otherwise (the pipeline fills it from block headers)."""
    value = log.get("blockTimestamp") or log.get("timeStamp")
    if isinstance(value, str):
        try:
            return int(value, 16) if value.startswith("0x") else int(value)
        except ValueError:
            raise LogDecodeError(f"log block timestamp is not a number: {value[:20]!r}") from None
    return value if isinstance(value, int) and not isinstance(value, bool) else None


#: Keys every log must have (besides the integer fields).
_REQUIRED_KEYS = frozenset(("address", "transactionHash", "topics", "data"))
#: The integer fields of a log (JSON-RPC hex quantities).
_QUANTITY_KEYS = frozenset(("blockNumber", "transactionIndex", "logIndex"))
#: The fields of a log the identity columns come from (besides its block timestamp, when it has one).
_IDENTITY_KEYS = _QUANTITY_KEYS | {"address", "blockHash", "transactionHash"}


def _check_log(log: Any) -> None:
    """:class:`LogDecodeError` unless ``log`` is a JSON object with the required keys, not removed."""
    if not isinstance(log, dict):
        raise LogDecodeError("log is not a JSON object")
    for key in ("address", "transactionHash", "topics", "data"):
        if key not in log:
            raise LogDecodeError(f"log has no {key}")
    if log.get("removed") is True:
        raise LogDecodeError("log is marked removed (reorganized away)")


def _hex_ints(values: list[Any]) -> list[int] | None:
    """``values`` as ints when every one is a 0x-hex string, else None (the caller checks each)."""
    try:
        if all(map(str.startswith, values, repeat("0x"))):
            return list(map(int, values, repeat(16)))
    except (TypeError, ValueError):
        pass
    return None


def _int_column(logs: Sequence[dict[str, Any]], key: str) -> list[int]:
    """:func:`log_int` of every log: hex quantities in bulk, anything else log by log."""
    values = _hex_ints([log.get(key) for log in logs])
    return values if values is not None else [log_int(log, key) for log in logs]


def _lower_column(values: list[Any]) -> list[str]:
    """``str(value).lower()`` of every value; one pass over their concatenation when they are
    strings in lower case already (as nodes send them)."""
    try:
        text = "".join(values)
    except TypeError:
        return [str(value).lower() for value in values]
    return values if text.lower() == text else [value.lower() for value in values]


def _identity_constants(deployment: Deployment) -> dict[str, Any]:
    """The identity columns that are the same for every log of a deployment, and the defaults of a
    one-log liquidation (not an auction, state not read yet)."""
    return {"chain_id": deployment.chain.chain_id, "protocol": deployment.protocol, "deployment": deployment.name,
            "is_auction": False, "state_status": "skipped"}


def identity_columns(logs: Sequence[Any], deployment: Deployment) -> dict[str, list[Any]]:
    """The identity columns every row carries, for many logs at once: chain, block and its timestamp
    when the log carries it, transaction, log position, emitter; and the defaults of a one-log
    liquidation (``join_key`` = ``tx_hash:log_index``, not an auction, state not read yet). Adapters
    add ``market_id`` and override the defaults where their liquidations span several events.

    :raises LogDecodeError: for the first log (in column order) that lacks or garbles a field.
    """
    if not all(type(log) is dict and _REQUIRED_KEYS <= log.keys() and log.get("removed") is not True
               for log in logs):
        for log in logs:
            _check_log(log)
    n = len(logs)
    block_hashes = [log.get("blockHash") for log in logs]
    block_hashes = _lower_column(block_hashes) if all(block_hashes) else [
        str(value).lower() if value else None for value in block_hashes]
    timestamps = _hex_ints([log.get("blockTimestamp") for log in logs])
    columns: dict[str, list[Any]] = {name: [value] * n for name, value in _identity_constants(deployment).items()}
    columns.update({
        "emitter": _lower_column([log["address"] for log in logs]),
        "block_number": _int_column(logs, "blockNumber"),
        "block_hash": block_hashes,
        "block_timestamp": timestamps if timestamps is not None else [log_timestamp(log) for log in logs],
        "tx_hash": _lower_column([log["transactionHash"] for log in logs]),
        "tx_index": _int_column(logs, "transactionIndex"),
        "log_index": _int_column(logs, "logIndex"),
    })
    columns["join_key"] = [f"{tx}:{index}" for tx, index in zip(columns["tx_hash"], columns["log_index"])]
    return columns


def identity_arrays(logs: Logs, deployment: Deployment) -> dict[str, pa.Array] | None:
    """:func:`identity_columns` as Arrow arrays, converted a column at a time (:mod:`toolkit.hexarrays`),
    from parsed logs or log columns (:mod:`toolkit.chain.logtable`).

    None when a log is not a regular JSON-RPC log (a missing or garbled field, ``removed``, a block
    timestamp on some logs only): the caller then takes :func:`identity_columns`, which names the problem.
    """
    try:
        fields = {key: log_field(logs, key) for key in _IDENTITY_KEYS}
        fields["blockTimestamp"] = (optional_field(logs, "blockTimestamp") if isinstance(logs, pa.Table) else
                                    [log.get("blockTimestamp") or log.get("timeStamp") for log in logs])
        if first_removed(logs) is not None:
            return None
        strings = {key: values if isinstance(values, pa.Array) else pa.array(values, pa.string())
                   for key, values in fields.items()}
    except (TypeError, KeyError, AttributeError, pa.ArrowInvalid, pa.ArrowTypeError):
        return None
    n = len(logs)
    if any(strings[key].null_count for key in _IDENTITY_KEYS):
        return None
    numbers = {key: quantities(strings[key]) for key in _QUANTITY_KEYS}
    timestamps = strings["blockTimestamp"]
    stamps = pa.nulls(n, pa.int64()) if timestamps.null_count == n else quantities(timestamps)
    if stamps is None or any(array is None for array in numbers.values()):
        return None
    emitter, block_hash, tx_hash = (pc.ascii_lower(strings[key]) for key in ("address", "blockHash", "transactionHash"))
    log_index = numbers["logIndex"]
    arrays = {name: pa.repeat(value, n) for name, value in _identity_constants(deployment).items()}
    arrays.update(emitter=emitter, block_number=numbers["blockNumber"], block_hash=block_hash,
                  block_timestamp=stamps, tx_hash=tx_hash, tx_index=numbers["transactionIndex"], log_index=log_index,
                  join_key=pc.binary_join_element_wise(tx_hash, log_index.cast(pa.string()), ":"))
    return arrays


def log_identity(log: dict[str, Any], deployment: Deployment) -> dict[str, Any]:
    """:func:`identity_columns` of one log, as a row."""
    return first_row(identity_columns([log], deployment))


def first_row(columns: dict[str, list[Any]]) -> dict[str, Any]:
    """Row 0 of ``{column: values}``."""
    return {name: values[0] for name, values in columns.items()}


def column_rows(columns: dict[str, list[Any]]) -> list[dict[str, Any]]:
    """Every row of ``{column: values}`` (equal lengths), as dicts."""
    names = list(columns)
    return [dict(zip(names, values)) for values in zip(*columns.values())]


@dataclass(frozen=True)
class Ref:
    """Word ``word`` (32-byte word index) of the return data of the call keyed ``key`` in the same
    :func:`read_calls`: a target or a one-word argument known only once that call ran. The reader contract
    fills it in within the same ``eth_call`` (:class:`toolkit.chain.reader.Patch`), so dependent reads
    (an oracle address, then its prices) cost one call; without the reader they go out in dependency order."""

    key: Hashable
    word: int = 0


@dataclass(frozen=True)
class Call:
    """One typed ``eth_call``: function ``fn`` of contract ``to`` with ``args`` at ``block``; ``to`` and
    one-word arguments may be :class:`Ref` s to other calls of the same :func:`read_calls`."""

    block: int
    to: str | Ref
    fn: FunctionSpec
    args: tuple[Any, ...] = ()


class CallFailed(Exception):
    """A single ``eth_call`` reverted or returned data that does not decode."""


def _placeholder(abi_type: str) -> Any:
    """A value of a one-word ABI type, written where a :class:`Ref` argument goes until it is patched."""
    if abi_type.startswith(("uint", "int")):
        return 0
    if abi_type == "address":
        return "0x" + "00" * 20
    if abi_type == "bool":
        return False
    if abi_type.startswith("bytes") and abi_type != "bytes":
        return b"\0" * int(abi_type[5:])
    raise ValueError(f"a Ref can only stand for a one-word argument, not {abi_type}")


def _static_leaves(abi_type: str) -> list[str] | None:
    """The one-word types a static ABI type is encoded as, in order (a static tuple is encoded in place);
    None for a dynamic type."""
    if abi_type.startswith("(") and abi_type.endswith(")"):
        leaves: list[str] = []
        depth, start = 0, 1
        for position, char in enumerate(abi_type[1:-1] + ",", start=1):
            depth += char == "("
            depth -= char == ")"
            if char == "," and depth == 0:
                inner = _static_leaves(abi_type[start:position])
                if inner is None:
                    return None
                leaves += inner
                start = position + 1
        return leaves
    if abi_type.endswith("]") or abi_type in ("bytes", "string"):
        return None
    return [abi_type]


def _refs(value: Any) -> bool:
    return isinstance(value, Ref) or isinstance(value, tuple | list) and any(_refs(v) for v in value)


def _fill_refs(value: Any, leaves: list[str], word: list[int], found: list[tuple[int, Ref]]) -> Any:
    """``value`` (one argument, a static tuple possibly) with its Refs replaced by placeholders; each Ref's
    head word is added to ``found``."""
    if isinstance(value, tuple | list):
        return tuple(_fill_refs(item, leaves, word, found) for item in value)
    leaf = leaves[word[0]]
    word[0] += 1
    if isinstance(value, Ref):
        found.append((word[0] - 1, value))
        return _placeholder(leaf)
    return value


def _encode(call: Call, index: dict[Hashable, int]) -> tuple[Any, ...]:
    """``(block, to, calldata[, patches])`` of a call; its Refs become patches of sources in ``index``.
    A Ref may stand for the target or for a one-word value anywhere in the static arguments that come
    before the first dynamic one (a static tuple's members included)."""
    patches = []
    to = call.to
    if isinstance(to, Ref):
        patches.append(Patch(index[to.key], to.word, TARGET))
        to = "0x" + "00" * 20
    args, head = list(call.args), 0
    for position, (abi_type, arg) in enumerate(zip(call.fn.input_types, call.args)):
        leaves = _static_leaves(abi_type)
        if _refs(arg):
            if leaves is None or head < 0:
                raise ValueError(f"{call.fn.name}: a Ref must stand for a one-word value before any dynamic argument")
            found: list[tuple[int, Ref]] = []
            args[position] = _fill_refs(arg, leaves, [0], found)
            patches += [Patch(index[ref.key], ref.word, argument_offset(head + word)) for word, ref in found]
        head = -1 if leaves is None or head < 0 else head + len(leaves)
    data = call.fn.encode(*args)
    return (call.block, to, data, tuple(patches)) if patches else (call.block, to, data)


def _ordered(calls: dict[Hashable, Call]) -> list[Hashable]:
    """The keys of ``calls`` with every Ref's source before the call that takes it."""
    order: list[Hashable] = []
    seen: set[Hashable] = set()

    def visit(key: Hashable, path: tuple[Hashable, ...]) -> None:
        if key in seen:
            return
        if key in path:
            raise ValueError(f"calls refer to each other in a cycle: {key}")
        if key not in calls:
            raise ValueError(f"a Ref names {key}, which is not a call of the same read")
        call = calls[key]
        for ref in (call.to, *call.args):
            if isinstance(ref, Ref):
                visit(ref.key, (*path, key))
        seen.add(key)
        order.append(key)

    for key in calls:
        visit(key, ())
    return order


async def read_calls(state: StateCaller, calls: dict[Hashable, Call]) -> dict[Hashable, tuple[Any, ...] | CallFailed]:
    """Run typed calls (batched by the state reader, across blocks; calls with :class:`Ref` s in the same
    ``eth_call`` as their sources when the reader contract runs them) and decode their outputs.

    A reverting call, or one whose source failed, yields a :class:`CallFailed` for its key; errors that
    concern the node as a whole (unreachable, no archive state) propagate.
    """
    keys = _ordered(calls)
    index = {key: position for position, key in enumerate(keys)}
    raw = await state.call_many([_encode(calls[k], index) for k in keys])
    results: dict[Hashable, tuple[Any, ...] | CallFailed] = {}
    for key, answer in zip(keys, raw):
        call = calls[key]
        to = call.to if not isinstance(call.to, Ref) else f"the address {_name(call.to.key)} answered"
        if isinstance(answer, Exception):
            how = "was not run (a call it depends on failed)" if "not run" in str(answer) else "reverted"
            results[key] = CallFailed(f"{call.fn.name} on {to} {how} at block {call.block}")
            continue
        try:
            results[key] = call.fn.decode_output(answer)
        except Exception:  # eth-abi raises several types for short or malformed return data
            results[key] = CallFailed(f"{call.fn.name} on {to} returned undecodable data at block {call.block}")
    return results


def _name(key: Hashable) -> str:
    return str(key[0]) if isinstance(key, tuple) and key else str(key)


class StateRounds:
    """The answers of dependent rounds of batched ``eth_call``s, keyed by what each call reads.

    Adapters' enrichments subclass it: a round's calls often depend on earlier answers (the oracle
    address before the prices), so calls go out round by round with :meth:`_round` and are looked
    up with :meth:`_get`; :meth:`_fill` turns the answers into each row's state columns.
    """

    def __init__(self, state: StateCaller, deployment: Deployment, rows: list[dict[str, Any]]) -> None:
        self.state = state
        #: The deployment the rows belong to.
        self.deployment = deployment
        #: The rows whose state columns the rounds fill.
        self.rows = rows
        self.results: dict[Hashable, Any] = {}

    @property
    def chain_id(self) -> int:
        return self.deployment.chain.chain_id

    async def _round(self, calls: dict[Hashable, Call]) -> None:
        if calls:
            self.results.update(await read_calls(self.state, calls))

    def _get(self, key: Hashable) -> tuple[Any, ...]:
        """The decoded answer for ``key``; :class:`CallFailed` when it reverted or was never read
        (an earlier round it depends on failed)."""
        value = self.results.get(key)
        if value is None:
            raise CallFailed(f"{key[0] if isinstance(key, tuple) else key} was not read")
        if isinstance(value, CallFailed):
            raise value
        return value

    @staticmethod
    def _fill(rows: list[dict[str, Any]], columns_of: Callable[[dict[str, Any]], dict[str, Any]]) -> None:
        """Update each row with ``columns_of(row)`` and ``state_status`` ``ok`` (or the ``partial: ...`` status
        the columns carry), or record why its state is unavailable."""
        for row in rows:
            try:
                columns = columns_of(row)
                status = columns.pop("state_status", None)  # "partial: ..." when something was not read
                row.update(columns)
                row["state_status"] = status or "ok"
            except CallFailed as failure:
                row["state_status"] = f"unavailable: {failure}"
