"""Classification of every provider error in docs/sources/chain.md#provider-error-messages (one case per message).

Each case id names the provider and the source the message was recorded from.
"""

from __future__ import annotations

import email.utils
import time
from typing import Any

import aiohttp
import pytest
from multidict import CIMultiDict
from yarl import URL as YarlURL

from toolkit.chain.errors import (
    BatchTooLarge,
    ExecutionReverted,
    Fatal,
    NoArchiveState,
    RangeTooLarge,
    RateLimited,
    RpcError,
    TooManyResults,
    Transient,
    classify_error_object,
    classify_exception,
    classify_http_error,
    parse_retry_after,
)

URL = "https://user:hunter2pass@rpc.example.invalid/v3/0123456789abcdef0123?apikey=s3cr3tkey"
SECRETS = ("hunter2pass", "0123456789abcdef0123", "s3cr3tkey", "user:")


def case(source: str, code: int | None, message: str, kind: type[RpcError], *, data: Any = None,
         http: int | None = None, **expected: Any) -> Any:
    error = {"code": code, "message": message} if data is None else {"code": code, "message": message, "data": data}
    return pytest.param(error, http, kind, expected, id=source)


CATALOGUE = [
    case("infura-ethers.js#4703", -32005,
         "query returned more than 10000 results. Try with this block range [0xBDE5F8, 0x102DBCC].", RangeTooLarge,
         data={"from": "0xBDE5F8", "to": "0x102DBCC", "limit": 10000},
         suggested_range=(0xBDE5F8, 0x102DBCC), result_limit=10000, max_span=None),
    case("infura-older-nimbus-eth2#1823", -32005, "query returned more than 10000 results", TooManyResults,
         result_limit=10000),
    case("infura-2026-INFURA/infura#237", -32602, "range 1000000 exceeds limit of 10000", RangeTooLarge,
         max_span=10000, suggested_range=None),
    case("infura-rate-limit-gochain/web3#180", -32005, "daily request count exceeded, request rate limited",
         RateLimited, http=429, data={"rate": {"allowed_rps": 1, "backoff_seconds": 30, "current_rps": 1.3}},
         retry_after=30.0),
    case("alchemy-paid-ethers.js#4703", -32602,
         "Log response size exceeded. You can make eth_getLogs requests with up to a 2K block range and no limit "
         "on the response size, or you can request any block range with a cap of 10K logs in the response. Based "
         "on your parameters and the response size limit, this block range should work: [0x0, 0xd043b8]",
         RangeTooLarge, suggested_range=(0, 0xD043B8), max_span=None),
    case("alchemy-free-risc0-ethereum#656", -32600,
         "You can make eth_getLogs requests with up to a 500 block range. Based on your parameters, this block "
         "range should work: [0x1be4213, 0x1be4406]", RangeTooLarge,
         suggested_range=(0x1BE4213, 0x1BE4406), max_span=500),
    case("alchemy-rate-limit-conduitxyz/node#36", 429,
         "Your app has exceeded its compute units per second capacity. If you have retries enabled, you can "
         "safely ignore this message…", RateLimited, http=429),
    case("alchemy-quota-xmtp/xmtpd#672", -32600, "Monthly capacity limit exceeded.", Fatal, http=403),
    case("quicknode-eternalsafe/wallet#57", -32614, "eth_getLogs is limited to a 10,000 range", RangeTooLarge,
         http=413, max_span=10000),
    case("ankr-ponder-getLogsRetryHelper", -32600, "block range is too wide", RangeTooLarge,
         max_span=None, suggested_range=None),
    case("ankr-2025-ponder#1940", -32602, "maximum [from, to] blocks distance: 10000", RangeTooLarge, max_span=10000),
    case("bsc-eth_defi/balances.py:100", -32000, "exceed maximum block range: 5000", RangeTooLarge, max_span=5000),
    case("publicnode-ponder", -32000, "maximum block range: 5000", RangeTooLarge, max_span=5000),
    case("reth-paradigmxyz/reth#8558", -32602, "query exceeds max block range 5000", RangeTooLarge, max_span=5000),
    case("llamarpc-ankr-ponder", -32000, "query exceeds max results", TooManyResults),
    case("tenderly-boba_legacy#827", -32602, "invalid params", RangeTooLarge,
         data={"payload": "range 9009594 is bigger than range limit 2000"}, max_span=2000),
    case("chainstack-ponder", -32000, "Block range limit exceeded.", RangeTooLarge),
    case("cloudflare-ponder", -32000, "Max range: 3000", RangeTooLarge, max_span=3000),
    case("thirdweb-ponder", -32000, "Maximum allowed number of requested blocks is 3000", RangeTooLarge, max_span=3000),
    case("coinbase-ponder", -32000, "please limit the query to at most 1000 blocks", RangeTooLarge, max_span=1000),
    case("blast-ponder", -32000, "exceeds the range allowed for your plan (5000 > 2000)", RangeTooLarge, max_span=2000),
    case("optimism-ponder-backend-too-large", -32000, "backend response too large", TooManyResults),
    case("optimism-ponder-range", -32000, "Block range is too large", RangeTooLarge),
    case("base-ponder-range", -32000, "block range too large", RangeTooLarge),
    case("base-ponder-no-backend", -32000, "no backend is currently healthy to serve traffic", Transient),
    case("arbitrum-ponder", -32000, "logs matched by query exceeds limit of 10000", TooManyResults,
         result_limit=10000),
    case("drpc-eth_defi-cctp/events.py:287", -32000, "exceeded max allowed range", RangeTooLarge),
    case("drpc-eth_defi-middleware", 42903,
         "There are not enough CUPs left to cover the CU required for current request.", RateLimited),
    case("misc-eth_defi-32002", -32002, "request timed out", Transient),
    case("misc-eth_defi-32603", -32603, "Internal JSON-RPC error", Transient),
    case("misc-eth_defi-failsafe", -32603, "failsafe timeout policy exceeded", Transient),
    case("misc-eth_defi-32043", -32043, "Requested data is not available", Transient),
    case("misc-eth_defi-header", -32000, "header not found", Transient),
    case("misc-eth_defi-aborted", -32000, "execution aborted (timeout = 5s)", Transient),
    case("moralis-ApeWorX/ape#613", -32005,
         "Too Many Requests error received from speedy-nodes-nyc.moralis.io", RateLimited),
    case("zeta-chain-node#3265", -32000, "query returned more than 10000 results", TooManyResults,
         result_limit=10000),
    # Not in docs/sources/chain.md#provider-error-messages: state and execution answers of geth/reth/anvil (sources beside the patterns).
    case("geth-missing-trie-node", -32000,
         "missing trie node 5c0ee75d9dd668839db2895c93257f6a3a77282740c045d286ff0d1f297ffa24 (path )", NoArchiveState),
    case("geth-pathdb-historical-state", -32000, "historical state 0xabc123 is not available", NoArchiveState),
    case("geth-hashdb-reexec", -32000, "required historical state unavailable (reexec=128)", NoArchiveState),
    case("reth-StateAtBlockPruned", -32000, "state at block #17000000 is pruned", NoArchiveState),
    case("anvil-prune-history", -32602, "BlockOutOfRangeError: block height is 20 but requested was 2",
         NoArchiveState),
    case("anvil-future-block", -32602, "BlockOutOfRangeError: block height is 20 but requested was 30", Fatal),
    case("geth-revert", 3, "execution reverted: HEALTH_FACTOR_NOT_BELOW_THRESHOLD", ExecutionReverted,
         data="0x08c379a0"),
    case("geth-method-missing", -32601, "the method eth_foo does not exist/is not available", Fatal),
    case("geth-batch-too-large", -32600, "batch too large", BatchTooLarge),
    case("geth-response-too-large", -32003, "response too large", BatchTooLarge),
]


