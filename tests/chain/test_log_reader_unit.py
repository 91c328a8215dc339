"""LogReader invariants on an in-memory node (no anvil): coverage, order, growth, reorgs, learning."""

from __future__ import annotations

import asyncio
import itertools
from contextlib import aclosing
import random
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from toolkit.chain.errors import ReorgDetected, classify_error_object
from toolkit.chain.logs import _LIMITS, InconsistentLogs, LogFilter, LogReader

_ids = itertools.count()


class FakeNode:
    """Answers eth_getLogs over synthetic logs like a provider with the given limits (real messages)."""

    def __init__(self, logs_per_block: list[int], *, range_limit: int | None = None, hint: bool = True,
                 result_limit: int | None = None, tamper: str | None = None, seed: int = 0) -> None:
        self.redacted_url = f"http://fake-{next(_ids)}.example.invalid"
        self.logs_per_block = logs_per_block
        self.range_limit, self.hint, self.result_limit, self.tamper = range_limit, hint, result_limit, tamper
        self.rng = random.Random(seed)
        self.requests: list[tuple[int, int]] = []

    async def chain_id(self) -> int:
        return 1

    def log(self, block: int, index: int) -> dict[str, Any]:
        return {"blockNumber": hex(block), "logIndex": hex(index), "removed": False, "data": f"{block}:{index}"}

    def all_logs(self, start: int, end: int) -> list[dict[str, Any]]:
        return [self.log(b, i) for b in range(start, end) for i in range(self.logs_per_block[b])]

    async def call(self, method: str, params: list[dict[str, Any]], *, read_result: Any = None) -> list[dict[str, Any]]:
        """The logs as parsed JSON (as RpcClient.call gives them when ``read_result`` declines an answer)."""
        assert method == "eth_getLogs"
        first, last = int(params[0]["fromBlock"], 16), int(params[0]["toBlock"], 16)
        self.requests.append((first, last))
        await asyncio.sleep(self.rng.random() / 1000)  # complete out of order
        if self.range_limit is not None and last - first + 1 > self.range_limit:
            message = (f"query exceeds max block range {self.range_limit}" if self.hint  # reth #8558
                       else "block range is too wide")                                   # Ankr (ponder)
            raise classify_error_object({"code": -32602, "message": message}, url=self.redacted_url)
        logs = self.all_logs(first, last + 1)
        if self.result_limit is not None and len(logs) > self.result_limit:
            raise classify_error_object(  # Infura (older), status-im/nimbus-eth2#1823
                {"code": -32005, "message": f"query returned more than {self.result_limit} results"},
                url=self.redacted_url)
        if self.tamper == "removed" and logs:
            logs[-1] = {**logs[-1], "removed": True}
        if self.tamper == "stray":
            logs.append(self.log(last + 1, 0))
        self.rng.shuffle(logs)  # the reader sorts by (block, log index)
        return logs


async def read(node: FakeNode, start: int, end: int, **options: Any) -> list[Any]:
    reader = LogReader(node, **options)  # type: ignore[arg-type]
    return [chunk async for chunk in reader.iter_chunks(LogFilter(), start, end)]


@settings(max_examples=60, deadline=None)
@given(
    density=st.lists(st.integers(0, 6), min_size=1, max_size=300),
    bounds=st.tuples(st.integers(0, 300), st.integers(0, 300)),
    range_limit=st.none() | st.integers(1, 80),
    hint=st.booleans(),
    result_limit=st.none() | st.integers(7, 60),  # > the densest block, so every range can be split
    initial_span=st.integers(1, 500),
    concurrency=st.integers(1, 5),
)
def test_chunks_cover_the_range_in_order_with_every_log(density, bounds, range_limit, hint, result_limit,
                                                        initial_span, concurrency) -> None:
    start, end = sorted(b % (len(density) + 1) for b in bounds)
    node = FakeNode(density, range_limit=range_limit, hint=hint, result_limit=result_limit)
    chunks = asyncio.run(read(node, start, end, initial_span=initial_span, max_span=max(initial_span, 500),
                              concurrency=concurrency))
    if start == end:
        assert chunks == []
        return
    assert chunks[0].start == start and chunks[-1].end == end
    assert all(a.end == b.start and a.start < a.end for a, b in itertools.pairwise(chunks))
    assert [log for c in chunks for log in c.logs] == node.all_logs(start, end)
    if range_limit is not None:
        assert all(c.end - c.start <= range_limit for c in chunks)


async def test_span_grows_after_clean_chunks_but_never_above_max_span() -> None:
    node = FakeNode([1] * 2000)
    chunks = await read(node, 0, 2000, initial_span=10, max_span=160, grow_after=2, concurrency=1)
    spans = [c.end - c.start for c in chunks]
    assert spans[:8] == [10, 10, 20, 20, 40, 40, 80, 80] and max(spans) == 160
    assert _LIMITS[(node.redacted_url, 1)].span == 160


async def test_a_stated_limit_is_a_ceiling_for_growth() -> None:
    node = FakeNode([0] * 3000, range_limit=100)
    await read(node, 0, 3000, initial_span=1000, grow_after=2, concurrency=1)
    rejected = [r for r in node.requests if r[1] - r[0] + 1 > 100]
    assert len(rejected) == 1 and _LIMITS[(node.redacted_url, 1)].ceiling == 100


async def test_the_span_is_remembered_per_endpoint() -> None:
    node = FakeNode([0] * 1000, range_limit=50, hint=True)
    await read(node, 0, 500, concurrency=1)
    first = len(node.requests)
    await read(node, 500, 1000, concurrency=1)
    assert first == 11 and len(node.requests) - first == 10  # the second reader starts at 50 blocks


async def test_result_cap_is_learned_from_the_message() -> None:
    node = FakeNode([5] * 100, result_limit=20)
    await read(node, 0, 100, concurrency=1)
    assert _LIMITS[(node.redacted_url, 1)].result_cap == 20


async def test_a_removed_log_is_a_reorg_the_caller_sees() -> None:
    with pytest.raises(ReorgDetected, match=r"removed log .* reorganised"):
        await read(FakeNode([2] * 50, tamper="removed"), 0, 50)


async def test_a_log_outside_the_requested_range_is_rejected() -> None:
    with pytest.raises(InconsistentLogs, match=r"outside|for the range"):
        await read(FakeNode([1] * 50, tamper="stray"), 0, 50)


async def test_closing_the_iterator_cancels_the_fetches_in_flight() -> None:
    node = FakeNode([1] * 10_000)
    reader = LogReader(node, initial_span=10, max_span=10, concurrency=4)  # type: ignore[arg-type]
    async with aclosing(reader.iter_chunks(LogFilter(), 0, 10_000)) as chunks:
        async for _chunk in chunks:
            break
    await asyncio.sleep(0.01)
    assert len(node.requests) <= 1 + 4
