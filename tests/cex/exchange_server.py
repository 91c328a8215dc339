"""A local exchange for the collector tests: an aiohttp server on 127.0.0.1 (random port, its own thread) that
answers HTTP requests from a table of recorded answers and replays recorded websocket messages.

The real ccxt client is pointed at it with ``LIQTK_CEX_API_URL`` / ``LIQTK_CEX_WS_URL`` (every URL of the exchange
rebased onto the server, :func:`toolkit.cex.collect.exchanges.open_exchange`). Websocket protocol: each JSON
request carrying an ``id`` (Binance's ``SUBSCRIBE``) is answered ``{"result": null, "id": ...}``; then the script's
messages are sent in order, ``interval`` seconds apart. ``drop_after``: the first connection is closed after that
many script messages (a dropped connection mid-stream); the next connection continues with the rest.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web


@dataclass
class Answer:
    status: int
    body: str
    content_type: str = "application/json"


@dataclass
class ExchangeServer:
    routes: dict[tuple[str, str], Answer] = field(default_factory=dict)
    default: Answer | None = None  # the answer to every HTTP request without a route (a refusal)
    script: list[str] = field(default_factory=list)
    interval: float = 0.0
    drop_after: int | None = None
    requests: list[tuple[str, str, str]] = field(default_factory=list)
    subscriptions: list[Any] = field(default_factory=list)
    sent: int = 0
    sent_at: list[float] = field(default_factory=list)
    connections: int = 0

    def __post_init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self.port = 0

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        return {"LIQTK_CEX_API_URL": self.http_url, "LIQTK_CEX_WS_URL": self.ws_url}

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        if request.headers.get("Upgrade", "").lower() == "websocket":
            return await self._websocket(request)
        self.requests.append((request.method, request.path, request.query_string))
        answer = self.routes.get((request.method, request.path)) or self.default
        if answer is None:
            return web.Response(status=404, text=json.dumps({"code": -1, "msg": f"no route {request.path}"}),
                                content_type="application/json")
        return web.Response(status=answer.status, text=answer.body, content_type=answer.content_type)

    async def _websocket(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        self.connections += 1
        connection = self.connections
        subscribed = asyncio.Event()

        async def read() -> None:
            async for message in ws:
                if message.type != WSMsgType.TEXT:
                    continue
                data = json.loads(message.data)
                self.subscriptions.append(data)
                if isinstance(data, dict) and "id" in data:
                    await ws.send_str(json.dumps({"result": None, "id": data["id"]}))
                subscribed.set()

        reader = asyncio.ensure_future(read())
        try:
            await asyncio.wait_for(subscribed.wait(), timeout=10)
            sent_here = 0
            while self.sent < len(self.script):
                if connection == 1 and self.drop_after is not None and sent_here >= self.drop_after:
                    await ws.close()
                    return ws
                await ws.send_str(self.script[self.sent])
                self.sent += 1
                self.sent_at.append(time.time())
                sent_here += 1
                await asyncio.sleep(self.interval)
            await reader
        finally:
            reader.cancel()
        return ws

    def start(self) -> ExchangeServer:
        ready = threading.Event()

        def serve() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            app = web.Application()
            app.router.add_route("*", "/{tail:.*}", self._handle)
            self._runner = web.AppRunner(app)
            loop.run_until_complete(self._runner.setup())
            site = web.TCPSite(self._runner, "127.0.0.1", 0)
            loop.run_until_complete(site.start())
            self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
            ready.set()
            loop.run_forever()
            loop.run_until_complete(self._runner.cleanup())
            loop.close()

        self._thread = threading.Thread(target=serve, daemon=True)
        self._thread.start()
        ready.wait(10)
        return self

    def stop(self) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
