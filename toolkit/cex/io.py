"""Files in and out: price paths, funding rates, positions, ``account.json``; events, fund path, summary.

The only module of :mod:`toolkit.cex` that touches files. Every problem raises
:class:`~toolkit.errors.UserInputError` with one line naming the file, the row or field, and what to do.
Schemas: ``docs/cex.md``.
"""

from __future__ import annotations

import csv
import json
import os
import tempfile
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pandas as pd

from toolkit.cex.accounts import AccountSpec, MarginMode, PositionSpec
from toolkit.cex.events import EVENT_COLUMNS, Event, event_row
from toolkit.cex.instruments import finite_decimal, parse_side
from toolkit.cex.marking import PricePath
from toolkit.errors import UserInputError

PRICE_COLUMNS = ("mark_price", "index_price")
POSITION_COLUMNS = ("account", "symbol", "side", "size", "entry_price", "leverage")
OPTIONAL_POSITION_COLUMNS = ("margin_mode", "wallet_balance", "isolated_margin", "mmr", "maintenance_amount")


def parse_decimal(raw: Any, field: str) -> Decimal:
    """A finite decimal from text or a JSON number (never through float)."""
    if isinstance(raw, bool) or raw is None or (isinstance(raw, str) and not raw.strip()):
        raise UserInputError(f"{field}: missing or not a number")
    return finite_decimal(raw, field)


def parse_time(raw: Any, field: str) -> datetime:
    """ISO-8601 (naive = UTC) or Unix seconds."""
    text = str(raw).strip()
    try:
        if text.replace(".", "", 1).isdigit():
            return datetime.fromtimestamp(float(text), tz=UTC)
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except (ValueError, OverflowError):
        raise UserInputError(f"{field}: {raw!r} is not an ISO-8601 time or Unix seconds") from None
    return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)


def _read_csv(source: str | Path | pd.DataFrame, what: str) -> pd.DataFrame:
    if isinstance(source, pd.DataFrame):
        return source.astype(str)
    try:
        return pd.read_csv(source, dtype=str, keep_default_na=False)
    except FileNotFoundError:
        raise UserInputError(f"{what}: file {source} not found") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise UserInputError(f"{what}: {source} is not a readable CSV ({str(exc).splitlines()[0]})") from None


def _require(frame: pd.DataFrame, columns: Iterable[str], what: str) -> None:
    for column in columns:
        if column not in frame.columns:
            raise UserInputError(f"{what}: missing column {column!r} (have {', '.join(map(str, frame.columns))})")


def load_prices(source: str | Path | pd.DataFrame, default_symbol: str | None = None) -> tuple[PricePath, str]:
    """A price path and its column (``mark_price`` or ``index_price``).

    Columns: ``timestamp``, ``mark_price`` *or* ``index_price``, optional ``symbol`` (required when the path holds
    several). Timestamps strictly increase on one regular step per symbol (no duplicates, no gaps) and every
    symbol has the same timestamps.
    """
    what = "prices"
    frame = _read_csv(source, what)
    _require(frame, ["timestamp"], what)
    present = [c for c in PRICE_COLUMNS if c in frame.columns]
    if len(present) != 1:
        raise UserInputError(f"{what}: give exactly one of the columns mark_price or index_price")
    column = present[0]
    if frame.empty:
        raise UserInputError(f"{what}: no rows")
    if "symbol" not in frame.columns:
        if default_symbol is None:
            raise UserInputError(f"{what}: missing column 'symbol'")
        frame = frame.assign(symbol=default_symbol)
    series: dict[str, tuple[list[datetime], list[Decimal]]] = {}
    for row, (symbol, stamp, raw) in enumerate(zip(frame["symbol"], frame["timestamp"], frame[column]), start=2):
        price = parse_decimal(raw, f"{what}: row {row}: {column}")
        if price <= 0:
            raise UserInputError(f"{what}: row {row}: {column} must be positive, got {price}")
        times, prices = series.setdefault(symbol, ([], []))
        moment = parse_time(stamp, f"{what}: row {row}: timestamp")
        if times and moment == times[-1]:
            raise UserInputError(f"{what}: row {row}: duplicate timestamp {moment.isoformat()} for {symbol}")
        if times and moment < times[-1]:
            raise UserInputError(f"{what}: row {row}: timestamp {moment.isoformat()} is before the previous one "
                                 f"({times[-1].isoformat()}); sort the file by timestamp")
        times.append(moment)
        prices.append(price)
    (first_symbol, (times, _)), *others = series.items()
    _check_step(times, first_symbol)
    for symbol, (other_times, _) in others:
        if other_times != times:
            raise UserInputError(f"{what}: {symbol} does not have the same timestamps as {first_symbol}")
    return PricePath(tuple(times), {symbol: tuple(prices) for symbol, (_, prices) in series.items()}), column


