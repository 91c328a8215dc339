"""A misbehaving JSON-RPC provider in front of a local node, for tests and benchmarks (not part of the toolkit:
it lives with the tests; ``tests/`` is on ``sys.path`` under pytest, and bench/benchlib.py adds it).

:class:`FaultProxy` is an aiohttp server on ``127.0.0.1`` (free port, background thread) that forwards
JSON-RPC requests — single or batch — unchanged to an upstream node on a loopback address and injects
the faults real providers produce, with their real wording (docs/sources/chain.md#provider-error-messages):

* ``eth_getLogs`` ranges longer than ``range_limit`` blocks are rejected with the message, JSON-RPC code
  and HTTP status of a chosen provider (:data:`PROVIDER_TEMPLATES`);
* ``eth_getLogs`` results are silently cut to ``result_cap`` logs (ethers-io/ethers.js#1389);
* ``eth_getLogs`` answers are emptied with probability ``empty_ratio``, as by a load-balanced provider whose
  backend lags: a range query gets ``[]``, a query by block hash (EIP-234) geth's ``-32000 "unknown block"``
  (go-ethereum eth/filters/api.go ``errUnknownBlock``: a node that lacks the block cannot answer it empty);
* with ``echo_key``, a provider that repeats what the client sent -- path, query values, credentials --
  in its errors (:meth:`FaultProxy._echo`), after ``echo_after`` requests served normally;
* batches longer than ``batch_limit`` get geth's answer, one ``-32600 "batch too large"`` item
  (go-ethereum rpc/handler.go ``respondWithBatchTooLarge``);
* a node without some methods (``refuse_methods``: geth's ``-32601 "the method X does not exist/is not
  available"``), traces that fail (``trace_fault``: geth's ``"execution timeout"``, reth's ``-32008
  "Response is too big"``), and ``eth_call`` overrides refused or ignored (``overrides``, ``refuse_block_overrides``;
  :data:`NODE_LIMITS` has the texts and their sources);
* random faults, drawn per HTTP request from a seeded generator: HTTP 429 with ``Retry-After``,
  Infura's ``-32005`` rate limit inside HTTP 200 with ``data.rate.backoff_seconds``, 502/503, slow
  responses (client timeouts), connection resets, truncated JSON, and a "behind" node: a replica
  of a load-balanced provider whose head is ``behind_blocks`` lower than the node's (see
  :meth:`FaultProxy._behind_item`).

It counts the HTTP requests and JSON-RPC calls it saw and every fault it injected.
"""

from __future__ import annotations

import asyncio
import base64
import ipaddress
import json
import random
import socket
import struct
import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, unquote_plus, urlsplit

import aiohttp
from aiohttp import web

from toolkit.errors import ToolkitError


@dataclass(frozen=True)
class RangeLimitTemplate:
    """How one provider rejects an ``eth_getLogs`` range.

    ``message`` and string values of ``data`` are ``str.format`` templates with the fields ``limit``
    (blocks allowed), ``span`` (blocks asked), ``a``/``b`` (suggested first/last block, ``0x`` hex)
    and ``A``/``B`` (the same with upper-case digits, as Infura writes them).
    """

    http_status: int
    code: int
    message: str
    source: str
    data: dict[str, Any] | None = None


