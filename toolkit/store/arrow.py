"""The column contract in Arrow terms: types, tables built from columns or rows, and pandas frames.

Rows travel from the protocol adapters to DuckDB as one :class:`pyarrow.Table` per chunk (DuckDB
scans Arrow tables directly, which is far faster than row-by-row inserts), built from the adapters'
columns (``{column: values}``, no dict per row) or from row dicts, and come back from DuckDB
as Arrow before they become pandas frames, so every conversion goes through the types defined here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc

from toolkit.store.schema import Column

if TYPE_CHECKING:
    import pandas as pd

#: Arrow type of each DuckDB type used in :mod:`toolkit.store.schema`. TIMESTAMPTZ is microseconds,
#: UTC (DuckDB's own resolution).
ARROW_TYPES: dict[str, pa.DataType] = {
    "BIGINT": pa.int64(),
    "INTEGER": pa.int32(),
    "DOUBLE": pa.float64(),
    "VARCHAR": pa.string(),
    "BOOLEAN": pa.bool_(),
    "TIMESTAMPTZ": pa.timestamp("us", tz="UTC"),
}


def arrow_schema(columns: Sequence[Column]) -> pa.Schema:
    """Arrow schema of a table with these columns, in this order."""
    return pa.schema([pa.field(c.name, ARROW_TYPES[c.sql_type]) for c in columns])


def utc_timestamp(value: Any) -> datetime | None:
    """A TIMESTAMPTZ value from a timezone-aware :class:`datetime` or from Unix seconds (int or float).

    Adapters take block timestamps from JSON-RPC, where they are Unix seconds. A naive datetime is
    refused: it would silently be read as UTC.
    """
    if value is None:
        return None
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value.isoformat()} for a TIMESTAMPTZ column; give it a timezone")
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, UTC)
    raise TypeError(f"{type(value).__name__} for a TIMESTAMPTZ column; give a datetime or Unix seconds")


def _timestamp_array(values: Sequence[Any]) -> pa.Array:
    """A TIMESTAMPTZ column: Unix seconds (ints, None for NULL) in bulk, anything else through
    :func:`utc_timestamp` value by value."""
    kind = ARROW_TYPES["TIMESTAMPTZ"]
    if all(value is None or type(value) is int for value in values):
        return pc.multiply(pa.array(values, type=pa.int64()), 1_000_000).cast(kind)
    return pa.array([utc_timestamp(value) for value in values], type=kind)


def _column_array(column: Column, values: Sequence[Any] | pa.Array) -> pa.Array:
    """One column's values as an Arrow array of its type; integers for a TIMESTAMPTZ column are Unix seconds."""
    kind = ARROW_TYPES[column.sql_type]
    timestamps = column.sql_type == "TIMESTAMPTZ"
    if isinstance(values, pa.Array):
        if timestamps and pa.types.is_integer(values.type):
            values = pc.multiply(values, 1_000_000)
        return values if values.type == kind else values.cast(kind)
    return _timestamp_array(values) if timestamps else pa.array(values, type=kind)


def columns_to_table(columns: Sequence[Column], data: Mapping[str, Sequence[Any] | pa.Array], length: int) -> pa.Table:
    """Build a table with exactly ``columns`` from ``{column name: values}``, ``length`` values each
    (a list, or an Arrow array cast to the column's type).

    A missing column is NULL; an unknown name raises :class:`ValueError` (a misspelled column would
    otherwise be dropped without a trace). TIMESTAMPTZ values are Unix seconds or aware datetimes
    (:func:`utc_timestamp`).
    """
    unknown = set(data) - {c.name for c in columns}
    if unknown:
        raise ValueError(f"unknown column(s) {sorted(unknown)}; see toolkit.store.schema")
    arrays = []
    for column in columns:
        kind = ARROW_TYPES[column.sql_type]
        values = data.get(column.name)
        if values is None:
            arrays.append(pa.nulls(length, type=kind))
            continue
        if len(values) != length:
            raise ValueError(f"column {column.name} has {len(values)} values, the table {length} rows")
        try:
            arrays.append(_column_array(column, values))
        except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
            raise TypeError(f"column {column.name} ({column.sql_type}): {exc}") from exc
    return pa.Table.from_arrays(arrays, schema=arrow_schema(columns))


def rows_to_table(columns: Sequence[Column], rows: Sequence[Mapping[str, Any]]) -> pa.Table:
    """:func:`columns_to_table` from dicts keyed by column names (a missing key is NULL)."""
    unknown = set().union(*(row.keys() for row in rows)) - {c.name for c in columns}
    if unknown:
        raise ValueError(f"unknown column(s) {sorted(unknown)}; see toolkit.store.schema")
    return columns_to_table(columns, {c.name: [row.get(c.name) for row in rows] for c in columns}, len(rows))


def to_pandas(table: pa.Table) -> pd.DataFrame:
    """pandas frame of a store table: integers as ``Int64``, booleans as ``boolean``, doubles as
    ``float64``, timestamps as ``datetime64[us, UTC]``, strings (raw amounts included) as ``str``.

    pandas is imported here, not with the module: pulls never build a frame and start faster without it.
    """
    import pandas as pd

    # nullable integers and booleans; float64, str and datetime64[us, UTC] are pyarrow's defaults
    nullable: dict[pa.DataType, Any] = {pa.int64(): pd.Int64Dtype(), pa.int32(): pd.Int64Dtype(),
                                        pa.bool_(): pd.BooleanDtype()}
    return table.to_pandas(types_mapper=nullable.get)
