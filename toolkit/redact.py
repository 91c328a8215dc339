"""Keep secrets in RPC URLs out of everything the toolkit prints, logs, stores or raises.

Providers put API keys in the path (``https://eth-mainnet.g.alchemy.com/v2/<key>``,
``https://mainnet.infura.io/v3/<key>``), in the query string (``?apikey=<key>``, ``?auth=Bearer%20<key>``) or in
the user-info part (``https://user:pass@host``, which HTTP clients send as a Basic ``Authorization`` header). A
redacted URL keeps only the scheme, host and port, which is enough to say *which* provider answered without
saying *how* to use it (:func:`redact_url`).

Providers also echo what they were sent -- "project <key> over capacity", an HTTP 401 body quoting the
path, a JSON-RPC error repeating the query -- so every text that leaves the toolkit is scrubbed *by value*
(:func:`scrub`): each secret-bearing part of the URL (:func:`secret_values`) in every form it may come back in
(as sent, percent-decoded, percent-encoded, the words of a ``Bearer <key>`` value, the Basic credentials) is
replaced, in any letter case.
"""

from __future__ import annotations

import base64
import re
from functools import lru_cache
from urllib.parse import quote, quote_plus, unquote, unquote_plus, urlsplit

REDACTED = "***"
#: Shortest text taken as a secret: shorter parts of a URL are no keys, and replacing them would wipe ordinary
#: words and numbers from messages.
MIN_SECRET = 4
#: Path segments and query values that are words of providers' URL schemes (versions, networks, products),
#: not keys; ``v`` followed by digits is one too.
WELL_KNOWN_WORDS = frozenset("""
    api apis rpc rpcs http https ws wss jsonrpc json-rpc json eth ethereum mainnet testnet devnet sepolia holesky
    hoodi goerli base arbitrum arb optimism polygon matic bsc avalanche avax gnosis linea scroll zksync blast
    node nodes public archive evm ext full fast free premium default bearer basic token true false none null
    localhost user username admin root guest
""".split())
_VERSION = re.compile(r"v\d+", re.IGNORECASE)


def redact_url(url: str) -> str:
    """Return ``scheme://host[:port]`` plus ``/***`` when the URL had a path, query or credentials.

    >>> redact_url("https://eth-mainnet.g.alchemy.com/v2/abcdef")
    'https://eth-mainnet.g.alchemy.com/***'
    >>> redact_url("http://127.0.0.1:8545")
    'http://127.0.0.1:8545'
    >>> redact_url("https://user:pw@node.example:8443/?key=1")
    'https://node.example:8443/***'
    """
    try:
        parts = urlsplit(url.strip())
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return REDACTED
    if not parts.scheme or not host:
        return REDACTED
    netloc = f"[{host}]" if ":" in host else host
    if port is not None:
        netloc = f"{netloc}:{port}"
    has_secret_parts = bool(parts.username or parts.password or parts.query or parts.fragment
                            or parts.path.strip("/"))
    return f"{parts.scheme}://{netloc}" + (f"/{REDACTED}" if has_secret_parts else "")


def _forms(value: str) -> set[str]:
    """``value`` as it appears in a URL, percent-decoded (``+`` as space, or not), percent-encoded, and each word
    of its decoded form (``Bearer <key>``), keeping those that may be secrets (:func:`_secret`)."""
    decoded = {unquote(value), unquote_plus(value)}
    forms = {value, *decoded, *(quote(d, safe="") for d in decoded), *(quote_plus(d, safe="") for d in decoded)}
    forms |= {word for d in decoded for word in d.split()}
    return {form for form in forms if _secret(form)}


def _secret(text: str) -> bool:
    return len(text) >= MIN_SECRET and text.lower() not in WELL_KNOWN_WORDS and not _VERSION.fullmatch(text)


@lru_cache(maxsize=64)
def secret_values(url: str) -> tuple[str, ...]:
    """Every text that must never appear in output, longest first: the whole URL, its path, query and
    fragment, each path segment and query value that is not a well-known word (:data:`WELL_KNOWN_WORDS`), the
    user name and password, and the Basic credentials a client sends for them, each in every form of
    :func:`_forms`. Used by :func:`scrub` on every text that leaves the toolkit, provider echoes included."""
    url = url.strip()
    try:
        parts = urlsplit(url)
    except ValueError:
        return (url,) if url else ()
    found = {url} if url else set()
    for whole in (parts.path.strip("/"), parts.query, parts.fragment):
        found |= _forms(whole)
    for segment in parts.path.split("/"):
        found |= _forms(segment)
    for pair in parts.query.split("&"):
        key, _, value = pair.partition("=")
        found |= _forms(value)
    userinfo = parts.netloc.rpartition("@")[0] if "@" in parts.netloc else ""
    if userinfo:
        user, _, password = userinfo.partition(":")
        found |= _forms(userinfo) | _forms(user) | _forms(password)
        for login, secret in ((user, password), (unquote(user), unquote(password))):
            found.add(base64.b64encode(f"{login}:{secret}".encode()).decode())  # HTTP Basic credentials
    return tuple(sorted(found, key=lambda text: (-len(text), text)))


@lru_cache(maxsize=64)
def _pattern(url: str) -> re.Pattern[str] | None:
    values = secret_values(url)
    return re.compile("|".join(map(re.escape, values)), re.IGNORECASE) if values else None


def scrub(text: str, url: str) -> str:
    """``text`` with every secret of ``url`` (:func:`secret_values`) replaced: the whole URL by its redacted
    form (:func:`redact_url`), every other part by ``***``, in any letter case."""
    whole = url.strip()
    if whole:
        text = text.replace(whole, redact_url(url))
    pattern = _pattern(url)
    return pattern.sub(REDACTED, text) if pattern is not None else text


def scrub_exception(error: BaseException, url: str) -> BaseException:
    """Scrub the messages of ``error`` and of the exceptions chained to it (``__cause__``, ``__context__``), in
    place, so that a traceback shows no secret of ``url`` either; returns ``error``."""
    seen: set[int] = set()
    pending: list[BaseException | None] = [error]
    while pending:
        current = pending.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        current.args = tuple(scrub(arg, url) if isinstance(arg, str) else arg for arg in current.args)
        pending += [current.__cause__, current.__context__]
    return error
