"""Markets and emitters found from the protocols' own registry contracts, up to the block being pulled.

A registry file entry with ``discovery = "<method>"`` is a *template*: it names the registry contract
and the start block, not the markets. Before a pull reads any liquidation log, :func:`discover` reads
each template's registry up to the pull's bound -- its listing logs since the last pull (cached in the
store, table ``discovered_markets``, with the block and the way each market was found) and its list
function at the bound -- and :meth:`Discovery.deployments` gives the deployments to read, each with every
market listed before that bound. A market listed after a first pull is therefore read by the next one
from the template's start block (Aave pools: a deployment of its own) or within the same deployment
(the other methods: a market cannot hold liquidations before it is listed, and it is listed within the
range the next pull reads).

Methods (one module each): ``comptroller`` (Compound v2, Venus), ``aave_registry`` (Aave v2/v3, Spark),
``maker_auctions`` (Maker clippers and flippers from ``Bark``/``Bite``), ``evk_factory`` (Euler v2
vaults). Morpho Blue needs none (one contract emits every market's events; ``CreateMarket`` is read
with them) and Comet markets are listed in the registry file (no on-chain registry of Comets).

A registry that does not answer at the bound raises :class:`RegistryUnavailable` (exit 1) before the
store is opened for writing. ``liqtk decode`` has no node: :func:`expand_offline` expands the templates
with the markets a store has cached.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from toolkit.chain.calls import StateReader
from toolkit.chain.logs import LogFilter, LogReader
from toolkit.chain.logtable import log_dicts
from toolkit.chain.rpc import RpcClient
from toolkit.errors import UserInputError
from toolkit.protocols.discovery import aave_registry, auctions, comptroller, factory
from toolkit.protocols.discovery.model import (Candidate, DiscoveryProblem, Market, Method, RegistryUnavailable,
                                              slug)
from toolkit.protocols.registry import Deployment

#: ``discovery`` value -> method.
METHODS: dict[str, Method] = {method.name: method for method in (
    comptroller.METHOD, aave_registry.METHOD, auctions.METHOD, factory.METHOD)}


def method_of(deployment: Deployment) -> Method:
    """The method a template names (:class:`ValueError` for an unknown one: a registry file error)."""
    try:
        return METHODS[str(deployment.discovery)]
    except KeyError:
        raise ValueError(f"{deployment.protocol}/{deployment.name}: unknown discovery method {deployment.discovery!r}; "
                         f"known: {', '.join(sorted(METHODS))}") from None


@dataclass
class Cached:
    """What a store knows of one template: its markets and the last block whose registry logs were read."""

    markets: dict[str, Market] = field(default_factory=dict)
    scanned_to: int | None = None


#: Cache key of a template: (protocol, template name).
Key = tuple[str, str]


@dataclass
class RegistryResult:
    """One template after :func:`discover`."""

    template: Deployment
    markets: list[Market]
    new: list[Market]
    #: Blocks whose registry logs this run read (inclusive), None when none.
    scanned: tuple[int, int] | None
    scanned_to: int
    problems: list[DiscoveryProblem]

    @property
    def key(self) -> Key:
        return self.template.protocol, self.template.name

    def report(self) -> dict[str, Any]:
        """This template's part of the run report."""
        return {"protocol": self.template.protocol, "registry": self.template.name, "method": self.template.discovery,
                "markets": len(self.markets), "new": [{"market": m.address, "name": m.name, "found_block": m.found_block,
                                                       "how": m.how} for m in self.new],
                "logs_read": list(self.scanned) if self.scanned else None,
                "problems": [problem.as_dict() for problem in self.problems]}


@dataclass
class Discovery:
    """What :func:`discover` found: the deployments to read up to :attr:`bound`."""

    chain_id: int
    bound: int
    results: list[RegistryResult]
    #: Requested deployments without discovery, as they are.
    static: list[Deployment]
    #: Every requested deployment in registry order: templates are expanded in place.
    order: list[Deployment]

    def deployments(self, name: str | None = None) -> list[Deployment]:
        """The deployments to read, in registry order: static ones, and the templates' expansions that have
        at least one emitter (an empty one would read every contract's logs); only ``name`` when given."""
        by_template = {result.key: result for result in self.results}
        out: list[Deployment] = []
        for deployment in self.order:
            result = by_template.get((deployment.protocol, deployment.name)) if deployment.discovery else None
            expanded = [deployment] if result is None else [
                d for d in method_of(deployment).expand(deployment, result.markets) if d.emitters]
            out.extend(d for d in expanded if name is None or d.name == name)
        return out

    def named(self, chain: str, protocol: str, name: str | None, address: str | None, *,
              required: bool = False) -> list[Deployment]:
        """:meth:`deployments` of a request (``name`` is ignored with ``address``: a custom deployment);
        :class:`UserInputError` when ``name`` (or, ``required``, anything) was asked and none is found."""
        found = self.deployments(None if address else name)
        if not found and (required or (name and not address)):
            raise UserInputError(f"no {protocol} market {name!r} on {chain} in the registry or among the markets "
                                 "its registry contracts list; run `liqtk protocols`")
        return found

    def discovered_emitters(self) -> frozenset[str]:
        """Every market address found by discovery (their undecodable logs are recorded, not fatal)."""
        return frozenset(m.address for result in self.results for m in result.markets)

    def report(self) -> list[dict[str, Any]]:
        return [result.report() for result in self.results]


