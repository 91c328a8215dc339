"""BlockHeaders and StateReader against a real anvil."""

from __future__ import annotations

import pytest

from toolkit.chain.blocks import BlockHeader, BlockHeaders, UnsupportedBlockTag
from toolkit.chain.calls import MAX_BATCH_BYTES, NodeFeatures, StateReader
from toolkit.chain.errors import ExecutionReverted, NoArchiveState, classify_error_object
from toolkit.chain.rpc import RpcClient
from toolkit.devchain.anvil import start_anvil
from toolkit.devchain.emitter import emit_many_tx
from fault_proxy import FaultConfig, FaultProxy
from toolkit.errors import UserInputError

@pytest.mark.node
async def test_headers_are_batched_cached_and_match_single_calls(log_chain) -> None:
    numbers = list(range(log_chain.start, log_chain.start + 250))
    async with RpcClient(log_chain.url) as client:
        headers = BlockHeaders(client)
        got = await headers.get(reversed(numbers))
        assert client.stats.http_requests == 3 and client.stats.rpc_calls == 250  # batches of 100
        assert await headers.get(numbers[:50]) == {n: got[n] for n in numbers[:50]}
        assert client.stats.http_requests == 3  # served from memory
        single = await client.call("eth_getBlockByNumber", [hex(numbers[7]), False])
    assert list(got) == numbers
    assert got[numbers[7]] == BlockHeader(numbers[7], single["hash"], single["parentHash"],
                                          int(single["timestamp"], 16))
    assert all(got[n].parent_hash == got[n - 1].hash for n in numbers[1:])


@pytest.mark.node
async def test_resolve_bound(log_chain) -> None:
    async with RpcClient(log_chain.url) as client:
        headers = BlockHeaders(client)
        head = int(await client.call("eth_blockNumber"), 16)
        # anvil --slots-in-an-epoch 1: safe = head - 1, finalized = head - 2 (docs/sources/chain.md#finality-tags).
        assert await headers.resolve_bound("latest") == head
        assert await headers.resolve_bound("latest", confirmations=64) == head - 64
        assert await headers.resolve_bound("safe") == head - 1
        assert await headers.resolve_bound("finalized") == head - 2
        assert await headers.resolve_bound(12) == await headers.resolve_bound("12") == 12
        with pytest.raises(UserInputError, match="outside the node's chain"):
            await headers.resolve_bound(head + 1)
        with pytest.raises(UserInputError, match="one of finalized, safe, latest"):
            await headers.resolve_bound("pending")


class PreMergeNode:
    """A node that rejects the 'finalized' tag like pre-merge geth."""

    redacted_url = "http://old-node.example.invalid"

    async def call(self, method: str, params: list | tuple = ()) -> str:
        if method == "eth_blockNumber":
            return "0x64"
        raise classify_error_object({"code": -32602, "message": "'finalized' tag not supported on pre-merge network"},
                                    url=self.redacted_url, method=method)


async def test_a_node_without_finalized_gets_a_suggestion() -> None:
    with pytest.raises(UnsupportedBlockTag, match="use --to latest --confirmations 64"):
        await BlockHeaders(PreMergeNode()).resolve_bound("finalized")  # type: ignore[arg-type]


