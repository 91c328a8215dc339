"""A real Aave v3 ``PoolAddressesProviderRegistry`` on the devchain, listing its Aave v3 markets.

Aave v3 on Ethereum lists its markets (Core, Prime, EtherFi, Horizon) in pool addresses provider
registries; the toolkit finds the pools there (:mod:`toolkit.protocols.discovery.aave_registry`). The
devchain deploys the registry of ``@aave/core-v3@1.19.3``
(``contracts/protocol/configuration/PoolAddressesProviderRegistry.sol``: ``constructor(owner)``,
``registerAddressesProvider(provider, id)`` (owner only, id > 0), ``getAddressesProvidersList()``, event
``AddressesProviderRegistered(provider indexed, id indexed)``) from anvil account :data:`DEPLOYER_INDEX`
(its own nonce sequence: the registry's address is the same on every fresh devchain), after everything
else, and registers the devchain's Aave v3 market's provider with id 1. A test adds a second market
(:func:`deploy_second_market`) and registers it with id 2.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from web3.contract import Contract
from web3.types import TxReceipt

from toolkit.devchain.aave_v3 import PACKAGE, deploy_aave_v3
from toolkit.devchain.artifacts import ArtifactRef
from toolkit.devchain.chain import Chain
from toolkit.devchain.market import AaveMarket

if TYPE_CHECKING:  # devchain.py imports this module
    from toolkit.devchain.devchain import Devchain

REGISTRY = ArtifactRef(PACKAGE, "contracts/protocol/configuration/PoolAddressesProviderRegistry.sol")
#: anvil account that deploys and owns the registry (unused by every other deployment and scenario).
DEPLOYER_INDEX = 16
#: anvil account that deploys a second Aave v3 market in tests (:func:`deploy_second_market`).
SECOND_MARKET_DEPLOYER_INDEX = 17


class AaveRegistry:
    """The deployed registry and the one call a scenario needs."""

    def __init__(self, chain: Chain, contract: Contract) -> None:
        self.chain = chain
        self.contract = contract

    @property
    def address(self) -> str:
        return self.contract.address

    def register(self, provider: str, provider_id: int) -> TxReceipt:
        """``registerAddressesProvider(provider, provider_id)`` from the owner; its receipt."""
        return self.chain.transact(self.contract.functions.registerAddressesProvider(provider, provider_id))

    def providers(self) -> list[str]:
        """``getAddressesProvidersList()`` now."""
        return list(self.contract.functions.getAddressesProvidersList().call())


def deploy_aave_registry(devchain: Devchain) -> AaveRegistry:
    """Deploy the registry (owner: account :data:`DEPLOYER_INDEX`) and register the Aave v3 market's provider (id 1)."""
    chain = Chain(devchain.url, deployer_index=DEPLOYER_INDEX)
    registry = AaveRegistry(chain, chain.deploy(REGISTRY, chain.deployer))
    registry.register(devchain.v3.addresses()["poolAddressesProvider"], 1)
    return registry


def deploy_second_market(devchain: Devchain, market_id: str) -> AaveMarket:
    """Another real Aave v3 market (same tokens, fresh oracle, pool and provider) deployed from account
    :data:`SECOND_MARKET_DEPLOYER_INDEX`, not registered: the caller registers it (the step a registry
    listing a new market takes on chain)."""
    chain = Chain(devchain.url, deployer_index=SECOND_MARKET_DEPLOYER_INDEX)
    return deploy_aave_v3(chain, devchain.tokens, devchain.accounts[9], market_id=market_id)
