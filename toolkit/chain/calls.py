"""Contract state at given points: many ``eth_call`` s, through the reader contract or as batches, cached.

A *point* is where state is read (:class:`StatePoint`): after a block (the start of the next one), or
right before one transaction of the next block (with that transaction's pre-state as a state override,
:mod:`toolkit.chain.prestate`), optionally in the next block's context (its number and timestamp, as an
``eth_call`` block override: interest accrues by time). Callers get a :class:`PointCaller` per point
(:meth:`StateReader.at`), or call :meth:`StateReader.call_many` with bare block numbers.

Calls are collected the way a data loader does: every caller that asks in the same turn of the event
loop is served by one flush. When the node accepts state overrides (:class:`NodeFeatures`, learned by
:meth:`StateReader.probe`), the calls of one point become one program of the reader contract
(:mod:`toolkit.chain.reader`): one billed ``eth_call`` for all the reads of a block in ``block`` mode, or
of a transaction in ``before_tx`` mode, dependent reads included (a call may take words of earlier
answers: ``patches``). Otherwise they go out as JSON-RPC batches of plain ``eth_call`` s, dependent
calls in dependency order. The programs and batches of one flush share HTTP requests; programs are cut
to size and patched for plain reads by :mod:`toolkit.chain.programs`.

State at a fixed point never changes once the block is final, so a repeated read costs nothing (cache
per point, target and calldata). A revert is the answer of that one call, returned in its place; a
node without the block's state raises :class:`~toolkit.chain.errors.NoArchiveState` for the whole read.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from toolkit.chain.errors import ExecutionReverted, NoArchiveState, RpcError
from toolkit.chain.programs import NotRun, ProgramCall, apply_patches, batches, call_failure, cut_program, sub_program
from toolkit.chain.reader import Patch, ReaderCall, call_params, decode_run
from toolkit.chain.rpc import RpcClient

#: ``(block, to, calldata)`` or ``(block, to, calldata, patches)``; patch sources index the same list.
CallSpec = tuple[Any, ...]
#: Most calls in one reader program (one ``eth_call``): well within the gas a node gives an eth_call
#: (anvil 30M, geth 50M by default) at tens of thousands of gas per view call.
MAX_PROGRAM_CALLS = 250
#: Reader programs per JSON-RPC batch: each carries the reader's code and its point's pre-state (tens of
#: kB), and anvil 1.7.1 answers "Invalid request" to a body of 100 of them (about 1.7 MB).
PROGRAMS_PER_BATCH = 20
#: Most bytes of JSON in one batch of reader programs: a ``block``-mode program holds the reads of every
#: row of its block (over 100 kB for 20 Aave liquidations), and nodes refuse large bodies: anvil 1.7.1
#: above 2 MiB, geth above 5 MiB (docs/sources/state.md#request-size). A larger program goes alone.
MAX_BATCH_BYTES = 1 << 20


@dataclass(frozen=True)
class StatePoint:
    """Where state is read: after block ``block``; with ``tx_hash``, right before that transaction of
    block ``block + 1`` (the override holds its pre-state)."""

    block: int
    tx_hash: str | None = None


@dataclass
class NodeFeatures:
    """What the node takes, learned once per pull: state overrides (and so the reader contract), the
    block override of ``eth_call``'s fourth parameter, ``debug_traceTransaction``. None: not known yet."""

    overrides: bool | None = None
    block_overrides: bool | None = None
    traces: bool | None = None
    #: One line per fallback, in the order they were met (each printed once by the pull).
    notices: list[str] = field(default_factory=list)

    def notice(self, text: str) -> None:
        if text not in self.notices:
            self.notices.append(text)


@dataclass
class _Point:
    """What a point's calls run with: the state override and the block context."""

    override: dict[str, Any] | None = None
    context: dict[str, Any] | None = None
    #: Set when the override could not be applied (the node refused overrides): the reason.
    degraded: str | None = None


