"""Reader programs as data: cut into pieces that fit one ``eth_call``, patches applied in Python.

A *program* is the list of calls one point reads (:data:`ProgramCall`: target, calldata, the
:class:`~toolkit.chain.reader.Patch` es that take words of earlier calls' answers).
:class:`toolkit.chain.calls.StateReader` sends a program as one reader ``eth_call``
(:mod:`toolkit.chain.reader`) or, on a node without state overrides, as plain ``eth_call`` s with the
patches applied here (:func:`apply_patches`) the way the reader contract applies them. No I/O here.
"""

from __future__ import annotations

from typing import Any

import orjson

from toolkit.chain.errors import ExecutionReverted
from toolkit.chain.reader import TARGET, Patch

#: One call of a program: ``(to, calldata, patches)``; patch sources index the same program.
ProgramCall = tuple[str, bytes, tuple[Patch, ...]]


class NotRun(ExecutionReverted):
    """A reader call that did not run: a call whose answer it takes failed or lacked the word."""


def apply_patches(call: ProgramCall, answers: list[bytes | ExecutionReverted | None]) -> tuple[str | None, bytes]:
    """The call's target and calldata with its patches applied from ``answers``; target None when a
    source failed or lacks the word (as the reader contract does)."""
    to, data, patches = call
    body = bytearray(data)
    for patch in patches:
        source = answers[patch.source]
        if not isinstance(source, bytes) or len(source) < 32 * patch.word + 32:
            return None, data
        word = source[32 * patch.word:32 * patch.word + 32]
        if patch.offset == TARGET:
            if any(word[:12]):
                return None, data
            to = "0x" + word[12:].hex()
        elif patch.offset + 32 > len(body):
            return None, data
        else:
            body[patch.offset:patch.offset + 32] = word
    return to, bytes(body)


def call_failure(calls: list[ProgramCall], index: int, results: list[tuple[bool, bytes]]) -> ExecutionReverted:
    """The error of a failed reader call: not run (a source failed) or reverted."""
    patches = calls[index][2]
    if any(not results[p.source][0] or len(results[p.source][1]) < 32 * p.word + 32 for p in patches):
        return NotRun("not run: a call whose answer it takes failed")
    data = results[index][1]
    return ExecutionReverted("reverted in the reader contract", data="0x" + data.hex() if data else None)


def sub_program(program: list[ProgramCall], piece: list[int]) -> list[ProgramCall]:
    """The calls of ``piece`` (indexes of ``program``, every patch source inside it) as a program of their own."""
    position = {index: local for local, index in enumerate(piece)}
    return [(to, data, tuple(Patch(position[p.source], p.word, p.offset) for p in patches))
            for to, data, patches in (program[i] for i in piece)]


def cut_program(program: list[ProgramCall], size: int) -> list[list[int]]:
    """Indexes of ``program`` cut into pieces of at most ``size`` calls, keeping each call with the
    calls it takes words from (connected groups stay whole; a group larger than ``size`` is one piece)."""
    parent = list(range(len(program)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for index, (_, _, patches) in enumerate(program):
        for patch in patches:
            parent[root(index)] = root(patch.source)
    groups: dict[int, list[int]] = {}
    for index in range(len(program)):
        groups.setdefault(root(index), []).append(index)
    pieces: list[list[int]] = []
    for group in groups.values():
        if pieces and len(pieces[-1]) + len(group) <= size:
            pieces[-1].extend(group)
        else:
            pieces.append(list(group))
    return [sorted(piece) for piece in pieces]


def batches(requests: list[tuple[str, list[Any]]], count: int, size: int) -> list[list[tuple[str, list[Any]]]]:
    """``requests`` in order, cut into batches of at most ``count`` requests and about ``size`` bytes of JSON."""
    out: list[list[tuple[str, list[Any]]]] = []
    used = 0
    for request in requests:
        length = len(orjson.dumps(request[1]))
        if not out or len(out[-1]) >= count or used + length > size:
            out.append([])
            used = 0
        out[-1].append(request)
        used += length
    return out