@pytest.mark.parametrize("error, http, kind, expected", CATALOGUE)
def test_catalogue_row_is_classified(error: dict, http: int | None, kind: type[RpcError], expected: dict) -> None:
    result = classify_error_object(error, url=URL, method="eth_getLogs", http_status=http)
    assert type(result) is kind, str(result)
    for name, value in expected.items():
        assert getattr(result, name) == value, name
    text = str(result)
    assert "\n" not in text and "rpc.example.invalid" in text
    assert not any(secret in text for secret in SECRETS)


def test_no_archive_state_tells_what_to_do() -> None:
    error = classify_error_object({"code": -32000, "message": "missing trie node abc (path )"}, url=URL)
    assert "archive node" in str(error) and "--no-state" in str(error)


def test_message_wins_over_code() -> None:
    """-32005 is both a rate limit and "too many results" on Infura (docs/sources/chain.md#provider-error-messages)."""
    too_many = classify_error_object({"code": -32005, "message": "query returned more than 10000 results"}, url=URL)
    throttled = classify_error_object({"code": -32005, "message": "daily request count exceeded"}, url=URL)
    assert isinstance(too_many, TooManyResults) and isinstance(throttled, RateLimited)


def test_hinted_span_is_the_suggested_range_length() -> None:
    error = classify_error_object({"code": -32600, "message": "up to a 500 block range. Based on your parameters, "
                                   "this block range should work: [0x100, 0x2f3]"}, url=URL)
    assert error.hinted_span == 0x2F3 - 0x100 + 1


