"""Shared steps of adapters whose one liquidation spans several events of a transaction
(Comet ``AbsorbDebt`` + ``AbsorbCollateral``, Liquity ``Liquidation`` + per-trove events, Euler v2
``Liquidate`` + ``DebtSocialized``): decode every log of a chunk first, then join them per transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from toolkit.abi import EventSpec, LogDecodeError
from toolkit.protocols.base import error_record, log_identity
from toolkit.protocols.registry import Deployment


@dataclass(frozen=True)
class DecodedLog:
    """One log that decoded: its identity columns, event and values."""

    identity: dict[str, Any]
    event: EventSpec
    values: dict[str, Any]


def decode_events(logs: list[dict[str, Any]], deployment: Deployment, events: Sequence[EventSpec]
                  ) -> tuple[list[DecodedLog], list[dict[str, Any]], set[str]]:
    """First pass of the multi-event adapters (Comet, Liquity, Euler v2): decode every log as one of
    ``events``, or an error record with the reason.

    A log is refused when its emitter is not one of the deployment's (an empty emitter list accepts
    any emitter; the adapter then verifies it with state reads), when it is anonymous or its topic0 is
    none of ``events``, or when its topics or data do not fit the event. Returns the decoded logs in
    order, the error records and the transactions that had a log refused (their joined rows are
    marked incomplete, see :func:`mark_incomplete`: a leg of them may be missing).
    """
    by_topic = {spec.topic0: spec for spec in events}
    emitters = set(deployment.emitters)
    decoded: list[DecodedLog] = []
    errors: list[dict[str, Any]] = []
    failed: set[str] = set()
    for log in logs:
        try:
            identity = log_identity(log, deployment)
            if emitters and identity["emitter"] not in emitters:
                raise LogDecodeError(f"emitter {identity['emitter']} is not a contract of {deployment.protocol}/"
                                     f"{deployment.name} ({', '.join(sorted(emitters))})")
            topics = log["topics"]
            if not isinstance(topics, list) or not all(isinstance(t, str) for t in topics):
                raise LogDecodeError("log topics are not a list of hex strings")
            if not topics:
                raise LogDecodeError("anonymous log (no topics) is not a "
                                     f"{'/'.join(spec.name for spec in events)} event")
            spec = by_topic.get(str(topics[0]).lower())
            if spec is None:
                raise LogDecodeError(f"topic0 {str(topics[0])[:66]} is not one of "
                                     f"{', '.join(spec.name for spec in events)}")
            decoded.append(DecodedLog(identity, spec, spec.decode(topics, log["data"])))
        except LogDecodeError as exc:
            errors.append(error_record(log, str(exc)))
            if isinstance(log, dict) and log.get("transactionHash"):
                failed.add(str(log["transactionHash"]).lower())
    return decoded, errors, failed


def mark_incomplete(rows: list[dict[str, Any]], failed: set[str], what: str) -> None:
    """Flag the rows of transactions with a refused log: ``what`` may be missing from their join, so their
    bad debt is unknown (null) rather than a number computed without it."""
    for row in rows:
        if row["tx_hash"] in failed and row["incomplete_reason"] is None:
            row.update(incomplete_reason=f"another log of this transaction did not decode; {what} may be missing",
                       bad_debt_raw=None)


def allocate(total: int, weights: Sequence[int]) -> list[int]:
    """Split the integer ``total`` in proportion to ``weights`` so the parts add up to ``total`` exactly:
    floor shares, then one unit each to the largest remainders (earlier first on ties). All-zero
    weights count as equal."""
    if not weights:
        return []
    if sum(weights) == 0:
        weights = [1] * len(weights)
    whole = sum(weights)
    parts = [total * w // whole for w in weights]
    order = sorted(range(len(weights)), key=lambda k: (-(total * weights[k] % whole), k))
    for k in order[:total - sum(parts)]:
        parts[k] += 1
    return parts
