"""The ``liqtk`` command line as cron and people use it: a real process against the real local chain.

Covers exit codes, ``--quiet`` JSON output, idempotent re-runs, a SIGKILLed pull resuming to the
identical export hash, range splitting behind a provider that rejects wide ``eth_getLogs`` ranges,
and bad input (one clear line, non-zero exit, store untouched, no secret printed or stored).
"""

from __future__ import annotations

import hashlib
import json
import random
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from toolkit.devchain import Devchain, run_demo_scenario
from toolkit.devchain.anvil import free_port
from toolkit.devchain.fault_proxy import FaultConfig, FaultProxy

pytestmark = pytest.mark.node

SECRETS = ("SECRETKEY1234567", "QUERYSECRET99", "hunter2pw")


def liqtk(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "toolkit", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout)


def pull_args(url: str, store: Path, protocol: str = "aave-v3", *extra: str) -> list[str]:
    return ["pull", "--chain", "devchain", "--protocol", protocol, "--rpc", url, "--store", str(store), *extra]


def export_hash(store: Path, out: Path) -> str:
    done = liqtk("export", "--store", store, "--out", out, "--format", "csv", "--quiet")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)["content_sha256"]


def file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def clean_hash(devchain, tmp_path_factory) -> str:
    """Export hash of a clean, direct pull of both markets."""
    store = tmp_path_factory.mktemp("clean") / "s.duckdb"
    for protocol in ("aave-v3", "aave-v2"):
        assert liqtk(*pull_args(devchain.url, store, protocol)).returncode == 0
    return export_hash(store, store.with_suffix(".csv"))


def test_quiet_pull_prints_json_and_exit_codes_tell_new_from_nothing_new(devchain, tmp_path) -> None:
    store = tmp_path / "s.duckdb"
    first = liqtk(*pull_args(devchain.url, store), "--quiet")
    assert first.returncode == 0, first.stderr
    summary = json.loads(first.stdout)
    assert (summary["status"], summary["rows_added"], summary["chain_id"]) == ("ok", 2, 31337)
    assert all(json.loads(line)["event"] for line in first.stderr.splitlines())
    again = liqtk(*pull_args(devchain.url, store), "--quiet")
    assert again.returncode == 3 and json.loads(again.stdout)["rows_added"] == 0
    status = liqtk("status", "--store", store, "--quiet")
    assert json.loads(status.stdout)["deployments"][0]["rows"] == 2