@dataclass
class _Unit:
    """One ``call_many`` of one caller: its calls (patch sources index ``calls``) and the future of its answers."""

    key: tuple[int, str | None]
    calls: list[ProgramCall]
    future: asyncio.Future[list[bytes | ExecutionReverted]]


class StateReader:
    """Cached ``eth_call`` reader over points (module docstring).

    :param client: the endpoint.
    :param features: what the node takes; None reads with plain batched ``eth_call`` s only (no probe).
    :param batch_size: plain ``eth_call`` s per JSON-RPC batch (geth's default ``BatchRequestLimit``).
    """

    def __init__(self, client: RpcClient, *, features: NodeFeatures | None = None, batch_size: int = 1000,
                 max_program: int = MAX_PROGRAM_CALLS) -> None:
        self._client = client
        self.features = features
        self._batch_size = batch_size
        self._max_program = max_program
        self._points: dict[tuple[int, str | None], _Point] = {}
        self._cache: dict[tuple[tuple[int, str | None], str, bytes], bytes | ExecutionReverted] = {}
        self._pending: list[_Unit] = []
        self._flush_scheduled = False

    @property
    def client(self) -> RpcClient:
        """The endpoint the reads go to."""
        return self._client

    # -- points ----------------------------------------------------------------------------------

    def at(self, point: StatePoint, *, override: Mapping[str, Any] | None = None,
           context: Mapping[str, Any] | None = None) -> PointCaller:
        """A caller reading at ``point``: calls at block ``point.block`` run with ``override`` (the state
        override, e.g. a transaction's pre-state) in ``context`` (block override, e.g. ``{"number": ...,
        "time": ...}`` of the next block); calls at other blocks run as plain reads of those blocks."""
        key = (point.block, point.tx_hash)
        known = self._points.get(key)
        if known is None:
            self._points[key] = _Point(dict(override) if override else None, dict(context) if context else None)
        return PointCaller(self, point)

    def clear(self) -> None:
        """Forget every point and cached answer (a pull's chunks read disjoint blocks: memory stays bounded)."""
        self._points.clear()
        self._cache.clear()

    def degraded(self, point: StatePoint) -> str | None:
        """Why the point's override could not be applied (its calls read the plain block), or None."""
        known = self._points.get((point.block, point.tx_hash))
        return None if known is None else known.degraded

    async def probe(self, block: int, context: Mapping[str, Any] | None = None) -> NodeFeatures:
        """Learn whether the node takes state overrides and the block override (one empty reader
        program at ``block``); a no is kept as a notice. Needs :attr:`features`."""
        features = self.features
        if features is None:
            raise ValueError("a StateReader without NodeFeatures reads plain eth_calls only")
        if features.overrides is None:
            await self._run_program([], block, None, dict(context) if context else None)
        return features

    # -- calls -----------------------------------------------------------------------------------

    async def call_many(self, calls: Sequence[CallSpec]) -> list[bytes | ExecutionReverted]:
        """Run ``(block, to, calldata[, patches])`` calls, each at the end of its block; return the
        return data or the revert, in call order.

        :raises NoArchiveState: the node has pruned the state of one of the blocks.
        :raises RpcError: any other failure after the client's retries.
        """
        return await self._calls(None, calls)

    async def _calls(self, point: StatePoint | None, calls: Sequence[CallSpec]) -> list[bytes | ExecutionReverted]:
        """Calls grouped by the point they read at (``point`` for its block, else the call's block)."""
        by_key: dict[tuple[int, str | None], list[int]] = {}
        for index, spec in enumerate(calls):
            block = spec[0]
            key = (point.block, point.tx_hash) if point is not None and block == point.block else (block, None)
            by_key.setdefault(key, []).append(index)
        answers: list[bytes | ExecutionReverted | None] = [None] * len(calls)
        loop = asyncio.get_running_loop()
        waits = []
        for key, indexes in by_key.items():
            self._points.setdefault(key, _Point())
            local = {old: new for new, old in enumerate(indexes)}
            unit_calls = []
            for old in indexes:
                spec = calls[old]
                patches = tuple(spec[3]) if len(spec) > 3 else ()
                if any(p.source not in local for p in patches):
                    raise ValueError("a call takes a word of a call at another point")
                unit_calls.append((str(spec[1]).lower(), bytes(spec[2]),
                                   tuple(Patch(local[p.source], p.word, p.offset) for p in patches)))
            unit = _Unit(key, unit_calls, loop.create_future())
            self._pending.append(unit)
            waits.append((indexes, unit.future))
        if not self._flush_scheduled:
            self._flush_scheduled = True
            loop.call_soon(lambda: asyncio.ensure_future(self._flush()))
        for indexes, future in waits:
            for index, answer in zip(indexes, await future, strict=True):
                answers[index] = answer
        return answers  # type: ignore[return-value]  # every index was answered above

    async def _flush(self) -> None:
        units, self._pending, self._flush_scheduled = self._pending, [], False
        by_key: dict[tuple[int, str | None], list[_Unit]] = {}
        for unit in units:
            by_key.setdefault(unit.key, []).append(unit)
        try:
            prepared = [(key, group, *self._program(key, group)) for key, group in by_key.items()]
            answers = await self._run_all([(key, program) for key, _, program, _ in prepared if program])
            for key, group, program, places in prepared:
                got = answers.get(key, [])
                for index, (to, data, patches) in enumerate(program):
                    if not patches:
                        self._cache[(key, to, data)] = got[index]
                for unit, place in zip(group, places):
                    unit.future.set_result([self._cache[(key, to, data)] if slot < 0 else got[slot]
                                            for (to, data, _), slot in zip(unit.calls, place)])
        except BaseException as error:  # every waiting caller sees the failure
            for unit in units:
                if not unit.future.done():
                    unit.future.set_exception(error)
            if not isinstance(error, Exception):
                raise

    def _program(self, key: tuple[int, str | None],
                 units: list[_Unit]) -> tuple[list[ProgramCall], list[list[int]]]:
        """The calls of one point's units that are not cached, each once (the same call with the same
        sources for several rows runs once), and each unit call's place in it (-1: cached)."""
        program: list[ProgramCall] = []
        slots: dict[ProgramCall, int] = {}
        places: list[list[int]] = []
        for unit in units:
            place: list[int] = []
            for to, data, patches in unit.calls:
                if not patches and (key, to, data) in self._cache:
                    place.append(-1)
                    continue
                moved = tuple(Patch(place[p.source], p.word, p.offset) for p in patches)
                if any(p.source < 0 for p in moved):  # a source was cached: it runs again in this program
                    moved = self._unpatch_cached(unit, place, patches, program, slots)
                slot = slots.get((to, data, moved))
                if slot is None:
                    slot = slots[(to, data, moved)] = len(program)
                    program.append((to, data, moved))
                place.append(slot)
            places.append(place)
        return program, places

    @staticmethod
    def _unpatch_cached(unit: _Unit, place: list[int], patches: tuple[Patch, ...],
                        program: list[ProgramCall],
                        slots: dict[ProgramCall, int]) -> tuple[Patch, ...]:
        """Patches of a call whose sources include cached calls: those sources join the program again."""
        moved = []
        for patch in patches:
            slot = place[patch.source]
            if slot < 0:
                to, data, _ = unit.calls[patch.source]
                slot = slots.get((to, data, ()), -1)
                if slot < 0:
                    slot = slots[(to, data, ())] = len(program)
                    program.append((to, data, ()))
                place[patch.source] = slot
            moved.append(Patch(slot, patch.word, patch.offset))
        return tuple(moved)

    async def _run_all(self, runs: list[tuple[tuple[int, str | None], list[ProgramCall]]]
                       ) -> dict[tuple[int, str | None], list[bytes | ExecutionReverted]]:
        """Answer each point's program: by the reader, all programs of the flush in one JSON-RPC batch
        (one billed call per program), or plainly when the node does not take overrides."""
        features = self.features
        if not runs:
            return {}
        if features is not None and features.overrides is None:
            first = runs[0][0]
            await self._run_program([], first[0], None, self._points[first].context)
        if features is None or not features.overrides:
            for key, _ in runs:
                point = self._points[key]
                if point.override is not None and point.degraded is None:
                    point.degraded = "the node does not take eth_call state overrides"
            plain = await self._plain(runs)
            return {key: answers for (key, _), answers in zip(runs, plain, strict=True)}
        jobs = [(key, piece, sub_program(program, piece)) for key, program in runs
                for piece in cut_program(program, self._max_program)]
        results = await self._run_programs([(key, calls) for key, _, calls in jobs])
        out: dict[tuple[int, str | None], list[bytes | ExecutionReverted | None]] = {
            key: [None] * len(program) for key, program in runs}
        failed = [(key, calls) for (key, _, calls), result in zip(jobs, results, strict=True) if result is None]
        plainly = iter(await self._plain(failed) if failed else [])  # a reader call failed as a whole
        for (key, piece, _), result in zip(jobs, results, strict=True):
            for index, answer in zip(piece, result if result is not None else next(plainly), strict=True):
                out[key][index] = answer
        return {key: [a if a is not None else ExecutionReverted("not answered") for a in answers]
                for key, answers in out.items()}

    async def _run_programs(self, jobs: list[tuple[tuple[int, str | None], list[ProgramCall]]]
                            ) -> list[list[bytes | ExecutionReverted] | None]:
        """Reader programs (the node takes overrides) as ``eth_call`` s of one JSON-RPC batch; None for a
        program whose call failed as a whole (its calls are then read plainly)."""
        features = self.features
        assert features is not None
        requests = []
        for key, calls in jobs:
            point = self._points[key]
            context = point.context if features.block_overrides is not False else None
            requests.append(("eth_call", call_params([ReaderCall(to, data, patches) for to, data, patches in calls],
                                                     key[0], state_override=point.override, block_override=context)))
        pieces = await asyncio.gather(*(self._client.batch(
            piece, item_errors=lambda e: not e.retryable and not isinstance(e, NoArchiveState))
            for piece in batches(requests, PROGRAMS_PER_BATCH, MAX_BATCH_BYTES)))
        answers = [answer for piece in pieces for answer in piece]
        out: list[list[bytes | ExecutionReverted] | None] = []
        for (_, calls), raw in zip(jobs, answers, strict=True):
            try:
                answer = None if isinstance(raw, RpcError) else decode_run(bytes.fromhex(str(raw)[2:]))
            except ValueError:
                answer = None
            if answer is None or not answer.override_applied:
                out.append(None)
                continue
            out.append([data if ok else call_failure(calls, index, answer.results)
                        for index, (ok, data) in enumerate(answer.results)])
        return out

    async def _run_program(self, calls: list[ProgramCall], block: int,
                           override: dict[str, Any] | None,
                           context: dict[str, Any] | None) -> list[bytes | ExecutionReverted] | None:
        """One reader ``eth_call``; None when it failed as a whole (read those calls plainly).

        While the node's features are unknown, a refusal is tried again without the block override (a
        success then means the node refuses that one), and a refusal without it, or an answer that is
        not the reader's or lacks the probe word, means the node refuses or ignores state overrides.
        """
        features = self.features
        assert features is not None
        use_context = context if features.block_overrides is not False else None
        reader_calls = [ReaderCall(to, data, patches) for to, data, patches in calls]
        try:
            raw = await self._client.call("eth_call", call_params(reader_calls, block, state_override=override,
                                                                  block_override=use_context))
        except NoArchiveState:
            raise
        except RpcError as error:
            if features.overrides:
                return None  # the node takes overrides: this program failed (out of gas?); read plainly
            if use_context is not None and features.block_overrides is None:
                retry = await self._run_program(calls, block, override, None)
                if features.overrides:
                    features.block_overrides = False
                    features.notice(f"the node refuses eth_call block overrides ({_short(error)}): views run in "
                                    "the context of the block read (its timestamp), not of the liquidation's block")
                return retry
            return self._refused(f"the node refuses eth_call state overrides ({_short(error)})")
        try:
            answer = decode_run(bytes.fromhex(str(raw)[2:]))
        except ValueError:
            if features.overrides:
                return None
            return self._refused("the node ignores eth_call state overrides (the reader's code was not run)")
        if not answer.override_applied:
            return self._refused("the node ignores eth_call stateDiff overrides")
        features.overrides = True
        if use_context is not None and features.block_overrides is None:
            features.block_overrides = (answer.block_number, answer.timestamp) == (
                int(use_context.get("number", hex(block)), 16), int(use_context.get("time", "0x0"), 16))
            if not features.block_overrides:
                features.notice("the node ignores eth_call block overrides: views run in the context of the block "
                                "read (its timestamp), not of the liquidation's block")
        return [data if ok else call_failure(calls, index, answer.results)
                for index, (ok, data) in enumerate(answer.results)]

    def _refused(self, why: str) -> None:
        """Note that the node does not take state overrides (plain reads from now on)."""
        assert self.features is not None
        if self.features.overrides is None:
            self.features.overrides = False
            self.features.block_overrides = False
            self.features.notice(f"{why}: state is read with plain eth_calls at the start of each liquidation's "
                                 "block (state_position block_start)")
        return None

    async def _plain(self, jobs: list[tuple[tuple[int, str | None], list[ProgramCall]]]
                     ) -> list[list[bytes | ExecutionReverted]]:
        """Each job's calls (at its point's block) as plain ``eth_call`` s, dependency level by level (patches
        applied in Python); the calls of every job ready at a level share JSON-RPC batches."""
        features = self.features
        with_context = features is not None and bool(features.overrides) and bool(features.block_overrides)
        answers: list[list[bytes | ExecutionReverted | None]] = [[None] * len(calls) for _, calls in jobs]
        while any(answer is None for job in answers for answer in job):
            requests: list[tuple[str, Any]] = []
            places: list[tuple[int, int]] = []
            for j, (key, calls) in enumerate(jobs):
                point, got = self._points[key], answers[j]
                for i, (_, _, patches) in enumerate(calls):
                    if got[i] is not None or any(got[p.source] is None for p in patches):
                        continue
                    to, data = apply_patches(calls[i], got)
                    if to is None:
                        got[i] = NotRun("not run: a call whose answer it takes failed")
                        continue
                    params: list[Any] = [{"to": to, "data": "0x" + data.hex()}, hex(key[0])]
                    if with_context and point.context is not None:
                        params += [point.override or {}, point.context]
                    requests.append(("eth_call", params))
                    places.append((j, i))
            for start in range(0, len(requests), self._batch_size):
                results = await self._client.batch(requests[start:start + self._batch_size], return_reverts=True)
                for (j, i), result in zip(places[start:start + self._batch_size], results, strict=True):
                    answers[j][i] = result if isinstance(result, ExecutionReverted) else bytes.fromhex(result[2:])
        return [[a for a in job if a is not None] for job in answers]


class PointCaller:
    """The state caller of one point (:meth:`StateReader.at`), what adapters' enrichments use."""

    def __init__(self, reader: StateReader, point: StatePoint) -> None:
        self.reader = reader
        self.point = point

    async def call_many(self, calls: Sequence[CallSpec]) -> list[bytes | ExecutionReverted]:
        return await self.reader._calls(self.point, calls)


def _short(error: Exception) -> str:
    text = str(error)
    return text if len(text) <= 160 else text[:159] + "…"


