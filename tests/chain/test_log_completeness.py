"""Completeness of every eth_getLogs answer (toolkit.chain.completeness) against a real anvil behind the fault
proxy: a node that silently caps or empties its answers loses no log once the blooms, caps and receipts are
checked, while a reader that trusts it does."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from toolkit.chain.blocks import BlockHeaders
from toolkit.chain.completeness import Completeness, bloom_matches, blooms_of, bloom_positions, suspected_cap
from toolkit.chain.logs import LogChunk, LogReader
from toolkit.chain.rpc import RpcClient
from fault_proxy import FaultConfig, FaultProxy
from test_log_reader import assert_covers, logs_of

pytestmark = pytest.mark.node


async def read(url: str, flt: Any, start: int, end: int, mode: str | None = "bloom",
               **options: Any) -> tuple[list[LogChunk], RpcClient]:
    async with RpcClient(url, backoff_base=0.01) as client:
        verify = Completeness(client, BlockHeaders(client), mode) if mode else None
        chunks = [chunk async for chunk in LogReader(client, verify=verify, **options).iter_chunks(flt, start, end)]
    return chunks, client


def test_bloom_positions_follow_the_yellow_paper() -> None:
    """M3:2048 of an empty item: Keccak-256('') = c5d2460186f7..., byte pairs c5d2, 4601, 86f7 -> bits 1490, 1537,
    1783 (low 11 bits), i.e. bytes 255 - bit // 8 with masks 1 << bit % 8."""
    assert bloom_positions(b"") == ((255 - 1490 // 8, 1 << 1490 % 8), (255 - 1537 // 8, 1 << 1537 % 8),
                                    (255 - 1783 // 8, 1 << 1783 % 8))


def test_suspected_caps_are_the_counts_providers_cap_at() -> None:
    assert [n for n in (100, 255, 256, 500, 1000, 1024, 2000, 2500, 10_000, 10_001, 1234) if suspected_cap(n)] == \
        [256, 1000, 1024, 2000, 10_000]


async def test_every_block_with_logs_matches_its_bloom_and_blocks_without_mostly_do_not(log_chain) -> None:
    async with RpcClient(log_chain.url) as client:
        headers = await BlockHeaders(client).get(range(log_chain.start, log_chain.end))
    numbers = np.arange(log_chain.start, log_chain.end)
    matched = bloom_matches(blooms_of([headers[n] for n in numbers.tolist()]), log_chain.filter.addresses,
                            log_chain.filter.topics0)
    with_logs = np.isin(numbers, [int(log["blockNumber"], 16) for log in log_chain.logs])
    assert matched[with_logs].all()
    assert matched[~with_logs].sum() <= (~with_logs).sum() // 10  # false positives are rare in sparse blooms


async def test_answers_emptied_by_a_lagging_node_are_read_again_and_nothing_is_lost(log_chain) -> None:
    config = FaultConfig(seed=3, empty_ratio=0.3)
    with FaultProxy(log_chain.url, config) as proxy:
        chunks, client = await read(proxy.url, log_chain.filter, log_chain.start, log_chain.end, initial_span=20,
                                    max_span=20)
        trusted, _ = await read(proxy.url, log_chain.filter, log_chain.start, log_chain.end, mode=None,
                                initial_span=20, max_span=20)
    assert proxy.stats.faults["emptied"] >= 3
    assert_covers(chunks, log_chain.start, log_chain.end)
    assert logs_of(chunks) == log_chain.logs
    assert client.stats.rereads["bloom_without_logs"] >= 3 and client.stats.checks["logs_recovered"] > 0
    assert len(logs_of(trusted)) < len(log_chain.logs)  # what trusting such a node costs


async def test_a_silent_cap_at_a_round_count_is_read_again_and_learned(log_chain) -> None:
    """The first answer is cut at 1,000 logs: the blocks after it are read again by hash and 1,000 becomes the
    endpoint's cap, so the next requests ask for fewer logs and are not cut (more than a few times)."""
    with FaultProxy(log_chain.url, FaultConfig(result_cap=1000)) as proxy:
        chunks, client = await read(proxy.url, log_chain.filter, log_chain.start, log_chain.end, concurrency=1)
    assert logs_of(chunks) == log_chain.logs
    assert client.stats.rereads["stopped_early"] >= 1
    assert 1 <= proxy.stats.faults["truncated"] <= 3, proxy.stats.faults


async def test_a_silent_cap_at_an_odd_count_is_caught_by_the_blooms(log_chain) -> None:
    """137 is no count a provider states: the answer stops before later blocks whose blooms match, which are
    read again by hash with its last block (which the cap may have cut). The dense block, longer than the cap
    itself, is left out: only receipts prove a block whole (next test)."""
    end = log_chain.dense_block
    expected = [log for log in log_chain.logs if int(log["blockNumber"], 16) < end]
    with FaultProxy(log_chain.url, FaultConfig(result_cap=137)) as proxy:
        chunks, client = await read(proxy.url, log_chain.filter, log_chain.start, end)
    assert proxy.stats.faults["truncated"] >= 1
    assert logs_of(chunks) == expected
    assert client.stats.rereads["stopped_early"] >= 1


async def test_receipts_prove_every_block_whole_even_one_longer_than_the_cap(log_chain) -> None:
    with FaultProxy(log_chain.url, FaultConfig(result_cap=137)) as proxy:
        chunks, client = await read(proxy.url, log_chain.filter, log_chain.start, log_chain.end, mode="receipts")
    assert logs_of(chunks) == log_chain.logs
    assert client.stats.rereads["receipts"] >= 1 and client.stats.checks["receipts_blocks"] > 0


async def test_an_honest_node_costs_no_reread_and_chunks_carry_their_headers(log_chain) -> None:
    with FaultProxy(log_chain.url) as proxy:
        chunks, client = await read(proxy.url, log_chain.filter, log_chain.start, log_chain.end, mode="receipts")
    assert logs_of(chunks) == log_chain.logs
    assert not client.stats.rereads
    assert client.stats.checks["blocks"] == log_chain.end - log_chain.start
    for chunk in chunks:
        with_logs = {int(log["blockNumber"], 16) for log in chunk.logs}
        assert chunk.headers is not None and set(chunk.headers) == with_logs | {chunk.end - 1}
