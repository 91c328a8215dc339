"""Classify what a JSON-RPC provider sends back into a small set of errors the toolkit can act on.

Providers disagree on codes (Infura's ``-32005`` means "too many results" *and* "rate limited";
``-32602``/``-32600`` are range limits on Alchemy, Infura, reth and Tenderly), so classification looks
at the **message first and the code second**, as ponder's ``getLogsRetryHelper.ts`` and
web3-ethereum-defi's ``eth_defi/middleware.py`` do (docs/sources/chain.md#provider-error-messages). Every
pattern below names the provider and the source where the exact text was recorded.

What the caller does with each class:

============================  ========================================================================
:class:`RangeTooLarge`        split the ``eth_getLogs`` range (to the suggested range/span if given)
:class:`TooManyResults`       bisect the ``eth_getLogs`` range
:class:`RateLimited`          wait ``retry_after`` seconds (or back off) and send the same request again
:class:`Transient`            back off and send the same request again
:class:`NodeUnreachable`      like :class:`Transient`, with a short retry budget
:class:`BatchTooLarge`        send the JSON-RPC batch in halves
:class:`ExecutionReverted`    the ``eth_call`` reverted: a result, not a node problem
:class:`NoArchiveState`       stop: the node has no state for that block (archive node or ``--no-state``)
:class:`Fatal`                stop: method missing, quota exhausted, invalid parameters, bad credentials
============================  ========================================================================

Messages are one line and never contain the RPC URL's secrets: everything taken from a provider
response or a third-party exception passes through :func:`toolkit.redact.scrub`, and the endpoint is
named by :func:`toolkit.redact.redact_url` only.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import re
import time
from collections.abc import Mapping
from typing import Any

import aiohttp

from toolkit.errors import ToolkitError
from toolkit.redact import redact_url, scrub

#: Longest provider message quoted in an error (Alchemy's range message is ~330 characters).
_MAX_QUOTE = 400


class RpcError(ToolkitError):
    """A JSON-RPC request failed; subclasses say what to do about it (``liqtk`` exit code 1)."""

    #: Whether sending the same request again (after a pause) can succeed.
    retryable: bool = False

    def __init__(self, message: str, *, code: int | None = None, http_status: int | None = None) -> None:
        super().__init__(message)
        #: JSON-RPC ``error.code`` when the provider sent one.
        self.code = code
        #: HTTP status of the response when it was not 200.
        self.http_status = http_status


class LogQueryTooLarge(RpcError):
    """Base of the two ``eth_getLogs`` answers that mean "ask for fewer blocks"."""

    def __init__(self, message: str, *, result_limit: int | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        #: Most logs the provider returns for one request, when the message says so
        #: (Infura "query returned more than 10000 results").
        self.result_limit = result_limit


class RangeTooLarge(LogQueryTooLarge):
    """The provider rejects the ``eth_getLogs`` block range."""

    def __init__(
        self,
        message: str,
        *,
        suggested_range: tuple[int, int] | None = None,
        max_span: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(message, **kwargs)
        #: Inclusive ``[first, last]`` block range the provider says will work (Infura, Alchemy).
        self.suggested_range = suggested_range
        #: Hard limit on the number of blocks per request stated by the provider (QuickNode, reth …).
        self.max_span = max_span

    @property
    def hinted_span(self) -> int | None:
        """Blocks per request the message suggests: the suggested range's length, else ``max_span``."""
        if self.suggested_range is not None:
            first, last = self.suggested_range
            return last - first + 1 if last >= first else None
        return self.max_span


class TooManyResults(LogQueryTooLarge):
    """The ``eth_getLogs`` result is larger than the provider returns; no range hint given."""


class RateLimited(RpcError):
    """The provider throttles us; wait and send the same request again."""

    retryable = True

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        #: Seconds to wait, from the ``Retry-After`` header or Infura's ``data.rate.backoff_seconds``.
        self.retry_after = retry_after


