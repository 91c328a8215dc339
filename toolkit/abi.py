"""Contract ABIs from ``abis/``: event decoding and view-call encoding, exact integers throughout.

Events are decoded straight from the log's hex ``topics`` and ``data``, a column of logs at a time
(:meth:`EventSpec.decode_columns`; one log is a column of one). When every non-indexed input is a
static 32-byte type (true of every liquidation event the toolkit reads), the data words are sliced
directly, which is an order of magnitude faster than a generic ABI decoder on hot paths; any other
layout goes through :func:`eth_abi.decode`. Both give the same values (``tests/test_abi.py`` checks
the fast path against eth-abi on every fixture log). :meth:`EventSpec.decode_arrays` decodes the same
static layouts into Arrow arrays with numpy (:mod:`toolkit.hexarrays`), what a pull without state
reads stores; it agrees with :meth:`EventSpec.decode_columns` value for value (tests/test_abi.py).

eth-abi (about 0.15 s to import) is imported only by the paths that need it: other layouts and
view-call encoding.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from itertools import chain, repeat
from operator import itemgetter
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from eth_hash.auto import keccak

from toolkit.hexarrays import fixed_hex, hex_strings, word_decimal_strings

#: Directory holding the ABI JSON files (``toolkit/abis`` links to the repository's ``abis/``).
ABI_DIR = Path(__file__).resolve().parent / "abis"

_STATIC_WORD_TYPES = ("uint", "int", "address", "bool", "bytes32")


class LogDecodeError(ValueError):
    """A log does not match the event layout it claims (wrong topic count, short data, bad hex)."""


def _canonical_type(entry: dict[str, Any]) -> str:
    kind = entry["type"]
    if kind.startswith("tuple"):
        inner = ",".join(_canonical_type(c) for c in entry["components"])
        return f"({inner}){kind[len('tuple'):]}"
    return kind


def _is_static_word(abi_type: str) -> bool:
    return abi_type.startswith(_STATIC_WORD_TYPES) and "[" not in abi_type and abi_type != "bytes"


_ZERO_WORD = "0" * 64
_ONE_WORD = "0" * 63 + "1"


def _word_column(abi_type: str, values: list[str], offset: int) -> list[Any]:
    """Values of the 32-byte words at character ``offset`` of lower-case hex strings (64 characters
    each), one per log.

    Raises :class:`LogDecodeError` for the first word out of its type's range.
    """
    end = offset + 64
    if abi_type == "address":
        if not set(value[offset:offset + 24] for value in values) <= {_ZERO_WORD[:24]}:
            raise LogDecodeError("address word has non-zero upper bytes")
        return ["0x" + value[offset + 24:end] for value in values]
    if abi_type == "bytes32":
        return ["0x" + value[offset:end] for value in values]
    if abi_type == "bool":
        words = [value[offset:end] for value in values]
        if not set(words) <= {_ZERO_WORD, _ONE_WORD}:
            bad = next(word for word in words if word not in (_ZERO_WORD, _ONE_WORD))
            raise LogDecodeError(f"bool word is {int(bad, 16)}, expected 0 or 1")
        return [word == _ONE_WORD for word in words]
    numbers = [int(value[offset:end], 16) for value in values]
    if abi_type.startswith("int"):
        bits = int(abi_type[3:] or 256)
        numbers = [number - (1 << 256) if number >= 1 << 255 else number for number in numbers]
        if numbers and not (-(1 << (bits - 1)) <= min(numbers) and max(numbers) < 1 << (bits - 1)):
            raise LogDecodeError(f"{abi_type} word out of range")
    elif abi_type.startswith("uint"):
        bits = int(abi_type[4:] or 256)
        if bits < 256 and numbers and max(numbers) >= 1 << bits:
            raise LogDecodeError(f"{abi_type} word out of range")
    return numbers


def _word_array(abi_type: str, rows: np.ndarray, offset: int) -> pa.Array | None:
    """:func:`_word_column` of the 32-byte words at byte ``offset`` of each row (``(n, width)`` uint8), as
    an Arrow array (integers as base-10 strings); None for a word out of its type's range (the caller's
    slow path says which)."""
    words = rows[:, offset:offset + 32]
    if abi_type == "address":
        return hex_strings(words[:, 12:]) if not words[:, :12].any() else None
    if abi_type == "bytes32":
        return hex_strings(words)
    if abi_type == "bool":
        return pa.array(words[:, 31] == 1) if not words[:, :31].any() and words[:, 31].max(initial=0) <= 1 else None
    signed = abi_type.startswith("int")
    bits = int(abi_type[3 + (not signed):] or 256)
    head, first = words[:, :32 - bits // 8], words[:, 32 - bits // 8:33 - bits // 8]
    if signed:
        # Sign extension: above an intN, every byte repeats the sign of the value's first byte.
        fill = np.where(first >= 0x80, np.uint8(0xFF), np.uint8(0))
        in_range = bits == 256 or bool(np.all(head == fill))
    else:
        in_range = not head.any()
    return word_decimal_strings(words, signed=signed) if in_range else None


def _flat_topics(topics: Sequence[Any] | pa.ListArray, expected: int) -> Sequence[Any] | pa.Array | None:
    """The topics of all logs one after the other, when every log has ``expected`` of them; else None."""
    if isinstance(topics, pa.Array):
        lengths = pc.list_value_length(topics)
        regular = not topics.null_count and (not len(topics) or pc.min_max(lengths).as_py() == {
            "min": expected, "max": expected})
        return topics.flatten() if regular else None
    try:
        if topics and set(map(len, topics)) != {expected}:
            return None
        return list(chain.from_iterable(topics))
    except TypeError:
        return None


def _hex_body(value: Any, what: str) -> str:
    """The lower-case hex after the 0x of ``value``; :class:`LogDecodeError` unless it is a 0x-prefixed
    string of whole bytes in hex (no spaces)."""
    if not isinstance(value, str) or not value.startswith("0x"):
        raise LogDecodeError(f"{what} is not a 0x-prefixed hex string")
    body = value[2:].lower()
    try:
        whole = len(bytes.fromhex(body)) * 2 == len(body)
    except ValueError:
        whole = False
    if not whole:
        raise LogDecodeError(f"{what} is not valid hex")
    return body


def _hex_strings(values: Sequence[Any], what: str, size: int | None) -> list[str]:
    """The values as lower-case 0x-hex strings, each checked as :func:`_hex_body` does. When all must
    hold ``size`` hex characters they are checked in bulk: their concatenation without the 0x
    prefixes must be ``size`` hex characters per value. Otherwise, or when that fails, each value is
    checked, to raise the first one's error (the caller checks the sizes after)."""
    if size is not None:
        try:
            if all(map(str.startswith, values, repeat("0x"))) and set(map(len, values)) <= {size + 2}:
                text = "".join(values)
                body = text.replace("0x", "")
                if len(body) == len(values) * size and len(bytes.fromhex(body)) * 2 == len(body):
                    return list(values) if text.lower() == text else [value.lower() for value in values]
        except (TypeError, ValueError):
            pass
    return ["0x" + _hex_body(value, what) for value in values]


