"""The registry of chains and protocol deployments, loaded from ``deployments.toml`` (data, not code).

A :class:`Deployment` names one market of one protocol on one chain: the contracts whose logs hold
its liquidations, the first block to scan, adapter parameters, and the source of every address.
``--address`` on the CLI builds a custom deployment for forks and private deployments.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, replace
from functools import cache
from pathlib import Path
from typing import Any

from eth_utils import is_address, to_checksum_address

from toolkit.errors import UserInputError

REGISTRY_FILE = Path(__file__).with_name("deployments.toml")


@dataclass(frozen=True)
class Chain:
    """A chain the toolkit knows by name."""

    name: str
    chain_id: int
    rpc_env: str
    eth_usd_feed: str | None = None
    eth_usd_feed_source: str | None = None


@dataclass(frozen=True)
class Deployment:
    """One market of one protocol on one chain."""

    protocol: str
    chain: Chain
    name: str
    family: str
    start_block: int
    contracts: dict[str, str] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    source: str = ""

    @property
    def emitters(self) -> tuple[str, ...]:
        """Addresses whose logs hold this deployment's liquidation events (lower-case)."""
        return tuple(sorted({self.contracts["pool"].lower()}))

    def with_pool(self, address: str) -> "Deployment":
        """The same protocol at another address (``--address``): a fork or a private deployment."""
        if not is_address(address):
            raise UserInputError(f"--address {address!r} is not a 20-byte hex address; pass 0x followed by 40 hex digits")
        return replace(self, name="custom", contracts={**self.contracts, "pool": to_checksum_address(address)},
                       start_block=0, source=f"user-supplied --address {to_checksum_address(address)}")


@dataclass(frozen=True)
class Registry:
    chains: dict[str, Chain]
    deployments: tuple[Deployment, ...]

    def chain(self, name: str) -> Chain:
        try:
            return self.chains[name]
        except KeyError:
            raise UserInputError(
                f"unknown chain {name!r}; known chains: {', '.join(sorted(self.chains))}"
            ) from None

    def protocols(self) -> list[str]:
        return sorted({d.protocol for d in self.deployments})

    def find(self, chain: str, protocol: str, name: str | None = None) -> list[Deployment]:
        """Deployments of ``protocol`` on ``chain`` (all markets, or the one called ``name``)."""
        self.chain(chain)
        if protocol not in self.protocols():
            raise UserInputError(
                f"unknown protocol {protocol!r}; known protocols: {', '.join(self.protocols())}"
            )
        found = [d for d in self.deployments if d.chain.name == chain and d.protocol == protocol
                 and (name is None or d.name == name)]
        if not found:
            where = f"{protocol} market {name!r}" if name else protocol
            raise UserInputError(
                f"no {where} deployment on {chain} in the registry; pass --address 0x.. for a custom deployment"
            )
        return found


def _parse(raw: dict[str, Any]) -> Registry:
    chains = {name: Chain(name=name, **values) for name, values in raw["chains"].items()}
    deployments = tuple(
        Deployment(chain=chains[d["chain"]], **{k: v for k, v in d.items() if k != "chain"})
        for d in raw["deployments"]
    )
    return Registry(chains, deployments)


@cache
def registry() -> Registry:
    """The registry from :data:`REGISTRY_FILE` (parsed once)."""
    with REGISTRY_FILE.open("rb") as handle:
        return _parse(tomllib.load(handle))