async def discover(deployments: Sequence[Deployment], client: RpcClient, *, chain_id: int, bound: int,
                   cached: Mapping[Key, Cached], from_block: int | None = None) -> Discovery:
    """Read the registries of the templates among ``deployments`` up to ``bound`` (see the module docstring):
    the listing logs after the last block a store read (``cached``), else from the template's start block or
    ``from_block`` when that is earlier (a pull from an earlier block reads the registry from there too).

    :raises RegistryUnavailable: a registry does not answer at ``bound``.
    """
    state = StateReader(client)
    results = []
    for template in (d for d in deployments if d.discovery):
        method = method_of(template)
        known = cached.get((template.protocol, template.name), Cached())
        listed = await method.at_block(state, template, bound)  # first: it checks that the registry answers
        start = (min(template.start_block, from_block if from_block is not None else template.start_block)
                 if known.scanned_to is None else known.scanned_to + 1)
        logs = await _registry_logs(client, method, template, start, bound) if start <= bound else []
        candidates = _earliest([*method.from_logs(logs, template), *listed])
        resolved = {m.details.get("addresses_provider", m.address) for m in known.markets.values()}
        fresh = [c for c in candidates if c.address not in resolved]
        markets, problems = await method.resolve(state, template, fresh, bound)
        new = [m for m in markets if m.address not in known.markets]
        results.append(RegistryResult(template, [*known.markets.values(), *new], new,
                                      (start, bound) if start <= bound else None, max(bound, known.scanned_to or -1),
                                      problems))
    return Discovery(chain_id, bound, results, [d for d in deployments if not d.discovery], list(deployments))


async def _registry_logs(client: RpcClient, method: Method, template: Deployment, start: int,
                         bound: int) -> list[dict[str, Any]]:
    """The registry's listing logs in ``[start, bound]``, in order."""
    log_filter = LogFilter(addresses=tuple(sorted(set(method.registry_contracts(template).values()))),
                           topics0=method.topics0(template))
    logs: list[dict[str, Any]] = []
    async for chunk in LogReader(client).iter_chunks(log_filter, start, bound + 1):
        logs.extend(log_dicts(chunk.logs))
    return logs


def _earliest(candidates: Iterable[Candidate]) -> list[Candidate]:
    """One candidate per address: the one found at the earliest block (a log before a list call)."""
    first: dict[str, Candidate] = {}
    for candidate in candidates:
        if candidate.address not in first or candidate.found_block < first[candidate.address].found_block:
            first[candidate.address] = candidate
    return sorted(first.values(), key=lambda c: (c.found_block, c.address))


def labelled_markets(template: Deployment) -> list[Market]:
    """The pools a template names itself (``params.pool_names``), as markets for offline decoding."""
    return [Market(address.lower(), 0, "named in the registry file (params.pool_names)", name=name)
            for address, name in template.params.get("pool_names", {}).items()]


def expand_offline(deployments: Iterable[Deployment], cached: Mapping[Key, Cached]) -> list[Deployment]:
    """Deployments for decoding without a node: each template expanded with the markets a store cached
    (``cached``, may be empty) and the pools it names itself; static deployments as they are."""
    out: list[Deployment] = []
    for deployment in deployments:
        if not deployment.discovery:
            out.append(deployment)
            continue
        markets = {m.address: m for m in labelled_markets(deployment)}
        markets.update(cached.get((deployment.protocol, deployment.name), Cached()).markets)
        out.extend(method_of(deployment).expand(deployment, list(markets.values())))
    return out




def set_aside(rows: list[dict[str, Any]], logs: Sequence[dict[str, Any]],
              discovered: frozenset[str]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Split a chunk's decoded rows: the error records of logs emitted by a discovered market (a contract
    the registry lists whose log the adapter cannot decode: recorded in the run report, the pull goes on),
    and the rest (rows, and error records of other emitters, which stop the pull as before).

    ``logs`` are the chunk's parsed logs (the emitter of an error record is looked up by its position).
    """
    if not discovered or not any("error" in row for row in rows):
        return rows, []

    def place(tx_hash: Any, index: Any) -> tuple[str, int] | None:
        try:
            return str(tx_hash).lower(), int(index, 16) if isinstance(index, str) else int(index)
        except (TypeError, ValueError):
            return None

    emitters = {place(log.get("transactionHash"), log.get("logIndex")): str(log.get("address", "")).lower()
                for log in logs if isinstance(log, dict)}
    kept, aside = [], []
    for row in rows:
        emitter = emitters.get(place(row.get("tx_hash"), row.get("log_index"))) if "error" in row else None
        if emitter in discovered:
            aside.append({"emitter": emitter, "tx_hash": row.get("tx_hash"), "log_index": row.get("log_index"),
                          "error": row["error"]})
        else:
            kept.append(row)
    return kept, aside


__all__ = ["Cached", "Discovery", "Market", "METHODS", "RegistryResult", "RegistryUnavailable", "discover",
           "expand_offline", "labelled_markets", "method_of", "set_aside", "slug"]