@dataclass(frozen=True)
class EventSpec:
    """One event: its canonical signature, topic0 and input layout."""

    name: str
    signature: str
    topic0: str
    inputs: tuple[tuple[str, str, bool], ...]  # (name, canonical type, indexed)

    @property
    def indexed(self) -> tuple[tuple[str, str], ...]:
        return tuple((n, t) for n, t, i in self.inputs if i)

    @property
    def data_inputs(self) -> tuple[tuple[str, str], ...]:
        return tuple((n, t) for n, t, i in self.inputs if not i)

    def decode(self, topics: list[str], data: str) -> dict[str, Any]:
        """Decode one log's ``topics`` and ``data`` (hex strings) into ``{input name: value}``
        (:meth:`decode_columns` of that one log)."""
        return {name: column[0] for name, column in self.decode_columns([topics], [data]).items()}

    def decode_columns(self, topics: Sequence[Any], data: Sequence[Any]) -> dict[str, list[Any]]:
        """Decode many logs of this event at once: ``topics[i]`` and ``data[i]`` are log ``i``'s; returns
        ``{input name: [value of log 0, value of log 1, ...]}``.

        Integers are exact Python ints, addresses lower-case hex, ``bytes32`` 0x-hex. Every check runs
        over a whole column (topic0, topic count, each topic, then the data), so one bad log raises
        :class:`LogDecodeError` for all; for a single log the reason is that log's first problem.
        """
        expected = 1 + len(self.indexed)
        try:
            regular = set(map(len, topics)) <= {expected} and set(map(itemgetter(0), topics)) <= {self.topic0}
        except (TypeError, KeyError, IndexError):
            regular = False
        if not regular:
            for log_topics in topics:
                if not isinstance(log_topics, (list, tuple)) or not log_topics or not isinstance(log_topics[0], str) \
                        or log_topics[0].lower() != self.topic0:
                    raise LogDecodeError(f"topic0 is not {self.name}")
                if len(log_topics) != expected:
                    raise LogDecodeError(f"{self.name} has {expected} topics, the log has {len(log_topics)}")
        values: dict[str, list[Any]] = {}
        for position, (name, abi_type) in enumerate(self.indexed, start=1):
            words = _hex_strings(list(map(itemgetter(position), topics)), "topic", 64)
            if not set(map(len, words)) <= {66}:
                raise LogDecodeError(f"topic for {name} is not 32 bytes")
            values[name] = _word_column(abi_type, words, 2) if _is_static_word(abi_type) else words
        types = [t for _, t in self.data_inputs]
        static = all(_is_static_word(t) for t in types)
        size = 64 * len(types)
        strings = _hex_strings(data, "data", size if static else None)
        if static:
            if not set(map(len, strings)) <= {size + 2}:
                short = next(value for value in strings if len(value) != size + 2)
                raise LogDecodeError(f"{self.name} data is {(len(short) - 2) // 2} bytes, expected {size // 2}")
            for k, (name, abi_type) in enumerate(self.data_inputs):
                values[name] = _word_column(abi_type, strings, 2 + 64 * k)
            return values
        from eth_abi import decode as abi_decode

        columns: list[list[Any]] = [[] for _ in types]
        for value in strings:
            try:
                decoded = abi_decode(types, bytes.fromhex(value[2:]), strict=True)
            except Exception as exc:  # eth-abi raises several unrelated types for malformed data
                raise LogDecodeError(f"{self.name} data does not decode: {exc}") from None
            for column, item in zip(columns, decoded):
                column.append(item.lower() if isinstance(item, str) else item)
        values.update({name: column for (name, _), column in zip(self.data_inputs, columns)})
        return values

    def decode_arrays(self, topics: Sequence[Any] | pa.ListArray,
                      data: Sequence[Any] | pa.StringArray) -> dict[str, pa.Array] | None:
        """:meth:`decode_columns` into Arrow arrays, a column at a time in C (:mod:`toolkit.hexarrays`):
        integers as exact base-10 strings (the store's ``*_raw`` form), addresses and ``bytes32``
        lower-case 0x hex, booleans as booleans. ``topics`` and ``data`` are parsed JSON, or Arrow
        columns (:mod:`toolkit.chain.logtable`).

        None when the event has a non-word input, or when a log does not fit the layout (another
        topic0, another topic count, short data, a value out of its type's range): the caller then
        decodes with :meth:`decode_columns`, which raises the reason.
        """
        expected = 1 + len(self.indexed)
        width = 32 * len(self.data_inputs)
        if not all(_is_static_word(t) for _, t, _ in self.inputs):
            return None
        flat = _flat_topics(topics, expected)
        topic_rows = fixed_hex(flat, 32) if flat is not None else None
        data_rows = fixed_hex(data, width)
        if topic_rows is None or data_rows is None:
            return None
        if not np.all(topic_rows[::expected] == np.frombuffer(bytes.fromhex(self.topic0[2:]), np.uint8)):
            return None
        # Topic k of log i is row i * expected + k of the topic rows.
        indexed = [(name, abi_type, topic_rows[k::expected], 0)
                   for k, (name, abi_type) in enumerate(self.indexed, start=1)]
        in_data = [(name, abi_type, data_rows, 32 * k) for k, (name, abi_type) in enumerate(self.data_inputs)]
        arrays = {name: _word_array(abi_type, rows, offset) for name, abi_type, rows, offset in indexed + in_data}
        return None if any(array is None for array in arrays.values()) else arrays


