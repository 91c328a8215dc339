"""The column-at-a-time decoders (toolkit.hexarrays, ``EventSpec.decode_arrays``, ``identity_arrays``,
the Aave adapter's ``decode_columns``) give exactly what the value-by-value decoders give.

The value-by-value paths are themselves checked against eth-abi and independently published mainnet
values (tests/test_abi.py); here the fast paths must agree with them on real mainnet logs, on devchain
logs, and on generated logs of every static word type, and must decline (None) exactly where the slow
path raises, so that it names the problem.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from toolkit.abi import EventSpec, LogDecodeError, event_catalogue
from toolkit.chain.logtable import read_logs_answer
from toolkit.hexarrays import fixed_hex, hex_strings, quantities, word_decimal_strings
from toolkit.protocols import adapter_for, registry
from toolkit.protocols.base import column_rows, identity_arrays, identity_columns
from toolkit.protocols.discovery import expand_offline

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "mainnet-logs"


def _raw_logs() -> list[dict[str, Any]]:
    return [json.loads(line) for line in (FIXTURES / "raw_liquidation_logs.jsonl").read_text().splitlines()]


def _as_strings(values: dict[str, list[Any]]) -> dict[str, list[Any]]:
    """decode_columns' values in decode_arrays' form: integers (not booleans) as base-10 strings."""
    return {name: [str(v) if isinstance(v, int) and not isinstance(v, bool) else v for v in column]
            for name, column in values.items()}


@pytest.mark.parametrize("index", range(10))
def test_decode_arrays_equals_decode_columns_on_mainnet_logs(index: int) -> None:
    log = _raw_logs()[index]
    _, spec = event_catalogue()[log["topics"][0]]
    arrays = spec.decode_arrays([log["topics"]], [log["data"]])
    assert arrays is not None
    assert {name: array.to_pylist() for name, array in arrays.items()} == _as_strings(
        spec.decode_columns([log["topics"]], [log["data"]]))


_WORD_TYPES = ["address", "bool", "bytes32", "uint8", "uint64", "uint128", "uint256", "int8", "int24", "int128",
               "int256"]


@st.composite
def _events_and_logs(draw: st.DrawFn) -> tuple[EventSpec, list[list[str]], list[str]]:
    """A static-layout event and logs of it: words in range or out of it, hex in either case."""
    types = draw(st.lists(st.sampled_from(_WORD_TYPES), min_size=1, max_size=5))
    indexed = draw(st.lists(st.booleans(), min_size=len(types), max_size=len(types)))
    inputs = tuple((f"a{k}", t, i and sum(indexed[:k]) < 3) for k, (t, i) in enumerate(zip(types, indexed)))
    spec = EventSpec("E", "E()", "0x" + "ab" * 32, inputs)

    def word(abi_type: str) -> str:
        if draw(st.integers(0, 9)) == 0:  # sometimes any 256 bits: often out of the type's range
            return f"{draw(st.integers(0, 2**256 - 1)):064x}"
        if abi_type == "address":
            return f"{draw(st.integers(0, 2**160 - 1)):064x}"
        if abi_type == "bool":
            return f"{draw(st.integers(0, 1)):064x}"
        if abi_type == "bytes32":
            return f"{draw(st.integers(0, 2**256 - 1)):064x}"
        bits = int(abi_type.lstrip("uint"))
        if abi_type.startswith("u"):
            return f"{draw(st.integers(0, 2**bits - 1)):064x}"
        return f"{draw(st.integers(-(2**(bits - 1)), 2**(bits - 1) - 1)) % 2**256:064x}"

    def case(text: str) -> str:
        return text.upper() if draw(st.integers(0, 4)) == 0 else text

    n = draw(st.integers(0, 6))
    topics = [[spec.topic0] + ["0x" + case(word(t)) for _, t in spec.indexed] for _ in range(n)]
    data = ["0x" + case("".join(word(t) for _, t in spec.data_inputs)) for _ in range(n)]
    return spec, topics, data


@settings(max_examples=300, deadline=None, derandomize=True)
@given(_events_and_logs())
def test_decode_arrays_agrees_with_decode_columns_or_declines_where_it_raises(
        case: tuple[EventSpec, list[list[str]], list[str]]) -> None:
    spec, topics, data = case
    try:
        expected = _as_strings(spec.decode_columns(topics, data))
    except LogDecodeError:
        expected = None
    arrays = spec.decode_arrays(topics, data)
    assert (None if arrays is None else {name: array.to_pylist() for name, array in arrays.items()}) == expected
    # The same logs as Arrow columns (an answer read by toolkit.chain.logtable), behind one log of
    # offset, as a chunk cut from a longer answer is.
    column_topics = pa.array([[spec.topic0]] + topics, pa.list_(pa.string())).slice(1)
    column_data = pa.array(["0x"] + data, pa.string()).slice(1)
    from_columns = spec.decode_arrays(column_topics, column_data)
    assert (None if from_columns is None else {name: array.to_pylist() for name, array in from_columns.items()}) \
        == expected


@pytest.mark.parametrize("value", [0, 1, 10**18, 2**252 - 1, 2**252, 10**76 - 1, 10**76, 2**256 - 1])
def test_word_decimal_strings_is_exact_at_the_decimal256_edges(value: int) -> None:
    words = np.frombuffer(value.to_bytes(32, "big") * 3, np.uint8).reshape(3, 32)
    assert word_decimal_strings(words).to_pylist() == [str(value)] * 3


@pytest.mark.parametrize("value", [-1, -(2**252), -(2**252) - 1, 2**252 - 1, -(2**255), 2**255 - 1])
def test_signed_words_are_exact_at_the_edges(value: int) -> None:
    words = np.frombuffer(value.to_bytes(32, "big", signed=True) * 2, np.uint8).reshape(2, 32)
    assert word_decimal_strings(words, signed=True).to_pylist() == [str(value)] * 2


@pytest.mark.parametrize("values", [["0xab", "0xabcd"], ["0xabc", "0xa"], ["0xzz", "0x00"], ["ab00", "0x00"],
                                    [None, "0x00"], ["0xab" + "\u00e9", "0x000"], ["0x0x", "0x00"], ["0y00", "0x00"],
                                    ["0X00", "0x00"]])
def test_fixed_hex_declines_irregular_values(values: list[Any]) -> None:
    assert fixed_hex(values, 1) is None


@pytest.mark.parametrize("values", [["0xab", "0xabcd"], ["0xabc", "0xa"], ["0xzz", "0x00"], ["ab00", "0x00"],
                                    [None, "0x00"], ["0xa\u00e9", "0x00"], ["0x0x", "0x00"], ["0y00", "0x00"],
                                    ["0X00", "0x00"]])
def test_fixed_hex_declines_irregular_arrow_values(values: list[Any]) -> None:
    assert fixed_hex(pa.array(values, pa.string()), 1) is None


@pytest.mark.parametrize("as_column", [False, True], ids=["python", "arrow"])
def test_fixed_hex_reads_either_case(as_column: bool) -> None:
    values = ["0x0000", "0xABcd", "0x00ff"]
    rows = fixed_hex(pa.array(values).slice(1) if as_column else values[1:], 2)
    assert rows is not None
    assert rows.tolist() == [[0xAB, 0xCD], [0, 0xFF]]
    assert hex_strings(rows).to_pylist() == ["0xabcd", "0x00ff"]


@pytest.mark.parametrize(("values", "expected"), [
    (["0x0", "0x1a", "0x1a", "0x7fffffffffffffff"], [0, 26, 26, 2**63 - 1]),
    ([], []),
    (["0x8000000000000000"], None), (["12"], None), ([None], None), ([12], None), (["0xg"], None),
])
def test_quantities(values: list[Any], expected: list[int] | None) -> None:
    result = quantities(values)
    assert (None if result is None else result.to_pylist()) == expected
    if all(value is None or isinstance(value, str) for value in values):  # as an Arrow column, after an offset
        result = quantities(pa.array(["0x1", *values], pa.string()).slice(1))
        assert (None if result is None else result.to_pylist()) == expected


def _devchain_logs() -> list[dict[str, Any]]:
    """Mainnet-shaped JSON-RPC logs of the Aave v3 devchain deployment: the fixture's last log (an
    Aave v2 LiquidationCall, same event) as the node would answer, one with a block timestamp."""
    log = {key: value for key, value in _raw_logs()[-1].items() if key != "decoded"}
    log.update(blockNumber=hex(log["blockNumber"]), logIndex=hex(log["logIndex"]),
               transactionIndex=hex(log["transactionIndex"]), removed=False)
    return [log, {**log, "logIndex": hex(int(log["logIndex"], 16) + 1), "blockTimestamp": "0x5f5e1000"}]


def _devchain_v3() -> Any:
    """The devchain's Aave v3 pool deployment (its registry entry expanded with the pool it names)."""
    (deployment,) = expand_offline(registry().find("devchain", "aave-v3"), {})
    return deployment