#: Provider range-limit errors, verbatim from the recordings docs/sources/chain.md#provider-error-messages names. Where the
#: catalogue records no JSON-RPC code, -32000 (geth's generic server error) is used.
PROVIDER_TEMPLATES: dict[str, RangeLimitTemplate] = {
    "infura": RangeLimitTemplate(
        200, -32005, "query returned more than 10000 results. Try with this block range [{A}, {B}].",
        "ethers-io/ethers.js#4703", data={"from": "{A}", "to": "{B}", "limit": 10000}),
    "infura_range": RangeLimitTemplate(200, -32602, "range {span} exceeds limit of {limit}", "INFURA/infura#237"),
    "alchemy": RangeLimitTemplate(
        200, -32602,
        "Log response size exceeded. You can make eth_getLogs requests with up to a 2K block range and no "
        "limit on the response size, or you can request any block range with a cap of 10K logs in the "
        "response. Based on your parameters and the response size limit, this block range should work: "
        "[{a}, {b}]", "ethers-io/ethers.js#4703"),
    "alchemy_free": RangeLimitTemplate(
        200, -32600,
        "You can make eth_getLogs requests with up to a {limit} block range. Based on your parameters, "
        "this block range should work: [{a}, {b}]", "risc0/risc0-ethereum#656"),
    "quicknode": RangeLimitTemplate(
        413, -32614, "eth_getLogs is limited to a {limit:,} range", "eternalsafe/wallet#57"),
    "ankr": RangeLimitTemplate(200, -32600, "block range is too wide", "ponder getLogsRetryHelper.ts"),
    "ankr_2025": RangeLimitTemplate(
        200, -32602, "maximum [from, to] blocks distance: {limit}", "ponder-sh/ponder#1940"),
    "bsc": RangeLimitTemplate(200, -32000, "exceed maximum block range: {limit}", "eth_defi/balances.py:100"),
    "publicnode": RangeLimitTemplate(200, -32000, "maximum block range: {limit}", "ponder getLogsRetryHelper.ts"),
    "reth": RangeLimitTemplate(200, -32602, "query exceeds max block range {limit}", "paradigmxyz/reth#8558"),
    "tenderly": RangeLimitTemplate(
        200, -32602, "invalid params", "bobanetwork/boba_legacy#827",
        data={"payload": "range {span} is bigger than range limit {limit}"}),
    "chainstack": RangeLimitTemplate(200, -32000, "Block range limit exceeded.", "ponder getLogsRetryHelper.ts"),
    "cloudflare": RangeLimitTemplate(200, -32000, "Max range: {limit}", "ponder getLogsRetryHelper.ts"),
    "drpc": RangeLimitTemplate(200, -32000, "exceeded max allowed range", "eth_defi cctp/events.py:287"),
}

#: Infura's rate limit inside HTTP 200 (github.com/gochain/web3/issues/180, MetaMask/eth-json-rpc-infura#33).
_INFURA_RATE_LIMIT = "daily request count exceeded, request rate limited"
#: How :class:`FaultProxy` echoes secrets back (``FaultConfig.echo_key``).
ECHO_KINDS = ("rate_limit", "http_401", "rpc_error")

#: What nodes without a feature answer (docs/sources/state.md#trace-errors, #state-overrides):
#: ``{method}`` is the refused method.
NODE_LIMITS: dict[str, dict[str, Any]] = {
    # geth, the debug namespace not enabled (gakonst/ethers-rs#1775, Fantom-foundation/go-opera#255)
    "method_missing": {"code": -32601, "message": "the method {method} does not exist/is not available"},
    # geth tracer timeout (ethereum/go-ethereum#19311)
    "timeout": {"code": -32000, "message": "execution timeout"},
    # reth response size limit (paradigmxyz/reth#3847)
    "too_large": {"code": -32008, "message": "Response is too big", "data": "Exceeded max limit of 104857600"},
    # hardhat without eth_call overrides (NomicFoundation/hardhat#2513)
    "overrides": {"code": -32602, "message": "Expected between 1 and 2 arguments and got 3"},
    # geth before eth_call's block overrides: rpc/json.go parseArgumentArray
    "block_overrides": {"code": -32602, "message": "too many arguments, want at most 3"},
}


