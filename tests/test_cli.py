"""The ``liqtk`` command line as cron and people use it: a real process against the real local chain.

Covers exit codes and ``--quiet`` JSON output, the archive-node requirement, ``liqtk decode`` and
``liqtk devchain``. Faults, reorganizations, crashes, concurrent runs, bad input, secrets and
scheduled pulls are proven in ``tests/reliability/``.
"""

from __future__ import annotations

import json
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from toolkit.devchain import Devchain, run_demo_scenario

pytestmark = pytest.mark.node


def liqtk(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "toolkit", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout)


def pull_args(url: str, store: Path, protocol: str = "aave-v3", *extra: str) -> list[str]:
    return ["pull", "--chain", "devchain", "--protocol", protocol, "--rpc", url, "--store", str(store), *extra]


def test_quiet_pull_prints_json_and_nothing_new_is_a_success(devchain, tmp_path) -> None:
    """``liqtk pull && liqtk export`` goes on when there is nothing new: exit 0, ``status`` ``nothing_new`` in the
    JSON result; ``--exit-nothing-new`` gives cron jobs the distinct code 3 (docs/conventions.md)."""
    store = tmp_path / "s.duckdb"
    first = liqtk(*pull_args(devchain.url, store), "--quiet")
    assert first.returncode == 0, first.stderr
    summary = json.loads(first.stdout)
    assert (summary["status"], summary["rows_added"], summary["chain_id"]) == ("ok", 2, 31337)
    assert all(json.loads(line)["event"] for line in first.stderr.splitlines())
    again = liqtk(*pull_args(devchain.url, store), "--json")
    assert again.returncode == 0 and json.loads(again.stdout)["rows_added"] == 0
    assert json.loads(again.stdout)["status"] == "nothing_new"
    flagged = liqtk(*pull_args(devchain.url, store), "--quiet", "--exit-nothing-new")
    assert flagged.returncode == 3 and json.loads(flagged.stdout)["status"] == "nothing_new"
    status = liqtk("status", "--store", store, "--json")
    assert json.loads(status.stdout)["deployments"][0]["rows"] == 2


def test_node_without_historical_state_needs_an_archive_node_or_no_state(tmp_path) -> None:
    """anvil --prune-history keeps no old state: eth_call at the block before each liquidation fails (Aave v2,
    whose pool the registry file lists). Aave v3's pools are found through its registry at the pulled block, whose
    state this node does not keep either: one line naming the registry and the block, exit 1, store untouched."""
    with Devchain.start(anvil_args=["--prune-history", "1"]) as pruned:
        run_demo_scenario(pruned)
        store = tmp_path / "s.duckdb"
        done = liqtk(*pull_args(pruned.url, store, "aave-v2"))
        assert done.returncode == 1 and "archive node" in done.stderr and "--no-state" in done.stderr
        ok = liqtk(*pull_args(pruned.url, store, "aave-v2", "--no-state", "--quiet"))
        assert ok.returncode == 0, ok.stderr
        before = store.read_bytes()
        registry_address = pruned.addresses()["aave_registry"].lower()
        refused = liqtk(*pull_args(pruned.url, store, "aave-v3", "--no-state"))
        assert refused.returncode == 1 and len(refused.stderr.strip().splitlines()) == 1
        assert registry_address in refused.stderr and "no state for that block" in refused.stderr
        assert store.read_bytes() == before
    rows = json.loads(liqtk("status", "--store", store, "--quiet").stdout)["deployments"]
    assert rows[0]["rows"] == 2