def test_sigkilled_pulls_resume_to_the_identical_export(devchain, clean_hash, tmp_path) -> None:
    """Kill ``liqtk pull`` (one block per chunk) at random moments, resume, compare export hashes."""
    store = tmp_path / "s.duckdb"
    rng = random.Random(7)
    for protocol in ("aave-v3", "aave-v2"):
        for _ in range(3):
            process = subprocess.Popen([sys.executable, "-m", "toolkit", *pull_args(
                devchain.url, store, protocol, "--blocks-per-request", "1", "--quiet")],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(rng.uniform(0.8, 2.5))
            process.send_signal(signal.SIGKILL)
            process.wait()
        assert liqtk(*pull_args(devchain.url, store, protocol)).returncode in (0, 3)
    assert export_hash(store, tmp_path / "e.csv") == clean_hash


@pytest.mark.parametrize("provider", ["alchemy_free", "quicknode", "reth"])
def test_pull_behind_a_range_limited_provider_equals_a_clean_pull(devchain, clean_hash, tmp_path, provider) -> None:
    """The provider rejects getLogs ranges over 10 blocks with its real error text (engineering.md §2.1)."""
    store = tmp_path / "s.duckdb"
    with FaultProxy(devchain.url, FaultConfig(provider=provider, range_limit=10)) as proxy:
        for protocol in ("aave-v3", "aave-v2"):
            done = liqtk(*pull_args(proxy.url, store, protocol))
            assert done.returncode == 0, done.stderr
        assert proxy.stats.faults["range_limit"] > 0
    assert export_hash(store, tmp_path / "e.csv") == clean_hash


def test_unreachable_node_is_one_line_and_creates_no_store(tmp_path) -> None:
    store = tmp_path / "never.duckdb"
    url = f"http://user:{SECRETS[2]}@127.0.0.1:{free_port()}/v3/{SECRETS[0]}?apikey={SECRETS[1]}"
    done = liqtk(*pull_args(url, store))
    assert done.returncode == 1
    assert len(done.stderr.strip().splitlines()) == 1 and "cannot reach" in done.stderr
    assert "LIQTK_RPC_DEVCHAIN" in done.stderr
    assert not any(s in done.stderr + done.stdout for s in SECRETS)
    assert not store.exists()


def test_wrong_chain_is_refused_and_the_store_is_untouched(devchain, tmp_path) -> None:
    store = tmp_path / "s.duckdb"
    assert liqtk(*pull_args(devchain.url, store)).returncode == 0
    before = file_digest(store)
    done = liqtk("pull", "--chain", "ethereum", "--protocol", "aave-v3", "--rpc", devchain.url, "--store", store)
    assert done.returncode == 1 and "chain id 31337" in done.stderr and "ethereum is chain id 1" in done.stderr
    assert file_digest(store) == before


@pytest.mark.parametrize(("args", "message"), [
    (["pull", "--chain", "devchain", "--protocol", "nope", "--rpc", "http://127.0.0.1:1"], "unknown protocol 'nope'"),
    (["pull", "--chain", "moon", "--protocol", "aave-v3", "--rpc", "http://127.0.0.1:1"], "unknown chain 'moon'"),
    (["pull", "--chain", "devchain", "--protocol", "aave-v3", "--rpc", "http://127.0.0.1:1", "--to", "soon"], "--to 'soon'"),
    (["pull", "--chain", "devchain", "--protocol", "aave-v3", "--rpc", "http://127.0.0.1:1", "--address", "0x12"], "not a 20-byte"),
    (["pull", "--chain", "devchain", "--protocol", "aave-v3", "--rpc", "http://127.0.0.1:1", "--since", "yesterday"], "ISO date"),
    (["pull", "--chain", "devchain", "--protocol", "aave-v3"], "LIQTK_RPC_DEVCHAIN"),
    (["pull", "--chain", "devchain"], "Missing option"),
    (["export", "--out", "x.csv", "--format", "xlsx"], "not csv or parquet"),
])
def test_invalid_input_exits_2_with_one_line(args, message, tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("LIQTK_RPC_DEVCHAIN", raising=False)
    store = tmp_path / "s.duckdb"
    if args[0] == "export":
        store.write_bytes(b"")  # a store that must not be touched either
    done = liqtk(*args, "--store", store)
    assert done.returncode == 2, done.stderr
    assert message in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert not store.exists() or store.read_bytes() == b""


def test_a_file_that_is_not_a_store_is_refused_and_kept(devchain, tmp_path) -> None:
    store = tmp_path / "notes.duckdb"
    store.write_text("my notes, not a database\n")
    done = liqtk(*pull_args(devchain.url, store))
    assert done.returncode == 1 and "not a liquidation-toolkit store" in done.stderr
    assert store.read_text() == "my notes, not a database\n"


def test_node_without_historical_state_needs_an_archive_node_or_no_state(tmp_path) -> None:
    """anvil --prune-history keeps no old state: eth_call at the block before each liquidation fails."""
    with Devchain.start(anvil_args=["--prune-history", "1"]) as pruned:
        run_demo_scenario(pruned)
        store = tmp_path / "s.duckdb"
        done = liqtk(*pull_args(pruned.url, store))
        assert done.returncode == 1 and "archive node" in done.stderr and "--no-state" in done.stderr
        ok = liqtk(*pull_args(pruned.url, store, "aave-v3", "--no-state", "--quiet"))
        assert ok.returncode == 0, ok.stderr
    rows = json.loads(liqtk("status", "--store", store, "--quiet").stdout)["deployments"]
    assert rows[0]["rows"] == 2


def test_secrets_in_the_rpc_url_are_never_printed_or_stored(devchain, tmp_path) -> None:
    """Key in the path, in the query and as user:password: grep every output and artefact."""
    store = tmp_path / "s.duckdb"
    with FaultProxy(devchain.url, FaultConfig(provider="alchemy", range_limit=20, seed=3, http_5xx=0.2)) as proxy:
        host = proxy.url.removeprefix("http://")
        url = f"http://user:{SECRETS[2]}@{host}/v3/{SECRETS[0]}?apikey={SECRETS[1]}"
        outputs = [liqtk(*pull_args(url, store, protocol, q)) for protocol in ("aave-v3", "aave-v2")
                   for q in ("--quiet", "-q")]
    outputs.append(liqtk("status", "--store", store))
    outputs.append(liqtk("export", "--store", store, "--out", tmp_path / "e.parquet"))
    text = "".join(o.stdout + o.stderr for o in outputs)
    artefacts = [store, tmp_path / "e.parquet", tmp_path / "e.parquet.manifest.json"]
    assert outputs[0].returncode == 0, outputs[0].stderr
    for secret in SECRETS:
        assert secret not in text
        for path in artefacts:
            assert secret.encode() not in path.read_bytes(), path


def test_decode_mainnet_logs_and_receipts_without_a_node(tmp_path) -> None:
    fixtures = Path(__file__).resolve().parents[1] / "fixtures" / "mainnet-logs"
    done = liqtk("decode", fixtures / "raw_liquidation_logs.jsonl")
    records = [json.loads(line) for line in done.stdout.splitlines()]
    errors = [r for r in records if "error" in r]  # logs of protocols without an adapter are error lines
    assert len(records) == 10 and done.returncode == (2 if errors else 0)
    assert all("known event" in r["error"] for r in errors)
    rows = [r for r in records if "error" not in r]
    (aave,) = [r for r in rows if r["protocol"] == "aave-v2"]
    assert (aave["debt_repaid_raw"], aave["collateral_seized_raw"]) == ("631587280", "344839185141066670")
    assert aave["health_factor_before"] is None and aave["state_status"] == "skipped"
    compound = [r for r in rows if r["protocol"] == "compound-v2"]
    assert len(compound) == 6 and all(r["state_status"] == "skipped" and r["debt_asset"] is None for r in compound)
    assert ("0xf650c3d88d12db855b8bf7d11be6c55a4e07dcc9", "1907307144", "25883142924011") in {
        (r["market_id"], r["debt_repaid_raw"], r["collateral_token_seized_raw"]) for r in compound}
    maker = [r for r in rows if r["protocol"] == "maker"]
    assert [(r["event"], r["market_id"], r["collateral_seized_raw"]) for r in maker] == [("Bite", "ETH-A", str(50 * 10**18))] * 2
    (v1,) = [r for r in rows if r["protocol"] == "aave-v1"]
    assert (v1["debt_repaid_raw"], v1["collateral_seized_raw"]) == ("9251070299427409111", "41590034")
    bad = tmp_path / "bad.jsonl"
    line = (fixtures / "raw_liquidation_logs.jsonl").read_text().splitlines()[-1]
    short = json.loads(line) | {"data": json.loads(line)["data"][:-64]}
    bad.write_text("\n".join([line, "{not json", json.dumps(short), line]) + "\n")
    mixed = [json.loads(x) for x in liqtk("decode", bad).stdout.splitlines()]
    errors = sorted(r["error"] for r in mixed if "error" in r)
    assert len(mixed) == 4 and len(errors) == 2
    assert "data is 96 bytes" in errors[0] and "not JSON" in errors[1]


def test_devchain_command_serves_a_chain_to_pull_from_and_stops_on_sigterm(tmp_path) -> None:
    process = subprocess.Popen([sys.executable, "-m", "toolkit", "devchain"], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    try:
        first = process.stdout.readline()
        assert first.startswith("devchain running at http://127.0.0.1:"), first + process.stderr.read()
        url = first.split()[3]
        done = liqtk(*pull_args(url, tmp_path / "s.duckdb"), "--quiet")
        assert done.returncode == 0 and json.loads(done.stdout)["rows_added"] == 2
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
    port = int(url.rsplit(":", 1)[1])
    with pytest.raises(ConnectionRefusedError):  # the anvil it started is gone too
        socket.create_connection(("127.0.0.1", port), timeout=5)


def test_decode_refuses_to_guess_the_chain_of_a_multichain_address(tmp_path) -> None:
    """Aave v3 pools share one address on several L2s: without --chain the row's chain id would be a guess."""
    from toolkit.protocols import registry

    pools: dict[str, set[str]] = {}
    for d in registry().deployments:
        if d.protocol == "aave-v3":
            pools.setdefault(d.emitters[0], set()).add(d.chain.name)
    address, chains = next((a, c) for a, c in pools.items() if len(c) > 1)
    line = json.loads((Path(__file__).resolve().parents[1] / "fixtures" / "mainnet-logs" /
                       "raw_liquidation_logs.jsonl").read_text().splitlines()[-1])
    log = tmp_path / "log.json"
    log.write_text(json.dumps(line | {"address": address}))
    (record,) = [json.loads(x) for x in liqtk("decode", log).stdout.splitlines()]
    assert "several chains" in record["error"] and "--chain" in record["error"]
    chain = sorted(chains)[0]
    (row,) = [json.loads(x) for x in liqtk("decode", log, "--chain", chain).stdout.splitlines()]
    assert row["chain_id"] == registry().chain(chain).chain_id and row["protocol"] == "aave-v3"