class Transient(RpcError):
    """Timeouts, 5xx, dropped connections, node-side hiccups: retry the same request."""

    retryable = True


class NodeUnreachable(Transient):
    """No TCP/TLS connection to the node at all (refused, DNS failure, unreachable host)."""


class BatchTooLarge(RpcError):
    """The provider rejects a JSON-RPC batch (or its response) as too large; send smaller batches."""


class ExecutionReverted(RpcError):
    """An ``eth_call`` reverted. ``data`` holds the revert payload (hex) when the node sent it."""

    def __init__(self, message: str, *, data: str | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.data = data


class NoArchiveState(RpcError):
    """The node has pruned the state an ``eth_call`` at an old block needs."""


class Fatal(RpcError):
    """Retrying cannot help: method missing, quota or credentials, invalid parameters."""


class ReorgDetected(RpcError):
    """The node returned a log with ``removed: true``: the chain reorganised under the reader."""


# --------------------------------------------------------------------------------------------
# Message patterns, in the order they are tried. Sources: docs/sources/chain.md#provider-error-messages
# unless another source is named.
# --------------------------------------------------------------------------------------------

_I = re.IGNORECASE

#: ``(class, pattern)`` pairs; the first match decides the class.
_MESSAGE_RULES: tuple[tuple[type[RpcError], re.Pattern[str]], ...] = tuple(
    (kind, re.compile(pattern, _I))
    for kind, pattern in (
        # Alchemy quota, HTTP 403 / -32600: "Monthly capacity limit exceeded." (xmtp/xmtpd#672).
        # Checked before the rate-limit rules: waiting does not help.
        (Fatal, r"monthly capacity limit exceeded"),
        # geth: "missing trie node 5c0e… (path )" (go-ethereum trie/errors.go MissingNodeError).
        (NoArchiveState, r"missing trie node"),
        # geth path scheme: "historical state %x is not available" (go-ethereum triedb/pathdb).
        (NoArchiveState, r"historical state \S*\s*is not available"),
        # geth hash scheme: "required historical state unavailable (reexec=…)" (eth/state_accessor.go).
        (NoArchiveState, r"required historical state unavailable"),
        # reth / erigon: "state at block #123 is pruned" (reth ProviderError::StateAtBlockPruned).
        (NoArchiveState, r"state at block #?\d+ is pruned"),
        # "state is not available" / "state 0x… not available" (ape src/ape_ethereum/provider.py).
        (NoArchiveState, r"\bstate\b(?: \S+)? (?:is )?not available"),
        # Infura -32005: "query returned more than 10000 results. Try with this block range
        # [0xBDE5F8, 0x102DBCC]." (ethers-io/ethers.js#4703).
        (RangeTooLarge, r"try with this block range"),
        # Alchemy paid -32602 / free -32600: "… this block range should work: [0x0, 0xd043b8]"
        # (ethers-io/ethers.js#4703; risc0/risc0-ethereum#656).
        (RangeTooLarge, r"this block range should work"),
        # QuickNode HTTP 413 / -32614: "eth_getLogs is limited to a 10,000 range" (eternalsafe/wallet#57).
        (RangeTooLarge, r"limited to a [\d,]+ range"),
        # BSC geth -32000 "exceed maximum block range: 5000" (eth_defi/balances.py:100);
        # publicnode "maximum block range: N" (ponder getLogsRetryHelper.ts).
        (RangeTooLarge, r"maximum block range"),
        # reth -32602: "query exceeds max block range 5000" (paradigmxyz/reth#8558).
        (RangeTooLarge, r"max block range"),
        # Infura (2026-08) -32602: "range 1000000 exceeds limit of 10000" (INFURA/infura#237).
        (RangeTooLarge, r"range \d+ exceeds limit of \d+"),
        # Ankr (2025): "maximum [from, to] blocks distance: 10000" (ponder-sh/ponder#1940).
        (RangeTooLarge, r"blocks distance"),
        # Tenderly -32602 "invalid params", data.payload "range 9009594 is bigger than range limit
        # 2000" (bobanetwork/boba_legacy#827).
        (RangeTooLarge, r"bigger than range limit"),
        # Ankr -32600: "block range is too wide" (ponder getLogsRetryHelper.ts).
        (RangeTooLarge, r"block range is too wide"),
        # Chainstack: "Block range limit exceeded." (ponder).
        (RangeTooLarge, r"block range limit exceeded"),
        # Optimism / Base / Arbitrum: "Block range is too large", "block range too large" (ponder).
        (RangeTooLarge, r"block range (?:is )?too large"),
        # Cloudflare: "Max range: N" (ponder).
        (RangeTooLarge, r"max range: \d+"),
        # thirdweb: "Maximum allowed number of requested blocks is N" (ponder).
        (RangeTooLarge, r"maximum allowed number of requested blocks"),
        # Coinbase: "please limit the query to at most N blocks" (ponder).
        (RangeTooLarge, r"limit the query to at most \d+ blocks"),
        # Blast: "exceeds the range allowed for your plan (N > M)" (ponder).
        (RangeTooLarge, r"exceeds the range allowed for your plan"),
        # dRPC: "exceeded max allowed range" (eth_defi cctp/events.py:287).
        (RangeTooLarge, r"exceeded max allowed range"),
        # Infura (older) -32005 and zeta-chain -32000: "query returned more than 10000 results"
        # (status-im/nimbus-eth2#1823; zeta-chain/node#3265).
        (TooManyResults, r"more than \d+ results"),
        # llamarpc / Ankr: "query exceeds max results" (ponder).
        (TooManyResults, r"query exceeds max results"),
        # Arbitrum: "logs matched by query exceeds limit of N" (ponder).
        (TooManyResults, r"logs matched by query exceeds limit"),
        # Optimism: "backend response too large" (ponder).
        (TooManyResults, r"backend response too large"),
        # Alchemy without a range in the message: "Log response size exceeded." (ethers.js#4703).
        (TooManyResults, r"log response size exceeded"),
        # Infura HTTP 429 / -32005: "daily request count exceeded, request rate limited"
        # (gochain/web3#180, status-im/nimbus-eth2#1632).
        (RateLimited, r"request rate limited|daily request count exceeded"),
        # Alchemy HTTP 429 / code 429: "Your app has exceeded its compute units per second capacity."
        # (conduitxyz/node#36).
        (RateLimited, r"compute units per second"),
        # Moralis -32005 "Too Many Requests error received from …" (ApeWorX/ape#613),
        # QuickNode 429 "Too Many Requests" (ApeWorX/web3.py#2724).
        (RateLimited, r"too many requests"),
        # dRPC 42903: "There are not enough CUPs left to cover the CU required …" (eth_defi middleware.py).
        (RateLimited, r"not enough CUPs"),
        (RateLimited, r"rate[ -]?limit"),
        # geth rpc/errors.go: "batch too large" (-32600), "response too large" (-32003).
        (BatchTooLarge, r"batch (?:size )?(?:is )?too large|batch limit|response too large"),
        # geth/anvil code 3: "execution reverted: …"; hardhat "VM Exception … revert".
        (ExecutionReverted, r"execution reverted|\brevert(?:ed)?\b"),
        # eth_defi DEFAULT_RETRYABLE_RPC_ERROR_MESSAGES: -32002 "request timed out", -32603 "Internal
        # JSON-RPC error" / "failsafe timeout policy exceeded", -32043 "Requested data is not
        # available", -32000 "header not found", "execution aborted (timeout = 5s)"; ponder (Base/OP):
        # "no backend is currently healthy to serve traffic".
        (Transient, r"request timed out|timeout|internal json-rpc error|requested data is not available"
                    r"|header not found|no backend is currently healthy"),
        # A node behind its load balancer's head: -32602 "block range extends beyond current head
        # block" for an eth_getLogs range past its head (ethereum/execution-apis
        # tests/eth_getLogs/filter-error-future-block-range.io). The next request usually reaches a
        # node that has the block.
        (Transient, r"beyond current head block"),
        # eth_getLogs by block hash (EIP-234) on a node that does not have the block: geth -32000 "unknown
        # block" (go-ethereum eth/filters/api.go errUnknownBlock; anvil 1.7.1 answers the same). Behind a load
        # balancer, another node may have it; a block a reorganization removed stays unknown after the retries.
        (Transient, r"^unknown block\b"),
    )
)

#: anvil 1.7.1 started with ``--prune-history`` answers a read below the head with -32602
#: "BlockOutOfRangeError: block height is 20 but requested was 2" (observed in this repository,
#: tests/chain/test_calls.py); requested <= height means the state was pruned, not a future block.
_ANVIL_PRUNED = re.compile(r"block height is (\d+) but requested was (\d+)", _I)

#: Inclusive ``[first, last]`` hints. Infura "Try with this block range [0xBDE5F8, 0x102DBCC]";
#: Alchemy "this block range should work: [0x1be4213, 0x1be4406]" (docs/sources/chain.md#provider-error-messages).
_SUGGESTED_RANGE = re.compile(
    r"(?:block range|range should work:?)\s*\[\s*(0x[0-9a-f]+|\d+)\s*,\s*(0x[0-9a-f]+|\d+)\s*\]", _I
)

#: Hard limits on blocks per request; the last group is the limit (``,`` thousands allowed).
_MAX_SPAN = tuple(
    re.compile(pattern, _I)
    for pattern in (
        r"up to an? ([\d,]+) block range",                 # Alchemy free tier (risc0-ethereum#656)
        r"limited to an? ([\d,]+) range",                  # QuickNode (eternalsafe/wallet#57)
        r"max(?:imum)? block range:? ([\d,]+)",            # BSC geth, publicnode, reth (#8558)
        r"range \d+ exceeds limit of ([\d,]+)",            # Infura 2026 (INFURA/infura#237)
        r"blocks distance:? ([\d,]+)",                     # Ankr 2025 (ponder#1940)
        r"bigger than range limit ([\d,]+)",               # Tenderly (boba_legacy#827)
        r"max range:? ([\d,]+)",                           # Cloudflare (ponder)
        r"requested blocks is ([\d,]+)",                   # thirdweb (ponder)
        r"at most ([\d,]+) blocks",                        # Coinbase (ponder)
        r"allowed for your plan \(\d+ > ([\d,]+)\)",       # Blast (ponder)
    )
)

#: "query returned more than 10000 results" (Infura), "exceeds limit of N" for logs (Arbitrum).
_RESULT_LIMIT = (
    re.compile(r"more than ([\d,]+) results", _I),
    re.compile(r"logs matched by query exceeds limit of ([\d,]+)", _I),
)

#: JSON-RPC codes used when no message rule matched (eth_defi DEFAULT_RETRYABLE_RPC_ERROR_CODES).
_CODE_RULES: dict[int, type[RpcError]] = {
    3: ExecutionReverted,       # geth/anvil revert with data
    429: RateLimited,           # Alchemy code 429
    42903: RateLimited,         # dRPC compute units
    -32005: RateLimited,        # Infura "limit exceeded" family (results cases matched by message)
    -32002: Transient,          # geth "request timed out"
    -32603: Transient,          # "Internal JSON-RPC error"
    -32043: Transient,          # "Requested data is not available"
}


def _to_int(text: str) -> int:
    text = text.replace(",", "")
    return int(text, 16) if text.lower().startswith("0x") else int(text)


def _first_int(patterns: tuple[re.Pattern[str], ...], text: str) -> int | None:
    for pattern in patterns:
        match = pattern.search(text)
        if match:
            return _to_int(match.group(1))
    return None


def _backoff_seconds(data: Any) -> float | None:
    """Infura puts the wait in ``error.data.rate.backoff_seconds`` (MetaMask/eth-json-rpc-infura#33)."""
    if isinstance(data, Mapping) and isinstance(data.get("rate"), Mapping):
        value = data["rate"].get("backoff_seconds")
        if isinstance(value, (int, float)) and value >= 0:
            return float(value)
    return None


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from an HTTP ``Retry-After`` header: delta-seconds or an HTTP-date (RFC 9110 §10.2.3)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _quote(text: str, url: str) -> str:
    text = scrub(" ".join(text.split()), url)
    return text if len(text) <= _MAX_QUOTE else text[: _MAX_QUOTE - 1] + "…"


def classify_error_object(
    error: Any,
    *,
    url: str,
    method: str | None = None,
    http_status: int | None = None,
    headers: Mapping[str, str] | None = None,
) -> RpcError:
    """Classify a JSON-RPC ``error`` member (``{"code", "message", "data"}``).

    :param error: the ``error`` object of a response (or of one batch item).
    :param url: the endpoint, only used to scrub secrets from the message.
    :param method: the JSON-RPC method, named in the message.
    :param http_status: status of the HTTP response that carried it, when not 200.
    :param headers: HTTP response headers (for ``Retry-After``).
    """
    error = error if isinstance(error, Mapping) else {"message": str(error)}
    code = error.get("code") if isinstance(error.get("code"), int) else None
    message = str(error.get("message") or "")
    data = error.get("data")
    # Tenderly puts the useful text in data.payload; Infura puts the range in data.{from,to,limit}.
    haystack = message if data is None else f"{message} {json.dumps(data, default=str)}"
    kind = next((k for k, pattern in _MESSAGE_RULES if pattern.search(haystack)), None)
    pruned = _ANVIL_PRUNED.search(haystack)
    if kind is None and pruned and int(pruned.group(2)) <= int(pruned.group(1)):
        kind = NoArchiveState
    if kind is None and code is not None:
        kind = _CODE_RULES.get(code)
    if kind is None and http_status is not None:
        kind = _status_kind(http_status)
    if kind is None:
        kind = Fatal

    where = f"{method} at {redact_url(url)}" if method else redact_url(url)
    status = f"HTTP {http_status}, " if http_status and http_status != 200 else ""
    detail = f"{_quote(haystack, url)} ({status}code {code})"
    common: dict[str, Any] = {"code": code, "http_status": http_status}

    if kind is RangeTooLarge:
        suggested = None
        match = _SUGGESTED_RANGE.search(haystack)
        if match:
            suggested = (_to_int(match.group(1)), _to_int(match.group(2)))
        elif isinstance(data, Mapping) and isinstance(data.get("from"), str) and isinstance(data.get("to"), str):
            suggested = (_to_int(data["from"]), _to_int(data["to"]))  # Infura -32005 data {from, to, limit}
        return RangeTooLarge(
            f"{where} rejected the block range: {detail}",
            suggested_range=suggested,
            max_span=_first_int(_MAX_SPAN, haystack),
            result_limit=_first_int(_RESULT_LIMIT, haystack),
            **common,
        )
    if kind is TooManyResults:
        return TooManyResults(f"{where} returned too many logs: {detail}",
                              result_limit=_first_int(_RESULT_LIMIT, haystack), **common)
    if kind is RateLimited:
        retry_after = _backoff_seconds(data)
        if retry_after is None and headers is not None:
            retry_after = parse_retry_after(headers.get("Retry-After"))
        return RateLimited(f"{where} is rate limiting requests: {detail}", retry_after=retry_after, **common)
    if kind is NoArchiveState:
        return NoArchiveState(
            f"{where} has no state for the requested block ({detail}): use an archive node for "
            "historical eth_call reads, or pass --no-state", **common)
    if kind is ExecutionReverted:
        return ExecutionReverted(f"{where} reverted: {detail}",
                                 data=data if isinstance(data, str) else None, **common)
    if kind is Fatal and code == -32601:
        return Fatal(f"{where}: the node does not support this method: {detail}", **common)
    return kind(f"{where} failed: {detail}", **common)


def _status_kind(status: int) -> type[RpcError]:
    if status == 429:
        return RateLimited
    if status == 413:
        return BatchTooLarge
    if status >= 500 or status == 408:
        return Transient
    return Fatal


def classify_http_error(
    status: int, headers: Mapping[str, str], body: bytes, *, url: str, method: str | None = None
) -> RpcError:
    """Classify a non-2xx HTTP response, using the JSON-RPC error in its body when there is one.

    QuickNode sends its range limit as HTTP 413 with a JSON-RPC body, Alchemy its quota as HTTP 403,
    Infura its rate limit as HTTP 429 with ``data.rate.backoff_seconds``
    (docs/sources/chain.md#provider-error-messages).
    """
    try:
        payload = json.loads(body)
    except ValueError:
        payload = None
    if isinstance(payload, list) and payload:
        payload = payload[0]
    if isinstance(payload, Mapping) and isinstance(payload.get("error"), Mapping):
        return classify_error_object(payload["error"], url=url, method=method, http_status=status,
                                     headers=headers)
    kind = _status_kind(status)
    text = _quote(body.decode("utf-8", "replace"), url) or "(empty body)"
    where = f"{method} at {redact_url(url)}" if method else redact_url(url)
    message = f"{where} answered HTTP {status}: {text[:120]}"
    if kind is RateLimited:
        return RateLimited(message, retry_after=parse_retry_after(headers.get("Retry-After")),
                           http_status=status)
    if status in (401, 403):
        message += " (check the API key in the RPC URL and the plan's quota)"
    return kind(message, http_status=status)


def classify_exception(exc: BaseException, *, url: str, method: str | None = None,
                       unreachable_hint: str = "") -> RpcError:
    """Classify a transport-level exception (aiohttp, OS, timeout, undecodable JSON).

    aiohttp exception texts contain the request URL, so they are scrubbed and the original exception
    should not be chained onto the raised error (``raise … from None``).
    """
    if isinstance(exc, RpcError):
        return exc
    where = redact_url(url)
    for_method = f" ({method})" if method else ""
    if isinstance(exc, aiohttp.InvalidURL):  # retrying cannot help
        return Fatal(f"the RPC URL {where} is not usable{for_method}: {type(exc).__name__}; pass "
                     "--rpc http(s)://host[:port]/...")
    if isinstance(exc, aiohttp.ClientConnectorError):
        if isinstance(exc, aiohttp.ClientConnectorDNSError):
            reason = "host name not found"
        elif isinstance(exc.os_error, ConnectionRefusedError):
            reason = "connection refused"
        else:
            reason = _quote(str(exc.os_error.strerror or exc.os_error), url)
        hint = f"; {unreachable_hint}" if unreachable_hint else ""
        return NodeUnreachable(f"cannot reach the RPC node at {where}: {reason}{hint}")
    if isinstance(exc, aiohttp.ClientResponseError):
        # aiohttp's response errors (raise_for_status(), too many redirects, an HTTP proxy's refusal):
        # the body is gone, status and headers remain.
        return classify_http_error(exc.status, exc.headers or {}, b"", url=url, method=method)
    if isinstance(exc, (TimeoutError, asyncio.TimeoutError)):
        return Transient(f"request to {where} timed out{for_method}")
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return Transient(f"{where} closed the connection{for_method}")
    if isinstance(exc, (aiohttp.ClientError, OSError)):
        return Transient(f"connection to {where} failed{for_method}: {type(exc).__name__}: {_quote(str(exc), url)}")
    if isinstance(exc, ValueError):
        return Transient(f"{where} sent a response that is not valid JSON-RPC{for_method}: "
                         f"{_quote(str(exc), url)[:160]}")
    return Fatal(f"request to {where} failed{for_method}: {type(exc).__name__}: {_quote(str(exc), url)}")