def test_decode_mainnet_logs_and_receipts_without_a_node(tmp_path) -> None:
    fixtures = Path(__file__).resolve().parents[1] / "fixtures" / "mainnet-logs"
    done = liqtk("decode", fixtures / "raw_liquidation_logs.jsonl")
    records = [json.loads(line) for line in done.stdout.splitlines()]
    errors = [r for r in records if "error" in r]
    assert len(records) == 10 and done.returncode == (2 if errors else 0)
    # the cTokens are discovered from the Comptroller by pulls, not listed: without a store that has them, the
    # Compound logs are refused with what was tried and the way out
    assert len(errors) == 6 and all("unknown emitter" in r["error"] and "LiquidateBorrow" in r["error"]
                                    and "pass --protocol (compound-v2 or venus)" in r["error"] for r in errors)
    rows = [r for r in records if "error" not in r]
    (aave,) = [r for r in rows if r["protocol"] == "aave-v2"]
    assert (aave["debt_repaid_raw"], aave["collateral_seized_raw"]) == ("631587280", "344839185141066670")
    assert aave["health_factor_before"] is None and aave["state_status"] == "skipped"
    assert aave["deployment"] == "main" and aave["event_args"]["receiveAToken"] is True
    forced = [json.loads(line) for line in liqtk("decode", fixtures / "raw_liquidation_logs.jsonl", "--protocol",
                                                 "compound-v2").stdout.splitlines()]
    compound = [r for r in forced if r.get("protocol") == "compound-v2"]
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
        if d.protocol == "aave-v3" and d.emitters:  # the listed pools (Ethereum's are found by its registries)
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


def test_export_to_stdout_with_iso_timestamps_and_the_python_reader_in_three_forms(devchain, tmp_path) -> None:
    """``liqtk export --out -`` streams the file to stdout (the manifest's summary on stderr); CSV timestamps are
    ISO-8601 UTC with ``Z``; ``toolkit.liquidations`` gives the same rows as pandas, Arrow and polars, and refuses
    an unknown protocol with the CLI's message instead of an empty frame."""
    import io

    import pandas as pd
    import polars
    import pyarrow as pa

    import toolkit

    store = tmp_path / "s.duckdb"
    assert liqtk(*pull_args(devchain.url, store, "aave-v3", "--no-state", "--quiet")).returncode == 0
    done = liqtk("export", "--store", store, "--format", "csv", "--out", "-", "--chain", "devchain", "--quiet")
    assert done.returncode == 0, done.stderr
    frame = pd.read_csv(io.StringIO(done.stdout), dtype=str)
    assert len(frame) == 2 and all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", t) for t in frame["block_timestamp"])
    (finished,) = [json.loads(line) for line in done.stderr.splitlines() if '"export.finished"' in line]
    assert finished["rows"] == 2 and len(finished["content_sha256"]) == 64
    same = liqtk("export", "--store", store, "--format", "csv", "--out", tmp_path / "e.csv", "--chain", "31337",
                 "--json")
    assert (tmp_path / "e.csv").read_text() == done.stdout
    assert json.loads(same.stdout)["content_sha256"] == finished["content_sha256"]
    pandas_frame = toolkit.liquidations(store, chain="devchain", protocol="aave-v3")
    arrow = toolkit.liquidations(store, chain=31337, as_="arrow")
    polars_frame = toolkit.liquidations(store, protocol="aave-v3", as_="polars")
    assert isinstance(arrow, pa.Table) and isinstance(polars_frame, polars.DataFrame)
    assert list(pandas_frame["tx_hash"]) == arrow.column("tx_hash").to_pylist() == polars_frame["tx_hash"].to_list()
    assert list(pandas_frame["debt_repaid_raw"]) == polars_frame["debt_repaid_raw"].to_list()
    with pytest.raises(toolkit.UserInputError, match=r"unknown protocol 'aave_v3' \(did you mean 'aave-v3'\?\)"):
        toolkit.liquidations(store, protocol="aave_v3")
    wrong = liqtk("export", "--store", store, "--protocol", "aave_v3", "--out", tmp_path / "x.csv")
    assert wrong.returncode == 2 and "unknown protocol 'aave_v3' (did you mean 'aave-v3'?)" in wrong.stderr
    assert not (tmp_path / "x.csv").exists()
