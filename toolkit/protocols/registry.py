"""The registry of chains and protocol deployments, loaded from ``deployments/*.toml`` (data, not code).

``deployments/chains.toml`` names the chains; every other file holds the ``[[deployments]]`` of one
protocol family (``aave.toml``, ...). Adding a chain or a protocol is adding data there. Layers above
the core add files of their own with :func:`register_file` (:mod:`toolkit._registry_files`: the local
chain's deployments live in ``toolkit/devchain/deployments.toml`` and are added, by path, when ``toolkit``
is imported; the core never imports the local chain).

A :class:`Deployment` names one market of one protocol on one chain: the contracts whose logs hold
its liquidations, the first block to scan, adapter parameters, and the source of every address. An
entry with ``discovery = "<method>"`` names the protocol's registry contract instead of its markets: a
template that :mod:`toolkit.protocols.discovery` fills from the chain at the pulled block.
``--address`` on the CLI builds a custom deployment for forks and private deployments.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field, replace
from functools import cache
from pathlib import Path
from typing import Any

from toolkit import _registry_files
from toolkit.errors import UserInputError

REGISTRY_DIR = Path(__file__).with_name("deployments")
#: A 20-byte address in hex, ``0x`` optional, any case (what ``eth_utils.is_address`` accepts).
_HEX_ADDRESS = re.compile(r"(?:0x)?([0-9a-f]{40})", re.IGNORECASE | re.ASCII)


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
    #: Contract role -> address, or a list of addresses (e.g. every cToken market).
    contracts: dict[str, str | list[str]] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    source: str = ""
    #: The discovery method of a template (``comptroller``, ``aave_registry``, ``maker_auctions``,
    #: ``evk_factory``: :mod:`toolkit.protocols.discovery`), None for a deployment listing its emitters.
    discovery: str | None = None

    @property
    def emitter_roles(self) -> tuple[str, ...]:
        """Roles in :attr:`contracts` whose logs hold liquidation events (``params.emitter_roles``,
        default ``["pool"]``); the first one is what ``--address`` replaces."""
        return tuple(self.params.get("emitter_roles", ["pool"]))

    @property
    def emitters(self) -> tuple[str, ...]:
        """Lower-case addresses whose logs hold this deployment's liquidation events."""
        found: set[str] = set()
        for role in self.emitter_roles:
            value = self.contracts.get(role, [])  # a template's discovered roles are filled from the chain
            found.update(a.lower() for a in ([value] if isinstance(value, str) else value))
        return tuple(sorted(found))

    def address(self, role: str) -> str:
        """The single address of ``role`` (lower-case)."""
        value = self.contracts[role]
        if not isinstance(value, str):
            raise TypeError(f"{self.protocol}/{self.name} role {role} holds several addresses")
        return value.lower()

    def with_address(self, address: str) -> "Deployment":
        """The same protocol at another address (``--address``): a fork or a private deployment.

        ``address`` replaces the first emitter role (the Aave Pool, the Comet proxy, ...).
        """
        checksum = _checksum_address(address)
        return replace(self, name="custom", contracts={**self.contracts, self.emitter_roles[0]: checksum},
                       start_block=0, source=f"user-supplied --address {checksum}", discovery=None)


def _checksum_address(address: str) -> str:
    """``--address`` in its EIP-55 checksum form (https://eips.ethereum.org/EIPS/eip-55): a letter of the
    lower-case hex digits is upper-cased where the same nibble of the Keccak-256 hash of those digits (as
    ASCII text) is 8 or more.

    An all-lower or all-upper-case address carries no checksum; a mixed-case one must match its checksum
    (a wrong case is a mistyped digit). Keccak comes from eth_hash, imported here: eth_utils would add ~40 ms
    to the start of every ``liqtk pull --address``.
    """
    match = _HEX_ADDRESS.fullmatch(address)
    if match is None:
        raise UserInputError(f"--address {address!r} is not a 20-byte hex address; pass 0x followed by 40 hex digits")
    from eth_hash.auto import keccak

    digits = match.group(1)
    lower = digits.lower()
    nibbles = keccak(lower.encode("ascii")).hex()[:40]
    checksum = "".join(digit.upper() if int(nibble, 16) >= 8 else digit
                       for digit, nibble in zip(lower, nibbles, strict=True))
    if digits not in (lower, digits.upper(), checksum):
        raise UserInputError(f"--address {address!r} fails its EIP-55 checksum (mixed case); check the digits, "
                             "or pass the address in lower case")
    return "0x" + checksum


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
                 and (name is None or d.name == name or name in d.params.get("pool_names", {}).values())]
        if not found and name is not None:
            # a market a template discovers: the caller filters the expanded deployments by name
            found = [d for d in self.deployments if d.chain.name == chain and d.protocol == protocol and d.discovery]
        if not found:
            where = f"{protocol} market {name!r}" if name else protocol
            raise UserInputError(
                f"no {where} deployment on {chain} in the registry; pass --address 0x.. for a custom deployment"
            )
        return found

    def requested(self, chain: str, protocol: str, name: str | None = None,
                  address: str | None = None) -> list[Deployment]:
        """The entries a pull or a snapshot request names: :meth:`find` of ``name``, or with ``address`` one
        custom deployment made from the protocol's first entry (``--address``). Templates among them are
        expanded by :func:`toolkit.protocols.discovery.discover` (then :meth:`Discovery.named`)."""
        found = self.find(chain, protocol, name if not address else None)
        return [found[0].with_address(address)] if address else found


def _parse(chains_raw: dict[str, Any], deployments_raw: list[dict[str, Any]]) -> Registry:
    chains = {name: Chain(name=name, **values) for name, values in chains_raw.items()}
    deployments = tuple(
        Deployment(chain=chains[d["chain"]], **{k: v for k, v in d.items() if k != "chain"})
        for d in deployments_raw
    )
    return Registry(chains, deployments)


def register_file(path: Path) -> None:
    """Add a registry file (chains and deployments in the format of ``deployments/*.toml``) to
    :func:`registry` (:mod:`toolkit._registry_files`); adding the same file again does nothing."""
    _registry_files.add(path)


def registry() -> Registry:
    """The registry from the files in :data:`REGISTRY_DIR` and the files layers above the core added
    (:mod:`toolkit._registry_files`: the local chain's), each set parsed once."""
    return _load(tuple(_registry_files.EXTRA))


@cache
def _load(extra: tuple[Path, ...]) -> Registry:
    chains: dict[str, Any] = {}
    deployments: list[dict[str, Any]] = []
    for path in [*sorted(REGISTRY_DIR.glob("*.toml")), *extra]:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
        chains.update(data.get("chains", {}))
        deployments.extend(data.get("deployments", []))
    return _parse(chains, deployments)