def _check_step(times: list[datetime], symbol: str) -> None:
    """One regular step: any longer interval is a gap."""
    if len(times) < 2:
        return
    step = min(b - a for a, b in zip(times, times[1:]))
    for a, b in zip(times, times[1:]):
        if b - a != step:
            raise UserInputError(f"prices: gap in {symbol} between {a.isoformat()} and {b.isoformat()} (the path's "
                                 f"step is {step.total_seconds():g} s); fill the missing ticks")


def load_funding(source: str | Path | pd.DataFrame, symbol: str | None = None) -> dict[datetime, Decimal]:
    """Rates paid at each funding time: columns ``timestamp`` and ``fundingRate`` (a BitMEX ``/funding`` export)
    or ``funding_rate``; rows of other symbols are ignored when the file has a ``symbol`` column."""
    what = "funding"
    frame = _read_csv(source, what)
    _require(frame, ["timestamp"], what)
    column = "fundingRate" if "fundingRate" in frame.columns else "funding_rate"
    _require(frame, [column], what)
    if symbol is not None and "symbol" in frame.columns:
        frame = frame[frame["symbol"] == symbol]
    rates: dict[datetime, Decimal] = {}
    for row, (stamp, raw) in enumerate(zip(frame["timestamp"], frame[column]), start=2):
        moment = parse_time(stamp, f"{what}: row {row}: timestamp")
        if moment in rates:
            raise UserInputError(f"{what}: row {row}: duplicate funding time {moment.isoformat()}")
        rates[moment] = parse_decimal(raw, f"{what}: row {row}: {column}")
    if not rates:
        raise UserInputError(f"{what}: no rates{f' for {symbol}' if symbol else ''}")
    return rates


def _margin_mode(raw: Any, field: str) -> MarginMode:
    try:
        return MarginMode(str(raw).strip().lower())
    except ValueError:
        raise UserInputError(f"{field}: {raw!r} is not isolated or cross") from None


def _optional(raw: Any, field: str) -> Decimal | None:
    return None if raw is None or (isinstance(raw, str) and not raw.strip()) else parse_decimal(raw, field)


def position_spec(record: Mapping[str, Any], where: str) -> PositionSpec:
    """A :class:`PositionSpec` from a JSON object or CSV row (``where`` prefixes every field name)."""
    for key in ("symbol", "side", "size", "entry_price", "leverage"):
        if key not in record or record[key] is None or str(record[key]).strip() == "":
            raise UserInputError(f"{where}{key}: missing")
    return PositionSpec(
        symbol=str(record["symbol"]).strip(), side=parse_side(record["side"], f"{where}side"),
        size=parse_decimal(record["size"], f"{where}size"),
        entry_price=parse_decimal(record["entry_price"], f"{where}entry_price"),
        leverage=parse_decimal(record["leverage"], f"{where}leverage"),
        mark_price=_optional(record.get("mark_price"), f"{where}mark_price"),
        mmr=_optional(record.get("mmr"), f"{where}mmr"),
        maintenance_amount=_optional(record.get("maintenance_amount"), f"{where}maintenance_amount"),
        isolated_margin=_optional(record.get("isolated_margin"), f"{where}isolated_margin"),
    )


