"""One JSON-RPC endpoint: bounded concurrency, retries with backoff, batches, request accounting.

Requests go through web3's :class:`~web3.AsyncHTTPProvider` (the provider of an ``AsyncWeb3``) as raw JSON-RPC
(``provider.make_request`` / ``make_batch_request``) so callers get the node's JSON unchanged and this
module owns every retry. Responses are parsed with orjson rather than web3's ``json`` decoder: an
``eth_getLogs`` answer of 10,000 logs is about 9 MB of JSON, and parsing is most of what this client
costs on a fast node. web3 8 is configured with ``exception_retry_configuration=None`` because
its own retry loop only covers aiohttp exceptions, never retries a JSON-RPC error inside HTTP 200
(Infura ``-32005``), and sleeps a fixed ``0.125 * 2**i`` without ``Retry-After``
(shared/reference/engineering.md §2.4).

Retries use exponential backoff with full jitter — ``uniform(0, min(backoff_max, backoff_base·2^n))``
— except when the provider says how long to wait (``Retry-After`` header, Infura
``data.rate.backoff_seconds``), which is honoured exactly.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import random
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import aiohttp
import orjson
from web3 import AsyncHTTPProvider
from web3.types import RPCEndpoint, RPCResponse

from toolkit.chain.errors import (
    BatchTooLarge,
    ExecutionReverted,
    NodeUnreachable,
    RateLimited,
    RpcError,
    Transient,
    classify_error_object,
    classify_exception,
    classify_http_error,
)
from toolkit.redact import redact_url, scrub

T = TypeVar("T")

#: What to tell the user to check when the node cannot be reached (the CLI passes its chain's variable).
DEFAULT_UNREACHABLE_HINT = "check --rpc or LIQTK_RPC_ETHEREUM"

#: web3 8 loggers that print the full endpoint URI: "Making request HTTP. URI: %s" (DEBUG) and
#: "Successfully disconnected from: %s" (INFO) in web3/providers/rpc/async_rpc.py, "Async session
#: cached: %s, %s" (DEBUG) in web3/_utils/http_session_manager.py.
_WEB3_URL_LOGGERS = ("web3.providers.AsyncHTTPProvider", "web3._utils.http_session_manager.HTTPSessionManager")


class _ScrubUrl(logging.Filter):
    """Rewrites web3 log records that contain the RPC URL so that API keys never reach a log."""

    def __init__(self, url: str) -> None:
        super().__init__()
        self._url = url

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        scrubbed = scrub(message, self._url)
        if scrubbed != message:
            record.msg, record.args = scrubbed, ()
        return True


@dataclass
class RpcStats:
    """Counters of one :class:`RpcClient`, for run reports and benchmarks (per 1,000 rows)."""

    #: HTTP POSTs sent (a JSON-RPC batch is one).
    http_requests: int = 0
    #: JSON-RPC calls sent (each batch item counts; a retried call counts again).
    rpc_calls: int = 0
    #: Pauses before sending a request again (rate limits and transient faults).
    retries: int = 0
    #: Errors seen, by :class:`~toolkit.chain.errors.RpcError` subclass name.
    faults: Counter[str] = field(default_factory=Counter)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready copy for run reports."""
        return {"http_requests": self.http_requests, "rpc_calls": self.rpc_calls, "retries": self.retries,
                "faults": dict(sorted(self.faults.items()))}


class _OrjsonHTTPProvider(AsyncHTTPProvider):
    """web3's async HTTP provider with responses parsed by orjson (same values, several times faster
    on large answers; malformed JSON still raises a ``ValueError``, ``orjson.JSONDecodeError``).

    The cyclic garbage collector is paused while a response is parsed: an ``eth_getLogs`` answer is
    a tree of a dict and a list per log, without cycles, and would otherwise set off collections
    that scan every object alive -- about half the parsing time of a 10,000-log answer.
    """

    @staticmethod
    def decode_rpc_response(raw_response: bytes) -> RPCResponse:
        if not gc.isenabled():
            return orjson.loads(raw_response)
        gc.disable()
        try:
            return orjson.loads(raw_response)
        finally:
            gc.enable()


