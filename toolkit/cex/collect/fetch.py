"""``liqtk cex fetch``: leverage tiers, funding-rate history, open-interest history and liquidations (where an
exchange serves them) through ccxt's unified REST methods, into the store.

Order of work, so that bad input and refusals leave the store untouched: the venue, what is asked and the symbols
are checked against what ccxt serves (``exchange.has``, the loaded markets), then everything is read from the
exchange into memory, and only then written: the run row and every row in one transaction. Histories are read page
by page from ``since`` until ``until`` (or now), each page starting after the last timestamp of the previous one.
A tier table is dated by the fetch time and becomes a venue era (:mod:`toolkit.cex.fetched_eras`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import toolkit
from toolkit.cex.collect import rows as to_rows
from toolkit.cex.collect.exchanges import (FETCH_METHODS, api_host, api_keys, ccxt_version, exchange_error,
                                           method_for, open_exchange, venue_id)
from toolkit.errors import ToolkitError, UserInputError
from toolkit.store.provenance import new_run_id

#: Pages read per history and symbol at most (a guard against an exchange that keeps answering the same page).
MAX_PAGES = 200
#: Timeframe of open-interest history.
OI_TIMEFRAME = "1h"


@dataclass
class FetchRequest:
    """What to fetch: venue (profile id or alias), what (keys of FETCH_METHODS), symbols (ccxt unified or the
    venue's ids), time range (UTC), store."""

    venue: str
    what: Sequence[str]
    symbols: Sequence[str]
    store_path: Path
    since: datetime | None = None
    until: datetime | None = None
    wait: float = 0


@dataclass
class FetchResult:
    run_id: str
    venue: str
    rows: dict[str, int] = field(default_factory=dict)
    answers: int = 0


def _ms(moment: datetime | None) -> int | None:
    return None if moment is None else int(moment.timestamp() * 1000)


def _symbols(exchange: Any, venue: str, symbols: Sequence[str]) -> list[str]:
    """ccxt unified symbols of ``symbols`` (unified or the venue's ids), each checked against the markets."""
    if not symbols:
        raise UserInputError("--symbols: name at least one symbol, e.g. BTC/USDT:USDT")
    unified = []
    by_id = {m.get("id"): s for s, m in exchange.markets.items()}
    by_base = {m.get("baseName") or m.get("base"): s for s, m in exchange.markets.items() if m.get("swap")}
    for symbol in symbols:
        found = (symbol if symbol in exchange.markets else by_id.get(symbol)
                 or (by_base.get(symbol) if venue == "hyperliquid" else None))
        if found is None:
            raise UserInputError(f"--symbols: {venue} has no market {symbol!r} (ccxt symbols look like "
                                 "BTC/USDT:USDT)")
        unified.append(found)
    return unified


async def _history(call: Any, symbol: str, since: int | None, until: int | None, **kwargs: Any) -> tuple[list, int]:
    """Every page of a history method from ``since`` to ``until``; returns the items and the answers read."""
    items: list[Any] = []
    seen: set[Any] = set()  # timestamps of items
    answers = 0
    cursor = since
    for _ in range(MAX_PAGES):
        page = await call(symbol, since=cursor, **kwargs)
        answers += 1
        page = [p for p in page if until is None or (p.get("timestamp") or 0) <= until]
        fresh = [p for p in page if cursor is None or (p.get("timestamp") or 0) >= cursor]
        fresh = [p for p in fresh if p.get("timestamp") not in seen]
        items.extend(fresh)
        seen.update(p.get("timestamp") for p in fresh)
        if since is None or not fresh:
            break
        cursor = max(p.get("timestamp") or 0 for p in fresh) + 1
    return items, answers


async def _read(exchange: Any, venue: str, what: str, method: str, symbols: list[str], request: FetchRequest,
                run_id: str, fetched_at: datetime) -> tuple[str, list[dict[str, Any]], int]:
    since, until = _ms(request.since), _ms(request.until)
    ex_id = exchange.id
    if what == "tiers":
        if method == "fetchLeverageTiers":
            tables, answers = await exchange.fetch_leverage_tiers(symbols), 1
        else:
            tables = {s: await exchange.fetch_market_leverage_tiers(s) for s in symbols}
            answers = len(symbols)
        out = [row for s in symbols for row in to_rows.tier_rows(venue, ex_id, s, tables.get(s) or [],
                                                                 exchange.markets.get(s), fetched_at, run_id)]
        return "cex_leverage_tiers", out, answers
    answers, out = 0, []
    for symbol in symbols:
        if what == "funding":
            items, n = await _history(exchange.fetch_funding_rate_history, symbol, since, until)
            out += to_rows.funding_rows(venue, ex_id, items, run_id)
        elif what == "open-interest":
            items, n = await _history(exchange.fetch_open_interest_history, symbol, since, until,
                                      timeframe=OI_TIMEFRAME)
            out += to_rows.open_interest_rows(venue, ex_id, items, run_id)
        else:
            items, n = await _history(exchange.fetch_liquidations, symbol, since, until)
            raw = json.dumps([i.get("info") for i in items], separators=(",", ":"), default=str)
            out += to_rows.liquidation_rows(venue, ex_id, items, raw, fetched_at, run_id)
        answers += n
    table = {"funding": "cex_funding_rates", "open-interest": "cex_open_interest",
             "liquidations": "cex_liquidations"}[what]
    return table, out, answers


async def fetch(request: FetchRequest) -> FetchResult:
    """Run ``request`` (module docstring)."""
    import os

    from toolkit.store import cex_store
    from toolkit.store.db import Store

    venue = venue_id(request.venue)
    unknown = [w for w in request.what if w not in FETCH_METHODS]
    if unknown or not request.what:
        raise UserInputError(f"--what: {', '.join(unknown) or 'nothing'} is not one of {', '.join(FETCH_METHODS)}")
    secret_values = tuple(api_keys(venue, os.environ).values())
    exchange = open_exchange(venue, pro=False)
    try:
        methods = {w: method_for(exchange, venue, w) for w in request.what}
        run_id, fetched_at = new_run_id(), datetime.now(UTC)
        try:
            if exchange.markets is None:
                await exchange.load_markets()
            symbols = _symbols(exchange, venue, request.symbols)
            results = [await _read(exchange, venue, w, methods[w], symbols, request, run_id, fetched_at)
                       for w in request.what]
        except ToolkitError:
            raise
        except Exception as exc:  # ccxt's errors: one line, nothing written
            import ccxt
            if isinstance(exc, ccxt.BaseError):
                raise exchange_error(exc, venue, secret_values) from None
            raise
    finally:
        await exchange.close()
    result = FetchResult(run_id, venue, answers=sum(n for _, _, n in results))
    store = Store(request.store_path)
    with store.writer(wait=request.wait) as writer, cex_store.transaction(writer) as con:
        cex_store.start_run(con, {
            "run_id": run_id, "command": "cex fetch", "venue": venue, "exchange": exchange.id,
            "symbols": ",".join(symbols), "what": ",".join(request.what), "started_at": fetched_at,
            "package_version": toolkit.__version__, "ccxt_version": ccxt_version(venue),
            "api_host": api_host(exchange), "reconnects": 0, "gaps": 0,
            "args_json": json.dumps({"since": str(request.since), "until": str(request.until)})})
        for table, rows, _ in results:
            result.rows[table] = result.rows.get(table, 0) + cex_store.insert(con, table, rows)
        cex_store.update_run(con, run_id, status="ok", finished_at=datetime.now(UTC), messages=result.answers,
                             rows_added=sum(result.rows.values()))
    return result
