"""Compound v2 and Venus markets from their Comptroller (``discovery = "comptroller"``).

The Comptroller (its ``Unitroller`` proxy, role ``comptroller``) lists every market it supports
(docs/sources/discovery.md#compound-v2-comptroller, #venus-comptroller):

* ``MarketListed(address)``, emitted by ``_supportMarket``: in Compound v2 the cToken is *not* indexed
  (it is the data word), in Venus 9.2 the vToken *is* indexed (topic 1). Same topic0; both are read.
* ``getAllMarkets()`` (selector ``0xb0772d0b``) at the pulled block: every market listed now; it also
  checks that the Comptroller answers at that block.

Markets unlisted later (Venus ``MarketUnlisted``) stay emitters: their logs before the unlisting are
liquidations of the protocol. Every market is an emitter of the one deployment (role ``ctokens``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from toolkit.abi import load_abi
from toolkit.chain.calls import StateReader
from toolkit.protocols.discovery.calls import call_at
from toolkit.protocols.discovery.model import (Candidate, DiscoveryProblem, Market, RegistryUnavailable, log_place,
                                              word_address)
from toolkit.protocols.registry import Deployment

COMPTROLLER = load_abi("compound-v2/Comptroller.json")
MARKET_LISTED = COMPTROLLER.event("MarketListed")
GET_ALL_MARKETS = COMPTROLLER.fn("getAllMarkets")
#: The emitter role the markets fill.
ROLE = "ctokens"


class ComptrollerMethod:
    """:class:`~toolkit.protocols.discovery.model.Method` of ``discovery = "comptroller"``."""

    name = "comptroller"

    def registry_contracts(self, deployment: Deployment) -> dict[str, str]:
        return {"comptroller": deployment.address("comptroller")}

    def topics0(self, deployment: Deployment) -> tuple[str, ...]:
        return (MARKET_LISTED.topic0,)

    def from_logs(self, logs: Sequence[dict[str, Any]], deployment: Deployment) -> list[Candidate]:
        found = []
        for log in logs:
            topics, data = log["topics"], str(log["data"])
            word = topics[1] if len(topics) == 2 else data[2:66] if len(data) == 66 else ""
            address = word_address(word)
            if address is None:
                continue  # not a MarketListed layout; the list call still names the market
            block, tx, index = log_place(log)
            found.append(Candidate(address, block, f"MarketListed log {index} of tx {tx} in block {block}"))
        return found

    async def at_block(self, state: StateReader, deployment: Deployment, block: int) -> list[Candidate]:
        comptroller = deployment.address("comptroller")
        (markets,) = await call_at(state, block, comptroller, GET_ALL_MARKETS, what=_what(deployment))
        return [Candidate(market.lower(), block, f"getAllMarkets() of {comptroller} at block {block}")
                for market in markets]

    async def resolve(self, state: StateReader, deployment: Deployment, candidates: Sequence[Candidate],
                      block: int) -> tuple[list[Market], list[DiscoveryProblem]]:
        return [Market(c.address, c.found_block, c.how) for c in candidates], []

    def expand(self, deployment: Deployment, markets: Sequence[Market]) -> list[Deployment]:
        return [fill_role(deployment, ROLE, markets)]


def fill_role(deployment: Deployment, role: str, markets: Sequence[Market]) -> Deployment:
    """The deployment with the markets (and any addresses the registry entry lists itself) in ``role``."""
    static = deployment.contracts.get(role, [])
    listed = [static] if isinstance(static, str) else list(static)
    addresses = sorted({a.lower() for a in listed} | {m.address for m in markets})
    return replace(deployment, contracts={**deployment.contracts, role: addresses})


def _what(deployment: Deployment) -> str:
    return f"the Comptroller of {deployment.protocol}/{deployment.name}"


METHOD = ComptrollerMethod()

__all__ = ["METHOD", "RegistryUnavailable", "fill_role"]