@dataclass(frozen=True)
class FunctionSpec:
    """One view function: selector, input and output types."""

    name: str
    signature: str
    selector: bytes
    input_types: tuple[str, ...]
    output_types: tuple[str, ...]

    def encode(self, *args: Any) -> bytes:
        """Calldata for ``eth_call``: selector + ABI-encoded arguments."""
        from eth_abi import encode as abi_encode

        return self.selector + abi_encode(list(self.input_types), list(args))

    def decode_output(self, data: bytes) -> tuple[Any, ...]:
        """Decode the return data; addresses come back lower-case."""
        from eth_abi import decode as abi_decode

        values = abi_decode(list(self.output_types), data)
        return tuple(v.lower() if isinstance(v, str) and v.startswith("0x") else v for v in values)


@dataclass(frozen=True)
class ContractAbi:
    """The events and functions of one ABI file."""

    path: str
    events: dict[str, EventSpec]
    functions: dict[str, FunctionSpec]

    def event(self, name: str) -> EventSpec:
        return self.events[name]

    def fn(self, name: str) -> FunctionSpec:
        return self.functions[name]


def _event_spec(entry: dict[str, Any]) -> EventSpec:
    inputs = tuple((i["name"], _canonical_type(i), bool(i.get("indexed"))) for i in entry["inputs"])
    signature = f"{entry['name']}({','.join(t for _, t, _ in inputs)})"
    return EventSpec(entry["name"], signature, "0x" + keccak(signature.encode()).hex(), inputs)


