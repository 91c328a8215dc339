"""ccxt structures as store rows (tables of :mod:`toolkit.store.cex_schema`).

ccxt gives every number as the exchange's exact decimal text (``number = str``, :mod:`.exchanges`); those texts
are stored as they are, and only the plotting columns (``price_value``, ``quote_value_usd``,
``funding_rate_value``) are converted to doubles. ``venue_symbol`` is the venue's own id of the instrument
(:func:`toolkit.cex.tier_tables.venue_symbol`), the symbol the venue profiles use.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from toolkit.cex.tier_tables import venue_symbol


def _text(value: Any) -> str | None:
    """A number as exact text (ccxt's ``number = str`` text, or an int) or ``None``."""
    if value is None or value == "":
        return None
    return str(value)


def _float(value: str | None) -> float | None:
    try:
        return None if value is None else float(Decimal(value))
    except InvalidOperation:
        return None


def _time(milliseconds: Any) -> datetime | None:
    return None if milliseconds is None else datetime.fromtimestamp(int(milliseconds) / 1000, tz=UTC)


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True, default=str)


def message_text(message: Any) -> str:
    """A received message as stored: compact JSON of what ccxt decoded (key order kept)."""
    return message if isinstance(message, str) else json.dumps(message, separators=(",", ":"), default=str)


def _identity(venue: str, exchange: str, symbol: str) -> dict[str, Any]:
    return {"venue": venue, "exchange": exchange, "symbol": symbol, "venue_symbol": venue_symbol(symbol, venue)}


def liquidation_rows(venue: str, exchange: str, liquidations: Iterable[Mapping[str, Any]], raw: str,
                     received_at: datetime, run_id: str) -> list[dict[str, Any]]:
    """Rows of the ccxt ``Liquidation`` structures that came in one message ``raw`` (item = position in it)."""
    digest = hashlib.sha256(raw.encode()).hexdigest()
    rows = []
    for item, liquidation in enumerate(liquidations):
        price, contracts = _text(liquidation.get("price")), _text(liquidation.get("contracts"))
        size = _text(liquidation.get("contractSize"))
        quote = _text(liquidation.get("quoteValue"))
        usd = _float(quote)
        if usd is None and price is not None and contracts is not None:
            usd = float(Decimal(price) * Decimal(contracts) * Decimal(size or 1))
        rows.append({**_identity(venue, exchange, str(liquidation.get("symbol"))),
                     "timestamp": _time(liquidation.get("timestamp")), "side": liquidation.get("side"),
                     "price": price, "contracts": contracts, "contract_size": size,
                     "base_value": _text(liquidation.get("baseValue")), "quote_value": quote,
                     "price_value": _float(price), "quote_value_usd": usd,
                     "info_json": _json(liquidation.get("info")), "raw_message": raw, "message_sha256": digest,
                     "item": item, "received_at": received_at, "run_id": run_id})
    return rows


def funding_rows(venue: str, exchange: str, rates: Iterable[Mapping[str, Any]], run_id: str) -> list[dict[str, Any]]:
    """Rows of ccxt ``FundingRateHistory`` structures."""
    return [{**_identity(venue, exchange, str(r.get("symbol"))), "timestamp": _time(r.get("timestamp")),
             "funding_rate": _text(r.get("fundingRate")), "funding_rate_value": _float(_text(r.get("fundingRate"))),
             "info_json": _json(r.get("info")), "run_id": run_id} for r in rates]


def open_interest_rows(venue: str, exchange: str, items: Iterable[Mapping[str, Any]],
                       run_id: str) -> list[dict[str, Any]]:
    """Rows of ccxt ``OpenInterest`` structures."""
    return [{**_identity(venue, exchange, str(i.get("symbol"))), "timestamp": _time(i.get("timestamp")),
             "open_interest_amount": _text(i.get("openInterestAmount")),
             "open_interest_value": _text(i.get("openInterestValue")), "info_json": _json(i.get("info")),
             "run_id": run_id} for i in items]


def tier_rows(venue: str, exchange: str, symbol: str, tiers: Iterable[Mapping[str, Any]],
              market: Mapping[str, Any] | None, fetched_at: datetime, run_id: str) -> list[dict[str, Any]]:
    """Rows of one symbol's ccxt ``LeverageTier`` list, with the instrument facts of its ccxt market."""
    market = market or {}
    precision = market.get("precision") or {}
    kind = "inverse" if market.get("inverse") else "linear" if market.get("linear") else None
    return [{**_identity(venue, exchange, symbol), "fetched_at": fetched_at, "tier": int(float(t.get("tier") or 0)),
             "min_notional": _text(t.get("minNotional")), "max_notional": _text(t.get("maxNotional")),
             "maintenance_margin_rate": _text(t.get("maintenanceMarginRate")),
             "max_leverage": _text(t.get("maxLeverage")), "currency": t.get("currency"),
             "contract_size": _text(market.get("contractSize")), "tick_size": _text(precision.get("price")),
             "lot_size": _text(precision.get("amount")), "kind": kind, "info_json": _json(t.get("info")),
             "run_id": run_id} for t in tiers]
