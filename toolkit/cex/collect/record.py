"""``liqtk cex record``: an exchange's live liquidation stream (ccxt.pro ``watch_liquidations_for_symbols`` /
``watch_liquidations``) into the store, for a duration or until SIGTERM / SIGINT.

* Rows: ccxt's ``Liquidation`` structures plus venue, with the websocket message each came in
  (:func:`toolkit.cex.collect.rows.liquidation_rows`; the message as ccxt decoded it, re-serialized as compact
  JSON), taken from ccxt's liquidation cache after each message (:func:`_hook_messages`): a burst of messages
  between two ``watch_*`` calls loses none. Every message the exchange sends is counted (``cex_runs.messages``), whether it carried a liquidation
  or not (subscription answers).
* Flushing: received rows are written every ``flush_interval`` seconds (default 2) in one transaction with the
  run's counters, under the store's write lock taken for that moment only; a killed recorder loses at most the
  rows received since its last flush, and the store stays whole (it is written only by transactions). When a
  pull holds the store's lock, the rows wait for the next flush.
* Disconnects: ccxt raises a network error when the connection drops; the recorder marks a gap from that moment,
  waits (exponential backoff from 1 s, doubling, at most ``backoff_max``, with jitter), subscribes again and closes
  the gap when the new connection is open (``cex_gaps``; ``cex_runs.reconnects`` / ``gaps``). Messages the
  exchange sent during a gap are lost: the exchanges do not replay their liquidation streams.
* Locks: ``<store>.record.lock`` for the whole run (a second recorder exits 5), the store's write lock per flush.
* Ends: ``ok`` after the duration or a signal; ``failed`` on an exchange error other than a dropped connection
  (a refusal, an unknown symbol), with the rows received so far kept.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import toolkit
from toolkit.cex.collect import rows as to_rows
from toolkit.cex.collect.exchanges import (api_host, api_keys, ccxt_version, exchange_error, method_for,
                                           open_exchange, venue_id)
from toolkit.cex.collect.fetch import _symbols
from toolkit.errors import UserInputError
from toolkit.store.provenance import new_run_id

@dataclass
class RecordRequest:
    venue: str
    symbols: Sequence[str]
    store_path: Path
    duration: float | None = None
    flush_interval: float = 2.0
    backoff_max: float = 60.0


@dataclass
class RecordState:
    """Counters of a recording (what ``cex_runs`` holds) and the rows not yet written."""

    run_id: str
    messages: int = 0
    rows_added: int = 0
    reconnects: int = 0
    gaps: list[list[Any]] = field(default_factory=list)  # [number, start, end, reason]
    pending: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None

    @property
    def in_gap(self) -> bool:
        return bool(self.gaps) and self.gaps[-1][2] is None


def _hook_messages(exchange: Any, state: RecordState, venue: str) -> None:
    """Count every message and take the liquidations ccxt parsed from it.

    ccxt appends each parsed liquidation to ``exchange.liquidations`` (an ``ArrayCache``) and resolves the
    pending ``watch_*`` call with it; liquidations that arrive before the next ``watch_*`` call are in the cache
    but not returned by it. So the rows are taken from the cache right after ccxt handled each message (the items
    it added), which also ties each row to the message it came in."""
    original = exchange.handle_message
    seen: list[Any] = []   # the cache items already taken (references: their ids stay unique)
    seen_ids: set[int] = set()

    def handle(client: Any, message: Any) -> Any:
        state.messages += 1
        received, text = datetime.now(UTC), to_rows.message_text(message)
        try:
            return original(client, message)
        finally:
            cache = list(getattr(exchange, "liquidations", None) or [])
            new = [item for item in cache if id(item) not in seen_ids]
            seen[:] = cache
            seen_ids.clear()
            seen_ids.update(id(item) for item in cache)
            if new:
                state.pending.extend(to_rows.liquidation_rows(venue, exchange.id, new, text, received, state.run_id))

    exchange.handle_message = handle


def _connected_at(exchange: Any, after: datetime) -> datetime | None:
    """When the exchange's websocket was opened again after ``after`` (ccxt's ``connectionEstablished``), else
    None."""
    for client in list(getattr(exchange, "clients", {}).values()):
        future, opened = getattr(client, "connected", None), getattr(client, "connectionEstablished", None)
        if future is None or opened is None or not future.done() or future.cancelled() or future.exception():
            continue
        moment = datetime.fromtimestamp(opened / 1000, tz=UTC)
        if moment >= after:
            return moment
    return None


class Recorder:
    """One recording run (module docstring)."""

    def __init__(self, request: RecordRequest, log: Callable[..., None]) -> None:
        self.request, self.log = request, log
        self.venue = venue_id(request.venue)
        self.state = RecordState(new_run_id())
        self.stop = asyncio.Event()
        self.exchange: Any = None
        self.symbols: list[str] = []
        self.secrets = tuple(api_keys(self.venue, os.environ).values())

    async def prepare(self) -> None:
        """Exchange, method and symbols checked before anything is written."""
        self.exchange = open_exchange(self.venue, pro=True)
        self.method = method_for(self.exchange, self.venue, "record")
        if self.exchange.markets is None:
            await self.exchange.load_markets()
        self.symbols = _symbols(self.exchange, self.venue, self.request.symbols) if self.request.symbols else []
        if self.method == "watchLiquidations" and len(self.symbols) != 1:
            raise UserInputError(f"--symbols: {self.venue} streams one symbol per recorder (ccxt "
                                 "watchLiquidations); name exactly one")
        _hook_messages(self.exchange, self.state, self.venue)

    async def _watch(self) -> list[dict[str, Any]]:
        if self.method == "watchLiquidationsForSymbols":
            return list(await self.exchange.watch_liquidations_for_symbols(self.symbols))
        return list(await self.exchange.watch_liquidations(self.symbols[0]))

    def flush(self, store: Any, rows: list[dict[str, Any]], final_status: str | None = None) -> bool:
        """Write ``rows`` and the run's counters in one transaction under the store's write lock, taken for that
        moment; ``False`` (nothing written) when a pull holds the lock, except for the last flush, which waits."""
        from toolkit.errors import StoreLockedError
        from toolkit.store import cex_store

        state = self.state
        try:
            with store.writer(wait=0 if final_status is None else 30) as writer, \
                    cex_store.transaction(writer) as con:
                state.rows_added += cex_store.insert(con, "cex_liquidations", rows)
                cex_store.save_gaps(con, state.run_id, [tuple(g) for g in state.gaps])  # type: ignore[misc]
                fields: dict[str, Any] = {"messages": state.messages, "rows_added": state.rows_added,
                                          "reconnects": state.reconnects, "gaps": len(state.gaps),
                                          "last_flush_at": datetime.now(UTC)}
                if final_status is not None:
                    fields.update(status=final_status, finished_at=datetime.now(UTC), error=state.error)
                cex_store.update_run(con, state.run_id, **fields)
        except StoreLockedError:
            if final_status is not None:
                raise
            return False
        return True

    def _swap(self) -> list[dict[str, Any]]:
        rows, self.state.pending = self.state.pending, []
        return rows

    async def run(self, store: Any) -> RecordState:
        """Record until the duration ends or :attr:`stop` is set; returns the final state."""
        from toolkit.store import cex_store

        started = datetime.now(UTC)
        with store.writer(wait=30) as writer, cex_store.transaction(writer) as con:
            cex_store.start_run(con, {
                "run_id": self.state.run_id, "command": "cex record", "venue": self.venue,
                "exchange": self.exchange.id, "symbols": ",".join(self.symbols), "what": "liquidations",
                "started_at": started, "messages": 0, "rows_added": 0, "reconnects": 0, "gaps": 0,
                "package_version": toolkit.__version__, "ccxt_version": ccxt_version(self.venue),
                "api_host": api_host(self.exchange),
                "args_json": json.dumps({"duration": self.request.duration,
                                         "flush_interval": self.request.flush_interval})})
        self.log("record.started", run_id=self.state.run_id, venue=self.venue, symbols=",".join(self.symbols))
        deadline = None if self.request.duration is None else time.monotonic() + self.request.duration
        status = "failed"
        flusher = asyncio.create_task(self._flush_loop(store))
        try:
            status = await self._loop(deadline)
        except Exception as exc:
            import ccxt
            self.state.error = (str(exchange_error(exc, self.venue, self.secrets)) if isinstance(exc, ccxt.BaseError)
                                else f"{type(exc).__name__}: {exc}".splitlines()[0])
            raise
        finally:
            flusher.cancel()
            await asyncio.gather(flusher, return_exceptions=True)
            await self.exchange.close()
            self.flush(store, self._swap(), status)
        return self.state

    async def _flush_loop(self, store: Any) -> None:
        while True:
            await asyncio.sleep(self.request.flush_interval)
            rows = self._swap()  # on the event loop's thread: no row is appended to a list being written
            if not await asyncio.to_thread(self.flush, store, rows):
                self.state.pending[:0] = rows  # a pull is writing: keep them for the next flush
                self.log("record.store_busy", rows_waiting=len(self.state.pending))

    async def _loop(self, deadline: float | None) -> str:
        import ccxt

        state, backoff = self.state, 1.0
        while not self.stop.is_set():
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                return "ok"
            watch = asyncio.ensure_future(self._watch())
            stopper = asyncio.ensure_future(self.stop.wait())
            while not watch.done():
                wait = 0.25 if remaining is None else max(0.0, min(0.25, deadline - time.monotonic()))  # type: ignore[operator]
                await asyncio.wait({watch, stopper}, timeout=wait, return_when=asyncio.FIRST_COMPLETED)
                if state.in_gap and (at := _connected_at(self.exchange, state.gaps[-1][1])) is not None:
                    state.gaps[-1][2] = at
                    self.log("record.reconnected", gap=len(state.gaps))
                if self.stop.is_set() or (deadline is not None and time.monotonic() >= deadline):
                    watch.cancel()
                    stopper.cancel()
                    await asyncio.gather(watch, stopper, return_exceptions=True)
                    return "ok"
            stopper.cancel()
            try:
                liquidations = watch.result()
            except (ccxt.NetworkError, ccxt.ExchangeClosedByUser) as exc:  # dropped: mark a gap, reconnect
                if not state.in_gap:
                    reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                    state.gaps.append([len(state.gaps) + 1, datetime.now(UTC), None, reason])
                state.reconnects += 1
                pause = min(backoff, self.request.backoff_max) * (0.5 + random.random() / 2)
                self.log("record.disconnected", reason=state.gaps[-1][3], retry_in=round(pause, 2))
                backoff *= 2
                try:
                    await asyncio.wait_for(self.stop.wait(), timeout=pause)
                except TimeoutError:
                    pass
                continue
            if state.in_gap:
                state.gaps[-1][2] = _connected_at(self.exchange, state.gaps[-1][1]) or datetime.now(UTC)
            backoff = 1.0
            del liquidations  # the rows were taken from ccxt's cache as each message came (_hook_messages)
        return "ok"


async def record(request: RecordRequest, log: Callable[..., None]) -> RecordState:
    """Run a recorder (module docstring): SIGTERM and SIGINT end it cleanly."""
    import ccxt

    from toolkit.store import cex_store
    from toolkit.store.db import Store

    recorder = Recorder(request, log)
    try:
        await recorder.prepare()  # bad input and refusals end here, before the store is touched
        with cex_store.record_lock(request.store_path):
            loop = asyncio.get_running_loop()
            for number in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(number, recorder.stop.set)
            return await recorder.run(Store(request.store_path))
    except ccxt.BaseError as exc:
        raise exchange_error(exc, recorder.venue, recorder.secrets) from None
    finally:
        if recorder.exchange is not None:
            await recorder.exchange.close()