@pytest.mark.node
async def test_eth_calls_are_batched_cached_and_reverts_stay_per_item(log_chain) -> None:
    emit_one = bytes.fromhex(emit_many_tx(log_chain.emitter, log_chain.emitter, 1)["data"][2:])
    unknown_selector = bytes.fromhex("deadbeef")
    block = log_chain.end - 1
    calls = [(block, log_chain.emitter, emit_one), (block, log_chain.emitter, unknown_selector),
             (block, log_chain.other_emitter, emit_one)]
    calls = calls * 40 + [(block, log_chain.emitter, emit_one + bytes([i])) for i in range(60)]
    with FaultProxy(log_chain.url, FaultConfig(batch_limit=40)) as proxy:
        async with RpcClient(proxy.url) as client:
            state = StateReader(client, batch_size=50)
            results = await state.call_many(calls)
            sent = client.stats.rpc_calls
            again = await state.call_many(calls[:10])
            assert client.stats.rpc_calls == sent  # cached
    assert results[0] == b"" and results[2] == b""  # emitMany returns nothing
    assert isinstance(results[1], ExecutionReverted) and results[1] is results[4]
    assert again == results[:10]
    assert all(r == b"" for r in results[120:])
    # 63 distinct calls in batches of 50 and 13; the proxy rejects the 50 (limit 40), sent again as 25 + 25.
    assert proxy.stats.faults["batch_too_large"] == 1 and sent == 50 + 25 + 25 + 13


@pytest.mark.node
async def test_no_archive_state_propagates_from_a_pruned_node() -> None:
    with start_anvil(extra_args=["--prune-history", "2"]) as node:
        async with RpcClient(node.url) as client:
            sender = (await client.call("eth_accounts"))[0]
            for _ in range(8):
                await client.call("eth_sendTransaction", [{"from": sender, "to": sender, "value": "0x1"}])
            with pytest.raises(NoArchiveState, match=r"archive node .* --no-state"):
                await StateReader(client).call_many([(1, sender, b"")])


@pytest.mark.node
async def test_calls_at_several_blocks_share_batches(log_chain) -> None:
    """Calls at different blocks go out together: 15 calls at 3 blocks, batches of 50 -> 1 request."""
    blocks = [log_chain.start, log_chain.start + 1, log_chain.end - 1]
    calls = [(b, log_chain.emitter, bytes([i])) for i in range(5) for b in blocks]
    async with RpcClient(log_chain.url) as client:
        results = await StateReader(client).call_many(calls)
        assert client.stats.http_requests == 1 and client.stats.rpc_calls == 15
    assert all(isinstance(r, ExecutionReverted) for r in results)


@pytest.mark.node
async def test_large_reader_programs_are_batched_within_the_body_limit(log_chain) -> None:
    """Reader programs (one per block) of 60 calls with 4 kB of calldata each: about 0.5 MB of JSON per
    program, 5 MB for the 10. anvil refuses a body above 2 MiB (docs/sources/state.md#request-size), so they
    go out in batches of at most MAX_BATCH_BYTES: every call answered, one billed eth_call per program."""
    blocks = range(log_chain.start, log_chain.start + 10)
    calls = [(b, log_chain.emitter, bytes([i]) + bytes(range(256)) * 16) for b in blocks for i in range(60)]
    async with RpcClient(log_chain.url) as client:
        reader = StateReader(client, features=NodeFeatures())
        results = await reader.call_many(calls)
        assert reader.features is not None and reader.features.overrides
        # the probe (an empty program), then 10 programs in requests of at most 1 MiB: 2 per request
        assert client.stats.rpc_calls == 1 + 10 and client.stats.http_requests >= 1 + 10 * 480_000 // MAX_BATCH_BYTES
    assert len(results) == 600 and all(isinstance(r, ExecutionReverted) for r in results)


@pytest.mark.node
async def test_first_block_at_or_after_a_timestamp(log_chain) -> None:
    async with RpcClient(log_chain.url) as client:
        headers = BlockHeaders(client)
        head = int(await client.call("eth_blockNumber"), 16)
        every = await headers.get(range(head + 1))
        middle = every[(log_chain.start + log_chain.end) // 2].timestamp
        expected = min(n for n, h in every.items() if h.timestamp >= middle)
        assert await headers.first_block_at_or_after(middle) == expected
        assert await headers.first_block_at_or_after(0) == 0
        assert await headers.first_block_at_or_after(every[head].timestamp + 1) == head + 1
        fresh = await headers.get([head], refresh=True)
        assert fresh[head] == every[head] and client.stats.rpc_calls > head + 1
