"""Maker auction contracts from the liquidation events that start their auctions (``discovery = "maker_auctions"``).

A Maker liquidation names its auction contract (docs/sources/discovery.md#maker-dog-and-cat):
``Dog.Bark(ilk, urn, ink, art, due, clip, id)`` (Liquidations 2.0, role ``dog``) and
``Cat.Bite(ilk, urn, ink, art, tab, flip, id)`` (1.x, roles ``cat_v1`` and ``cat_v2``). Every auction's
logs (``Kick``, ``Take``, ``Redo``, ``Yank``; Flipper ``Kick``, ``tend``, ``dent``, ``deal``, ``yank``) come
from that contract and only after the ``Bark``/``Bite`` that kicked it, so the contracts named by the
liquidations up to the pulled block are all the auction contracts a pull of that range needs: they fill
``clippers`` (2.0) or ``flippers`` (1.x). The Dog and Cats have no list function: at the pulled block the Dog,
or one of the Cats, must have code.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from toolkit.abi import LogDecodeError, load_abi
from toolkit.chain.calls import StateReader
from toolkit.protocols.discovery.calls import require_code
from toolkit.protocols.discovery.comptroller import fill_role
from toolkit.protocols.discovery.model import Candidate, DiscoveryProblem, Market, RegistryUnavailable, log_place
from toolkit.protocols.registry import Deployment

BARK = load_abi("maker/Dog.json").event("Bark")
BITE = load_abi("maker/Cat.json").event("Bite")
#: params.liquidations -> (registry roles, liquidation event, its auction-contract field, the role it fills).
SYSTEMS = {"2.0": (("dog",), BARK, "clip", "clippers"), "1.x": (("cat_v1", "cat_v2"), BITE, "flip", "flippers")}


def _system(deployment: Deployment) -> tuple[tuple[str, ...], Any, str, str]:
    return SYSTEMS[str(deployment.params.get("liquidations"))]


class MakerAuctionsMethod:
    """:class:`~toolkit.protocols.discovery.model.Method` of ``discovery = "maker_auctions"``."""

    name = "maker_auctions"

    def registry_contracts(self, deployment: Deployment) -> dict[str, str]:
        return {role: deployment.address(role) for role in _system(deployment)[0]}

    def topics0(self, deployment: Deployment) -> tuple[str, ...]:
        return (_system(deployment)[1].topic0,)

    def from_logs(self, logs: Sequence[dict[str, Any]], deployment: Deployment) -> list[Candidate]:
        _, event, field, _ = _system(deployment)
        found = []
        for log in logs:
            try:
                contract = event.decode(log["topics"], log["data"])[field]
            except LogDecodeError:
                continue  # the pull reads the same log and reports it
            block, tx, index = log_place(log)
            found.append(Candidate(contract, block, f"{event.name} log {index} of tx {tx} in block {block} "
                                                    f"({field})"))
        return found

    async def at_block(self, state: StateReader, deployment: Deployment, block: int) -> list[Candidate]:
        """Checks that the Dog (2.0), or at least one Cat (1.x: Cat v2 replaced Cat v1, so before its deployment
        only Cat v1 exists), has code at ``block``."""
        unavailable: list[RegistryUnavailable] = []
        for role, address in self.registry_contracts(deployment).items():
            try:
                await require_code(state, block, address, f"the Maker {role} of {deployment.protocol}/{deployment.name}")
            except RegistryUnavailable as exc:
                unavailable.append(exc)
        if len(unavailable) == len(self.registry_contracts(deployment)):
            raise unavailable[0]
        return []

    async def resolve(self, state: StateReader, deployment: Deployment, candidates: Sequence[Candidate],
                      block: int) -> tuple[list[Market], list[DiscoveryProblem]]:
        return [Market(c.address, c.found_block, c.how) for c in candidates], []

    def expand(self, deployment: Deployment, markets: Sequence[Market]) -> list[Deployment]:
        return [fill_role(deployment, _system(deployment)[3], markets)]


METHOD = MakerAuctionsMethod()
