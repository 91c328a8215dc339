"""Scheduled pulls: ``pulls.toml`` validation (one line naming the field), ``liqtk pull --config`` and
``--all`` against the real local chain, the run reports ``liqtk status`` shows, and how the exit codes
of several pulls combine."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from liqtkwork import liqtk, rows_hash
from toolkit.cli import worst_exit_code
from toolkit.devchain.anvil import free_port
from toolkit.errors import UserInputError
from toolkit.protocols import registry
from toolkit.schedule import PullPlan, load_schedule

VALID = """
store = "~/liq/store.duckdb"

[defaults]
rpc_timeout = 10
to = "latest"

[[pull]]
chain = "devchain"
protocols = ["aave-v3", "aave-v2"]
confirmations = 2
since = 2025-01-01

[[pull]]
chain = "ethereum"
protocols = ["spark"]
rpc_env = "MY_MAINNET_NODE"
to = 21000000
from_block = 20000000
"""


def test_a_valid_file_expands_to_one_plan_per_protocol(tmp_path) -> None:
    path = tmp_path / "pulls.toml"
    path.write_text(VALID)
    schedule = load_schedule(path)
    assert schedule.store == Path("~/liq/store.duckdb").expanduser()
    assert schedule.plans == (
        PullPlan("devchain", "aave-v3", "LIQTK_RPC_DEVCHAIN", to="latest", confirmations=2,
                 since=datetime(2025, 1, 1, tzinfo=UTC), rpc_timeout=10.0),
        PullPlan("devchain", "aave-v2", "LIQTK_RPC_DEVCHAIN", to="latest", confirmations=2,
                 since=datetime(2025, 1, 1, tzinfo=UTC), rpc_timeout=10.0),
        PullPlan("ethereum", "spark", "MY_MAINNET_NODE", to=21_000_000, from_block=20_000_000, rpc_timeout=10.0),
    )


@pytest.mark.parametrize(("text", "message"), [
    ("stor = 'x'\n[[pull]]\nchain = 'devchain'", "pulls.toml: unknown key 'stor'; known keys: store, defaults, pull"),
    ("[[pull]]\nchain = 'devchain'\nprotocol = 'aave-v3'", "pulls.toml: pull[1]: unknown key 'protocol'; known keys: chain, protocols,"),
    ("[[pull]]\nchain = 'devchain'\n[[pull]]\nchain = 'moon'", "pulls.toml: pull[2].chain: unknown chain 'moon'; known chains:"),
    ("[[pull]]\nprotocols = ['aave-v3']", "pulls.toml: pull[1]: chain is missing"),
    ("[[pull]]\nchain = 'devchain'\nprotocols = ['aave-v9']", "pulls.toml: pull[1].protocols: unknown protocol 'aave-v9' on devchain"),
    ("[[pull]]\nchain = 'devchain'\nprotocols = ['spark']", "pulls.toml: pull[1].protocols: no deployment of 'spark' on devchain"),
    ("[[pull]]\nchain = 'devchain'\nprotocols = 'aave-v3'", "pulls.toml: pull[1].protocols: 'aave-v3' is not a non-empty list"),
    ("[[pull]]\nchain = 'devchain'\nto = 'soon'", "pulls.toml: pull[1].to 'soon' is not finalized, safe, latest or a block number"),
    ("[[pull]]\nchain = 'devchain'\nconfirmations = -1", "pulls.toml: pull[1].confirmations: -1 is not a whole number >= 0"),
    ("[[pull]]\nchain = 'devchain'\nblocks_per_request = 0", "pulls.toml: pull[1].blocks_per_request: 0 is not a whole number >= 1"),
    ("[[pull]]\nchain = 'devchain'\nno_state = 'yes'", "pulls.toml: pull[1].no_state: 'yes' is not true or false"),
    ("[[pull]]\nchain = 'devchain'\nrpc_timeout = 0", "pulls.toml: pull[1].rpc_timeout: 0 is not a number of seconds > 0"),
    ("[[pull]]\nchain = 'devchain'\nsince = 'monday'", "pulls.toml: pull[1].since 'monday' is not an ISO date"),
    ("[[pull]]\nchain = 'devchain'\nsince = 2024-01-01\nfrom_block = 3", "pulls.toml: pull[1]: set either from_block or since"),
    ("[[pull]]\nchain = 'devchain'\nrpc_env = 'https://node/key'", "pulls.toml: pull[1].rpc_env: 'https://node/key' is not an environment variable name"),
    ("[defaults]\nchain = 'devchain'\n[[pull]]\nchain = 'devchain'", "pulls.toml: defaults: unknown key 'chain'"),
    ("store = 'x'", "pulls.toml: no [[pull]] table"),
    ("[[pull]\nchain = 'devchain'", "pulls.toml: not valid TOML ("),
])
def test_an_invalid_file_is_one_line_naming_the_field(text, message, tmp_path) -> None:
    path = tmp_path / "pulls.toml"
    path.write_text(text)
    with pytest.raises(UserInputError) as caught:
        load_schedule(path)
    assert str(caught.value).startswith(str(tmp_path) + "/" + message.split(" ", 1)[0])
    assert message.split(" ", 1)[1] in str(caught.value) and "\n" not in str(caught.value)


def test_several_pulls_exit_with_the_most_severe_code() -> None:
    assert worst_exit_code([0, 3, 3]) == 0 and worst_exit_code([3, 3]) == 3 and worst_exit_code([]) == 0
    assert worst_exit_code([0, 4, 3]) == 4 and worst_exit_code([0, 5]) == 5 and worst_exit_code([4, 5, 2]) == 2
    assert worst_exit_code([0, 2, 1, 4]) == 1


@pytest.mark.node
def test_pull_config_runs_each_pull_and_keeps_a_report_per_run(devchain, clean_hash, tmp_path) -> None:
    config = tmp_path / "pulls.toml"
    store = tmp_path / "s.duckdb"
    config.write_text(f'store = "{store}"\n[[pull]]\nchain = "devchain"\nprotocols = ["aave-v3", "aave-v2"]\n'
                      'rpc_env = "DEVCHAIN_NODE"\n')
    missing = liqtk("pull", "--config", config)
    assert missing.returncode == 2 and not store.exists()
    assert missing.stderr.strip() == (f"error: {config}: pull[1].rpc_env: DEVCHAIN_NODE is not set (no RPC URL for "
                                      "devchain/aave-v3); set DEVCHAIN_NODE to the node's URL")
    env = {**os.environ, "DEVCHAIN_NODE": devchain.url}
    first = liqtk("pull", "--config", config, "--quiet", env=env)
    assert first.returncode == 0, first.stderr
    summary = json.loads(first.stdout)
    assert [(p["protocol"], p["status"], p["rows_added"]) for p in summary["pulls"]] == [
        ("aave-v3", "ok", 2), ("aave-v2", "ok", 2)]
    assert rows_hash(store) == clean_hash
    again = liqtk("pull", "--config", config, env=env)  # nothing new is a success: `pull && export` goes on
    assert again.returncode == 0 and again.stdout.strip().endswith("2 of 2 pulls ran: 2 nothing new; exit code 0")
    runs = json.loads(liqtk("status", "--store", store, "--quiet").stdout)["runs"]
    assert [(r["protocol"], r["status"]) for r in runs[:4]] == [("aave-v2", "nothing_new"), ("aave-v3", "nothing_new"),
                                                                  ("aave-v2", "ok"), ("aave-v3", "ok")]
    report = runs[3]["report"]
    assert report["started_at"] <= report["finished_at"] and report["status"] == "ok"
    finalized = devchain.chain.w3.eth.get_block("finalized").number
    start = registry().find("devchain", "aave-v3")[0].start_block
    assert report["bound"] == {"to": "finalized", "confirmations": 0, "to_block": finalized}
    assert [(d["from_block"], d["to_block"], d["rows_added"]) for d in report["deployments"]] == [(start, finalized, 2)]
    assert report["rpc"]["http_requests"] > 0 and report["errors"] == []
    table = liqtk("status", "--store", store)
    assert "recent runs" in table.stdout and f"{start}..{finalized}" in table.stdout
    flagged = liqtk("pull", "--config", config, "--exit-nothing-new", "--json", env=env)  # cron's opt-in code
    assert flagged.returncode == 3 and json.loads(flagged.stdout)["exit_code"] == 3


@pytest.mark.node
def test_a_failed_pull_does_not_stop_the_others_and_the_exit_code_says_failed(devchain, tmp_path) -> None:
    config = tmp_path / "pulls.toml"
    store = tmp_path / "s.duckdb"
    config.write_text('[[pull]]\nchain = "devchain"\nprotocols = ["aave-v3"]\nrpc_env = "DEAD_NODE"\n'
                      '[[pull]]\nchain = "devchain"\nprotocols = ["aave-v2"]\nrpc_env = "GOOD_NODE"\n')
    env = {**os.environ, "DEAD_NODE": f"http://127.0.0.1:{free_port()}", "GOOD_NODE": devchain.url}
    done = liqtk("pull", "--config", config, "--store", store, "--quiet", env=env)
    assert done.returncode == 1, done.stderr
    assert [(p["protocol"], p["status"]) for p in json.loads(done.stdout)["pulls"]] == [
        ("aave-v3", "failed"), ("aave-v2", "ok")]
    assert "cannot reach" in done.stderr


@pytest.mark.node
def test_pull_all_pulls_every_protocol_of_the_chain(devchain, clean_store, tmp_path) -> None:
    store = tmp_path / "s.duckdb"
    done = liqtk("pull", "--all", "--chain", "devchain", "--rpc", devchain.url, "--store", store, "--quiet")
    assert done.returncode == 0, done.stderr
    pulls = json.loads(done.stdout)["pulls"]
    assert {"aave-v3", "aave-v2"} <= {p["protocol"] for p in pulls}
    assert {p["status"] for p in pulls} <= {"ok", "nothing_new"}
    for protocol in ("aave-v3", "aave-v2"):
        assert rows_hash(store, protocol=protocol) == rows_hash(clean_store, protocol=protocol)
