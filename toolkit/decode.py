"""Raw logs to normalized rows without a node (``liqtk decode``).

Input: an ``eth_getLogs`` result array, a JSON-RPC response wrapping one, JSON lines of log
objects, or ``eth_getTransactionReceipt`` results (their ``logs`` are expanded). Each log is matched
to a deployment of the registry by its emitter and topic0 (``--protocol`` forces a protocol for
forks and unknown emitters) and decoded by that protocol's adapter. State columns stay null.

A malformed or unknown log never stops the run: it yields an error record
``{"error": reason, "tx_hash", "log_index"}`` (with the ``input`` position when the log matched no
deployment) and the other logs are decoded. Logs are decoded per deployment, all logs of one
deployment together, so multi-event liquidations are joined; rows of each deployment come out in
input order after the error records of unmatched logs.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from toolkit.abi import LogDecodeError, event_catalogue
from toolkit.errors import UserInputError
from toolkit.protocols import adapter_for, registry
from toolkit.protocols.base import error_record
from toolkit.protocols.registry import Deployment
from toolkit.store.schema import LIQUIDATION_COLUMNS


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


def _deployment_for(log: dict[str, Any], protocol: str | None, chain: str | None) -> Deployment:
    topics, address = log.get("topics"), log.get("address")
    if not isinstance(topics, list) or not all(isinstance(t, str) for t in topics):
        raise LogDecodeError(f"log field topics is not a list of hex strings: {str(topics)[:40]!r}")
    if not isinstance(address, str):
        raise LogDecodeError(f"log field address is not a hex string: {str(address)[:40]!r}")
    emitter = address.lower()
    topic0 = topics[0].lower() if topics else None
    candidates = [d for d in registry().deployments
                  if (chain is None or d.chain.name == chain) and (protocol is None or d.protocol == protocol)]
    emitting = [d for d in candidates if topic0 in adapter_for(d).topics0(d)]
    # exact emitter matches first; a deployment without an emitter list accepts any emitter and
    # checks it itself with state reads (Euler v2 vaults are verified through their factory)
    matches = [d for d in emitting if emitter in d.emitters] or [d for d in emitting if not d.emitters]
    chains = sorted({d.chain.name for d in matches})
    if len(chains) > 1:
        raise LogDecodeError(
            f"{emitter} is a registered emitter on several chains ({', '.join(chains)}); pass --chain to say which"
        )
    if matches:
        return matches[0]
    if protocol is not None:
        deployment = candidates[0] if candidates else registry().find(chain or "ethereum", protocol)[0]
        return deployment.with_address(emitter) if emitter not in deployment.emitters else deployment
    known = event_catalogue().get(topic0 or "")
    if known is not None:
        path, spec = known
        raise LogDecodeError(
            f"{spec.name} from {emitter} (abis/{path}) is a known event, but no registered deployment "
            "with an adapter emits it; pass --protocol to decode it as that protocol"
        )
    raise LogDecodeError(
        f"unknown emitter {emitter or '(none)'} with topic0 {topic0 or '(none)'}: no registered deployment "
        "emits it; pass --protocol to decode it as that protocol"
    )


def decode_logs(text: str, *, protocol: str | None = None, chain: str | None = None) -> Iterator[dict[str, Any]]:
    """Normalized rows (all schema columns, state columns null) and error records for ``text``."""
    if protocol is not None and protocol not in registry().protocols():
        raise UserInputError(
            f"unknown protocol {protocol!r}; known protocols: {', '.join(registry().protocols())}"
        )
    if chain is not None:
        registry().chain(chain)
    empty = {c.name: None for c in LIQUIDATION_COLUMNS}
    groups: dict[tuple[str, ...], tuple[Deployment, list[dict[str, Any]]]] = {}
    for position, log in iter_input_logs(text):
        try:
            if isinstance(log, Exception):
                raise log
            if not isinstance(log, dict):
                raise LogDecodeError("not a log object")
            deployment = _deployment_for(log, protocol, chain)
            key = (deployment.chain.name, deployment.protocol, deployment.name, *deployment.emitters)
            groups.setdefault(key, (deployment, []))[1].append(log)
        except LogDecodeError as exc:
            yield {"input": position, **error_record(log, str(exc))}
    for deployment, logs in groups.values():
        for row in adapter_for(deployment).decode_logs(logs, deployment):
            yield row if "error" in row else {**empty, **row}
