"""What discovery finds and the interface of each discovery method.

A registry deployment (a ``[[deployments]]`` entry with ``discovery = "<method>"``) names a protocol's
own registry contract (a Comptroller, a PoolAddressesProviderRegistry, the Maker Dog or Cat, an EVK
GenericFactory) instead of a list of markets. Its :class:`Method` reads which markets the registry lists:
from the registry's logs (every listing since the registry's start block: markets listed and later
removed are kept, they may hold liquidations from before) and, where the registry has one, from its list
function at the pulled block. :meth:`Method.expand` turns the template and the markets into the
deployments a pull reads. Sources of every registry: ``docs/sources/discovery.md``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from toolkit.chain.calls import StateReader
from toolkit.errors import ToolkitError
from toolkit.protocols.registry import Deployment


class RegistryUnavailable(ToolkitError):
    """A registry contract does not answer at the pulled block (not deployed yet, or the node pruned that
    state): nothing is pulled and the store is not touched."""

    exit_code = 1


@dataclass(frozen=True)
class Market:
    """One market a registry lists: the contract whose logs hold its liquidations.

    :ivar address: the emitter, lower-case (a cToken, an Aave Pool, a Maker auction contract, an EVK vault).
    :ivar found_block: block of the registry log that listed it, or the block at which the registry's
        list function named it (when no log of the scanned range did).
    :ivar how: how it was found, e.g. ``MarketListed log 3 of tx 0x.. in block 123``.
    :ivar name: the deployment name the market is pulled under when each market is a deployment of
        its own (Aave pools); None when the markets share the registry deployment.
    :ivar details: what else the registry said (the Aave addresses provider and its market id).
    """

    address: str
    found_block: int
    how: str
    name: str | None = None
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Candidate:
    """An address a registry listed, before :meth:`Method.resolve` (an Aave provider resolves to its pool)."""

    address: str
    found_block: int
    how: str


@dataclass(frozen=True)
class DiscoveryProblem:
    """A listed address that gives no market (an Aave provider whose ``getPool`` reverts, ...): recorded
    in the run report, the rest goes on."""

    registry: str
    address: str
    reason: str

    def as_dict(self) -> dict[str, str]:
        return {"registry": self.registry, "address": self.address, "reason": self.reason}


class Method(Protocol):
    """One way of reading a registry (``toolkit.protocols.discovery.<module>.METHOD``)."""

    #: The ``discovery`` value of the deployments it reads.
    name: str

    def registry_contracts(self, deployment: Deployment) -> dict[str, str]:
        """Role -> lower-case address of the contracts whose logs and answers list the markets."""

    def topics0(self, deployment: Deployment) -> tuple[str, ...]:
        """topic0 of the registry logs that list markets."""

    def from_logs(self, logs: Sequence[dict[str, Any]], deployment: Deployment) -> list[Candidate]:
        """The addresses listed by registry logs (parsed ``eth_getLogs`` entries, in order)."""

    async def at_block(self, state: StateReader, deployment: Deployment, block: int) -> list[Candidate]:
        """The addresses the registry's list function names at ``block`` (empty when it has none).

        :raises RegistryUnavailable: the registry does not answer at ``block``.
        """

    async def resolve(self, state: StateReader, deployment: Deployment, candidates: Sequence[Candidate],
                      block: int) -> tuple[list[Market], list[DiscoveryProblem]]:
        """The markets of the candidates (reads at ``block`` where a candidate is not the market itself)."""

    def expand(self, deployment: Deployment, markets: Sequence[Market]) -> list[Deployment]:
        """The deployments a pull reads: the template with its markets (pure, no node)."""


def slug(text: str) -> str:
    """A deployment name from free text: lower case, runs of other characters as one ``-``."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def word_address(word: str) -> str | None:
    """The address in a 32-byte hex word (topic or data word), or None when its upper 12 bytes are not zero."""
    body = word[2:] if word.startswith("0x") else word
    if len(body) != 64 or body[:24].strip("0"):
        return None
    return "0x" + body[24:].lower()


def log_place(log: dict[str, Any]) -> tuple[int, str, int]:
    """(block number, transaction hash, log index) of a parsed log (hex quantities or integers)."""
    def number(value: Any) -> int:
        return int(value, 16) if isinstance(value, str) else int(value)
    return number(log["blockNumber"]), str(log["transactionHash"]).lower(), number(log["logIndex"])
