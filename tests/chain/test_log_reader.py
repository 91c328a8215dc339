"""LogReader against a real anvil behind the fault proxy: same logs, same order, as one direct eth_getLogs."""

from __future__ import annotations

import math
from itertools import pairwise
from collections.abc import Sequence
from typing import Any

import pyarrow as pa
import pytest

from toolkit.chain.logtable import LOG_FIELDS, log_dicts
from toolkit.chain.logs import LogChunk, LogFilter, LogRangeUnsplittable, LogReader, reset_endpoint_limits
from toolkit.chain.rpc import RpcClient
from fault_proxy import PROVIDER_TEMPLATES, FaultConfig, FaultProxy

pytestmark = pytest.mark.node

#: Blocks per eth_getLogs the proxy allows: not a power of two, so bisection cannot hit it exactly.
LIMIT = 37


async def read(url: str, flt: LogFilter, start: int, end: int, **options: Any) -> tuple[list[LogChunk], RpcClient]:
    async with RpcClient(url, backoff_base=0.01) as client:
        chunks = [chunk async for chunk in LogReader(client, **options).iter_chunks(flt, start, end)]
    return chunks, client


def assert_covers(chunks: Sequence[LogChunk], start: int, end: int) -> None:
    assert chunks[0].start == start and chunks[-1].end == end
    assert all(a.end == b.start for a, b in pairwise(chunks)), "chunks must be contiguous, in order"
    assert all(c.start < c.end for c in chunks)


def logs_of(chunks: Sequence[LogChunk]) -> list[dict[str, Any]]:
    return [log for chunk in chunks for log in chunk.logs]


