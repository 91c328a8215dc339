"""RpcClient against a real anvil, directly and through the fault proxy."""

from __future__ import annotations

import logging
import time

import pytest

from toolkit.chain.errors import NodeUnreachable, RateLimited, Transient
from toolkit.chain.rpc import RpcClient
from toolkit.devchain.anvil import AnvilNode, free_port
from fault_proxy import FaultConfig, FaultProxy

pytestmark = pytest.mark.node

#: A key in the user-info, the path and the query: none of it may appear in an error.
SECRET_PARTS = ("alice", "pa55word", "v3/9f86d081884c7d659a2feaa0c55ad015", "9f86d081884c7d659a2feaa0c55ad015",
                "apikey", "topsecretvalue")


def with_secrets(base: str) -> str:
    host = base.removeprefix("http://")
    return f"http://alice:pa55word@{host}/v3/9f86d081884c7d659a2feaa0c55ad015?apikey=topsecretvalue"


async def test_unreachable_node_fails_fast_with_one_redacted_line() -> None:
    url = with_secrets(f"http://127.0.0.1:{free_port()}")
    started = time.monotonic()
    async with RpcClient(url) as client:
        with pytest.raises(NodeUnreachable) as caught:
            await client.chain_id()
    elapsed = time.monotonic() - started
    message = str(caught.value)
    assert elapsed < 4.0, elapsed
    assert message.startswith("cannot reach the RPC node at http://127.0.0.1:") and message.count("\n") == 0
    assert "/***: connection refused; check --rpc or LIQTK_RPC_ETHEREUM" in message
    assert not any(part in message for part in SECRET_PARTS), message
    assert caught.value.__cause__ is None and caught.value.__context__ is None
    assert client.stats.http_requests == 4 and client.stats.faults["NodeUnreachable"] == 4


async def test_errors_through_a_failing_provider_never_show_the_key(chain_node: AnvilNode) -> None:
    config = FaultConfig(http_5xx=0.5, reset=0.5)
    with FaultProxy(chain_node.url, config) as proxy:
        async with RpcClient(with_secrets(proxy.url), max_retries=2, backoff_base=0.01) as client:
            with pytest.raises(Transient) as caught:
                await client.chain_id()
    message = str(caught.value)
    assert client.redacted_url in message and not any(part in message for part in SECRET_PARTS), message


async def test_debug_logs_do_not_show_the_key(chain_node: AnvilNode, caplog: pytest.LogCaptureFixture) -> None:
    """Everything logged at DEBUG while calls succeed and fail, failures logged with their traceback
    as an application would, is free of the key in the URL."""
    for name in (None, "aiohttp", "toolkit"):
        caplog.set_level(logging.DEBUG, logger=name)
    log = logging.getLogger("toolkit.test")
    with FaultProxy(chain_node.url) as proxy:
        async with RpcClient(with_secrets(proxy.url)) as client:
            await client.chain_id()
            await client.batch([("eth_chainId", []), ("eth_blockNumber", [])])
    with FaultProxy(chain_node.url, FaultConfig(http_5xx=1.0)) as proxy:
        async with RpcClient(with_secrets(proxy.url), max_retries=1, backoff_base=0.01) as client:
            with pytest.raises(Transient, match="answered HTTP 50") as http_error:
                await client.chain_id()
    log.error("HTTP error", exc_info=http_error.value)
    async with RpcClient(with_secrets(f"http://127.0.0.1:{free_port()}"), max_connect_retries=1) as client:
        with pytest.raises(NodeUnreachable) as unreachable:
            await client.chain_id()
    log.error("unreachable", exc_info=unreachable.value)
    assert "answered HTTP 50" in caplog.text and "cannot reach the RPC node" in caplog.text
    assert not any(part in caplog.text for part in SECRET_PARTS), caplog.text


async def test_http_429_retry_after_is_honoured(chain_node: AnvilNode) -> None:
    with FaultProxy(chain_node.url, FaultConfig(http_429=1.0, retry_after=1, max_faults=1)) as proxy:
        async with RpcClient(proxy.url, backoff_base=0.001) as client:
            started = time.monotonic()
            assert await client.chain_id() == chain_node.chain_id
            elapsed = time.monotonic() - started
    assert 1.0 <= elapsed < 2.0, elapsed
    assert proxy.stats.faults["http_429"] == 1 and client.stats.retries == 1
    assert client.stats.http_requests == 2 and client.stats.faults["RateLimited"] == 1


async def test_infura_rate_limit_in_http_200_is_retried_after_backoff_seconds(chain_node: AnvilNode) -> None:
    config = FaultConfig(rpc_rate_limit=1.0, backoff_seconds=0.4, max_faults=2)
    with FaultProxy(chain_node.url, config) as proxy:
        async with RpcClient(proxy.url, backoff_base=0.001) as client:
            started = time.monotonic()
            blocks = await client.batch([("eth_getBlockByNumber", ["0x0", False]), ("eth_chainId", [])])
            elapsed = time.monotonic() - started
    assert blocks[1] == hex(chain_node.chain_id) and blocks[0]["number"] == "0x0"
    assert 0.8 <= elapsed < 1.6, elapsed
    assert proxy.stats.faults["rpc_rate_limit"] == 2 and client.stats.retries == 2


async def test_a_wait_longer_than_backoff_max_fails_at_once(chain_node: AnvilNode) -> None:
    with FaultProxy(chain_node.url, FaultConfig(http_429=1.0, retry_after=120)) as proxy:
        async with RpcClient(proxy.url, backoff_max=5) as client:
            started = time.monotonic()
            with pytest.raises(RateLimited, match="asks to wait 120 s"):
                await client.chain_id()
    assert time.monotonic() - started < 1.0 and proxy.stats.requests == 1


async def test_transient_fault_mix_is_absorbed(log_chain) -> None:
    config = FaultConfig(seed=1, http_5xx=0.1, slow=0.1, reset=0.1, malformed=0.1, slow_seconds=1.0)
    with FaultProxy(log_chain.url, config) as proxy:
        async with RpcClient(proxy.url, timeout=0.5, backoff_base=0.01, max_retries=8) as client:
            numbers = list(range(40))
            results = await client.batch([("eth_getBlockByNumber", [hex(n), False]) for n in numbers])
            singles = [await client.call("eth_getBlockByNumber", [hex(n), False]) for n in numbers[:20]]
    assert [int(b["number"], 16) for b in results] == numbers
    assert singles == results[:20]
    assert set(proxy.stats.faults) == {"http_5xx", "slow", "reset", "malformed"}
    assert client.stats.retries == sum(proxy.stats.faults.values()) == client.stats.faults["Transient"]
    assert client.stats.http_requests == proxy.stats.requests


async def test_batch_is_halved_when_the_provider_limits_its_size(log_chain) -> None:
    with FaultProxy(log_chain.url, FaultConfig(batch_limit=10)) as proxy:
        async with RpcClient(proxy.url) as client:
            numbers = list(range(40, 0, -1))
            results = await client.batch([("eth_getBlockByNumber", [hex(n), False]) for n in numbers])
            first_requests = client.stats.http_requests
            await client.batch([("eth_getBlockByNumber", [hex(n), False]) for n in numbers])
    assert [int(b["number"], 16) for b in results] == numbers
    # 40 rejected, 20 rejected, then 4 batches of 10.
    assert first_requests == 6 and proxy.stats.faults["batch_too_large"] == 2
    assert client.stats.http_requests - first_requests == 4  # the learned size is reused
