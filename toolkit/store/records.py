"""What the store hands out and takes besides rows: a deployment's checkpoint, and which liquidations to read."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime

from toolkit.store import schema


@dataclass(frozen=True)
class Checkpoint:
    """How far one deployment has been pulled: every log in ``[first_block, last_block]`` is stored."""

    chain_id: int
    protocol: str
    deployment: str
    #: First block of the stored range.
    first_block: int
    #: Last block (inclusive) whose logs are all stored.
    last_block: int
    #: Hash of ``last_block`` when it was stored (compared with the node to detect reorgs).
    last_block_hash: str | None
    #: Run that wrote this checkpoint.
    run_id: str | None
    #: When it was written (UTC).
    updated_at: datetime


@dataclass(frozen=True)
class LiquidationFilter:
    """Which liquidations to read; every field is optional, block bounds are inclusive."""

    chain_id: int | None = None
    protocol: str | None = None
    deployment: str | None = None
    from_block: int | None = None
    to_block: int | None = None

    def as_dict(self) -> dict[str, int | str]:
        """The filters that are set (recorded in export manifests)."""
        return {key: value for key, value in asdict(self).items() if value is not None}

    def where(self, *, blocks: bool = True) -> tuple[str, list[int | str]]:
        """``WHERE`` clause (empty when nothing is set) and its parameters, for a table with
        ``chain_id``, ``protocol``, ``deployment`` and, when ``blocks``, ``block_number`` columns."""
        conditions: list[str] = []
        params: list[int | str] = []
        for key, condition in (("chain_id", "chain_id = ?"), ("protocol", "protocol = ?"),
                               ("deployment", "deployment = ?"), ("from_block", "block_number >= ?"),
                               ("to_block", "block_number <= ?")):
            value = getattr(self, key)
            if value is not None and (blocks or not key.endswith("_block")):
                conditions.append(condition)
                params.append(value)
        return (f"WHERE {' AND '.join(conditions)}" if conditions else ""), params

    def select_sql(self) -> tuple[str, list[int | str]]:
        """``SELECT`` of the matching liquidations in canonical order (schema.LIQUIDATION_ORDER), and its parameters."""
        where, params = self.where()
        names = ", ".join(c.name for c in schema.LIQUIDATION_COLUMNS)
        return f"SELECT {names} FROM liquidations {where} ORDER BY {', '.join(schema.LIQUIDATION_ORDER)}", params
