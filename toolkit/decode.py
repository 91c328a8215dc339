"""Raw logs to normalized rows without a node (``liqtk decode``).

Input: an ``eth_getLogs`` result array, a JSON-RPC response wrapping one, JSON lines of log
objects, or ``eth_getTransactionReceipt`` results (their ``logs`` are expanded). Each log is matched
to a deployment by its emitter and topic0 -- the registry's deployments, the pools its templates name,
and the markets a store's pulls discovered from the registry contracts (``--store``; there is no node
here) -- and decoded by that protocol's adapter; ``--protocol`` forces a protocol for forks and unknown
emitters. State columns stay null; ``liqtk decode`` prints ``event_args`` as a JSON object.

A malformed or unknown log never stops the run: it yields an error record
``{"error": reason, "tx_hash", "log_index"}`` (with the ``input`` position when the log matched no
deployment) and the other logs are decoded. Logs are decoded per deployment, all logs of one
deployment together, so multi-event liquidations are joined; rows of each deployment come out in
input order after the error records of unmatched logs.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from toolkit.abi import LogDecodeError, event_catalogue
from toolkit.errors import UserInputError
from toolkit.protocols import adapter_for, registry
from toolkit.protocols.base import error_record
from toolkit.protocols.discovery import expand_offline
from toolkit.protocols.registry import Deployment
from toolkit.store import discovered
from toolkit.store.schema import LIQUIDATION_COLUMNS

if TYPE_CHECKING:
    from toolkit.store.db import Store


def input_text(data: bytes, name: str) -> str:
    """The text of an input file (``name`` in messages): UTF-8 and not empty, else :class:`UserInputError`."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UserInputError(f"{name}: not UTF-8 text (byte {exc.start}: {exc.reason}); pass a file of JSON logs "
                             "(an eth_getLogs array, JSON lines or receipts)") from None
    if not text.strip():
        raise UserInputError(f"{name} is empty; pass a file of JSON logs (an eth_getLogs array, JSON lines or "
                             "receipts)")
    return text


def iter_input_logs(text: str) -> Iterator[tuple[str, Any]]:
    """``(position, item)`` for every log in ``text``; unparseable lines come back as an Exception. JSON nested
    deeper than Python's parser goes is refused (:class:`UserInputError`): no log is that deep."""
    try:
        yield from _iter_input_logs(text)
    except RecursionError:
        raise UserInputError("the input nests JSON too deeply to be logs (hundreds of levels); pass an eth_getLogs "
                             "array, JSON lines or receipts") from None


def _iter_input_logs(text: str) -> Iterator[tuple[str, Any]]:
    try:
        document = json.loads(text)
    except json.JSONDecodeError:
        document = None
    else:
        yield from _expand("$", document)
        return
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as exc:
            yield f"line {number}", LogDecodeError(f"not JSON ({exc.msg})")
            continue
        yield from _expand(f"line {number}", item)


def _expand(position: str, item: Any) -> Iterator[tuple[str, Any]]:
    if isinstance(item, list):
        for k, element in enumerate(item):
            yield from _expand(f"{position}[{k}]", element)
    elif isinstance(item, dict) and "result" in item and ("jsonrpc" in item or "id" in item):
        yield from _expand(f"{position}.result", item["result"])
    elif isinstance(item, dict) and isinstance(item.get("receipt"), dict):
        yield from _expand(f"{position}.receipt", item["receipt"])
    elif isinstance(item, dict) and isinstance(item.get("logs"), list):
        for k, log in enumerate(item["logs"]):
            yield f"{position}.logs[{k}]", log
    else:
        yield position, item