def _function_spec(entry: dict[str, Any]) -> FunctionSpec:
    input_types = tuple(_canonical_type(i) for i in entry["inputs"])
    output_types = tuple(_canonical_type(o) for o in entry.get("outputs", []))
    signature = f"{entry['name']}({','.join(input_types)})"
    return FunctionSpec(entry["name"], signature, keccak(signature.encode())[:4], input_types, output_types)


@cache
def load_abi(relative_path: str) -> ContractAbi:
    """Load ``abis/<relative_path>`` (e.g. ``"aave-v3/Pool.json"``)."""
    entries = json.loads((ABI_DIR / relative_path).read_text())
    events = {e["name"]: _event_spec(e) for e in entries if e.get("type") == "event"}
    functions = {e["name"]: _function_spec(e) for e in entries if e.get("type") == "function"}
    return ContractAbi(relative_path, events, functions)


def abi_files() -> list[str]:
    """Every ABI file, as paths relative to :data:`ABI_DIR`, sorted."""
    return sorted(str(p.relative_to(ABI_DIR)) for p in ABI_DIR.rglob("*.json"))


@cache
def event_catalogue() -> dict[str, tuple[str, EventSpec]]:
    """Every event in ``abis/`` by topic0, as ``(abi file, spec)``.

    Forks share signatures (Aave v2 and v3 ``LiquidationCall``), so one topic0 can stand for several
    contracts; the first file in sorted order is kept, which is enough to name and decode the event.
    """
    catalogue: dict[str, tuple[str, EventSpec]] = {}
    for path in abi_files():
        for spec in load_abi(path).events.values():
            catalogue.setdefault(spec.topic0, (path, spec))
    return catalogue