@dataclass(frozen=True)
class FaultConfig:
    """What the proxy injects. Probabilities are per HTTP request and should sum to at most 1.

    :param seed: seed of the fault draws.
    :param provider: key of :data:`PROVIDER_TEMPLATES` used for range-limit errors.
    :param range_limit: most blocks one ``eth_getLogs`` may span (``None``: no limit).
    :param result_cap: ``eth_getLogs`` results are cut to this many logs, silently.
    :param batch_limit: most calls one JSON-RPC batch may hold.
    :param http_429: probability of HTTP 429 with ``Retry-After: retry_after`` (seconds, integer).
    :param rpc_rate_limit: probability of Infura ``-32005`` in HTTP 200 with ``backoff_seconds``.
    :param http_5xx: probability of HTTP 502 or 503.
    :param slow: probability of answering only after ``slow_seconds``.
    :param reset: probability of resetting the TCP connection instead of answering.
    :param malformed: probability of a truncated JSON body in HTTP 200.
    :param behind: probability that a request is served by a node ``behind_blocks`` behind the head.
    :param max_faults: stop drawing random faults after this many (``None``: no limit).
    :param empty_ratio: probability that an ``eth_getLogs`` answer is emptied (drawn per call from its own
        generator, seeded with ``seed``, so the other faults' draws do not change).
    :param echo_key: how a provider echoes the client's secrets once ``echo_after`` requests were served:
        ``rate_limit`` (Infura-style ``-32005 "project ... over capacity"`` with ``backoff_seconds`` 0, retried),
        ``http_401`` (an HTTP 401 text body, fatal) or ``rpc_error`` (a JSON-RPC ``-32000`` error, fatal).
    """

    seed: int = 0
    provider: str = "infura"
    range_limit: int | None = None
    result_cap: int | None = None
    batch_limit: int | None = None
    http_429: float = 0.0
    retry_after: int = 1
    rpc_rate_limit: float = 0.0
    backoff_seconds: float = 0.5
    http_5xx: float = 0.0
    slow: float = 0.0
    slow_seconds: float = 2.0
    reset: float = 0.0
    malformed: float = 0.0
    behind: float = 0.0
    behind_blocks: int = 4
    max_faults: int | None = None
    #: Methods the node does not serve (``NODE_LIMITS["method_missing"]``).
    refuse_methods: tuple[str, ...] = ()
    #: ``debug_traceTransaction`` fails with ``NODE_LIMITS[trace_fault]`` (``timeout`` or ``too_large``) ...
    trace_fault: str | None = None
    #: ... for these transactions (None: all) ...
    trace_fault_txs: frozenset[str] | None = None
    #: ... this many times per transaction before it is answered.
    trace_fault_times: int = 1_000_000
    #: ``eth_call`` with a state override: ``refuse`` it (hardhat's answer) or ``ignore`` it (forward without).
    overrides: str | None = None
    #: ``eth_call`` with a block override (fourth parameter) refused with geth's answer.
    refuse_block_overrides: bool = False
    empty_ratio: float = 0.0
    echo_key: str | None = None
    echo_after: int = 0

    def __post_init__(self) -> None:
        if self.provider not in PROVIDER_TEMPLATES:
            raise ValueError(f"unknown provider template {self.provider!r}; one of {sorted(PROVIDER_TEMPLATES)}")
        if self.trace_fault not in (None, "timeout", "too_large") or self.overrides not in (None, "refuse", "ignore"):
            raise ValueError("trace_fault is timeout or too_large, overrides is refuse or ignore")
        if self.echo_key not in (None, *ECHO_KINDS):
            raise ValueError(f"unknown echo {self.echo_key!r}; one of {ECHO_KINDS}")


@dataclass
class ProxyStats:
    """What the proxy saw and did."""

    #: HTTP requests received.
    requests: int = 0
    #: JSON-RPC calls in them (batch items count one each).
    rpc_calls: int = 0
    #: JSON-RPC calls by method.
    methods: Counter[str] = field(default_factory=Counter)
    #: Faults injected, by kind (``range_limit``, ``truncated``, ``http_429``, ``rpc_rate_limit``, …).
    faults: Counter[str] = field(default_factory=Counter)


