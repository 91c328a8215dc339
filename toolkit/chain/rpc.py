"""One JSON-RPC endpoint: bounded concurrency, retries with backoff, batches, request accounting.

Requests are posted with aiohttp as raw JSON-RPC, encoded and parsed with orjson, so callers get the
node's JSON unchanged and this module owns the transport, every retry and the parsing. web3's
``AsyncHTTPProvider`` used to be the transport, but it added nothing this client uses and importing
``web3`` costs about 0.7 s of a pull's start-up (``python -X importtime -c 'import web3'``: 0.70 s
cumulative, two thirds of it ``eth_account`` -> ``eth_keyfile`` -> ``py_ecc`` computing BLS
constants; web3 8.0.0, 2-core machine of the README's Performance section). Its retry loop only
covered aiohttp exceptions, never retried a JSON-RPC error inside HTTP 200 (Infura ``-32005``) and
slept a fixed ``0.125 * 2**i`` without ``Retry-After``, and its session's ``raise_for_status`` dropped
the body of an HTTP error -- QuickNode's HTTP 413 range message, Alchemy's HTTP 403 quota text,
Infura's HTTP 429 ``data.rate.backoff_seconds`` (docs/sources/chain.md#rate-limit-backoff). Here the
status, headers and body of every HTTP error go to :func:`~toolkit.chain.errors.classify_http_error`.

Responses are parsed with orjson because an ``eth_getLogs`` answer of 10,000 logs is about 9 MB of
JSON, and parsing is most of what this client costs on a fast node. A caller that decodes columns
can have such an answer read straight into Arrow columns instead (``read_result``,
:mod:`toolkit.chain.logtable`); what that reader declines is parsed here as always.

Retries use exponential backoff with full jitter — ``uniform(0, min(backoff_max, backoff_base·2^n))``
— except when the provider says how long to wait (``Retry-After`` header, Infura
``data.rate.backoff_seconds``), which is honoured exactly.
"""

from __future__ import annotations

import asyncio
import gc
import random
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import orjson

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
from toolkit.errors import UserInputError
from toolkit.redact import redact_url

#: What to tell the user to check when the node cannot be reached (the CLI passes its chain's variable).
DEFAULT_UNREACHABLE_HINT = "check --rpc or LIQTK_RPC_ETHEREUM"

#: Headers of every request: the body is one JSON-RPC request or a batch of them.
_HEADERS = {"Content-Type": "application/json"}


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
    #: ``eth_getLogs`` answers or blocks read again by the completeness check, by cause
    #: (:mod:`toolkit.chain.completeness`: ``result_cap``, ``stopped_early``, ``bloom_without_logs``, ``receipts``).
    rereads: Counter[str] = field(default_factory=Counter)
    #: What the completeness check looked at and found (``blocks``, ``bloom_matches``, ``bloom_false_positives``,
    #: ``logs_recovered``, ``receipts_blocks``).
    checks: Counter[str] = field(default_factory=Counter)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready copy for run reports."""
        return {"http_requests": self.http_requests, "rpc_calls": self.rpc_calls, "retries": self.retries,
                "faults": dict(sorted(self.faults.items())), "rereads": dict(sorted(self.rereads.items())),
                "checks": dict(sorted(self.checks.items()))}


def url_problem(url: str) -> str | None:
    """Why ``url`` cannot be an RPC endpoint (not ``http(s)://host[:port]/...``), or None. Such a URL is refused
    before any request: retrying it cannot help."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        return str(exc)
    if parts.scheme not in ("http", "https"):
        return f"its scheme is {parts.scheme or 'missing'}, not http or https"
    if not parts.hostname:
        return "it names no host"
    if port == 0:
        return "its port is 0"
    if any(c.isspace() for c in url.strip()):
        return "it holds a space"
    return None


def _encode_default(value: Any) -> Any:
    """orjson's fallback for params it does not serialize natively: any other ``Mapping`` or
    ``Sequence`` (what :meth:`RpcClient.call` accepts), as a dict or list."""
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, Sequence) and not isinstance(value, (str, bytes)):
        return list(value)
    raise TypeError(f"JSON-RPC params cannot hold a {type(value).__name__}")


