"""Bad input never hurts: malformed logs decode to error records (hypothesis), a file that is not a
store (garbage or truncated) is refused and kept byte for byte, an unreachable node or another chain
is one clear line, and invalid command-line values exit 2 with one line saying what to do."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from liqtkwork import SECRETS, liqtk, pull_args
from toolkit.decode import decode_logs
from toolkit.devchain.anvil import free_port
from toolkit.store.schema import LIQUIDATION_COLUMNS

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "mainnet-logs" / "raw_liquidation_logs.jsonl"
#: Real liquidation logs of several protocols, the seeds the fuzzer breaks.
SEEDS: list[dict[str, Any]] = [json.loads(line) for line in FIXTURE.read_text().splitlines()]
COLUMNS = {c.name for c in LIQUIDATION_COLUMNS}


def file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# -- decode: hypothesis --------------------------------------------------------------------------

def _hex(data: bytes) -> str:
    return "0x" + data.hex()


JUNK = st.one_of(st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(), st.text(max_size=12),
                 st.lists(st.integers(0, 9), max_size=3), st.dictionaries(st.text(max_size=3), st.integers(), max_size=2))
WORD = st.binary(min_size=32, max_size=32).map(_hex)


@st.composite
def malformed_log(draw: st.DrawFn) -> dict[str, Any]:
    """A real log with one thing broken: topic count, data length, a field's type, or its emitter."""
    log = dict(draw(st.sampled_from(SEEDS)))
    topics, data = list(log["topics"]), str(log["data"])
    kind = draw(st.sampled_from(("fewer_topics", "more_topics", "short_data", "long_data", "odd_data",
                                 "field_type", "unknown_emitter", "missing_field", "bad_topic")))
    if kind == "fewer_topics":
        log["topics"] = topics[:draw(st.integers(0, max(0, len(topics) - 1)))]
    elif kind == "more_topics":
        log["topics"] = topics + draw(st.lists(WORD, min_size=1, max_size=3))
    elif kind == "short_data":
        log["data"] = data[:2 + 2 * draw(st.integers(0, max(0, (len(data) - 2) // 2 - 1)))]
    elif kind == "long_data":
        log["data"] = data + draw(st.binary(min_size=1, max_size=96)).hex()
    elif kind == "odd_data":
        log["data"] = data + draw(st.sampled_from(("0", "zz", " ", "0x")))
    elif kind == "field_type":
        log[draw(st.sampled_from(("address", "topics", "data", "blockNumber", "logIndex", "transactionHash",
                                  "blockHash", "transactionIndex")))] = draw(JUNK)
    elif kind == "unknown_emitter":
        log["address"] = _hex(draw(st.binary(min_size=20, max_size=20)))
    elif kind == "missing_field":
        log.pop(draw(st.sampled_from(("address", "topics", "data", "blockNumber", "logIndex"))), None)
    else:
        log["topics"] = [draw(st.one_of(WORD, JUNK)), *topics[1:]]
    return log


def check_records(records: list[dict[str, Any]]) -> None:
    for record in records:
        if "error" in record:
            assert isinstance(record["error"], str) and record["error"].strip(), record
        else:
            assert COLUMNS <= set(record), sorted(COLUMNS - set(record))


@settings(derandomize=True, max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(malformed_log(), st.sampled_from(SEEDS)), min_size=1, max_size=4))
def test_decode_turns_every_malformed_log_into_an_error_record(logs: list[dict[str, Any]]) -> None:
    records = list(decode_logs(json.dumps(logs)))
    check_records(records)
    assert len(records) == len(logs)
    for log, record in zip(logs, records, strict=False):
        if log in SEEDS and len(logs) == 1 and log["event"] != "CompoundV2.LiquidateBorrow":
            assert "error" not in record
        elif log in SEEDS and len(logs) == 1:  # cTokens are discovered by pulls: without a store, named as unknown
            assert "unknown emitter" in record["error"] and "--protocol" in record["error"]


@settings(derandomize=True, max_examples=200, deadline=None)
@given(st.one_of(st.text(max_size=300), st.lists(JUNK, max_size=4).map(json.dumps),
                 st.lists(st.dictionaries(st.sampled_from(sorted(SEEDS[0])), JUNK, max_size=6), max_size=3).map(json.dumps)))
def test_decode_never_raises_on_garbage_text(text: str) -> None:
    check_records(list(decode_logs(text)))


# -- stores that are not stores -------------------------------------------------------------------

@pytest.mark.node
def test_a_file_that_is_not_a_store_is_refused_and_kept(devchain, tmp_path) -> None:
    store = tmp_path / "notes.duckdb"
    store.write_text("my notes, not a database\n")
    done = liqtk(*pull_args(devchain.url, store))
    assert done.returncode == 1 and "not a liquidation-toolkit store" in done.stderr
    assert store.read_text() == "my notes, not a database\n"


@pytest.mark.node
def test_a_truncated_store_is_refused_by_every_command_and_not_overwritten(devchain, clean_store, tmp_path) -> None:
    store = tmp_path / "cut.duckdb"
    shutil.copyfile(clean_store, store)
    store.write_bytes(store.read_bytes()[:store.stat().st_size // 2])
    before = file_digest(store)
    for args in (pull_args(devchain.url, store), ["status", "--store", store],
                 ["export", "--store", store, "--out", tmp_path / "e.csv"]):
        done = liqtk(*args)
        assert done.returncode == 1, done.stderr
        assert done.stderr.startswith(f"error: {store} is not a liquidation-toolkit store (")
        assert len(done.stderr.strip().splitlines()) == 1
    assert file_digest(store) == before and not (tmp_path / "e.csv").exists()


# -- the node -------------------------------------------------------------------------------------

def test_unreachable_node_is_one_line_and_creates_no_store(tmp_path) -> None:
    store = tmp_path / "never.duckdb"
    url = f"http://user:{SECRETS[2]}@127.0.0.1:{free_port()}/v3/{SECRETS[0]}?apikey={SECRETS[1]}"
    done = liqtk(*pull_args(url, store))
    assert done.returncode == 1
    assert len(done.stderr.strip().splitlines()) == 1 and "cannot reach" in done.stderr
    assert "LIQTK_RPC_DEVCHAIN" in done.stderr
    assert not any(s in done.stderr + done.stdout for s in SECRETS)
    assert not store.exists()


@pytest.mark.node
def test_wrong_chain_is_refused_and_the_store_is_untouched(devchain, tmp_path) -> None:
    store = tmp_path / "s.duckdb"
    assert liqtk(*pull_args(devchain.url, store)).returncode == 0
    before = file_digest(store)
    done = liqtk("pull", "--chain", "ethereum", "--protocol", "aave-v3", "--rpc", devchain.url, "--store", store)
    assert done.returncode == 1 and "chain id 31337" in done.stderr and "ethereum is chain id 1" in done.stderr
    assert file_digest(store) == before


# -- command-line values --------------------------------------------------------------------------

RPC = ["--rpc", "http://127.0.0.1:1"]
PULL = ["pull", "--chain", "devchain", "--protocol", "aave-v3", *RPC]


@pytest.mark.parametrize(("args", "message"), [
    (["pull", "--chain", "devchain", "--protocol", "nope", *RPC], "unknown protocol 'nope'"),
    (["pull", "--chain", "moon", "--protocol", "aave-v3", *RPC], "unknown chain 'moon'"),
    ([*PULL, "--to", "soon"], "--to 'soon' is not finalized, safe, latest or a block number"),
    ([*PULL, "--address", "0x12"], "not a 20-byte"),
    ([*PULL, "--address", "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD"], "fails its EIP-55 checksum"),
    ([*PULL, "--since", "yesterday"], "ISO date"),
    ([*PULL, "--from-block", "5", "--since", "2024-01-01"], "either --from-block or --since"),
    ([*PULL, "--from-block", "-5"], "--from-block must be a block number >= 0"),
    ([*PULL, "--confirmations", "-1"], "--confirmations must be >= 0"),
    ([*PULL, "--blocks-per-request", "0"], "--blocks-per-request must be >= 1"),
    ([*PULL, "--rpc-timeout", "0"], "--rpc-timeout must be a number of seconds > 0"),
    ([*PULL, "--wait", "-1"], "--wait must be a number of seconds >= 0"),
    ([*PULL, "--blocks-per-request", "many"], "Invalid value for '--blocks-per-request'"),
    (["pull", "--chain", "devchain", "--protocol", "aave-v3"], "LIQTK_RPC_DEVCHAIN"),
    (["pull", "--chain", "devchain"], "Missing option '--protocol'"),
    (["pull", "--config", "pulls.toml", "--all"], "either --config or --all"),
    (["pull", "--config", "pulls.toml", "--protocol", "aave-v3"], "drop --protocol"),
    (["pull", "--config", "pulls.toml", "--to", "latest"], "drop --to"),
    (["pull", "--all", "--protocol", "aave-v3"], "--all pulls every protocol of the registry; drop --protocol"),
    (["pull", "--all"], "--all found no chain to pull"),
    (["pull", "--config", "missing.toml"], "missing.toml: cannot read it"),
    (["export", "--out", "x.csv", "--format", "xlsx"], "not csv or parquet"),
])
def test_invalid_input_exits_2_with_one_line(args, message, tmp_path, monkeypatch) -> None:
    for variable in ("LIQTK_RPC_DEVCHAIN", "LIQTK_RPC_ETHEREUM"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.chdir(tmp_path)
    store = tmp_path / "s.duckdb"
    if args[0] == "export":
        store.write_bytes(b"")  # a store that must not be touched either
    done = liqtk(*args, "--store", store)
    assert done.returncode == 2, done.stderr
    assert message in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert not store.exists() or store.read_bytes() == b""
