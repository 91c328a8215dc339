"""Aave v2, Aave v3 and Spark pools from a pool addresses provider registry (``discovery = "aave_registry"``).

One registry (role ``addresses_provider_registry``) lists the addresses providers of several markets
of one protocol, each with its own Pool (docs/sources/discovery.md#aave-v3-ethereum-registries,
#aave-v2-ethereum-registry, #spark-registry, #aave-registry-contracts):

* ``AddressesProviderRegistered(address indexed addressesProvider, uint256 indexed id)`` (v3,
  ``PoolAddressesProviderRegistry.sol``) or ``AddressesProviderRegistered(address indexed newAddress)``
  (v2, ``LendingPoolAddressesProviderRegistry.sol``): the provider is topic 1;
* ``getAddressesProvidersList()`` at the pulled block (v2 lists an unregistered provider as the zero
  address, which is skipped); it also checks that the registry answers at that block;
* each provider's ``getPool()`` (v3) / ``getLendingPool()`` (v2) and ``getMarketId()`` at the pulled block.

Each pool is a deployment of its own, named by ``params.pool_names`` (pool address -> name: the names the
registry file gives the pools it knows, with their sources; they keep the names of stores pulled before
discovery), else by its provider's market id (``Aave Ethereum Lido Market`` -> ``aave-ethereum-lido-market``).
Unregistered providers stay: their pools' earlier logs are liquidations of the protocol.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from toolkit.abi import ContractAbi, load_abi
from toolkit.chain.calls import StateReader
from toolkit.protocols.discovery.calls import call_at, try_call
from toolkit.protocols.discovery.model import Candidate, DiscoveryProblem, Market, log_place, slug, word_address
from toolkit.protocols.registry import Deployment

REGISTRY_V3 = load_abi("aave-v3/PoolAddressesProviderRegistry.json")
REGISTRY_V2 = load_abi("aave-v2/LendingPoolAddressesProviderRegistry.json")
PROVIDER_V3 = load_abi("aave-v3/PoolAddressesProvider.json")
PROVIDER_V2 = load_abi("aave-v2/LendingPoolAddressesProvider.json")
ZERO = "0x" + "0" * 40


def _abis(deployment: Deployment) -> tuple[ContractAbi, ContractAbi, str]:
    """(registry ABI, provider ABI, the provider's pool getter) of the deployment's Aave version."""
    if int(deployment.params["aave_version"]) >= 3:
        return REGISTRY_V3, PROVIDER_V3, "getPool"
    return REGISTRY_V2, PROVIDER_V2, "getLendingPool"


class AaveRegistryMethod:
    """:class:`~toolkit.protocols.discovery.model.Method` of ``discovery = "aave_registry"``."""

    name = "aave_registry"

    def registry_contracts(self, deployment: Deployment) -> dict[str, str]:
        return {"addresses_provider_registry": deployment.address("addresses_provider_registry")}

    def topics0(self, deployment: Deployment) -> tuple[str, ...]:
        return (_abis(deployment)[0].event("AddressesProviderRegistered").topic0,)

    def from_logs(self, logs: Sequence[dict[str, Any]], deployment: Deployment) -> list[Candidate]:
        found = []
        for log in logs:
            provider = word_address(log["topics"][1]) if len(log["topics"]) >= 2 else None
            if provider is None or provider == ZERO:
                continue
            block, tx, index = log_place(log)
            found.append(Candidate(provider, block, f"AddressesProviderRegistered log {index} of tx {tx} in block {block}"))
        return found

    async def at_block(self, state: StateReader, deployment: Deployment, block: int) -> list[Candidate]:
        registry = deployment.address("addresses_provider_registry")
        what = f"the addresses provider registry of {deployment.protocol}/{deployment.name}"
        (providers,) = await call_at(state, block, registry, _abis(deployment)[0].fn("getAddressesProvidersList"),
                                     what=what)
        return [Candidate(p.lower(), block, f"getAddressesProvidersList() of {registry} at block {block}")
                for p in providers if p.lower() != ZERO]

    async def resolve(self, state: StateReader, deployment: Deployment, candidates: Sequence[Candidate],
                      block: int) -> tuple[list[Market], list[DiscoveryProblem]]:
        """Each provider's pool and market id at ``block``; a provider without a pool is a problem."""
        _, provider_abi, getter = _abis(deployment)
        registry = deployment.address("addresses_provider_registry")
        names = {address.lower(): name for address, name in deployment.params.get("pool_names", {}).items()}
        markets, problems = [], []
        for candidate in candidates:
            pool = await try_call(state, block, candidate.address, provider_abi.fn(getter))
            if isinstance(pool, str) or pool[0].lower() == ZERO:
                reason = pool if isinstance(pool, str) else f"{getter}() of {candidate.address} is the zero address"
                problems.append(DiscoveryProblem(registry, candidate.address, f"no pool: {reason}"))
                continue
            market_id = await try_call(state, block, candidate.address, provider_abi.fn("getMarketId"))
            label = market_id[0] if not isinstance(market_id, str) else ""
            address = pool[0].lower()
            markets.append(Market(address, candidate.found_block, f"{candidate.how}; {getter}() at block {block}",
                                  name=names.get(address) or slug(label) or f"pool-{address[2:10]}",
                                  details={"addresses_provider": candidate.address, "market_id": label}))
        return markets, problems

    def expand(self, deployment: Deployment, markets: Sequence[Market]) -> list[Deployment]:
        """One deployment per pool (its ``pool`` and ``addresses_provider`` roles set); a name two pools would
        share gets the pool's address prefix on the later one."""
        out: list[Deployment] = []
        taken: set[str] = set()
        for market in sorted(markets, key=lambda m: (m.found_block, m.address)):
            name = market.name or f"pool-{market.address[2:10]}"
            if name in taken:
                name = f"{name}-{market.address[2:10]}"
            taken.add(name)
            contracts = {**deployment.contracts, "pool": market.address}
            if market.details.get("addresses_provider"):
                contracts["addresses_provider"] = market.details["addresses_provider"]
            out.append(replace(deployment, name=name, contracts=contracts))
        return out


METHOD = AaveRegistryMethod()
