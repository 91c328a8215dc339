"""ABI files: topic0 of every event against the reference, and exact decoding of real mainnet logs.

Reference values: docs/sources/events.md#topic0-values (topic0, computed there with two
independent Keccak-256 implementations); fixtures/mainnet-logs/cross_checks.csv (values published
independently by rotki and mev-inspect-js tests, see fixtures/mainnet-logs/README.md).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from eth_abi import decode as abi_decode
from hypothesis import given, settings
from hypothesis import strategies as st

from toolkit.abi import LogDecodeError, abi_files, event_catalogue, load_abi

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "mainnet-logs"

# docs/sources/events.md#topic0-values (and docs/sources/events.md#aave-v1-liquidationcall).
REFERENCE_TOPIC0 = {
    ("aave-v3/Pool.json", "LiquidationCall"): "0xe413a321e8681d831f4dbccbca790d2952b56f977908e45be37335533e005286",
    ("aave-v2/LendingPool.json", "LiquidationCall"): "0xe413a321e8681d831f4dbccbca790d2952b56f977908e45be37335533e005286",
    ("aave-v1/LendingPool.json", "LiquidationCall"): "0x56864757fd5b1fc9f38f5f3a981cd8ae512ce41b902cf73fc506ee369c6bc237",
    ("compound-v2/CToken.json", "LiquidateBorrow"): "0x298637f684da70674f26509b10f07ec2fbc77a335ab1e7d6215a4b2484d8bb52",
    ("maker/Cat.json", "Bite"): "0xa716da86bc1fb6d43d1493373f34d7a418b619681cd7b90f7ea667ba1489be28",
    ("common/ChainlinkAggregator.json", "AnswerUpdated"): "0x0559884fd3a460db3073b7fc896cc77986f16e378210ded43186175bf646fc5f",
    ("common/ERC20.json", "Transfer"): "0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef",
}
# docs/sources/events.md#topic0-values (selectors).
REFERENCE_SELECTORS = {
    ("aave-v3/Pool.json", "getConfiguration"): "c44b11f7",
    ("aave-v3/Pool.json", "getUserAccountData"): "bf92857c",
    ("aave-v3/Pool.json", "getUserEMode"): "eddf1b79",
    ("aave-v3/Pool.json", "getEModeCategoryData"): "6c6f6ae1",
    ("aave-v3/Pool.json", "liquidationCall"): "00a718a9",
    ("aave-v3/AaveOracle.json", "getAssetPrice"): "b3596f07",
    ("aave-v3/AaveOracle.json", "BASE_CURRENCY_UNIT"): "8c89b64f",
}


def _raw_logs() -> list[dict]:
    return [json.loads(line) for line in (FIXTURES / "raw_liquidation_logs.jsonl").read_text().splitlines()]


@pytest.mark.parametrize(("path", "event"), sorted(REFERENCE_TOPIC0))
def test_event_topic0_matches_reference(path: str, event: str) -> None:
    assert load_abi(path).event(event).topic0 == REFERENCE_TOPIC0[(path, event)]


@pytest.mark.parametrize(("path", "fn"), sorted(REFERENCE_SELECTORS))
def test_function_selector_matches_reference(path: str, fn: str) -> None:
    assert load_abi(path).fn(fn).selector.hex() == REFERENCE_SELECTORS[(path, fn)]


def test_every_abi_file_loads() -> None:
    assert len(abi_files()) >= 10
    for path in abi_files():
        spec = load_abi(path)
        assert spec.events or spec.functions


@pytest.mark.parametrize("row", list(csv.DictReader((FIXTURES / "cross_checks.csv").open())),
                         ids=lambda r: f"{r['event']}-{r['field']}-{r['tx_hash'][:10]}")
def test_mainnet_log_decodes_to_cross_checked_value(row: dict[str, str]) -> None:
    """Each cross-check row: the raw mainnet log decodes to the independently published value."""
    log = next(x for x in _raw_logs()
               if x["transactionHash"] == row["tx_hash"] and x["logIndex"] == int(row["log_index"]))
    _, spec = event_catalogue()[log["topics"][0]]
    values = spec.decode(log["topics"], log["data"])
    assert values[_field_name(spec, row["field"])] == int(row["value_from_raw_log"])


def _field_name(spec, name: str) -> str:
    return next(n for n, _, _ in spec.inputs if n.lstrip("_") == name)


@pytest.mark.parametrize("index", range(10))
def test_fast_decoder_equals_eth_abi_on_mainnet_logs(index: int) -> None:
    """The word-slicing fast path gives exactly what eth-abi decodes, for every fixture log."""
    log = _raw_logs()[index]
    _, spec = event_catalogue()[log["topics"][0]]
    ours = spec.decode(log["topics"], log["data"])
    types = [t for _, t in spec.data_inputs]
    reference = abi_decode(types, bytes.fromhex(log["data"][2:]))
    for (name, abi_type), value in zip(spec.data_inputs, reference):
        expected = "0x" + value.hex() if abi_type == "bytes32" else value.lower() if isinstance(value, str) else value
        assert ours[name] == expected
    # and the dataset's own decoded values agree for every field
    for key, value in log["decoded"].items():
        field = _field_name(spec, key)
        if isinstance(ours[field], str) and field == "ilk":
            assert bytes.fromhex(ours[field][2:]).rstrip(b"\0").decode() == value
        else:
            assert ours[field] == value


LIQ = load_abi("aave-v3/Pool.json").event("LiquidationCall")
GOOD = _raw_logs()[-1]


@pytest.mark.parametrize(("topics", "data", "reason"), [
    (GOOD["topics"][:3], GOOD["data"], "has 4 topics, the log has 3"),
    (GOOD["topics"], GOOD["data"][:-64], "data is 96 bytes, expected 128"),
    (GOOD["topics"], GOOD["data"] + "00" * 32, "expected 128"),
    (GOOD["topics"], "0xzz", "not valid hex"),
    (GOOD["topics"], GOOD["data"][:-1] + "2", "bool word is 2"),
    (["0x" + "11" * 32] + GOOD["topics"][1:], GOOD["data"], "topic0 is not LiquidationCall"),
])
def test_malformed_logs_raise_with_reason(topics: list[str], data: str, reason: str) -> None:
    with pytest.raises(LogDecodeError, match=reason):
        LIQ.decode(topics, data)


@settings(max_examples=200, deadline=None, derandomize=True)
@given(st.lists(st.text(alphabet="0123456789abcdefx", max_size=70), max_size=6), st.text(max_size=300))
def test_decoder_rejects_garbage_with_decode_error_only(topics: list[str], data: str) -> None:
    """Arbitrary topics/data never raise anything but LogDecodeError."""
    try:
        LIQ.decode(topics, data)
    except LogDecodeError:
        pass
