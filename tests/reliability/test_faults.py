"""Pulls through a misbehaving provider end exactly as a clean pull: the fault-injecting proxy
(:mod:`fault_proxy`) in front of the real local node."""

from __future__ import annotations

import json
from pathlib import Path

import aiohttp
import pytest

from liqtkwork import PROTOCOLS, liqtk, pull_args, rows_hash
from fault_proxy import FaultConfig, FaultProxy

pytestmark = pytest.mark.node

#: Random faults on 40 % of HTTP requests, every kind the proxy has; 429s ask for ``Retry-After: 0``
#: and Infura's backoff is 50 ms so that the test waits for the faults, not for the clock. Slow
#: answers take 1.5 s against a 1 s client timeout. Ranges over 25 blocks are refused as Infura does.
FAULT_MIX = FaultConfig(seed=11, provider="infura_range", range_limit=25, http_429=0.06, retry_after=0,
                        rpc_rate_limit=0.06, backoff_seconds=0.05, http_5xx=0.06, slow=0.04, slow_seconds=1.5,
                        reset=0.06, malformed=0.06, behind=0.06, behind_blocks=4)
RANDOM_KINDS = ("http_429", "rpc_rate_limit", "http_5xx", "slow", "reset", "malformed", "behind")


def pull_until_done(url: str, store: Path, protocol: str, *extra: object, until: int | None = None) -> list[int]:
    """Pull as cron would, again after a partial or failed run, and after a run whose bound a lagging node gave
    below ``until`` (the node's own finalized block: a lower head only ends a read earlier); the exit codes seen."""
    codes = []
    for _ in range(6):
        done = liqtk(*pull_args(url, store, protocol, "--quiet", *extra))
        codes.append(done.returncode)
        if done.returncode in (0, 3) and (until is None or json.loads(done.stdout)["to_block"] >= until):
            return codes
        assert done.returncode in (0, 1, 3, 4), done.stderr
    raise AssertionError(f"{protocol} did not complete in 6 runs: exit codes {codes}")


@pytest.mark.slow
def test_a_pull_through_40_percent_faults_equals_a_clean_pull(devchain, clean_hash, tmp_path) -> None:
    store = tmp_path / "s.duckdb"
    finalized = devchain.chain.w3.eth.get_block("finalized")["number"]
    with FaultProxy(devchain.url, FAULT_MIX) as proxy:
        for protocol in PROTOCOLS:
            pull_until_done(proxy.url, store, protocol, "--rpc-timeout", "1", until=finalized)
    faulted = sum(proxy.stats.faults[kind] for kind in RANDOM_KINDS)
    assert faulted >= 0.3 * proxy.stats.requests, (faulted, proxy.stats.requests, proxy.stats.faults)
    assert all(proxy.stats.faults[kind] for kind in RANDOM_KINDS), proxy.stats.faults
    assert rows_hash(store) == clean_hash
    runs = json.loads(liqtk("status", "--store", store, "--quiet").stdout)["runs"]
    reports = [run["report"] for run in runs if run["status"] in ("ok", "nothing_new")]
    assert sum(r["rpc"]["retries"] for r in reports) > 0
    assert {"RateLimited", "Transient"} <= {kind for r in reports for kind in r["rpc"]["faults"]}


@pytest.mark.parametrize("provider", ["alchemy_free", "quicknode", "reth"])
def test_pull_behind_a_range_limited_provider_equals_a_clean_pull(devchain, clean_hash, tmp_path, provider) -> None:
    """The provider rejects getLogs ranges over 25 blocks with its real error text (docs/sources/chain.md#provider-error-messages)."""
    store = tmp_path / "s.duckdb"
    with FaultProxy(devchain.url, FaultConfig(provider=provider, range_limit=25)) as proxy:
        for protocol in PROTOCOLS:
            done = liqtk(*pull_args(proxy.url, store, protocol))
            assert done.returncode == 0, done.stderr
        assert proxy.stats.faults["range_limit"] > 0
    assert rows_hash(store) == clean_hash


def test_a_load_balanced_node_that_lags_is_retried_and_leaves_no_gap(devchain, clean_hash, tmp_path) -> None:
    """Half the requests reach a replica 4 blocks behind: lower heads and bounds, ``null`` headers,
    "beyond current head" log ranges, "header not found" calls. The store still ends up clean."""
    store = tmp_path / "s.duckdb"
    with FaultProxy(devchain.url, FaultConfig(seed=5, behind=0.5, behind_blocks=4)) as proxy:
        for protocol in PROTOCOLS:
            assert pull_until_done(proxy.url, store, protocol, "--blocks-per-request", "40")[-1] in (0, 3)
        assert proxy.stats.faults["behind"] > 5
        # the last pull may have stopped at a lagging bound: a later run completes it, as cron would
        for protocol in PROTOCOLS:
            pull_until_done(devchain.url, store, protocol)
    assert rows_hash(store) == clean_hash


async def test_the_behind_mode_answers_as_a_lagging_replica(devchain) -> None:
    head = devchain.chain.w3.eth.block_number
    finalized = devchain.chain.w3.eth.get_block("finalized").number

    async def ask(session: aiohttp.ClientSession, url: str, method: str, *params: object) -> dict:
        async with session.post(url, json={"jsonrpc": "2.0", "id": 7, "method": method, "params": list(params)}) as r:
            return await r.json()

    with FaultProxy(devchain.url, FaultConfig(behind=1.0, behind_blocks=4)) as proxy:
        async with aiohttp.ClientSession() as session:
            assert (await ask(session, proxy.url, "eth_blockNumber"))["result"] == hex(head - 4)
            assert (await ask(session, proxy.url, "eth_getBlockByNumber", hex(head), False))["result"] is None
            block = await ask(session, proxy.url, "eth_getBlockByNumber", "finalized", False)
            assert int(block["result"]["number"], 16) == finalized - 4
            logs = await ask(session, proxy.url, "eth_getLogs", {"fromBlock": "0x1", "toBlock": hex(head)})
            assert logs["error"] == {"code": -32602, "message": "block range extends beyond current head block"}
            call = await ask(session, proxy.url, "eth_call", {"to": devchain.accounts[0], "data": "0x"}, hex(head))
            assert call["error"] == {"code": -32000, "message": "header not found"}
            assert (await ask(session, proxy.url, "eth_chainId"))["result"] == hex(31337)
        assert proxy.stats.faults["behind"] == 6