def test_identity_arrays_equals_identity_columns() -> None:
    deployment = _devchain_v3()
    logs = _devchain_logs()[:1] * 3
    arrays = identity_arrays(logs, deployment)
    assert arrays is not None
    assert {name: array.to_pylist() for name, array in arrays.items()} == identity_columns(logs, deployment)
    # a block timestamp on some logs only, a removed log, a missing field: declined
    assert identity_arrays(_devchain_logs(), deployment) is None
    assert identity_arrays([{**logs[0], "removed": True}], deployment) is None
    assert identity_arrays([{k: v for k, v in logs[0].items() if k != "logIndex"}], deployment) is None
    # the same from the columns of the node's answer
    table = _answer_table(logs)
    arrays = identity_arrays(table, deployment)
    assert arrays is not None
    assert {name: array.to_pylist() for name, array in arrays.items()} == identity_columns(logs, deployment)
    assert identity_arrays(_answer_table(_devchain_logs()), deployment) is None
    assert identity_arrays(_answer_table([{**logs[0], "removed": True}]), deployment) is None


def _answer_table(logs: list[dict[str, Any]]) -> pa.Table:
    table = read_logs_answer(orjson.dumps({"jsonrpc": "2.0", "id": 1, "result": logs}))
    assert table is not None
    return table