class _HttpStatus(Exception):
    """A non-2xx response with its body, raised from inside aiohttp before web3 can drop the body."""

    def __init__(self, status: int, headers: Mapping[str, str], body: bytes) -> None:
        super().__init__(status)
        self.status, self.headers, self.body = status, headers, body


class RpcClient:
    """Async JSON-RPC client for one endpoint.

    :param url: the RPC URL; may carry an API key (it never appears in messages, see ``redacted_url``).
    :param max_concurrency: HTTP requests in flight at once (``asyncio.Semaphore``).
    :param max_retries: further attempts after a rate limit or transient fault.
    :param timeout: seconds for one HTTP request, connect to last byte.
    :param backoff_base: seconds; the n-th retry waits up to ``backoff_base * 2**n``.
    :param backoff_max: seconds; cap of one wait. A provider asking for longer fails the call at once.
    :param max_connect_retries: attempts after "connection refused"/DNS failure, kept small so a wrong
        ``--rpc`` fails in about a second instead of a minute.
    :param unreachable_hint: appended to the "cannot reach the RPC node" message.

    Use ``async with RpcClient(url) as client:`` or call :meth:`close`. One client belongs to one event loop.
    """

    def __init__(
        self,
        url: str,
        *,
        max_concurrency: int = 8,
        max_retries: int = 6,
        timeout: float = 30.0,
        backoff_base: float = 0.25,
        backoff_max: float = 30.0,
        max_connect_retries: int = 3,
        unreachable_hint: str = DEFAULT_UNREACHABLE_HINT,
    ) -> None:
        self._url = url
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._provider = _OrjsonHTTPProvider(
            url, exception_retry_configuration=None, request_kwargs={"timeout": self._timeout}
        )
        self._log_filter = _ScrubUrl(url)
        for name in _WEB3_URL_LOGGERS:
            logging.getLogger(name).addFilter(self._log_filter)
        self._semaphore = asyncio.Semaphore(max_concurrency)
        self._session_lock = asyncio.Lock()
        self._session: aiohttp.ClientSession | None = None
        self._max_retries = max_retries
        self._max_connect_retries = max_connect_retries
        self._backoff_base = backoff_base
        self._backoff_max = backoff_max
        self._unreachable_hint = unreachable_hint
        #: Largest batch the provider accepted after a "batch too large" answer (``None``: no limit seen).
        self._batch_limit: int | None = None
        self._chain_id: int | None = None
        self._client_version: str | None = None
        self.stats = RpcStats()

    # ---------------------------------------------------------------- lifecycle

    @property
    def redacted_url(self) -> str:
        """``scheme://host[:port]/***``: safe to print, log and store."""
        return redact_url(self._url)

    async def __aenter__(self) -> RpcClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the HTTP session(s)."""
        await self._provider.disconnect()
        self._session = None
        for name in _WEB3_URL_LOGGERS:
            logging.getLogger(name).removeFilter(self._log_filter)

    async def _ensure_session(self) -> None:
        # web3's session manager creates ClientSession(raise_for_status=True), whose
        # ClientResponseError drops the response body (engineering.md §2.4) — and with it QuickNode's
        # HTTP 413 range message, Alchemy's HTTP 403 quota text and Infura's HTTP 429
        # data.rate.backoff_seconds. So the provider gets a session of ours whose raise_for_status
        # hook reads the body first (aiohttp awaits a callable raise_for_status before returning).
        if self._session is not None:
            return
        async with self._session_lock:
            if self._session is None:
                session = aiohttp.ClientSession(raise_for_status=self._keep_error_body, timeout=self._timeout)
                await self._provider.cache_async_session(session)
                self._session = session

    @staticmethod
    async def _keep_error_body(response: aiohttp.ClientResponse) -> None:
        if not response.ok:
            raise _HttpStatus(response.status, response.headers, await response.read())

    # ---------------------------------------------------------------- public calls

    async def call(self, method: str, params: Sequence[Any] | Mapping[str, Any] = ()) -> Any:
        """Send one JSON-RPC request and return its ``result`` (raw JSON), retrying what is retryable.

        :raises RpcError: the classified failure once retries are exhausted or pointless.
        """
        attempt = 0
        while True:
            try:
                response = await self._send_single(method, params)
                if "error" in response:
                    raise self._item_error(response["error"], method)
                return response.get("result")
            except RpcError as error:
                await self.pause_before_retry(error, attempt)
                attempt += 1

    async def batch(
        self, requests: Sequence[tuple[str, Any]], *, return_reverts: bool = False
    ) -> list[Any]:
        """Send ``(method, params)`` requests as JSON-RPC batches; return the results in request order.

        Responses are matched to requests by id (web3 sorts them by id; ids are consecutive per batch,
        checked here). A retryable per-item error re-sends only the failed items; a batch the provider
        rejects as too large is re-sent in halves (the learned size is kept for later batches).

        :param return_reverts: put an :class:`ExecutionReverted` in place of a reverted item's result
            instead of raising it. Other non-retryable item errors (e.g. NoArchiveState) always raise.
        """
        results: dict[int, Any] = {}
        pending = list(range(len(requests)))
        attempt = 0
        while pending:
            try:
                responses = await self._send_in_pieces([requests[i] for i in pending])
            except RpcError as error:
                await self.pause_before_retry(error, attempt)
                attempt += 1
                continue
            failed: list[tuple[int, RpcError]] = []
            for index, response in zip(pending, responses, strict=True):
                if "error" not in response:
                    results[index] = response.get("result")
                    continue
                item_error = self._item_error(response["error"], requests[index][0])
                if item_error.retryable:
                    failed.append((index, item_error))
                elif return_reverts and isinstance(item_error, ExecutionReverted):
                    results[index] = item_error
                else:
                    raise item_error
            pending = [index for index, _ in failed]
            if failed:
                slowest = max((e for _, e in failed), key=lambda e: getattr(e, "retry_after", None) or 0.0)
                await self.pause_before_retry(slowest, attempt)
                attempt += 1
        return [results[i] for i in range(len(requests))]

    async def chain_id(self) -> int:
        """``eth_chainId`` as an int (cached)."""
        if self._chain_id is None:
            self._chain_id = int(await self.call("eth_chainId"), 16)
        return self._chain_id

    async def client_version(self) -> str:
        """``web3_clientVersion``, e.g. ``anvil/v1.7.1`` (cached; recorded as provenance)."""
        if self._client_version is None:
            self._client_version = str(await self.call("web3_clientVersion"))
        return self._client_version

    async def identity(self) -> tuple[int, str]:
        """:meth:`chain_id` and :meth:`client_version` in one request (a batch of two), cached."""
        if self._chain_id is None or self._client_version is None:
            chain_id, version = await self.batch([("eth_chainId", []), ("web3_clientVersion", [])])
            self._chain_id, self._client_version = int(chain_id, 16), str(version)
        return self._chain_id, self._client_version

    async def eth_call(self, to: str, data: bytes, block: int) -> bytes:
        """``eth_call`` of ``data`` on ``to`` at block number ``block``; returns the raw return data.

        :raises ExecutionReverted: the call reverted.
        :raises NoArchiveState: the node has pruned the state of ``block``.
        """
        result = await self.call("eth_call", [{"to": to, "data": "0x" + data.hex()}, hex(block)])
        return bytes.fromhex(result[2:])

    # ---------------------------------------------------------------- transport

    async def _post(self, label: str, n_calls: int, send: Callable[[], Awaitable[T]]) -> T:
        """One HTTP request under the semaphore; failures come out classified, without the URL."""
        await self._ensure_session()
        async with self._semaphore:
            self.stats.http_requests += 1
            self.stats.rpc_calls += n_calls
            try:
                return await send()
            except _HttpStatus as exc:
                error = classify_http_error(exc.status, exc.headers, exc.body, url=self._url, method=label)
            except (aiohttp.ClientError, OSError, TimeoutError, ValueError) as exc:
                error = classify_exception(exc, url=self._url, method=label,
                                           unreachable_hint=self._unreachable_hint)
        self.stats.faults[type(error).__name__] += 1
        # Raised outside the except blocks: the aiohttp exception (its text holds the URL) is not chained.
        raise error

    async def _send_single(self, method: str, params: Any) -> Mapping[str, Any]:
        response = await self._post(method, 1, lambda: self._provider.make_request(RPCEndpoint(method), params))
        if not isinstance(response, Mapping) or not ("result" in response or "error" in response):
            raise self._count(Transient(f"{self.redacted_url} sent a response without result or error ({method})"))
        return response

    async def _send_batch(self, requests: Sequence[tuple[str, Any]]) -> list[Mapping[str, Any]]:
        """One JSON-RPC batch; returns one response per request, in request order."""
        if len(requests) == 1:
            return [await self._send_single(*requests[0])]
        label = f"batch of {len(requests)} {requests[0][0]}"
        response = await self._post(label, len(requests), lambda: self._provider.make_batch_request(
            [(RPCEndpoint(method), params) for method, params in requests]))
        if isinstance(response, Mapping):
            # One error object for the whole batch (e.g. a rate limit, or a batch-size limit).
            raise self._item_error(response.get("error") or response, label)
        for item in response:
            if isinstance(item, Mapping) and "error" in item:
                error = classify_error_object(item["error"], url=self._url, method=label)
                if isinstance(error, BatchTooLarge):
                    # geth answers an over-limit batch with a single "batch too large" item, and an
                    # over-size response with "response too large" items (go-ethereum rpc/handler.go).
                    raise self._count(error)
        ids = [r.get("id") if isinstance(r, Mapping) else None for r in response]
        first = ids[0] if ids and isinstance(ids[0], int) else None
        if len(response) != len(requests) or first is None or ids != list(range(first, first + len(ids))):
            raise self._count(Transient(
                f"{self.redacted_url} answered a {label} with {len(response)} responses that do not "
                "match the requests by id"))
        return list(response)

    async def _send_in_pieces(self, requests: Sequence[tuple[str, Any]]) -> list[Mapping[str, Any]]:
        """Send ``requests`` in batches of at most the learned size, halving it on BatchTooLarge."""
        out: list[Mapping[str, Any]] = []
        start = 0
        while start < len(requests):
            size = min(self._batch_limit or len(requests), len(requests) - start)
            try:
                out.extend(await self._send_batch(requests[start:start + size]))
            except BatchTooLarge:
                if size == 1:
                    raise
                self._batch_limit = size // 2
                continue
            start += size
        return out

    # ---------------------------------------------------------------- errors and waiting

    def _count(self, error: RpcError) -> RpcError:
        self.stats.faults[type(error).__name__] += 1
        return error

    def _item_error(self, error: Any, method: str) -> RpcError:
        return self._count(classify_error_object(error, url=self._url, method=method))

    async def pause_before_retry(self, error: RpcError, attempt: int) -> None:
        """Sleep before attempt ``attempt + 1`` (``attempt`` counts from 0), or raise ``error`` when it
        should not be retried. Also used by callers that retry on an answer they find wanting (a
        block the node does not have yet, :class:`~toolkit.chain.blocks.BlockHeaders`)."""
        limit = self._max_connect_retries if isinstance(error, NodeUnreachable) else self._max_retries
        if not error.retryable or attempt >= limit:
            raise error
        retry_after = error.retry_after if isinstance(error, RateLimited) else None
        if retry_after is not None and retry_after > self._backoff_max:
            raise RateLimited(
                f"{error}; the provider asks to wait {retry_after:.0f} s, longer than the "
                f"{self._backoff_max:.0f} s this client waits — try again later or use another endpoint",
                retry_after=retry_after, code=error.code, http_status=error.http_status)
        if retry_after is None:
            retry_after = random.uniform(0.0, min(self._backoff_max, self._backoff_base * 2 ** attempt))
        self.stats.retries += 1
        await asyncio.sleep(retry_after)
