"""RpcClient's transport against a scripted JSON-RPC server in the test's event loop (no node):
request encoding, ids, and batch answers matched to requests by id."""

from __future__ import annotations

from collections import UserList
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import orjson
import pytest
from aiohttp import web

from toolkit.chain.errors import Transient
from toolkit.chain.rpc import RpcClient


def echo(request: dict[str, Any]) -> dict[str, Any]:
    """A response whose result is the request's params."""
    return {"jsonrpc": "2.0", "id": request["id"], "result": request["params"]}


def echo_all(payload: Any) -> Any:
    """What a node answers: a response per request of a batch, or one response."""
    return [echo(r) for r in payload] if isinstance(payload, list) else echo(payload)


@dataclass
class ScriptedNode:
    """Answers each POST with ``answer(parsed request body)``; records the headers and bodies it got."""

    url: str = ""
    answer: Callable[[Any], Any] = echo_all
    received: list[tuple[str, Any]] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.Response:
        payload = orjson.loads(await request.read())
        self.received.append((request.headers.get("Content-Type", ""), payload))
        return web.Response(body=orjson.dumps(self.answer(payload)), content_type="application/json")


@pytest.fixture
async def node() -> AsyncIterator[ScriptedNode]:
    scripted = ScriptedNode()
    app = web.Application()
    app.router.add_post("/{tail:.*}", scripted.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    scripted.url = f"http://127.0.0.1:{port}/v3/key"
    yield scripted
    await runner.cleanup()


async def test_batch_answered_in_reverse_order_is_matched_by_id(node: ScriptedNode) -> None:
    node.answer = lambda payload: [echo(r) for r in reversed(payload)]
    async with RpcClient(node.url) as client:
        results = await client.batch([("eth_getBlockByNumber", [hex(n), False]) for n in range(5)])
        again = await client.batch([("eth_chainId", [n]) for n in range(3)])
    assert results == [[hex(n), False] for n in range(5)] and again == [[0], [1], [2]]
    assert [content_type for content_type, _ in node.received] == ["application/json"] * 2
    ids = [request["id"] for _, batch in node.received for request in batch]
    assert ids == list(range(ids[0], ids[0] + 8))  # one counter per client, consecutive within a batch
    assert client.stats.http_requests == 2 and client.stats.rpc_calls == 8


async def test_params_may_be_any_mapping_or_sequence(node: ScriptedNode) -> None:
    async with RpcClient(node.url) as client:
        result = await client.call("eth_call", UserList([MappingProxyType({"to": "0x01", "data": "0x"}), "latest"]))
        empty = await client.call("eth_blockNumber")
    assert result == [{"to": "0x01", "data": "0x"}, "latest"] and empty == []


@pytest.mark.parametrize("answer", [
    pytest.param(lambda payload: [echo(r) for r in payload[1:]], id="one-missing"),
    pytest.param(lambda payload: [echo(payload[0])] * len(payload), id="duplicate-ids"),
    pytest.param(lambda payload: [{**echo(r), "id": str(r["id"])} for r in payload], id="string-ids"),
    pytest.param(lambda payload: 42, id="not-a-list"),
])
async def test_batch_answers_that_do_not_match_the_requests_are_transient(
        node: ScriptedNode, answer: Callable[[Any], Any]) -> None:
    node.answer = answer
    async with RpcClient(node.url, max_retries=1, backoff_base=0.001) as client:
        with pytest.raises(Transient, match="do not match the requests by id"):
            await client.batch([("eth_chainId", []), ("eth_blockNumber", [])])
    assert client.stats.http_requests == 2 and client.stats.faults["Transient"] == 2
