"""Keep secrets in RPC URLs out of everything the toolkit prints, logs or stores.

Providers put API keys in the path (``https://eth-mainnet.g.alchemy.com/v2/<key>``,
``https://mainnet.infura.io/v3/<key>``), in the query string (``?apikey=<key>``) or in the user-info
part (``https://user:pass@host``). A redacted URL keeps only the scheme, host and port, which is
enough to say *which* provider answered without saying *how* to use it.
"""

from __future__ import annotations

from urllib.parse import urlsplit

REDACTED = "***"


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


def secret_fragments(url: str) -> list[str]:
    """The parts of ``url`` that must never appear in output: the full URL, path, query, credentials.

    Used by :func:`scrub` as a last line of defence for text that came from third-party code
    (aiohttp and web3 error messages include the request URL).
    """
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return [url] if url else []
    fragments = [url.strip()]
    for piece in (parts.path.strip("/"), parts.query, parts.fragment, parts.username, parts.password):
        if piece and len(piece) >= 4:
            fragments.append(piece)
    for segment in parts.path.split("/"):
        if len(segment) >= 8:
            fragments.append(segment)
    return sorted(set(fragments), key=len, reverse=True)


def scrub(text: str, url: str) -> str:
    """Replace every secret fragment of ``url`` in ``text`` by the redacted form."""
    for fragment in secret_fragments(url):
        text = text.replace(fragment, REDACTED if fragment != url.strip() else redact_url(url))
    return text
