"""``eth_getLogs`` answers read straight into Arrow columns, with no Python object per log.

A node answers ``eth_getLogs`` with a JSON object per log, about 900 bytes for a ``LiquidationCall``
(bench/bench_pull.py's 100,000 logs are 89 MB of JSON). Parsed with orjson, each log becomes a dict,
a list and about ten strings, which the column decoders (:mod:`toolkit.hexarrays`) then gather back
into columns. Arrow's JSON reader (C++, without the GIL) instead parses the whole answer as one JSON
row against :data:`LOG_FIELDS` and hands over the columns. On those 89 MB: 0.24 s of CPU, against
0.41 s for orjson's dicts before any column is built (best of 3, 2-core machine of the README's
Performance section).

:func:`read_logs_answer` takes only what it can take exactly. For anything else it returns None and
the client parses the body with orjson as always, so errors and their messages stay those of the
dict path:

* a body that is not one JSON object: a JSON-RPC batch, a truncated body, two objects; a body of
  2 GiB or more (:data:`MAX_ANSWER_BYTES`);
* an error object instead of a result, or a null result;
* a field of another JSON type than nodes send (a number where a hex quantity is expected), a field
  given twice, a required field missing or null (the ``blockHash`` of a pending log), a null topic.

Fields a client adds beyond :data:`LOG_FIELDS` are ignored; anvil's ``blockTimestamp`` is kept.

:data:`Logs` is either form; the helpers below read a field, a row or a reordering of both alike.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pa_json

from toolkit.hexarrays import quantities

#: The fields of a log that are read (JSON-RPC ``eth_getLogs``; hex strings as sent, ``removed`` a boolean).
LOG_FIELDS = pa.struct([
    ("address", pa.string()),
    ("topics", pa.list_(pa.string())),
    ("data", pa.string()),
    ("blockNumber", pa.string()),
    ("blockHash", pa.string()),
    ("blockTimestamp", pa.string()),
    ("transactionHash", pa.string()),
    ("transactionIndex", pa.string()),
    ("logIndex", pa.string()),
    ("removed", pa.bool_()),
])

#: Fields every log of an answer taken as columns has, not null.
REQUIRED_FIELDS = ("address", "topics", "data", "blockNumber", "blockHash", "transactionHash",
                   "transactionIndex", "logIndex")

_ANSWER = pa.schema([("result", pa.list_(LOG_FIELDS))])
# newlines_in_values: an answer may span lines (geth ends each with a newline; some proxies pretty-print).
_PARSE = pa_json.ParseOptions(explicit_schema=_ANSWER, unexpected_field_behavior="ignore", newlines_in_values=True)

#: Longest answer Arrow's reader takes as one block (its block size is an int32); longer ones are left to orjson.
MAX_ANSWER_BYTES = 2**31 - 2

#: The logs of one answer: parsed JSON (a dict per log), or columns (:func:`read_logs_answer`).
Logs = list[dict[str, Any]] | pa.Table


def read_logs_answer(body: bytes) -> pa.Table | None:
    """The ``result`` of a JSON-RPC ``eth_getLogs`` answer as a table of :data:`LOG_FIELDS` columns,
    a row per log; None when the body is not such an answer of regular logs (see the module docstring)."""
    if len(body) > MAX_ANSWER_BYTES:
        return None
    options = pa_json.ReadOptions(use_threads=False, block_size=len(body) + 1)
    try:
        answer = pa_json.read_json(pa.BufferReader(body), read_options=options, parse_options=_PARSE)
    except pa.ArrowException:  # not JSON, or not of this shape: the JSON parser says what is wrong
        return None
    if answer.num_rows != 1:
        return None
    result = answer.column("result").chunk(0)
    if result.null_count:
        return None
    logs = pa.Table.from_struct_array(result.flatten())
    if any(logs.column(name).null_count for name in REQUIRED_FIELDS):
        return None
    if _one_array(logs.column("topics")).flatten().null_count:
        return None
    return logs


def log_field(logs: Logs, key: str) -> list[Any] | pa.Array:
    """Field ``key`` of every log (``KeyError``/``TypeError`` for a parsed log without it, or not a dict)."""
    if isinstance(logs, pa.Table):
        return _one_array(logs.column(key))
    return [log[key] for log in logs]


def optional_field(logs: Logs, key: str) -> list[Any] | pa.Array:
    """Field ``key`` of every log, None (null) where a log lacks it (``AttributeError`` for a parsed log
    that is not a dict)."""
    if isinstance(logs, pa.Table):
        return _one_array(logs.column(key))
    return [log.get(key) for log in logs]


def _one_array(column: pa.ChunkedArray) -> pa.Array:
    """A table column as one array: its only chunk as it is (a slice of the answer's, no copy)."""
    return column.chunk(0) if column.num_chunks == 1 else column.combine_chunks()


def first_removed(logs: Logs) -> int | None:
    """Position of the first log marked ``removed: true`` (reorganized away), or None."""
    if isinstance(logs, pa.Table):
        removed = logs.column("removed")
        # pc.any first: ``index`` alone took 0.22 s on a 10,000-log answer (pyarrow 26.0.1), ``any`` under 0.1 ms.
        return removed.index(True).as_py() if pc.any(removed).as_py() else None
    flags = [log.get("removed") for log in logs]
    return flags.index(True) if True in flags else None


def log_dicts(logs: Logs) -> list[dict[str, Any]]:
    """The logs as dicts, for the row-by-row decoders (an absent optional field of a column log is None)."""
    return logs.to_pylist() if isinstance(logs, pa.Table) else logs


def log_at(logs: Logs, index: int) -> dict[str, Any]:
    """Log ``index`` as a dict."""
    return logs.slice(index, 1).to_pylist()[0] if isinstance(logs, pa.Table) else logs[index]


def reordered(logs: Logs, order: np.ndarray) -> Logs:
    """The logs in the order of the positions ``order``."""
    return logs.take(order) if isinstance(logs, pa.Table) else [logs[k] for k in order]


def positions(logs: Logs) -> tuple[np.ndarray, np.ndarray]:
    """Block numbers and log indexes of ``logs`` as int64 arrays (a column at a time when all are
    regular hex quantities, else log by log, which raises for the first malformed one)."""
    blocks, indexes = (quantities(log_field(logs, key)) for key in ("blockNumber", "logIndex"))
    if blocks is None or indexes is None:
        parsed = log_dicts(logs)
        return (np.array([int(log["blockNumber"], 16) for log in parsed], np.int64),
                np.array([int(log["logIndex"], 16) for log in parsed], np.int64))
    return blocks.to_numpy(), indexes.to_numpy()
