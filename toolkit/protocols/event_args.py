"""The ``event_args`` column: every argument of a row's event, exactly, as a JSON object (text).

A row's normalized columns keep what the schema foresaw; ``event_args`` keeps everything the log
said, so a field no column holds (Aave v1 ``accruedBorrowInterest``, Maker ``Bite.art``, ``Bite.tab``
in rad, Comet ``AbsorbDebt.usdValue`` before it is split over the legs, ...) is still in the store.

Form (``docs/schema.md``, column ``event_args``):

* the keys are the event's input names in the order of its ABI declaration;
* integers are base-10 strings (exact at any size: a JSON number would lose digits above 2^53 in most
  readers), addresses and ``bytes32`` lower-case 0x hex, ``bytes`` 0x hex, booleans ``true``/``false``,
  tuples and arrays JSON arrays;
* logs that the adapter joined into the row (Maker ``Kick`` into ``Bark``, Comet ``AbsorbDebt`` into a
  leg, Liquity ``Liquidation`` into each trove, Euler ``DebtSocialized`` into ``Liquidate``, Aave
  ``DeficitCreated`` of the same debt asset, Aave v1 ``OriginationFeeLiquidated``) are listed under
  ``"joined"``: ``[{"event": name, "log_index": n, "args": {...}}, ...]``.

DuckDB reads it with its JSON functions: ``event_args->>'$.tab'``, ``json_extract_string(event_args, '$.art')``.

The column decoder (:func:`event_args_array`) builds the same text for a chunk a column at a time with
Arrow's string kernels, with no Python object per row; :func:`event_args_json` is the row path.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from toolkit.abi import EventSpec

#: One joined log: (event name, log index, its decoded arguments).
Joined = tuple[str, int, Mapping[str, Any]]


def json_value(value: Any) -> Any:
    """A decoded ABI value in its ``event_args`` form (module docstring)."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return str(value)
    if isinstance(value, (bytes, bytearray)):
        return "0x" + bytes(value).hex()
    if isinstance(value, str):
        return value.lower() if value.startswith("0x") else value
    if isinstance(value, (list, tuple)):
        return [json_value(item) for item in value]
    return str(value)


def args_object(names: Iterable[str], values: Mapping[str, Any]) -> dict[str, Any]:
    """``{name: json_value(values[name])}`` in the order of ``names`` (names missing from ``values`` are left out)."""
    return {name: json_value(values[name]) for name in names if name in values}


def spec_args(spec: EventSpec, values: Mapping[str, Any]) -> dict[str, Any]:
    """The arguments of one log of ``spec``, in declaration order."""
    return args_object((name for name, _, _ in spec.inputs), values)


def event_args_json(args: Mapping[str, Any], joined: Iterable[Joined] = ()) -> str:
    """The ``event_args`` text of a row: its event's ``args`` (already in :func:`json_value` form, e.g.
    from :func:`spec_args`) and the logs joined into it."""
    document: dict[str, Any] = dict(args)
    extra = [{"event": name, "log_index": int(index), "args": dict(values)} for name, index, values in joined]
    if extra:
        document["joined"] = extra
    return json.dumps(document, separators=(",", ":"))


def log_args_json(spec: EventSpec, values: Mapping[str, Any], joined: Iterable[Joined] = ()) -> str:
    """:func:`event_args_json` of one decoded log of ``spec``."""
    return event_args_json(spec_args(spec, values), joined)


def with_joined(text: str, logs: Iterable[Joined]) -> str:
    """An ``event_args`` text with more joined logs (the row's own arguments kept as they are)."""
    document = json.loads(text)
    return event_args_json({k: v for k, v in document.items() if k != "joined"},
                           [*((j["event"], j["log_index"], j["args"]) for j in document.get("joined", [])), *logs])


def joined(spec: EventSpec, log_index: int, values: Mapping[str, Any]) -> Joined:
    """A joined log of ``spec`` (its arguments in ``event_args`` form)."""
    return spec.name, log_index, spec_args(spec, values)


def event_args_array(spec: EventSpec, values: Mapping[str, pa.Array]) -> pa.Array:
    """:func:`log_args_json` for a chunk decoded a column at a time (:meth:`EventSpec.decode_arrays`:
    integers already base-10 strings, addresses and ``bytes32`` lower-case hex, booleans Arrow booleans),
    concatenated by Arrow's string kernels. The names and hex or decimal digits need no JSON escaping."""
    parts: list[Any] = []
    opening = "{"
    for name, _, _ in spec.inputs:
        array = values[name]
        if pa.types.is_boolean(array.type):
            parts += [f'{opening}"{name}":', pc.cast(array, pa.string())]
        else:
            parts += [f'{opening}"{name}":"', array, '"']
        opening = ","
    if not parts:
        raise ValueError(f"{spec.name} has no inputs to put in event_args")
    parts.append("}")
    merged: list[Any] = []
    for part in parts:  # adjacent literals as one scalar: fewer arguments for the kernel
        if isinstance(part, str) and merged and isinstance(merged[-1], str):
            merged[-1] += part
        else:
            merged.append(part)
    return pc.binary_join_element_wise(*merged, "")