def test_aave_columns_equal_its_rows() -> None:
    """The Arrow columns of a chunk (a pull without state reads) are the rows decode() gives log by log."""
    deployment = _devchain_v3()
    adapter = adapter_for(deployment)
    logs = [{**_devchain_logs()[0], "logIndex": hex(k)} for k in range(5)]
    columns = adapter.decode_columns(logs, deployment)
    assert columns is not None
    by_row = [adapter.decode(log, deployment) for log in logs]
    assert [dict(zip(columns, values)) for values in zip(*(a.to_pylist() for a in columns.values()))] == by_row


def _as_node_log(log: dict[str, Any], log_index: int) -> dict[str, Any]:
    """A fixture log (integer positions) as a node answers it (hex quantities), at another log index."""
    node_log = {key: value for key, value in log.items() if key != "decoded"}
    node_log.update(blockNumber=hex(log["blockNumber"]), transactionIndex=hex(log["transactionIndex"]),
                    logIndex=hex(log_index), removed=False)
    if isinstance(log.get("blockTimestamp"), int):
        node_log["blockTimestamp"] = hex(log["blockTimestamp"])
    return node_log


#: The protocol of each fixture event (the cTokens are discovered by pulls, so decode needs it named).
PROTOCOLS = {"CompoundV2.LiquidateBorrow": "compound-v2", "AaveV2V3.LiquidationCall": "aave-v2",
             "AaveV1.LiquidationCall": "aave-v1", "MakerCat.Bite": "maker"}


def _deployment(log: dict[str, Any]) -> Any:
    from toolkit.decode import _deployment_for

    return _deployment_for(log, PROTOCOLS[log["event"]], None)


def _per_log_fixture_logs() -> list[Any]:
    """The real mainnet fixture logs of one-log adapters (Aave v2, Compound v2), named by event and position."""
    from toolkit.protocols.base import PerLogAdapter

    return [pytest.param(log, id=f"{log['event']}-{index}") for index, log in enumerate(_raw_logs())
            if isinstance(adapter_for(_deployment(log)), PerLogAdapter)]


@pytest.mark.parametrize("log", _per_log_fixture_logs())
def test_column_path_equals_the_row_path_for_every_per_log_adapter(log: dict[str, Any]) -> None:
    """For each real mainnet log of a one-log adapter: the chunk's Arrow columns are, row for row, what
    decode() gives log by log."""
    deployment = _deployment(log)
    adapter = adapter_for(deployment)
    logs = [_as_node_log(log, log["logIndex"] + k) for k in range(3)]
    rows = adapter.column_rows(logs, deployment)
    assert rows is not None
    assert rows == [adapter.decode(node_log, deployment) for node_log in logs]
    # The same logs read as columns from the node's answer (toolkit.chain.logtable), and a slice of them.
    table = _answer_table(logs)
    for part, part_logs in ((table, logs), (table.slice(1), logs[1:])):
        columns = adapter.decode_columns(part, deployment)
        assert columns is not None
        assert column_rows({name: array.to_pylist() for name, array in columns.items()}) == \
            [adapter.decode(node_log, deployment) for node_log in part_logs]
