"""Hex strings of JSON-RPC answers to numpy and Arrow arrays, a whole column at a time.

A node sends every log field as a hex string. Converted one by one in Python, each value costs
about a microsecond; a pull of 100,000 logs has more than a million of them. Here a column is joined
into one buffer and checked and converted by C code (``binascii.unhexlify``, numpy indexing, Arrow
casts), so 10,000 values cost about as much as a few dozen single ones (bench/bench_decode.py).

Every function takes the values as parsed from JSON -- Python strings, or an Arrow string array when
the answer was read straight into columns (:mod:`toolkit.chain.logtable`), whose buffer already is
the joined text -- and returns ``None`` when they are not all regular (not a string, wrong length,
not hex): callers then take their value-by-value path, which names the first bad value. Results are
exact: 256-bit words become base-10 strings through Arrow's ``decimal256`` (76 digits, so words
below ``2**252``), and the rare larger ones through Python ints.
"""

from __future__ import annotations

import binascii
from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa

#: Largest first byte of a big-endian word below ``2**252``, the range Arrow's ``decimal256(76, 0)`` holds.
_DECIMAL256_TOP_BYTE = 0x0F


def fixed_hex(values: Sequence[Any] | pa.Array, width: int) -> np.ndarray | None:
    """The bytes ``values`` spell, as ``(n, width)`` uint8, when every one is a ``0x``-prefixed string
    of exactly ``width`` bytes in hex digits of either case; else None."""
    size = 2 + 2 * width
    chars = _arrow_chars(values, size) if isinstance(values, pa.Array) else _joined_chars(values, size)
    if chars is None or not (np.all(chars[:, 0] == ord("0")) and np.all(chars[:, 1] == ord("x"))):
        return None
    try:
        raw = binascii.unhexlify(chars[:, 2:].tobytes())  # either case
    except binascii.Error:
        return None
    return np.frombuffer(raw, np.uint8).reshape(len(values), width)


def _joined_chars(values: Sequence[Any], size: int) -> np.ndarray | None:
    """Python strings of ``size`` ASCII characters each as ``(n, size)`` uint8; None when one is not."""
    try:
        text = "".join(values)
    except TypeError:
        return None
    if len(text) != len(values) * size or not text.isascii() or set(map(len, values)) - {size}:
        return None
    return np.frombuffer(text.encode("ascii"), np.uint8).reshape(len(values), size)


def _arrow_chars(values: pa.Array, size: int) -> np.ndarray | None:
    """An Arrow string array whose values are ``size`` bytes each as ``(n, size)`` uint8, a view of its
    data buffer (no copy); None for another type, a null, or another length."""
    if values.type != pa.string() or values.null_count:
        return None
    n = len(values)
    if n == 0:
        return np.empty((0, size), np.uint8)
    _, offsets_buffer, data = values.buffers()
    offsets = np.frombuffer(offsets_buffer, np.int32, n + 1, values.offset * 4)
    if not np.all(np.diff(offsets) == size):
        return None
    return np.frombuffer(data, np.uint8, n * size, int(offsets[0])).reshape(n, size)


def hex_strings(raw: np.ndarray) -> pa.StringArray:
    """Rows of bytes (``(n, k)`` uint8) as lower-case ``0x``-prefixed hex strings (addresses, hashes)."""
    n, k = raw.shape
    chars = np.empty((n, 2 + 2 * k), np.uint8)
    chars[:, 0], chars[:, 1] = ord("0"), ord("x")
    chars[:, 2:] = np.frombuffer(binascii.hexlify(np.ascontiguousarray(raw).tobytes()), np.uint8).reshape(n, 2 * k)
    offsets = np.arange(0, (n + 1) * (2 + 2 * k), 2 + 2 * k, dtype=np.int32)
    return pa.Array.from_buffers(pa.string(), n, [None, pa.py_buffer(offsets), pa.py_buffer(chars)])


def word_decimal_strings(words: np.ndarray, *, signed: bool = False) -> pa.StringArray:
    """256-bit big-endian words (``(n, 32)`` uint8) as exact base-10 strings, unsigned or two's
    complement. Arrow's ``decimal256(76, 0)`` (little-endian two's complement) formats words whose
    magnitude is below ``2**252``; a column holding a larger one is formatted by Python ints."""
    top = words[:, 0]
    in_range = top <= _DECIMAL256_TOP_BYTE
    if signed:
        in_range |= top >= 0xFF - _DECIMAL256_TOP_BYTE
    if in_range.all():
        little = np.ascontiguousarray(words[:, ::-1])
        decimals = pa.Array.from_buffers(pa.decimal256(76, 0), len(words), [None, pa.py_buffer(little)])
        return decimals.cast(pa.string())
    return pa.array([str(int.from_bytes(word.tobytes(), "big", signed=signed)) for word in words], pa.string())


def quantities(values: Sequence[Any] | pa.Array) -> pa.Int64Array | None:
    """JSON-RPC hex quantities (``"0x1a"``) as int64, each distinct value converted once (block
    numbers, log and transaction indexes repeat); None unless all are ``0x`` strings below ``2**63``."""
    try:
        strings = values if isinstance(values, pa.Array) else pa.array(values, pa.string())
        encoded = strings.dictionary_encode()
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return None
    if strings.type != pa.string():
        return None
    if encoded.null_count:
        return None
    distinct = encoded.dictionary.to_pylist()
    try:
        numbers = [int(value, 16) for value in distinct if value.startswith("0x")]
    except ValueError:
        return None
    if len(numbers) != len(distinct) or (numbers and max(numbers) >= 1 << 63):
        return None
    return pa.array(numbers, pa.int64()).take(encoded.indices)
