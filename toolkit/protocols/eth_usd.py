"""ETH/USD at a block, for the adapters whose oracles quote in ETH: Aave v1, Aave v2 (Ethereum),
Compound v2 before the Open Price Feed, Comet's ETH-quoted markets.

The chain's Chainlink-style ETH/USD feed (``eth_usd_feed`` in ``deployments/chains.toml``) is read at the
state block with ``latestAnswer()`` and ``decimals()`` (abis/common/ChainlinkAggregator.json). One
failure behaviour for all of them: keep what was read, say what was not. When the chain has no feed, the
feed did not exist yet or reverts, or answers 0 or less, the ETH-quoted columns are kept, the USD
columns stay null, and the row's ``state_status`` is ``partial: <why>; USD columns left null``
(:meth:`EthUsd.partial_status`).
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from toolkit.abi import load_abi
from toolkit.protocols.base import Call, CallFailed
from toolkit.protocols.registry import Deployment

FEED = load_abi("common/ChainlinkAggregator.json")


@dataclass(frozen=True)
class EthUsd:
    """The ETH/USD feed at one block: its answer (``decimals`` decimals), or why there is none."""

    block: int
    feed: str | None
    answer: int | None = None
    decimals: int | None = None
    missing: str | None = None

    @property
    def usd_per_eth(self) -> Fraction | None:
        """USD per ETH, exact; None when not read."""
        if self.answer is None or self.decimals is None:
            return None
        return Fraction(self.answer, 10**self.decimals)

    def usd(self, eth: Fraction | int | None) -> float | None:
        """``eth`` (in ETH) in USD, rounded to a float once; None when either is unknown."""
        rate = self.usd_per_eth
        return None if eth is None or rate is None else float(eth * rate)

    def source(self) -> str:
        """What ``price_source`` adds: the feed used, or why there is no USD."""
        if self.missing is not None:
            return f"; no USD: {self.missing}"
        return f", x ETH/USD feed {self.feed} latestAnswer at block {self.block}"

    def columns(self) -> dict[str, Any]:
        """``eth_usd_price_raw`` and ``eth_usd_decimals``."""
        return {"eth_usd_price_raw": None if self.answer is None else str(self.answer),
                "eth_usd_decimals": self.decimals}

    def partial_status(self) -> str | None:
        """The row's ``state_status`` when the USD columns could not be filled (None when they could)."""
        return partial_status(self.missing)


def partial_status(missing: str | None) -> str | None:
    """``partial: <missing>; USD columns left null``, or None when nothing is missing."""
    return None if missing is None else f"partial: {missing}; USD columns left null"


def eth_usd_calls(deployment: Deployment, block: int) -> dict[Hashable, Call]:
    """The reads :func:`eth_usd_at` needs at ``block`` (none when the chain has no feed)."""
    feed = deployment.chain.eth_usd_feed
    if not feed:
        return {}
    return {("eth_usd", block): Call(block, feed, FEED.fn("latestAnswer")),
            ("eth_usd_decimals", feed.lower()): Call(block, feed, FEED.fn("decimals"))}


def eth_usd_at(results: Mapping[Hashable, Any], deployment: Deployment, block: int) -> EthUsd:
    """ETH/USD at ``block`` from the answers of :func:`eth_usd_calls`."""
    feed = deployment.chain.eth_usd_feed
    if not feed:
        return EthUsd(block, None, missing=f"chain {deployment.chain.name} has no ETH/USD feed in the registry")
    feed = feed.lower()
    answer, decimals = results.get(("eth_usd", block)), results.get(("eth_usd_decimals", feed))
    for value in (answer, decimals):
        if value is None or isinstance(value, CallFailed):
            return EthUsd(block, feed, missing=f"ETH/USD feed {feed} has no answer at block {block}")
    if answer[0] <= 0:
        return EthUsd(block, feed, missing=f"ETH/USD feed {feed} answered {answer[0]} at block {block}")
    return EthUsd(block, feed, answer[0], decimals[0])
