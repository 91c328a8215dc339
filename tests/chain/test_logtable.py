"""``eth_getLogs`` answers read into Arrow columns (toolkit.chain.logtable) hold exactly what the JSON holds,
and every answer they cannot hold exactly is left to the JSON parser.

The answers are built from the real mainnet receipts of fixtures/mainnet-logs/receipts (logs as nodes
send them: hex quantities, ``removed``), serialized as anvil (compact), geth (a trailing newline) and a
pretty-printing proxy would send them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pytest

from toolkit.chain.logtable import LOG_FIELDS, first_removed, log_at, log_dicts, read_logs_answer, reordered

RECEIPTS = Path(__file__).resolve().parents[2] / "fixtures" / "mainnet-logs" / "receipts"


def _node_logs() -> list[dict[str, Any]]:
    """Every log of the recorded mainnet receipts, in the order of the files and of each receipt."""
    return [log for path in sorted(RECEIPTS.glob("*.json"))
            for log in json.loads(path.read_text())["receipt"]["logs"]]


def _answer(result: Any, **extra: Any) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": 7, "result": result, **extra}


def _as_read(log: dict[str, Any]) -> dict[str, Any]:
    """A log as the columns hold it: the fields of LOG_FIELDS, None where the log has none."""
    return {field.name: log.get(field.name) for field in LOG_FIELDS}


@pytest.mark.parametrize("serialize", [
    pytest.param(orjson.dumps, id="compact"),
    pytest.param(lambda answer: orjson.dumps(answer) + b"\n", id="geth-newline"),
    pytest.param(lambda answer: json.dumps(answer, indent=2).encode(), id="pretty"),
])
def test_the_columns_hold_exactly_the_logs_of_the_answer(serialize) -> None:
    logs = _node_logs()
    assert len(logs) > 20 and all("removed" in log for log in logs)
    table = read_logs_answer(serialize(_answer([{**log, "clientExtra": {"x": [1]}} for log in logs])))
    assert table is not None
    assert table.num_rows == len(logs)
    assert log_dicts(table) == [_as_read(log) for log in logs]


def test_an_empty_result_is_an_empty_table() -> None:
    table = read_logs_answer(orjson.dumps(_answer([])))
    assert table is not None and table.num_rows == 0 and table.schema == pa.schema(list(LOG_FIELDS))


def _without(log: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in log.items() if k != key}


def _declined_bodies() -> list[Any]:
    log = _node_logs()[0]
    good = orjson.dumps(_answer([log]))
    return [
        pytest.param(orjson.dumps({"jsonrpc": "2.0", "id": 7, "error": {"code": -32005, "message": "limit"}}),
                     id="error-object"),
        pytest.param(orjson.dumps(_answer(None)), id="null-result"),
        pytest.param(orjson.dumps([_answer([log])]), id="batch"),
        pytest.param(good[:-40], id="truncated"),
        pytest.param(good + b" " + good, id="two-objects"),
        pytest.param(b"", id="empty-body"),
        pytest.param(orjson.dumps(_answer([{**log, "blockNumber": 14756345}])), id="number-quantity"),
        pytest.param(orjson.dumps(_answer([{**log, "blockHash": None}])), id="pending-log"),
        pytest.param(orjson.dumps(_answer([_without(log, "topics")])), id="no-topics"),
        pytest.param(orjson.dumps(_answer([{**log, "topics": [log["topics"][0], None]}])), id="null-topic"),
        pytest.param(orjson.dumps(_answer([{**log, "removed": "false"}])), id="removed-as-string"),
        pytest.param(good.replace(b'"address":', b'"address":"0x00","address":', 1), id="field-twice"),
        pytest.param(orjson.dumps(_answer({"logs": [log]})), id="result-not-a-list"),
    ]


@pytest.mark.parametrize("body", _declined_bodies())
def test_an_answer_the_columns_cannot_hold_exactly_is_left_to_the_json_parser(body: bytes) -> None:
    assert read_logs_answer(body) is None


def test_rows_removed_flags_and_reordering_read_alike_from_columns_and_dicts() -> None:
    logs = _node_logs()[:6]
    logs[4] = {**logs[4], "removed": True}
    table = read_logs_answer(orjson.dumps(_answer(logs)))
    assert table is not None
    assert first_removed(table) == first_removed(logs) == 4
    assert first_removed(table.slice(0, 4)) is first_removed(logs[:4]) is None
    assert log_at(table, 2) == _as_read(log_at(logs, 2))
    order = np.array([5, 0, 3])
    assert log_dicts(reordered(table, order)) == [_as_read(log) for log in reordered(logs, order)]


def test_an_answer_longer_than_one_arrow_block_is_left_to_the_json_parser(monkeypatch) -> None:
    """Arrow's reader takes one block of less than 2 GiB; the limit, lowered here, declines longer answers."""
    import toolkit.chain.logtable

    body = orjson.dumps(_answer(_node_logs()[:2]))
    monkeypatch.setattr(toolkit.chain.logtable, "MAX_ANSWER_BYTES", len(body))
    assert read_logs_answer(body) is not None
    monkeypatch.setattr(toolkit.chain.logtable, "MAX_ANSWER_BYTES", len(body) - 1)
    assert read_logs_answer(body) is None