def load_account(source: str | Path) -> tuple[str, AccountSpec]:
    """``account.json``: ``venue``, ``margin_mode``, ``wallet_balance``, ``positions`` (see docs/cex.md)."""
    name = Path(source).name
    try:
        raw = json.loads(Path(source).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserInputError(f"{name}: file {source} not found") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise UserInputError(f"{name}: not valid JSON ({exc})") from None
    if not isinstance(raw, dict):
        raise UserInputError(f"{name}: expected a JSON object with venue, margin_mode, wallet_balance, positions")
    for key in ("venue", "margin_mode", "wallet_balance", "positions"):
        if key not in raw:
            raise UserInputError(f"{name}: {key}: missing")
    positions = raw["positions"]
    if not isinstance(positions, list) or not positions:
        raise UserInputError(f"{name}: positions: expected a non-empty list of position objects")
    specs = []
    for index, record in enumerate(positions):
        if not isinstance(record, dict):
            raise UserInputError(f"{name}: positions[{index}]: expected an object")
        specs.append(position_spec(record, f"{name}: positions[{index}]."))
    account = AccountSpec(str(raw.get("account", "account")), _margin_mode(raw["margin_mode"], f"{name}: margin_mode"),
                          parse_decimal(raw["wallet_balance"], f"{name}: wallet_balance"), tuple(specs))
    return str(raw["venue"]), account


def load_positions(source: str | Path | pd.DataFrame) -> list[AccountSpec]:
    """A population from CSV: one row per position, rows of an account grouped by its ``account`` id (first
    appearance = processing order). ``margin_mode`` defaults to isolated, ``wallet_balance`` to 0; the rows of
    an account must agree on both."""
    what = "positions"
    frame = _read_csv(source, what)
    _require(frame, POSITION_COLUMNS, what)
    if frame.empty:
        raise UserInputError(f"{what}: no rows")
    accounts: dict[str, tuple[MarginMode, Decimal, list[PositionSpec]]] = {}
    columns = [c for c in (*POSITION_COLUMNS, *OPTIONAL_POSITION_COLUMNS) if c in frame.columns]
    for row, values in enumerate(frame[columns].itertuples(index=False, name=None), start=2):
        record = dict(zip(columns, values, strict=True))
        where = f"{what}: row {row}: "
        account_id = str(record["account"]).strip()
        if not account_id:
            raise UserInputError(f"{where}account: missing")
        mode = _margin_mode(record.get("margin_mode") or "isolated", f"{where}margin_mode")
        wallet = _optional(record.get("wallet_balance"), f"{where}wallet_balance") or Decimal(0)
        known = accounts.setdefault(account_id, (mode, wallet, []))
        if known[:2] != (mode, wallet):
            raise UserInputError(f"{where}margin_mode/wallet_balance: differ from the account's first row")
        known[2].append(position_spec(record, where))
    return [AccountSpec(account_id, mode, wallet, tuple(specs)) for account_id, (mode, wallet, specs)
            in accounts.items()]


def _atomic_write(path: Path, write: Any) -> None:
    """Write through a temporary file in the same directory, then rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(handle, 0o644)  # mkstemp makes it private (0600); the files beside it in a report are 0644
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as stream:
            write(stream)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _text(value: Any) -> Any:
    """A CSV cell: times in ISO-8601 UTC with ``Z``; decimals in plain notation, exactly (``0``, not ``0E-8``)."""
    if isinstance(value, datetime):
        return _utc_text(value)
    if isinstance(value, Decimal):
        return _plain(value)
    return value


def _utc_text(moment: datetime) -> str:
    if moment.tzinfo is None:
        return moment.isoformat()
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat() + "Z"


def _plain(value: Decimal) -> str:
    """``value`` exactly in plain notation at its own precision: ``0E-8`` -> ``0.00000000``, ``1E+3`` -> ``1000``
    (amounts booked to 1e-8 keep their eight decimals, so a column reads with one precision)."""
    return f"{value:f}"


def write_events(events: Iterable[Event], path: Path) -> None:
    """``events.csv``: one row per event, columns :data:`toolkit.cex.events.EVENT_COLUMNS`."""
    def write(stream: Any) -> None:
        writer = csv.DictWriter(stream, fieldnames=EVENT_COLUMNS)
        writer.writeheader()
        for event in events:
            writer.writerow({k: _text(v) for k, v in event_row(event).items()})
    _atomic_write(path, write)


def write_fund_path(fund_path: Iterable[tuple[datetime, Decimal]], path: Path) -> None:
    """``insurance_fund.csv``: ``timestamp``, ``balance`` after each tick."""
    def write(stream: Any) -> None:
        writer = csv.writer(stream)
        writer.writerow(["timestamp", "balance"])
        writer.writerows((_utc_text(moment), _plain(balance)) for moment, balance in fund_path)
    _atomic_write(path, write)


#: Integers of at most this magnitude are exact as JSON numbers in every reader (IEEE-754 doubles).
JSON_SAFE_INTEGER = 2**53


def exact_text(value: Decimal) -> str:
    """A decimal as plain text with every digit it has and no exponent or trailing zeros (``2291.457286``)."""
    text = format(value.normalize(), "f") if value else "0"
    return text


def to_json(value: Any) -> Any:
    """JSON-ready copy: ``Decimal`` -> a JSON integer when it is one of at most 2^53, else its exact text (a
    string: JSON numbers are read as doubles, which would round it); ``datetime`` -> ISO text, enums -> their
    value."""
    if isinstance(value, Decimal):
        if value == value.to_integral_value() and abs(value) <= JSON_SAFE_INTEGER:
            return int(value)
        return exact_text(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, Mapping):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_json(v) for v in value]
    return getattr(value, "value", value)


def write_json(record: Mapping[str, Any], path: Path) -> None:
    """A JSON file (:func:`to_json`: safe integers as numbers, other decimals as exact strings), written
    atomically."""
    _atomic_write(path, lambda stream: stream.write(json.dumps(to_json(record), indent=2, sort_keys=True) + "\n"))
