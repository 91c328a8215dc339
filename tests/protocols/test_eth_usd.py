"""The one ETH/USD conversion of the ETH-quoted adapters: keep what was read, say what was not."""

from __future__ import annotations

import dataclasses
from fractions import Fraction

from toolkit.protocols.base import CallFailed
from toolkit.protocols.eth_usd import eth_usd_at, eth_usd_calls
from toolkit.protocols.registry import registry

BLOCK = 12_000_000


def _deployment(feed: str | None = "default"):
    deployment = registry().find("ethereum", "aave-v2", None)[0]
    if feed == "default":
        return deployment
    return dataclasses.replace(deployment, chain=dataclasses.replace(deployment.chain, eth_usd_feed=feed))


def test_answer_read() -> None:
    deployment = _deployment()
    feed = deployment.chain.eth_usd_feed.lower()
    calls = eth_usd_calls(deployment, BLOCK)
    assert set(calls) == {("eth_usd", BLOCK), ("eth_usd_decimals", feed)}
    eth = eth_usd_at({("eth_usd", BLOCK): (345_678_000_000,), ("eth_usd_decimals", feed): (8,)}, deployment, BLOCK)
    assert eth.usd_per_eth == Fraction(345_678, 100) and eth.missing is None and eth.partial_status() is None
    assert eth.usd(Fraction(1, 2)) == 1728.39
    assert eth.columns() == {"eth_usd_price_raw": "345678000000", "eth_usd_decimals": 8}
    assert eth.source() == f", x ETH/USD feed {feed} latestAnswer at block {BLOCK}"


def test_every_failure_keeps_the_rest_and_says_why() -> None:
    deployment = _deployment()
    feed = deployment.chain.eth_usd_feed.lower()
    cases = {
        "no answer": ({("eth_usd", BLOCK): CallFailed("reverted"), ("eth_usd_decimals", feed): (8,)},
                      f"ETH/USD feed {feed} has no answer at block {BLOCK}"),
        "not read": ({}, f"ETH/USD feed {feed} has no answer at block {BLOCK}"),
        "zero": ({("eth_usd", BLOCK): (0,), ("eth_usd_decimals", feed): (8,)},
                 f"ETH/USD feed {feed} answered 0 at block {BLOCK}"),
    }
    for name, (results, why) in cases.items():
        eth = eth_usd_at(results, deployment, BLOCK)
        assert eth.missing == why, name
        assert eth.usd_per_eth is None and eth.usd(Fraction(1)) is None
        assert eth.columns() == {"eth_usd_price_raw": None, "eth_usd_decimals": None}
        assert eth.partial_status() == f"partial: {why}; USD columns left null"
        assert eth.source() == f"; no USD: {why}"
    none = _deployment(feed=None)
    assert eth_usd_calls(none, BLOCK) == {}
    assert eth_usd_at({}, none, BLOCK).missing == "chain ethereum has no ETH/USD feed in the registry"