def _require_loopback(url: str) -> None:
    host = urlsplit(url).hostname or ""
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise ToolkitError(f"the fault proxy only forwards to loopback addresses, not {host!r}")


class FaultProxy:
    """JSON-RPC proxy with injected faults; ``with FaultProxy(node.url, FaultConfig(...)) as proxy:``.

    :param upstream: URL of the real node (loopback only).
    :param config: faults to inject.
    """

    def __init__(self, upstream: str, config: FaultConfig | None = None) -> None:
        _require_loopback(upstream)
        self.upstream = upstream
        self.config = config or FaultConfig()
        self.stats = ProxyStats()
        self._rng = random.Random(self.config.seed)
        self._empty_rng = random.Random(self.config.seed + 1)
        self._random_faults = 0
        self._trace_failures: Counter[str] = Counter()
        self._port: int | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>``; any path is accepted (to test URLs with keys)."""
        if self._port is None:
            raise ToolkitError("the fault proxy is not started")
        return f"http://127.0.0.1:{self._port}"

    def start(self) -> FaultProxy:
        """Start serving in a background thread; returns when the port is open."""
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            self._loop = asyncio.new_event_loop()
            try:
                self._loop.run_until_complete(self._open())
            except BaseException as exc:  # reported to the starting thread
                failure.append(exc)
                ready.set()
                return
            ready.set()
            self._loop.run_forever()
            self._loop.run_until_complete(self._close())
            self._loop.close()

        self._thread = threading.Thread(target=run, name="fault-proxy", daemon=True)
        self._thread.start()
        ready.wait()
        if failure:
            raise failure[0]
        return self

    def stop(self) -> None:
        """Stop serving and join the thread."""
        if self._loop is not None and self._thread is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def _open(self) -> None:
        self._session = aiohttp.ClientSession()
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self._port = self._runner.addresses[0][1]

    async def _close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        if self._session is not None:
            await self._session.close()

    # ---------------------------------------------------------------- faults

    def _draw(self) -> str | None:
        """The random fault for this HTTP request, if any."""
        c = self.config
        x = self._rng.random()
        if c.max_faults is not None and self._random_faults >= c.max_faults:
            return None
        for kind, p in (("http_429", c.http_429), ("rpc_rate_limit", c.rpc_rate_limit), ("http_5xx", c.http_5xx),
                        ("slow", c.slow), ("reset", c.reset), ("malformed", c.malformed), ("behind", c.behind)):
            if x < p:
                self._random_faults += 1
                return kind
            x -= p
        return None

    def _range_error(self, item: Any) -> dict[str, Any] | None:
        """The provider's range-limit error for an over-long ``eth_getLogs`` request, else ``None``."""
        limit = self.config.range_limit
        if limit is None or not isinstance(item, dict) or item.get("method") != "eth_getLogs":
            return None
        try:
            flt = item["params"][0]
            first, last = int(flt["fromBlock"], 16), int(flt["toBlock"], 16)
        except (KeyError, IndexError, TypeError, ValueError):
            return None  # tags or blockHash: the range is not known here
        span = last - first + 1
        if span <= limit:
            return None
        template = PROVIDER_TEMPLATES[self.config.provider]
        end = first + limit - 1
        fields = {"limit": limit, "span": span, "a": f"0x{first:x}", "b": f"0x{end:x}",
                  "A": f"0x{first:X}", "B": f"0x{end:X}"}
        error: dict[str, Any] = {"code": template.code, "message": template.message.format(**fields)}
        if template.data is not None:
            error["data"] = {k: v.format(**fields) if isinstance(v, str) else v for k, v in template.data.items()}
        return error

    @staticmethod
    def _reset(request: web.Request) -> None:
        """Close the connection with an RST (SO_LINGER 0): the client sees "connection reset by peer"."""
        transport = request.transport
        if transport is None:
            return
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        transport.close()

    def _rate_limit_error(self) -> dict[str, Any]:
        return {"code": -32005, "message": _INFURA_RATE_LIMIT,
                "data": {"rate": {"allowed_rps": 1, "backoff_seconds": self.config.backoff_seconds,
                                  "current_rps": 2}}}

    async def _upstream(self, method: str, params: list[Any]) -> dict[str, Any]:
        """One JSON-RPC call to the upstream node; its whole response object."""
        assert self._session is not None  # opened by _open() before the server accepts requests
        async with self._session.post(self.upstream, json={"jsonrpc": "2.0", "id": 1, "method": method,
                                                           "params": params}) as response:
            return await response.json(content_type=None)

    async def _lagging_head(self) -> int:
        """Head of the node that is behind: ``behind_blocks`` below the upstream's."""
        head = int((await self._upstream("eth_blockNumber", []))["result"], 16)
        return max(0, head - self.config.behind_blocks)

    async def _behind_item(self, item: Any, head: int) -> dict[str, Any]:
        """What a node whose head is ``head`` answers (a replica behind its load balancer):

        * ``eth_blockNumber``: ``head``; ``eth_getBlockByNumber`` of ``latest``/``safe``/``finalized``:
          the block that many blocks lower, and of a number above ``head``: ``null`` (geth's answer
          for a block it does not have);
        * ``eth_getLogs`` reaching past ``head``: ``-32602 "block range extends beyond current head
          block"`` (ethereum/execution-apis tests/eth_getLogs/filter-error-future-block-range.io);
        * ``eth_call`` at a block above ``head``: ``-32000 "header not found"`` (docs/sources/chain.md#provider-error-messages,
          "misc transient", from eth_defi ``middleware.py``);
        * anything else as the upstream answers it.
        """
        if not isinstance(item, dict):
            return {"jsonrpc": "2.0", "id": None, "error": {"code": -32600, "message": "invalid request"}}
        method, params, reply = item.get("method"), list(item.get("params") or []), {"jsonrpc": "2.0", "id": item.get("id")}

        def number(tag: Any) -> int | None:
            return int(tag, 16) if isinstance(tag, str) and tag.startswith("0x") else None

        if method == "eth_blockNumber":
            return {**reply, "result": hex(head)}
        if method == "eth_getBlockByNumber" and params:
            tag = params[0]
            if tag in ("safe", "finalized"):
                upstream = (await self._upstream("eth_getBlockByNumber", [tag, False]))["result"]
                tag = hex(max(0, int(upstream["number"], 16) - self.config.behind_blocks))
            elif tag in ("latest", "pending"):
                tag = hex(head)
            if (number(tag) or 0) > head:
                return {**reply, "result": None}
            params[0] = tag
        elif method == "eth_getLogs" and params and isinstance(params[0], dict):
            ends = [number(params[0].get(key)) for key in ("fromBlock", "toBlock")]
            if any(end is not None and end > head for end in ends):
                return {**reply, "error": {"code": -32602, "message": "block range extends beyond current head block"}}
        elif method == "eth_call" and len(params) > 1 and (number(params[1]) or 0) > head:
            return {**reply, "error": {"code": -32000, "message": "header not found"}}
        answer = await self._upstream(str(method), params)
        return {**reply, **{k: v for k, v in answer.items() if k in ("result", "error")}}

    def _node_limit(self, item: Any) -> tuple[dict[str, Any] | None, Any]:
        """``(error, item)``: the error a node without a feature gives for ``item``, or None and the item
        to forward (an ``eth_call`` stripped of its overrides when they are ignored)."""
        if not isinstance(item, dict):
            return None, item
        c, method, params = self.config, item.get("method"), item.get("params") or []

        def error(kind: str) -> dict[str, Any]:
            self.stats.faults[kind] += 1
            limit = dict(NODE_LIMITS[kind])
            limit["message"] = limit["message"].format(method=method)
            return limit

        if method in c.refuse_methods:
            return error("method_missing"), item
        if method == "debug_traceTransaction" and c.trace_fault is not None and params:
            tx = str(params[0]).lower()
            if (c.trace_fault_txs is None or tx in c.trace_fault_txs) and self._trace_failures[tx] < c.trace_fault_times:
                self._trace_failures[tx] += 1
                return error(c.trace_fault), item
        if method == "eth_call" and len(params) > 2:
            if c.overrides == "refuse":
                return error("overrides"), item
            if c.overrides == "ignore":
                self.stats.faults["overrides_ignored"] += 1
                return None, {**item, "params": params[:2]}
            if c.refuse_block_overrides and len(params) > 3:
                return error("block_overrides"), item
        return None, item

    async def _answer_with_limits(self, payload: Any, items: list[Any]) -> web.Response | None:
        """The answer when a node limit applies to an item (the other items are forwarded), else None."""
        checked = [self._node_limit(item) for item in items]
        if all(err is None and new is old for (err, new), old in zip(checked, items)):
            return None
        answers = []
        for err, item in checked:
            reply = {"jsonrpc": "2.0", "id": item.get("id") if isinstance(item, dict) else None}
            if err is not None:
                answers.append({**reply, "error": err})
            else:
                answer = await self._upstream(str(item.get("method")), list(item.get("params") or []))
                answers.append({**reply, **{k: v for k, v in answer.items() if k in ("result", "error")}})
        return web.json_response(answers if isinstance(payload, list) else answers[0])

    @staticmethod
    def _echo(request: web.Request) -> str:
        """What a provider that repeats the request puts in its error: the path and query as sent (percent-
        encoded) and decoded, each query value in both forms, the ``Authorization`` header and its decoded
        ``user:password`` (aiohttp sends a URL's user-info as HTTP Basic credentials)."""
        raw = request.raw_path
        parts = [f"project {raw} over capacity", f"path {unquote(raw)}"]
        pairs = [pair.partition("=") for pair in urlsplit(raw).query.split("&") if pair]
        parts += [f"{key}={value} ({unquote_plus(value)})" for key, _, value in pairs]
        auth = request.headers.get("Authorization")
        if auth:
            parts.append(f"authorization {auth}")
            scheme, _, token = auth.partition(" ")
            if scheme.lower() == "basic":
                parts.append(f"credentials {base64.b64decode(token).decode(errors='replace')}")
        return "; ".join(parts)

    def _echo_response(self, request: web.Request, items: list[Any], payload: Any) -> web.Response:
        """The error of ``echo_key`` kind, echoing the request's secrets (:meth:`_echo`)."""
        text, kind = self._echo(request), self.config.echo_key
        self.stats.faults[f"echo_{kind}"] += 1
        if kind == "http_401":
            return web.Response(status=401, text=f"invalid {text}")
        error: dict[str, Any] = {"code": -32000, "message": text}
        if kind == "rate_limit":
            error = {"code": -32005, "message": text, "data": {"rate": {"backoff_seconds": 0}}}
        answers = [{"jsonrpc": "2.0", "id": i.get("id") if isinstance(i, dict) else None, "error": error}
                   for i in items] or [{"jsonrpc": "2.0", "id": None, "error": error}]
        return web.json_response(answers if isinstance(payload, list) else answers[0])

    def _empty(self, item: dict[str, Any], request: dict[str, Any] | None) -> None:
        """With probability ``empty_ratio``, empty an ``eth_getLogs`` answer ``item`` in place, as a lagging
        backend would (see the module docstring); ``request`` is the call it answers."""
        if not self.config.empty_ratio or self._empty_rng.random() >= self.config.empty_ratio:
            return
        params = (request or {}).get("params") or [{}]
        if isinstance(params[0], dict) and "blockHash" in params[0]:
            self.stats.faults["unknown_block"] += 1
            item.pop("result", None)
            item["error"] = {"code": -32000, "message": "unknown block"}
        elif item.get("result"):
            self.stats.faults["emptied"] += 1
            item["result"] = []

    # ---------------------------------------------------------------- request handling

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        try:
            payload = json.loads(body)
        except ValueError:
            payload = None
        items = payload if isinstance(payload, list) else [payload] if isinstance(payload, dict) else []
        self.stats.requests += 1
        self.stats.rpc_calls += len(items)
        self.stats.methods.update(str(i.get("method")) for i in items if isinstance(i, dict))
        if self.config.echo_key is not None and self.stats.requests > self.config.echo_after:
            return self._echo_response(request, items, payload)

        fault = self._draw()
        if fault is not None:
            self.stats.faults[fault] += 1
        if fault == "reset":
            self._reset(request)
            return web.Response(status=500)
        if fault == "slow":
            await asyncio.sleep(self.config.slow_seconds)
        if fault == "http_429":
            return web.Response(status=429, text="Too Many Requests",
                                headers={"Retry-After": str(self.config.retry_after)})
        if fault == "http_5xx":
            return web.Response(status=self._rng.choice((502, 503)), text="upstream unavailable")
        if fault == "malformed":
            return web.Response(status=200, body=b'{"jsonrpc": "2.0", "id": 1, "result": [{"address": "0x',
                                content_type="application/json")
        if fault == "behind":
            answers = [await self._behind_item(i, await self._lagging_head()) for i in items]
            return web.json_response(answers if isinstance(payload, list) else answers[0])
        if fault == "rpc_rate_limit":
            errors = [{"jsonrpc": "2.0", "id": i.get("id") if isinstance(i, dict) else None,
                       "error": self._rate_limit_error()} for i in items]
            return web.json_response(errors if isinstance(payload, list) else errors[0])

        if isinstance(payload, list) and self.config.batch_limit is not None and len(payload) > self.config.batch_limit:
            self.stats.faults["batch_too_large"] += 1
            first_id = next((i.get("id") for i in items if isinstance(i, dict)), None)
            return web.json_response([{"jsonrpc": "2.0", "id": first_id,
                                       "error": {"code": -32600, "message": "batch too large"}}])

        limited = await self._answer_with_limits(payload, items)
        if limited is not None:
            return limited
        range_errors = {id(i): e for i in items if (e := self._range_error(i)) is not None}
        if isinstance(payload, dict) and range_errors:
            self.stats.faults["range_limit"] += 1
            template = PROVIDER_TEMPLATES[self.config.provider]
            return web.json_response({"jsonrpc": "2.0", "id": payload.get("id"), "error": range_errors[id(payload)]},
                                     status=template.http_status)
        assert self._session is not None  # opened by _open() before the server accepts requests
        async with self._session.post(self.upstream, data=body,
                                      headers={"Content-Type": "application/json"}) as upstream:
            status, raw = upstream.status, await upstream.read()
        get_logs = {i.get("id"): i for i in items if isinstance(i, dict) and i.get("method") == "eth_getLogs"}
        get_logs_ids = set(get_logs)
        if status != 200 or not get_logs_ids or (not range_errors and self.config.result_cap is None
                                                 and not self.config.empty_ratio):
            return web.Response(status=status, body=raw, content_type="application/json")

        response = json.loads(raw)
        by_id = {i.get("id"): range_errors[id(i)] for i in items if id(i) in range_errors}
        for item in response if isinstance(response, list) else [response]:
            if item.get("id") in by_id:
                self.stats.faults["range_limit"] += 1
                item.pop("result", None)
                item["error"] = by_id[item["id"]]
            elif item.get("id") in get_logs_ids and isinstance(item.get("result"), list) \
                    and self.config.result_cap is not None and len(item["result"]) > self.config.result_cap:
                self.stats.faults["truncated"] += 1
                item["result"] = item["result"][: self.config.result_cap]
            if item.get("id") in get_logs_ids and "result" in item:
                self._empty(item, get_logs.get(item.get("id")))
        return web.json_response(response)
