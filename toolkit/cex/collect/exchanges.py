"""The ccxt side of the collectors: which ccxt class serves a venue, what it serves, its URLs, and its errors.

Every exchange call goes through ccxt's unified methods (docs/sources/venues.md#ccxt-unified-structures): the
async REST client (``ccxt.async_support``) for ``liqtk cex fetch``, ``ccxt.pro`` websockets for ``liqtk cex
record``. BitMEX is not served: the ``ccxt`` package has no ``bitmex`` class any more (4.5.90), and ccxt's
separate BitMEX package (``bitmex-api``, module ``bitmex.ccxt``) installs itself as the process's ``ccxt`` module, so
it cannot run beside the others (the venue is refused with that reason).

Numbers: the exchange object runs in ccxt's ``number = str`` mode, so every price, amount and rate arrives as the
exact decimal text the exchange sent (ccxt's own parsing, no float in between).

Environment (never printed, never stored):

* ``LIQTK_<VENUE>_API_KEY`` / ``LIQTK_<VENUE>_API_SECRET`` (``LIQTK_BINANCE_USDM_API_KEY``): optional keys, only
  for the one method that needs them (Binance serves leverage brackets to signed requests only);
* ``LIQTK_CEX_API_URL`` / ``LIQTK_CEX_WS_URL``: replace the scheme, host and port of every REST / websocket URL of
  the exchange (a proxy or mirror; the tests point them at a local server);
* ``LIQTK_CEX_MARKETS``: a JSON file of ccxt market structures used instead of ``load_markets`` (offline use).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from toolkit.cex.venues import venue_id as profile_id
from toolkit.errors import ToolkitError, UserInputError

#: Venue profile id -> ccxt exchange id.
EXCHANGES: dict[str, str] = {"binance-usdm": "binanceusdm", "bybit": "bybit", "okx": "okx", "bitmex": "bitmex",
                             "hyperliquid": "hyperliquid", "dydx-v4": "dydx"}
#: What ``fetch`` reads, and the ccxt methods that serve it (first one the exchange has wins).
FETCH_METHODS: dict[str, tuple[str, ...]] = {
    "tiers": ("fetchLeverageTiers", "fetchMarketLeverageTiers"),
    "funding": ("fetchFundingRateHistory",),
    "open-interest": ("fetchOpenInterestHistory",),
    "liquidations": ("fetchLiquidations",),
}
#: ccxt.pro methods ``record`` uses (first one the exchange has wins).
RECORD_METHODS: tuple[str, ...] = ("watchLiquidationsForSymbols", "watchLiquidations")

ENV_API_URL, ENV_WS_URL, ENV_MARKETS = "LIQTK_CEX_API_URL", "LIQTK_CEX_WS_URL", "LIQTK_CEX_MARKETS"


class ExchangeRefused(ToolkitError):
    """The exchange refused or failed a request (geo-blocked, rate-limited, down); exit code 1."""

    exit_code = 1


def venue_id(name: str) -> str:
    """The venue profile id of ``name``: a ccxt id of :data:`EXCHANGES`, else a profile id or short name
    (:func:`toolkit.cex.venues.venue_id`, which names the known ones when it is neither)."""
    by_ccxt_id = {exchange: venue for venue, exchange in EXCHANGES.items()}
    return profile_id(by_ccxt_id.get(name.strip().lower(), name), "--venue")


def _module(pro: bool) -> Any:
    if pro:
        import ccxt.pro as module
    else:
        import ccxt.async_support as module
    return module


def exchange_class(venue: str, pro: bool) -> type:
    """The ccxt class of ``venue``: REST (``ccxt.async_support``) or websockets (``ccxt.pro``)."""
    if venue == "bitmex":
        raise UserInputError(f"--venue: bitmex is not served: {ccxt_version(venue)} has no BitMEX exchange, and "
                             "ccxt's separate BitMEX package (bitmex-api) replaces the process's `ccxt` module, so it "
                             "cannot run beside the other exchanges; choose one of "
                             f"{', '.join(v for v in EXCHANGES if v != 'bitmex')}")
    return getattr(_module(pro), EXCHANGES[venue])  # type: ignore[no-any-return]


def ccxt_version(venue: str) -> str:
    """Version of the ccxt code base serving ``venue``."""
    import ccxt
    return f"ccxt {ccxt.__version__}"


def api_keys(venue: str, environ: Mapping[str, str]) -> dict[str, str]:
    """``apiKey`` / ``secret`` from the environment (module docstring), or nothing."""
    prefix = "LIQTK_" + venue.upper().replace("-", "_")
    keys = {"apiKey": environ.get(f"{prefix}_API_KEY", ""), "secret": environ.get(f"{prefix}_API_SECRET", "")}
    return {k: v for k, v in keys.items() if v}


def _rebased(value: Any, base: str, schemes: tuple[str, ...]) -> Any:
    """``value`` (a URL or a nested dict/list of them) with scheme, host and port of URLs of ``schemes`` replaced
    by ``base``'s; placeholders such as ``{hostname}`` in the host go with it."""
    if isinstance(value, dict):
        return {k: _rebased(v, base, schemes) for k, v in value.items()}
    if isinstance(value, list):
        return [_rebased(v, base, schemes) for v in value]
    if isinstance(value, str) and value.split("://", 1)[0] in schemes:
        rest = value.split("://", 1)[1]
        path = rest[rest.index("/"):] if "/" in rest else ""
        return base.rstrip("/") + path
    return value