def blind_bisection_requests(blocks: int, limit: int) -> int:
    """Requests of recursive bisection without hints (docs/sources/chain.md#range-splitting: 31 for 1000/100)."""
    return 1 if blocks <= limit else 1 + blind_bisection_requests(blocks // 2, limit) \
        + blind_bisection_requests(blocks - blocks // 2, limit)


@pytest.mark.parametrize("provider", sorted(PROVIDER_TEMPLATES))
async def test_range_limited_provider_gives_the_same_logs_as_one_direct_call(log_chain, provider: str) -> None:
    with FaultProxy(log_chain.url, FaultConfig(provider=provider, range_limit=LIMIT)) as proxy:
        chunks, client = await read(proxy.url, log_chain.filter, log_chain.start, log_chain.end, concurrency=4)
    assert_covers(chunks, log_chain.start, log_chain.end)
    assert logs_of(chunks) == log_chain.logs
    assert max(c.end - c.start for c in chunks) <= LIMIT
    assert proxy.stats.faults["range_limit"] >= 1
    assert client.stats.http_requests == proxy.stats.requests


async def test_hinted_ranges_cost_far_fewer_requests_than_bisection(log_chain) -> None:
    blocks = log_chain.end - log_chain.start
    counts = {}
    for provider in ("reth", "ankr"):  # "query exceeds max block range 37" vs "block range is too wide"
        with FaultProxy(log_chain.url, FaultConfig(provider=provider, range_limit=LIMIT)) as proxy:
            chunks, _ = await read(proxy.url, log_chain.filter, log_chain.start, log_chain.end, concurrency=1)
        assert logs_of(chunks) == log_chain.logs
        counts[provider] = (proxy.stats.methods["eth_getLogs"], proxy.stats.faults["range_limit"])
    hinted, hinted_rejections = counts["reth"]
    unhinted, unhinted_rejections = counts["ankr"]
    optimum = math.ceil(blocks / LIMIT)
    # One rejected request teaches the limit; the limit is a ceiling, so it is never exceeded again.
    assert hinted_rejections == 1 and hinted == optimum + 1
    # Without a hint the reader halves (keeping the halved span) and re-probes when it grows.
    assert unhinted_rejections >= math.ceil(math.log2(blocks / LIMIT)) and unhinted > hinted
    assert hinted * 2 <= blind_bisection_requests(blocks, LIMIT) and unhinted <= blind_bisection_requests(blocks, LIMIT)


async def test_silent_truncation_at_the_result_cap_is_detected_and_split(log_chain) -> None:
    cap = log_chain.dense_logs + 100
    with FaultProxy(log_chain.url, FaultConfig(result_cap=cap)) as proxy:
        chunks, _ = await read(proxy.url, log_chain.filter, log_chain.start, log_chain.end, result_cap=cap)
        reset_endpoint_limits()  # the endpoint's cap was just learned; forget it for the counter-example
        unaware, _ = await read(proxy.url, log_chain.filter, log_chain.start, log_chain.end)
    assert_covers(chunks, log_chain.start, log_chain.end)
    assert logs_of(chunks) == log_chain.logs
    assert proxy.stats.faults["truncated"] >= 2
    assert all(len(c.logs) < cap for c in chunks)
    # Why the cap must be configured: a reader that does not know it loses logs without noticing.
    assert len(logs_of(unaware)) < len(log_chain.logs)


async def test_a_single_block_over_the_cap_raises_instead_of_looping(log_chain) -> None:
    dense = log_chain.dense_block
    with FaultProxy(log_chain.url, FaultConfig(result_cap=100)) as proxy:
        with pytest.raises(LogRangeUnsplittable, match=f"block from {dense} still fails") as caught:
            await read(proxy.url, log_chain.filter, dense, dense + 1, result_cap=100)
        assert proxy.stats.methods["eth_getLogs"] == 1
        with pytest.raises(LogRangeUnsplittable, match=f"block from {dense} "):
            await read(proxy.url, log_chain.filter, dense - 10, dense + 10, result_cap=100, concurrency=1)
        # Bisection down to the block plus reads of the blocks before it: bounded, no retry loop.
        assert proxy.stats.methods["eth_getLogs"] <= 1 + 2 * 20
    assert "narrow the filter" in str(caught.value) and "\n" not in str(caught.value)


async def test_chunks_are_yielded_in_block_order_while_fetched_concurrently(log_chain) -> None:
    config = FaultConfig(seed=5, slow=0.3, slow_seconds=0.2)
    with FaultProxy(log_chain.url, config) as proxy:
        chunks, _ = await read(proxy.url, log_chain.filter, log_chain.start, log_chain.end,
                               initial_span=25, max_span=25, concurrency=6)
    assert proxy.stats.faults["slow"] >= 3
    assert_covers(chunks, log_chain.start, log_chain.end)
    assert logs_of(chunks) == log_chain.logs


async def test_range_limits_and_random_faults_together(log_chain) -> None:
    cap = log_chain.dense_logs + 50
    config = FaultConfig(seed=11, provider="alchemy_free", range_limit=LIMIT, result_cap=cap, http_429=0.05,
                         retry_after=0, rpc_rate_limit=0.05, backoff_seconds=0.05, http_5xx=0.05, reset=0.05,
                         malformed=0.05)
    with FaultProxy(log_chain.url, config) as proxy:
        chunks, client = await read(proxy.url, log_chain.filter, log_chain.start, log_chain.end, result_cap=cap)
    assert logs_of(chunks) == log_chain.logs
    assert {"range_limit", "http_429", "rpc_rate_limit", "http_5xx", "reset", "malformed"} <= set(proxy.stats.faults)
    assert client.stats.retries >= 5


async def test_column_chunks_hold_the_same_logs_through_faults_splits_and_cut_blocks(log_chain) -> None:
    """A reader asking for columns: every answer read as Arrow columns, the truncated ones
    (``malformed``) retried, the range limits and result cap split, the dense block kept whole while
    the others cut into chunks of at most ``target_logs``."""
    cap = log_chain.dense_logs + 50
    config = FaultConfig(seed=11, provider="alchemy_free", range_limit=LIMIT, result_cap=cap, http_5xx=0.05,
                         malformed=0.1)
    with FaultProxy(log_chain.url, config) as proxy:
        chunks, client = await read(proxy.url, log_chain.filter, log_chain.start, log_chain.end, result_cap=cap,
                                    columns=True, target_logs=50)
    assert_covers(chunks, log_chain.start, log_chain.end)
    assert all(isinstance(chunk.logs, pa.Table) for chunk in chunks)
    assert [log for chunk in chunks for log in log_dicts(chunk.logs)] == \
        [{field.name: log.get(field.name) for field in LOG_FIELDS} for log in log_chain.logs]
    # A chunk of more than target_logs logs is one block (the dense one among them).
    assert all(chunk.end - chunk.start == 1 for chunk in chunks if len(chunk.logs) > 50)
    assert any(chunk.start == log_chain.dense_block and len(chunk.logs) >= log_chain.dense_logs for chunk in chunks)
    assert {"range_limit", "malformed"} <= set(proxy.stats.faults) and client.stats.retries >= 1
