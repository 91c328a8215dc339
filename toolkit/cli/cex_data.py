"""``liqtk cex fetch`` and ``liqtk cex record``: real exchange data through ccxt into the store.

Options, output and exit codes only; the work is in :mod:`toolkit.cex.collect`. Exit codes (README "Exit codes"):
0 done, 1 the exchange refused or failed (one line: status and the exchange's words), 2 invalid input (unknown
exchange or symbol, a method the exchange does not serve), 5 the store is locked (another writer, or another
recorder on the same store).
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Optional

import typer

from toolkit.cli import output
from toolkit.cli.cex import _one_line_errors, cex_app
from toolkit.cli.options import JsonOption, QuietOption, StoreOption, comma_list
from toolkit.errors import UserInputError

_EXCHANGES = "binance (binance-usdm), bybit, okx, bitmex, hyperliquid, dydx (dydx-v4)"


@cex_app.command("fetch")
@_one_line_errors
def fetch(
    venue: Annotated[str, typer.Option(help=f"Venue (exchange): {_EXCHANGES}.")],
    symbols: Annotated[str, typer.Option(help="Comma-separated ccxt symbols (BTC/USDT:USDT) or the venue's ids (BTCUSDT).")],
    what: Annotated[str, typer.Option(help="Comma-separated: tiers, funding, open-interest, liquidations.")] = "tiers,funding",
    since: Annotated[Optional[str], typer.Option(help="First time of the histories (ISO-8601 UTC; default: the exchange's latest page).")] = None,
    to: Annotated[Optional[str], typer.Option("--to", help="Last time of the histories (ISO-8601 UTC; default: now).")] = None,
    store: StoreOption = None,
    wait: Annotated[float, typer.Option(help="Seconds to wait for another writer of the store.")] = 0,
    json_output: JsonOption = False,
    quiet: QuietOption = False,
) -> None:
    """Leverage tiers, funding-rate and open-interest history, and liquidations where served, from an exchange
    through ccxt into the store (tables cex_*); a tier table becomes a venue era dated by the fetch time."""
    from toolkit.cex.collect.fetch import FetchRequest
    from toolkit.cex.collect.fetch import fetch as run_fetch
    from toolkit.cex.io import parse_time
    from toolkit.settings import resolve_store_path

    output.configure(quiet=quiet, json=json_output)
    request = FetchRequest(venue=venue, what=comma_list(what), symbols=comma_list(symbols),
                           store_path=resolve_store_path(store),
                           since=parse_time(since, "--since") if since else None,
                           until=parse_time(to, "--to") if to else None, wait=wait)
    result = asyncio.run(run_fetch(request))
    record = {"event": "cex.fetch.finished", "run_id": result.run_id, "venue": result.venue,
              "answers": result.answers, "rows_added": result.rows}
    added = ", ".join(f"{n} {table}" for table, n in result.rows.items()) or "no rows"
    output.emit(record, f"{result.venue}: {result.answers} answers, added {added} (run {result.run_id})")


@cex_app.command("record")
@_one_line_errors
def record(
    venue: Annotated[str, typer.Option(help=f"Venue (exchange) with a liquidation stream: {_EXCHANGES}.")],
    symbols: Annotated[Optional[str], typer.Option(help="Comma-separated ccxt symbols (default: every symbol the stream carries, where the exchange has an all-market stream).")] = None,
    duration: Annotated[Optional[float], typer.Option(help="Seconds to record (default: until SIGTERM or Ctrl-C).")] = None,
    flush_interval: Annotated[float, typer.Option("--flush-interval", help="Seconds between writes to the store (at most this much is lost if the process is killed).")] = 2.0,
    store: StoreOption = None,
    json_output: JsonOption = False,
    quiet: QuietOption = False,
) -> None:
    """Record an exchange's live liquidation orders (ccxt.pro watch_liquidations) into the store, reconnecting
    after disconnects (gaps recorded in cex_gaps); one recorder per store."""
    from toolkit.cex.collect.record import RecordRequest
    from toolkit.cex.collect.record import record as run_record
    from toolkit.settings import resolve_store_path

    output.configure(quiet=quiet, json=json_output)
    if duration is not None and duration <= 0:
        raise UserInputError(f"--duration: must be a positive number of seconds, got {duration}")
    if not 0 < flush_interval <= 60:
        raise UserInputError(f"--flush-interval: must lie between 0 and 60 seconds, got {flush_interval}")
    request = RecordRequest(venue=venue, symbols=comma_list(symbols), store_path=resolve_store_path(store),
                            duration=duration, flush_interval=flush_interval)
    state = asyncio.run(run_record(request, output.log))
    record = {"event": "cex.record.finished", "run_id": state.run_id, "messages": state.messages,
              "rows_added": state.rows_added, "reconnects": state.reconnects, "gaps": len(state.gaps)}
    output.emit(record, f"recorded {state.rows_added} liquidations from {state.messages} messages, "
                        f"{state.reconnects} reconnects, {len(state.gaps)} gaps (run {state.run_id})")
