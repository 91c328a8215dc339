"""Read ``eth_getLogs`` over a block range in contiguous, ordered chunks, splitting to fit the provider.

Ranges are **half-open** ``[start, end)`` everywhere (dlt's cursor convention,
docs/sources/store.md#dlt-incremental-cursor), so chained reads neither overlap nor leave gaps; the JSON-RPC
``toBlock`` sent is ``end - 1``.

Splitting (docs/sources/chain.md#range-splitting: ponder's ``getLogsRetryHelper.ts`` and ethereum-etl's AIMD batching):

* :class:`~toolkit.chain.errors.RangeTooLarge` with a hint — a suggested ``[a, b]`` (Infura, Alchemy)
  or a stated limit (QuickNode "limited to a 10,000 range", reth "max block range 5000", …) — retries
  with that many blocks at once; without a usable hint it bisects.
* :class:`~toolkit.chain.errors.TooManyResults` bisects; "more than 10000 results" also teaches the
  provider's result cap.
* A result of exactly ``result_cap`` logs is taken as silently truncated (ethers-io/ethers.js#1389,
  vechain/vechain-sdk-js#1049) and split. With a completeness check (``verify``,
  :mod:`toolkit.chain.completeness`), each answer is proven against the block headers' blooms (and
  receipts) before its chunks are yielded; a cap the check finds becomes the endpoint's ``result_cap``.
* A range of ``min_span`` blocks (one block by default) that still fails raises
  :class:`LogRangeUnsplittable` — a single block can hold more logs than the provider returns
  (zeta-chain/node#3265) — so splitting always terminates.

The working span is remembered per endpoint (redacted URL + chain id) for the life of the process and
doubled after ``grow_after`` clean chunks, never above ``max_span`` or a hard limit the provider stated.

Dense ranges: a response of more than ``target_logs`` logs is yielded as several chunks of about
``target_logs`` logs (cut at block boundaries), and each reader sizes its next requests to the density
of its last answer (about ``target_logs`` logs each, never more blocks than the endpoint's span), so
the chunks a caller decodes and commits -- and the answers in flight -- stay about that size whatever
the density of the logs (memory stays bounded; docs/sources/chain.md#concurrency).

Up to ``concurrency`` ranges are fetched at once; chunks are yielded strictly in block order, so a caller
that commits each chunk keeps a contiguous checkpoint (eth_defi ``read_events_concurrent``).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from toolkit.chain.errors import (
    LogQueryTooLarge,
    RangeTooLarge,
    ReorgDetected,
    RpcError,
    TooManyResults,
)
from toolkit.chain.blocks import BlockHeader
from toolkit.chain.logtable import Logs, first_removed, log_at, positions, read_logs_answer, reordered
from toolkit.chain.rpc import RpcClient
from toolkit.errors import UserInputError

if TYPE_CHECKING:
    from toolkit.chain.completeness import Completeness


class LogRangeUnsplittable(RpcError):
    """The provider refuses (or truncates) ``eth_getLogs`` even for the smallest range allowed."""


class InconsistentLogs(RpcError):
    """The provider returned a log outside the requested block range."""


@dataclass(frozen=True)
class LogFilter:
    """Which logs to read: any of ``addresses`` (empty: all) with any of ``topics0`` (empty: all)."""

    addresses: tuple[str, ...] = ()
    topics0: tuple[str, ...] = ()

    def params(self, start: int, end: int) -> dict[str, Any]:
        """The ``eth_getLogs`` filter object for the half-open block range ``[start, end)``."""
        params: dict[str, Any] = {"fromBlock": hex(start), "toBlock": hex(end - 1)}
        if self.addresses:
            params["address"] = list(self.addresses)
        if self.topics0:
            params["topics"] = [list(self.topics0)]
        return params


@dataclass(frozen=True)
class LogChunk:
    """The logs of blocks ``[start, end)``, as the node returned them, sorted by (block, log index):
    parsed JSON, or columns when the reader asked for them and the answer allowed it
    (:mod:`~toolkit.chain.logtable`)."""

    start: int
    end: int
    logs: Logs
    #: With a completeness check: the headers, fetched while the chunk was read, of its blocks with logs and
    #: of its last block (the pull compares and stores them instead of fetching them again).
    headers: dict[int, BlockHeader] | None = None


@dataclass
class _EndpointLimits:
    """What one endpoint has taught us about ``eth_getLogs`` (shared by all readers in the process)."""

    #: Blocks per request that currently works.
    span: int
    #: Hard blocks-per-request limit stated by the provider; growth stops there.
    ceiling: int | None = None
    #: Most logs one response holds (a result this long is treated as truncated).
    result_cap: int | None = None
    #: Successful requests since the span last changed.
    clean: int = 0


#: (redacted URL, chain id) -> limits learned from that endpoint.
_LIMITS: dict[tuple[str, int], _EndpointLimits] = {}


def reset_endpoint_limits() -> None:
    """Forget every learned span and result cap (a new provider plan, or between tests)."""
    _LIMITS.clear()


class LogReader:
    """Adaptive, concurrent ``eth_getLogs`` reader.

    :param client: the endpoint.
    :param initial_span: blocks per request for an endpoint not seen before in this process.
    :param min_span: smallest range (blocks) it splits to before giving up.
    :param max_span: largest range (blocks) it grows to.
    :param result_cap: a known provider result cap (a response with exactly this many logs is split);
        learned from "more than N results" messages when not given.
    :param concurrency: ranges fetched at once (each is one request at a time).
    :param grow_after: clean requests before the span doubles (ethereum-etl's cooldown, by count).
    :param target_logs: most logs per yielded chunk (a block with more is one chunk), and about the
        logs asked for per request once an answer has shown their density. ``None``: chunks are
        whole responses and spans follow the endpoint alone.
    :param share_ranges: a range shorter than ``concurrency`` spans is shared out among the free
        fetch slots, so that it is fetched in parallel and its first chunks come back early (more,
        smaller chunks: for callers that gain nothing from large ones). The first request then
        covers a small share alone (a ``4 * concurrency``-th): the density of its answer sizes the
        next ones (``target_logs``), so that the answers in flight hold about ``concurrency *
        target_logs`` logs whatever the density.
    :param columns: chunks hold their logs as Arrow columns when the answer allows it
        (:func:`~toolkit.chain.logtable.read_logs_answer`), for callers that decode a column at a
        time; else, and for answers it declines, as parsed JSON.
    :param verify: the completeness check of every answer (:class:`~toolkit.chain.completeness.Completeness`);
        ``None``: answers are trusted (a silently capped or emptied answer then loses logs).
    """

    def __init__(
        self,
        client: RpcClient,
        *,
        initial_span: int = 2000,
        min_span: int = 1,
        max_span: int = 100_000,
        result_cap: int | None = None,
        concurrency: int = 4,
        grow_after: int = 8,
        target_logs: int | None = 10_000,
        share_ranges: bool = False,
        columns: bool = False,
        verify: Completeness | None = None,
    ) -> None:
        if not 1 <= min_span <= initial_span <= max_span:
            raise UserInputError(f"need 1 <= min_span <= initial_span <= max_span, got "
                                 f"{min_span}, {initial_span}, {max_span}")
        self._client = client
        self._initial_span = initial_span
        self._min_span = min_span
        self._max_span = max_span
        self._result_cap = result_cap
        self._concurrency = max(1, concurrency)
        self._grow_after = grow_after
        self._target_logs = target_logs
        self._share_ranges = share_ranges
        self._read_result = read_logs_answer if columns else None
        self._verify = verify
        #: Blocks that held about ``target_logs`` logs in the last answer (None: no logs seen yet).
        self._density_span: int | None = None

    async def _limits(self) -> _EndpointLimits:
        key = (self._client.redacted_url, await self._client.chain_id())
        limits = _LIMITS.setdefault(key, _EndpointLimits(span=self._initial_span))
        if self._result_cap is not None:
            limits.result_cap = self._result_cap
        return limits

    async def iter_chunks(self, flt: LogFilter, start: int, end: int) -> AsyncIterator[LogChunk]:
        """Yield :class:`LogChunk` s covering ``[start, end)`` exactly, contiguous and in block order.

        A caller that may stop early should close the iterator (``contextlib.aclosing``) so that the
        fetches in flight are cancelled at once rather than when the generator is garbage-collected.

        :raises ReorgDetected: a log came back with ``removed: true``.
        :raises LogRangeUnsplittable: even ``min_span`` blocks are too many for the provider.
        :raises RpcError: any other failure after the client's retries.
        """
        if start < 0 or end < start:
            raise UserInputError(f"invalid block range [{start}, {end})")
        limits = await self._limits()
        tasks: deque[asyncio.Task[list[LogChunk]]] = deque()
        cursor = start
        probed = not self._share_ranges

        def fill() -> None:
            nonlocal cursor
            while cursor < end and len(tasks) < self._concurrency:
                # this reader's cap applies to its own reads, not to what others learned
                span = min(limits.span, self._max_span, self._density_span or self._max_span)
                if not probed:  # a small first range alone: its density sizes the next ones
                    if tasks:
                        return
                    span = min(span, -(-(end - cursor) // (4 * self._concurrency)))
                elif self._share_ranges:
                    span = min(span, -(-(end - cursor) // (self._concurrency - len(tasks))))
                stop = min(end, cursor + span)
                tasks.append(asyncio.create_task(self._read_range(flt, cursor, stop, limits)))
                cursor = stop

        try:
            while tasks or cursor < end:
                fill()
                ready = await tasks.popleft()
                probed = True
                fill()  # the next range is fetched while the caller works on these chunks
                for chunk in ready:
                    yield chunk
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _read_range(self, flt: LogFilter, start: int, end: int, limits: _EndpointLimits) -> list[LogChunk]:
        """Read ``[start, end)`` as one or more requests; the span only shrinks inside one range. With a
        completeness check, the range's headers are fetched meanwhile and each answer is checked against them."""
        chunks: list[LogChunk] = []
        cursor = start
        span = end - start
        verify = self._verify
        headers = asyncio.ensure_future(verify.headers(start, end)) if verify is not None else None
        try:
            while cursor < end:
                # Adopt a smaller span another range has learned meanwhile; never grow inside one range,
                # so every failure strictly shrinks the next request and the loop ends.
                span = min(span, limits.span, self._density_span or span)
                size = min(span, end - cursor)
                try:
                    logs, blocks = await self._get_logs(flt, cursor, cursor + size, limits)
                except LogQueryTooLarge as error:
                    span = self._smaller_span(size, error, cursor, limits)
                    continue
                known: dict[int, BlockHeader] | None = None
                if headers is not None and verify is not None:
                    known = await headers
                    logs, blocks, cap = await verify.complete(flt.addresses, flt.topics0, cursor, cursor + size,
                                                              logs, blocks, known)
                    if cap is not None:  # the endpoint cuts answers there: ask for fewer logs from now on
                        limits.result_cap = min(limits.result_cap or cap, cap)
                chunks.extend(self._pieces(cursor, cursor + size, logs, blocks, known))
                cursor += size
                self._note_success(size, limits)
                if self._target_logs is not None:
                    target = self._target_logs if limits.result_cap is None else \
                        min(self._target_logs, max(1, limits.result_cap * 3 // 4))
                    self._density_span = max(self._min_span, size * target // len(logs)) if len(logs) else None
        finally:
            if headers is not None and not headers.done():
                headers.cancel()
                await asyncio.gather(headers, return_exceptions=True)
        return chunks

    def _pieces(self, start: int, end: int, logs: Logs, blocks: np.ndarray,
                headers: dict[int, BlockHeader] | None = None) -> list[LogChunk]:
        """``[start, end)`` as chunks of about ``target_logs`` logs each, cut at block boundaries
        (``blocks``: the block number of each log, ascending), each with ``headers`` of its blocks with logs
        and of its last block when given."""
        pieces = self._cut(start, end, logs, blocks)
        if headers is None:
            return pieces
        with_logs = {int(n) for n in np.unique(blocks)}
        return [LogChunk(piece.start, piece.end, piece.logs,
                         {n: headers[n] for n in range(piece.start, piece.end) if n in with_logs or n == piece.end - 1})
                for piece in pieces]

    def _cut(self, start: int, end: int, logs: Logs, blocks: np.ndarray) -> list[LogChunk]:
        """``[start, end)`` as chunks of about ``target_logs`` logs each, cut at block boundaries."""
        target = self._target_logs
        if target is None or len(logs) <= target:
            return [LogChunk(start, end, logs)]
        pieces: list[LogChunk] = []
        first = 0
        while len(logs) - first > target:
            block = int(blocks[first + target])
            cut = int(np.searchsorted(blocks, block, "left"))  # the first log of that block
            if cut == first:  # one block holds more than target logs: it is one chunk
                cut = int(np.searchsorted(blocks, block, "right"))
                if cut == len(logs):
                    break
                block = int(blocks[cut])
            pieces.append(LogChunk(start, block, logs[first:cut]))
            start, first = block, cut
        pieces.append(LogChunk(start, end, logs[first:]))
        return pieces

    async def _get_logs(self, flt: LogFilter, start: int, end: int,
                        limits: _EndpointLimits) -> tuple[Logs, np.ndarray]:
        """The logs of ``[start, end)`` in (block, log index) order, and their block numbers."""
        logs = await self._client.call("eth_getLogs", [flt.params(start, end)], read_result=self._read_result)
        if limits.result_cap is not None and len(logs) >= limits.result_cap:
            raise TooManyResults(
                f"eth_getLogs at {self._client.redacted_url} returned {len(logs)} logs for blocks "
                f"[{start}, {end}), the provider's result cap; assuming the result was cut off",
                result_limit=limits.result_cap)
        removed = first_removed(logs)
        if removed is not None:
            log = log_at(logs, removed)
            raise ReorgDetected(
                f"eth_getLogs at {self._client.redacted_url} returned a removed log (block "
                f"{int(log['blockNumber'], 16)}, tx {log.get('transactionHash')}): the chain reorganised while "
                "reading; read up to a finalized block or re-run from before that block")
        blocks, indexes = positions(logs)
        outside = (blocks < start) | (blocks >= end)
        if outside.any():
            raise InconsistentLogs(
                f"eth_getLogs at {self._client.redacted_url} returned a log of block {blocks[outside.argmax()]} "
                f"for the range [{start}, {end}); the provider is inconsistent, try another endpoint")
        same_block = blocks[1:] == blocks[:-1]
        if np.all((blocks[1:] > blocks[:-1]) | (same_block & (indexes[1:] > indexes[:-1]))):
            return logs, blocks  # nodes answer in (block, log index) order; sorting is for those that do not
        order = np.lexsort((indexes, blocks))
        return reordered(logs, order), blocks[order]

    def _smaller_span(self, size: int, error: LogQueryTooLarge, start: int, limits: _EndpointLimits) -> int:
        """The next span to try after ``size`` blocks failed; teaches ``limits``; raises at the floor."""
        if error.result_limit is not None:
            limits.result_cap = error.result_limit
        if size <= self._min_span:
            what = "block" if size == 1 else f"{size} blocks"
            raise LogRangeUnsplittable(
                f"eth_getLogs cannot be split further: {what} from {start} still fails ({error}); "
                "narrow the filter (fewer addresses or events) or use a provider without this limit")
        hinted = error.hinted_span if isinstance(error, RangeTooLarge) else None
        if isinstance(error, RangeTooLarge) and error.max_span is not None:
            limits.ceiling = min(error.max_span, limits.ceiling or error.max_span)
        new = hinted if hinted is not None and hinted < size else size // 2
        new = max(self._min_span, new)
        limits.span = min(limits.span, new)
        limits.clean = 0
        return new

    def _note_success(self, size: int, limits: _EndpointLimits) -> None:
        if size < limits.span:
            return
        limits.clean += 1
        if limits.clean >= self._grow_after:
            limits.clean = 0
            limits.span = min(limits.span * 2, limits.ceiling or self._max_span, self._max_span)
