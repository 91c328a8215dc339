"""Euler v2 vaults from the EVK GenericFactory that creates them (``discovery = "evk_factory"``).

``GenericFactory.createProxy`` emits ``ProxyCreated(address indexed proxy, bool upgradeable, address
implementation, bytes trailingData)`` for every vault (euler-xyz/euler-vault-kit
``src/GenericFactory/GenericFactory.sol``; docs/sources/discovery.md#euler-v2-genericfactory): the vaults
created up to the pulled block fill the role ``vaults`` (each vault is a liability vault that may emit
``Liquidate``). The factory (role ``factory``) must have code at the pulled block.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from toolkit.abi import load_abi
from toolkit.chain.calls import StateReader
from toolkit.protocols.discovery.calls import require_code
from toolkit.protocols.discovery.comptroller import fill_role
from toolkit.protocols.discovery.model import Candidate, DiscoveryProblem, Market, log_place, word_address
from toolkit.protocols.registry import Deployment

PROXY_CREATED = load_abi("euler-v2/GenericFactory.json").event("ProxyCreated")


class EvkFactoryMethod:
    """:class:`~toolkit.protocols.discovery.model.Method` of ``discovery = "evk_factory"``."""

    name = "evk_factory"

    def registry_contracts(self, deployment: Deployment) -> dict[str, str]:
        return {"factory": deployment.address("factory")}

    def topics0(self, deployment: Deployment) -> tuple[str, ...]:
        return (PROXY_CREATED.topic0,)

    def from_logs(self, logs: Sequence[dict[str, Any]], deployment: Deployment) -> list[Candidate]:
        found = []
        for log in logs:
            vault = word_address(log["topics"][1]) if len(log["topics"]) >= 2 else None
            if vault is None:
                continue
            block, tx, index = log_place(log)
            found.append(Candidate(vault, block, f"ProxyCreated log {index} of tx {tx} in block {block}"))
        return found

    async def at_block(self, state: StateReader, deployment: Deployment, block: int) -> list[Candidate]:
        await require_code(state, block, deployment.address("factory"),
                           f"the EVK GenericFactory of {deployment.protocol}/{deployment.name}")
        return []

    async def resolve(self, state: StateReader, deployment: Deployment, candidates: Sequence[Candidate],
                      block: int) -> tuple[list[Market], list[DiscoveryProblem]]:
        return [Market(c.address, c.found_block, c.how) for c in candidates], []

    def expand(self, deployment: Deployment, markets: Sequence[Market]) -> list[Deployment]:
        return [fill_role(deployment, "vaults", markets)]


METHOD = EvkFactoryMethod()