@pytest.mark.parametrize("status, body, headers, kind, retry_after", [
    pytest.param(429, b"Too Many Requests", {"Retry-After": "7"}, RateLimited, 7.0, id="quicknode-429-retry-after"),
    pytest.param(429, b'{"jsonrpc":"2.0","id":1,"error":{"code":-32005,"message":"daily request count exceeded, '
                      b'request rate limited","data":{"rate":{"backoff_seconds":2.5}}}}',
                 {"Retry-After": "9"}, RateLimited, 2.5, id="infura-429-body-backoff-seconds"),
    pytest.param(413, b'{"jsonrpc":"2.0","id":1,"error":{"code":-32614,"message":"eth_getLogs is limited to a '
                      b'10,000 range"}}', {}, RangeTooLarge, None, id="quicknode-413-body"),
    pytest.param(403, b'{"jsonrpc":"2.0","id":1,"error":{"code":-32600,"message":"Monthly capacity limit '
                      b'exceeded."}}', {}, Fatal, None, id="alchemy-403-quota"),
    pytest.param(502, b"<html>Bad Gateway</html>", {}, Transient, None, id="502"),
    pytest.param(503, b"", {}, Transient, None, id="503-empty"),
    pytest.param(401, b"invalid project id", {}, Fatal, None, id="401"),
])
def test_http_errors(status: int, body: bytes, headers: dict, kind: type[RpcError], retry_after: float | None) -> None:
    error = classify_http_error(status, CIMultiDict(headers), body, url=URL, method="eth_getLogs")
    assert type(error) is kind and error.http_status == status
    if retry_after is not None:
        assert error.retry_after == retry_after
    assert not any(secret in str(error) for secret in SECRETS)


def test_retry_after_http_date() -> None:
    in_ten = email.utils.formatdate(time.time() + 10, usegmt=True)
    assert 8 <= parse_retry_after(in_ten) <= 10
    assert parse_retry_after("3") == 3.0 and parse_retry_after(None) is None and parse_retry_after("soon") is None


def _response_error(status: int) -> aiohttp.ClientResponseError:
    info = aiohttp.RequestInfo(url=YarlURL(URL), method="POST", headers=CIMultiDict(), real_url=YarlURL(URL))
    return aiohttp.ClientResponseError(info, (), status=status, message="Too Many Requests",
                                       headers=CIMultiDict({"Retry-After": "2"}))


@pytest.mark.parametrize("exc, kind", [
    pytest.param(_response_error(429), RateLimited, id="quicknode-aiohttp-429-ApeWorX/web3.py#2724"),
    pytest.param(TimeoutError(), Transient, id="timeout"),
    pytest.param(aiohttp.ServerDisconnectedError(), Transient, id="server-disconnected"),
    pytest.param(aiohttp.ClientOSError(104, f"Connection reset by peer {URL}"), Transient, id="reset"),
    pytest.param(ValueError(f"Could not decode '{{\"jsonrpc\": ' {URL}"), Transient, id="malformed-json"),
])
def test_transport_exceptions(exc: BaseException, kind: type[RpcError]) -> None:
    error = classify_exception(exc, url=URL, method="eth_call")
    assert type(error) is kind
    assert "\n" not in str(error) and not any(secret in str(error) for secret in SECRETS)
