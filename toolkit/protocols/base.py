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
from toolkit.hexarrays import quantities
from toolkit.protocols.event_args import event_args_array, log_args_json
from toolkit.protocols.registry import Deployment


class StateCaller(Protocol):
    """The part of :class:`toolkit.chain.calls.StateReader` adapters use."""

    async def call_many(self, calls: list[tuple[int, str, bytes]]) -> list[bytes | Exception]:
        """``eth_call`` each ``(block, to, calldata)``; a revert comes back as an Exception item."""


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
class Call:
    """One typed ``eth_call``: function ``fn`` of contract ``to`` with ``args`` at ``block``."""

    block: int
    to: str
    fn: FunctionSpec
    args: tuple[Any, ...] = ()


class CallFailed(Exception):
    """A single ``eth_call`` reverted or returned data that does not decode."""


async def read_calls(state: StateCaller, calls: dict[Hashable, Call]) -> dict[Hashable, tuple[Any, ...] | CallFailed]:
    """Run typed calls (batched by the state reader, across blocks) and decode their outputs.

    A reverting call yields a :class:`CallFailed` for its key; errors that concern the node as a
    whole (unreachable, no archive state) propagate.
    """
    keys = list(calls)
    raw = await state.call_many([(calls[k].block, calls[k].to, calls[k].fn.encode(*calls[k].args)) for k in keys])
    results: dict[Hashable, tuple[Any, ...] | CallFailed] = {}
    for key, answer in zip(keys, raw):
        call = calls[key]
        if isinstance(answer, Exception):
            results[key] = CallFailed(f"{call.fn.name} on {call.to} reverted at block {call.block}")
            continue
        try:
            results[key] = call.fn.decode_output(answer)
        except Exception:  # eth-abi raises several types for short or malformed return data
            results[key] = CallFailed(f"{call.fn.name} on {call.to} returned undecodable data at block {call.block}")
    return results


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
        """Update each row with ``columns_of(row)`` and ``state_status`` ``ok``, or record why its state
        is unavailable."""
        for row in rows:
            try:
                row.update(columns_of(row))
                row["state_status"] = "ok"
            except CallFailed as failure:
                row["state_status"] = f"unavailable: {failure}"