class _Candidates:
    """The deployments logs are matched against: the registry's, its templates expanded with the pools they
    name and the markets a store discovered (:func:`toolkit.protocols.discovery.expand_offline`)."""

    def __init__(self, protocol: str | None, chain: str | None, store: Store | None) -> None:
        entries = [d for d in registry().deployments
                   if (chain is None or d.chain.name == chain) and (protocol is None or d.protocol == protocol)]
        caches = {chain_id: discovered.load(store, chain_id)
                  for chain_id in sorted({d.chain.chain_id for d in entries if d.discovery})}
        self.deployments = [expanded for d in entries
                            for expanded in expand_offline([d], caches.get(d.chain.chain_id, {}))]
        self.cached_markets = sum(len(c.markets) for cache in caches.values() for c in cache.values())
        self.store = store
        self._topics = [(d, adapter_for(d).topics0(d)) for d in self.deployments]

    def emitting(self, topic0: str | None) -> list[Deployment]:
        return [d for d, topics in self._topics if topic0 in topics]

    def tried(self) -> str:
        """What was searched, for the message of a log no deployment emits."""
        where = (f"{self.cached_markets} markets discovered in store {self.store.path}" if self.store is not None
                 else "no store (pass --store to use the markets a pull discovered)")
        return f"tried {len(self.deployments)} deployments of the registry and {where}"


def _deployment_for(log: dict[str, Any], protocol: str | None, chain: str | None,
                    candidates: _Candidates | None = None) -> Deployment:
    candidates = candidates or _Candidates(protocol, chain, None)
    topics, address = log.get("topics"), log.get("address")
    if not isinstance(topics, list) or not all(isinstance(t, str) for t in topics):
        raise LogDecodeError(f"log field topics is not a list of hex strings: {str(topics)[:40]!r}")
    if not isinstance(address, str):
        raise LogDecodeError(f"log field address is not a hex string: {str(address)[:40]!r}")
    emitter = address.lower()
    topic0 = topics[0].lower() if topics else None
    emitting = candidates.emitting(topic0)
    # exact emitter matches first; a deployment with an empty emitter list (not a template waiting for
    # its markets) accepts any emitter and checks it itself with state reads
    matches = [d for d in emitting if emitter in d.emitters] or [
        d for d in emitting if not d.emitters and not d.discovery]
    chains = sorted({d.chain.name for d in matches})
    if len(chains) > 1:
        raise LogDecodeError(
            f"{emitter} is a registered emitter on several chains ({', '.join(chains)}); pass --chain to say which"
        )
    if matches:
        return matches[0]
    if protocol is not None:
        deployment = (emitting or candidates.deployments or registry().find(chain or "ethereum", protocol))[0]
        return deployment.with_address(emitter) if emitter not in deployment.emitters else deployment
    known = event_catalogue().get(topic0 or "")
    protocols = sorted({d.protocol for d in emitting})
    hint = f"pass --protocol ({' or '.join(protocols)}) to decode it as that protocol" if protocols else (
        "pass --protocol to decode it as that protocol")
    what = f"{known[1].name} (abis/{known[0]}), a known event" if known else f"topic0 {topic0 or '(none)'}"
    raise LogDecodeError(f"unknown emitter {emitter or '(none)'} for {what}: no registered or discovered market "
                         f"emits it ({candidates.tried()}); {hint}")


def decode_logs(text: str, *, protocol: str | None = None, chain: str | None = None,
                store: Store | None = None) -> Iterator[dict[str, Any]]:
    """Normalized rows (all schema columns, state columns null, ``event_args`` the JSON text of the store) and
    error records for ``text``; ``store`` gives the markets its pulls discovered."""
    if protocol is not None and protocol not in registry().protocols():
        raise UserInputError(
            f"unknown protocol {protocol!r}; known protocols: {', '.join(registry().protocols())}"
        )
    if chain is not None:
        registry().chain(chain)
    empty = {c.name: None for c in LIQUIDATION_COLUMNS}
    candidates = _Candidates(protocol, chain, store)
    groups: dict[tuple[str, ...], tuple[Deployment, list[dict[str, Any]]]] = {}
    for position, log in iter_input_logs(text):
        try:
            if isinstance(log, Exception):
                raise log
            if not isinstance(log, dict):
                raise LogDecodeError("not a log object")
            deployment = _deployment_for(log, protocol, chain, candidates)
            key = (deployment.chain.name, deployment.protocol, deployment.name, *deployment.emitters)
            groups.setdefault(key, (deployment, []))[1].append(log)
        except LogDecodeError as exc:
            yield {"input": position, **error_record(log, str(exc))}
    for deployment, logs in groups.values():
        for row in adapter_for(deployment).decode_logs(logs, deployment):
            yield row if "error" in row else {**empty, **row}
