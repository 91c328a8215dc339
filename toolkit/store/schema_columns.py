"""A store column's description (type, unit, source, meaning), shared by :mod:`toolkit.store.schema` and the
modules that define the tables (:mod:`toolkit.store.liquidation_schema`, :mod:`toolkit.store.cex_schema`, ...)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Column:
    """One column: DuckDB type, unit (or ``-``), where the value comes from, and what it means."""

    name: str
    sql_type: str
    unit: str
    source: str
    description: str
    #: True when the value needs ``eth_call`` state reads (null in ``liqtk decode`` and with ``--no-state``).
    needs_state: bool = False


def col(name: str, sql_type: str, unit: str, source: str, description: str, state: bool = False) -> Column:
    return Column(name, sql_type, unit, source, description, state)
