"""Contract ABIs from ``abis/``: event decoding and view-call encoding, exact integers throughout.

Events are decoded straight from the log's hex ``topics`` and ``data``. When every non-indexed
input is a static 32-byte type (true of every liquidation event the toolkit reads), the data words
are sliced directly, which is an order of magnitude faster than a generic ABI decoder on hot paths;
any other layout goes through :func:`eth_abi.decode`. Both give the same values
(``tests/test_abi.py`` checks the fast path against eth-abi on every fixture log).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from eth_abi import decode as abi_decode
from eth_abi import encode as abi_encode
from eth_utils import keccak

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


def _word_value(abi_type: str, word: str) -> Any:
    """Value of one 32-byte word given as 64 hex characters (no 0x)."""
    if abi_type == "address":
        return "0x" + word[24:]
    if abi_type == "bool":
        value = int(word, 16)
        if value > 1:
            raise LogDecodeError(f"bool word is {value}, expected 0 or 1")
        return value == 1
    if abi_type == "bytes32":
        return "0x" + word
    value = int(word, 16)
    if abi_type.startswith("int"):
        bits = int(abi_type[3:] or 256)
        if value >= 1 << 255:
            value -= 1 << 256
        if not -(1 << (bits - 1)) <= value < 1 << (bits - 1):
            raise LogDecodeError(f"{abi_type} word out of range")
    elif abi_type.startswith("uint"):
        bits = int(abi_type[4:] or 256)
        if value >= 1 << bits:
            raise LogDecodeError(f"{abi_type} word out of range")
    return value


def _hex_body(value: str, what: str) -> str:
    if not isinstance(value, str) or not value.startswith("0x"):
        raise LogDecodeError(f"{what} is not a 0x-prefixed hex string")
    body = value[2:].lower()
    try:
        bytes.fromhex(body)
    except ValueError:
        raise LogDecodeError(f"{what} is not valid hex") from None
    return body


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
        """Decode a log's ``topics`` and ``data`` (hex strings) into ``{input name: value}``.

        Integers are exact Python ints, addresses lower-case hex, ``bytes32`` 0x-hex.
        Raises :class:`LogDecodeError` with the reason when the log does not fit the layout.
        """
        if not topics or topics[0].lower() != self.topic0:
            raise LogDecodeError(f"topic0 is not {self.name}")
        if len(topics) != 1 + len(self.indexed):
            raise LogDecodeError(
                f"{self.name} has {1 + len(self.indexed)} topics, the log has {len(topics)}"
            )
        values: dict[str, Any] = {}
        for (name, abi_type), topic in zip(self.indexed, topics[1:]):
            word = _hex_body(topic, "topic")
            if len(word) != 64:
                raise LogDecodeError(f"topic for {name} is not 32 bytes")
            values[name] = _word_value(abi_type, word) if _is_static_word(abi_type) else "0x" + word
        body = _hex_body(data, "data")
        types = [t for _, t in self.data_inputs]
        if all(_is_static_word(t) for t in types):
            if len(body) != 64 * len(types):
                raise LogDecodeError(
                    f"{self.name} data is {len(body) // 2} bytes, expected {32 * len(types)}"
                )
            for k, (name, abi_type) in enumerate(self.data_inputs):
                values[name] = _word_value(abi_type, body[64 * k: 64 * (k + 1)])
            return values
        try:
            decoded = abi_decode(types, bytes.fromhex(body), strict=True)
        except Exception as exc:  # eth-abi raises several unrelated types for malformed data
            raise LogDecodeError(f"{self.name} data does not decode: {exc}") from None
        for (name, _), value in zip(self.data_inputs, decoded):
            values[name] = value.lower() if isinstance(value, str) else value
        return values


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
        return self.selector + abi_encode(list(self.input_types), list(args))

    def decode_output(self, data: bytes) -> tuple[Any, ...]:
        """Decode the return data; addresses come back lower-case."""
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
    return EventSpec(entry["name"], signature, "0x" + keccak(text=signature).hex(), inputs)


def _function_spec(entry: dict[str, Any]) -> FunctionSpec:
    input_types = tuple(_canonical_type(i) for i in entry["inputs"])
    output_types = tuple(_canonical_type(o) for o in entry.get("outputs", []))
    signature = f"{entry['name']}({','.join(input_types)})"
    return FunctionSpec(entry["name"], signature, keccak(text=signature)[:4], input_types, output_types)


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