def _decode(raw: bytes) -> Any:
    """Parse a response body with orjson (malformed JSON raises ``orjson.JSONDecodeError``, a ``ValueError``).

    The cyclic garbage collector is paused while a response is parsed: an ``eth_getLogs`` answer is
    a tree of a dict and a list per log, without cycles, and would otherwise set off collections
    that scan every object alive -- about half the parsing time of a 10,000-log answer.
    """
    if not gc.isenabled():
        return orjson.loads(raw)
    gc.disable()
    try:
        return orjson.loads(raw)
    finally:
        gc.enable()


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
        problem = url_problem(url)
        if problem is not None:
            raise UserInputError(f"the RPC URL {redact_url(url)} is not usable: {problem}; pass "
                                 "--rpc http(s)://host[:port]/...")
        self._url = url
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._semaphore = asyncio.Semaphore(max_concurrency)
        #: Created by the first request, inside the client's event loop.
        self._session: aiohttp.ClientSession | None = None
        #: JSON-RPC id of the next request (the items of a batch get consecutive ids).
        self._next_id = 1
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
        """Close the HTTP session (a later request opens a new one)."""
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()

    # ---------------------------------------------------------------- public calls

    async def call(self, method: str, params: Sequence[Any] | Mapping[str, Any] = (), *,
                   read_result: Callable[[bytes], Any] | None = None,
                   item_errors: Callable[[RpcError], bool] | None = None) -> Any:
        """Send one JSON-RPC request and return its ``result`` (raw JSON), retrying what is retryable.

        :param read_result: reads the ``result`` straight from a successful answer's body, or returns
            None to leave the body to the JSON parser and the error checks
            (:func:`toolkit.chain.logtable.read_logs_answer`).
        :param item_errors: JSON-RPC errors of the answer (not transport faults) for which it returns
            True are raised at once, not retried: the caller handles them (a trace that timed out).
        :raises RpcError: the classified failure once retries are exhausted or pointless.
        """
        attempt = 0
        while True:
            given_up: RpcError | None = None
            try:
                response = await self._send_single(method, params, read_result)
                if "error" in response:
                    error = self._item_error(response["error"], method)
                    if item_errors is None or not item_errors(error):
                        raise error
                    given_up = error
                else:
                    return response.get("result")
            except RpcError as error:
                await self.pause_before_retry(error, attempt)
                attempt += 1
            if given_up is not None:
                raise given_up

    async def batch(
        self, requests: Sequence[tuple[str, Any]], *, return_reverts: bool = False,
        item_errors: Callable[[RpcError], bool] | None = None,
    ) -> list[Any]:
        """Send ``(method, params)`` requests as JSON-RPC batches; return the results in request order.

        Responses are matched to requests by id (a server may answer a batch in any order). A retryable
        per-item error re-sends only the failed items; a batch the provider rejects as too large is
        re-sent in halves (the learned size is kept for later batches).

        :param return_reverts: put an :class:`ExecutionReverted` in place of a reverted item's result
            instead of raising it. Other non-retryable item errors (e.g. NoArchiveState) always raise.
        :param item_errors: item errors for which it returns True are put in place of the item's result,
            neither retried nor raised: the caller handles them (traces that time out, one by one).
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
                if item_errors is not None and item_errors(item_error):
                    results[index] = item_error
                elif item_error.retryable:
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

    def _request(self, method: str, params: Any) -> dict[str, Any]:
        """A JSON-RPC request object with the next id."""
        request = {"jsonrpc": "2.0", "id": self._next_id, "method": method, "params": params}
        self._next_id += 1
        return request

    async def _post(self, label: str, n_calls: int, payload: Any,
                    read_result: Callable[[bytes], Any] | None = None) -> Any:
        """POST ``payload`` (a JSON-RPC request or batch) under the semaphore; return the parsed answer
        (``{"result": ...}`` when ``read_result`` took the body).

        Failures come out classified, without the URL.
        """
        body = orjson.dumps(payload, default=_encode_default)
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self._timeout, headers=_HEADERS)
        async with self._semaphore:
            self.stats.http_requests += 1
            self.stats.rpc_calls += n_calls
            try:
                async with self._session.post(self._url, data=body) as response:
                    raw = await response.read()
                if response.ok:
                    result = read_result(raw) if read_result is not None else None
                    return _decode(raw) if result is None else {"result": result}
                error = classify_http_error(response.status, response.headers, raw, url=self._url, method=label)
            except (aiohttp.ClientError, OSError, TimeoutError, ValueError) as exc:
                error = classify_exception(exc, url=self._url, method=label,
                                           unreachable_hint=self._unreachable_hint)
        self.stats.faults[type(error).__name__] += 1
        # Raised outside the except blocks: the aiohttp exception (its text holds the URL) is not chained.
        raise error

    async def _send_single(self, method: str, params: Any,
                           read_result: Callable[[bytes], Any] | None = None) -> Mapping[str, Any]:
        response = await self._post(method, 1, self._request(method, params), read_result)
        if not isinstance(response, Mapping) or not ("result" in response or "error" in response):
            raise self._count(Transient(f"{self.redacted_url} sent a response without result or error ({method})"))
        return response

    async def _send_batch(self, requests: Sequence[tuple[str, Any]]) -> list[Mapping[str, Any]]:
        """One JSON-RPC batch; returns one response per request, in request order."""
        if len(requests) == 1:
            return [await self._send_single(*requests[0])]
        label = f"batch of {len(requests)} {requests[0][0]}"
        payload = [self._request(method, params) for method, params in requests]
        response = await self._post(label, len(requests), payload)
        if isinstance(response, Mapping):
            # One error object for the whole batch (e.g. a rate limit, or a batch-size limit).
            raise self._item_error(response.get("error") or response, label)
        # Anything but a list of responses, or an error object, is reported as a mismatch below.
        items: list[Any] = response if isinstance(response, list) else []
        for item in items:
            if isinstance(item, Mapping) and "error" in item:
                error = classify_error_object(item["error"], url=self._url, method=label)
                if isinstance(error, BatchTooLarge):
                    # geth answers an over-limit batch with a single "batch too large" item, and an
                    # over-size response with "response too large" items (go-ethereum rpc/handler.go).
                    raise self._count(error)
        by_id = {item["id"]: item for item in items
                 if isinstance(item, Mapping) and isinstance(item.get("id"), int)}
        ids = [request["id"] for request in payload]
        if len(items) != len(requests) or by_id.keys() != set(ids):
            raise self._count(Transient(
                f"{self.redacted_url} answered a {label} with {len(items)} responses that do not "
                "match the requests by id"))
        return [by_id[i] for i in ids]

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