def open_exchange(venue: str, *, pro: bool, environ: Mapping[str, str] | None = None) -> Any:
    """A configured ccxt exchange for ``venue`` (module docstring). Close it with ``await exchange.close()``."""
    environ = os.environ if environ is None else environ
    config: dict[str, Any] = {"enableRateLimit": True, "timeout": 30_000, **api_keys(venue, environ)}
    exchange = exchange_class(venue, pro)(config)
    exchange.number = str
    api = environ.get(ENV_API_URL)
    if api:
        exchange.urls["api"] = _rebased(exchange.urls["api"], api, ("http", "https"))
    ws = environ.get(ENV_WS_URL)
    if ws:
        exchange.urls["api"] = _rebased(exchange.urls["api"], ws, ("ws", "wss"))
    markets = environ.get(ENV_MARKETS)
    if markets:
        try:
            exchange.set_markets(json.loads(Path(markets).read_text(encoding="utf-8")))
        except (OSError, ValueError) as exc:
            raise UserInputError(f"{ENV_MARKETS}: cannot read {markets} ({exc})") from None
    return exchange


def api_host(exchange: Any) -> str:
    """``scheme://host[:port]`` of the exchange's first REST URL (what the run talked to)."""
    def first(value: Any) -> str | None:
        if isinstance(value, str) and "://" in value:
            return value
        values = value.values() if isinstance(value, dict) else value if isinstance(value, list) else ()
        return next((url for url in (first(v) for v in values) if url), None)
    url = first(exchange.urls.get("api")) or ""
    parts = urlsplit(url.replace("{hostname}", str(getattr(exchange, "hostname", "") or "hostname")))
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme else ""


def served(exchange: Any) -> list[str]:
    """What ``fetch`` can read from ``exchange`` (keys of :data:`FETCH_METHODS`), and ``record`` if it streams."""
    has = exchange.has
    items = [what for what, methods in FETCH_METHODS.items() if any(has.get(m) for m in methods)]
    return items + (["record (liquidation stream)"] if any(has.get(m) for m in RECORD_METHODS) else [])


def method_for(exchange: Any, venue: str, what: str) -> str:
    """The ccxt method serving ``what`` (``record`` for the liquidation stream), or a UserInputError naming what
    the exchange serves instead."""
    methods = RECORD_METHODS if what == "record" else FETCH_METHODS[what]
    for method in methods:
        if exchange.has.get(method):
            return method
    offered = ", ".join(served(exchange)) or "nothing the collectors read"
    label = "a liquidation stream" if what == "record" else f"{what} history" if what != "tiers" else "leverage tiers"
    raise UserInputError(f"--what: {venue} does not serve {label} through {ccxt_version(venue)} "
                         f"({' / '.join(methods)}); it serves: {offered}")


_STATUS = re.compile(r"\b(4\d\d|5\d\d)\b")
_QUERY = re.compile(r"\?[^\s\"']*")


def _first_text(body: str) -> str:
    """The exchange's own message: a JSON ``msg``/``retMsg``/``message``, an HTML page's text lines, or the body."""
    try:
        data = json.loads(body)
        if isinstance(data, dict):
            for key in ("msg", "retMsg", "message", "error"):
                if data.get(key):
                    return str(data[key])
    except ValueError:
        pass
    body = re.sub(r"(?is)<(title|head)>.*?</\1>", " ", body)  # the page's text, not its title
    lines = [" ".join(re.sub(r"<[^>]+>", " ", line).split()) for line in body.splitlines()]
    text = " ".join(line for line in lines if line and not line.startswith(("Request ID", "Generated by")))
    return text if len(text) <= 200 else text[:200].rsplit(" ", 1)[0] + " ..."


def exchange_error(exc: Exception, venue: str, secrets: tuple[str, ...] = ()) -> ToolkitError:
    """One clear line for a ccxt error: what the exchange answered (status and its own words) and what to do.

    Query strings (where signed requests carry keys and signatures) and every value of ``secrets`` are removed."""
    import ccxt

    text = str(exc)
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    text = _QUERY.sub("?***", text)
    status_match = _STATUS.search(text)
    status = status_match.group(1) if status_match else None
    body = text[text.find("{"):] if "{" in text else text[text.find("<"):] if "<" in text else text
    said = _first_text(body)
    if status == "451" or "restricted location" in text:
        return ExchangeRefused(f"{venue}: the exchange refuses requests from this location (HTTP 451: {said}); "
                               "run from a permitted location or set LIQTK_CEX_API_URL to a proxy")
    if status == "403":
        return ExchangeRefused(f"{venue}: the exchange refused the request (HTTP 403: {said}); it blocks this "
                               "location or address: run from a permitted one or set LIQTK_CEX_API_URL to a proxy")
    if status in ("429", "418") or isinstance(exc, (ccxt.RateLimitExceeded, ccxt.DDoSProtection)):
        return ExchangeRefused(f"{venue}: rate limited by the exchange (HTTP {status or '429'}: {said}); wait a few "
                               "minutes and run again")
    if isinstance(exc, ccxt.AuthenticationError):
        return UserInputError(f"{venue}: the exchange needs API keys for this request ({said}); set "
                              f"LIQTK_{venue.upper().replace('-', '_')}_API_KEY and _API_SECRET")
    if isinstance(exc, ccxt.BadSymbol):
        return UserInputError(f"--symbols: {said}")
    if isinstance(exc, ccxt.NotSupported):
        return UserInputError(f"{venue}: {said}")
    if isinstance(exc, ccxt.NetworkError):
        return ExchangeRefused(f"{venue}: the exchange could not be reached ({said or type(exc).__name__}); check "
                               "the network and run again")
    return ExchangeRefused(f"{venue}: the exchange answered with an error ({said or type(exc).__name__})")
