"""Proof that every ``eth_getLogs`` answer holds all the logs it should: result caps, block blooms, receipts.

Some nodes answer ``eth_getLogs`` with fewer logs than there are, and no error: a result cap that cuts an
answer after N logs (ethers-io/ethers.js#1389, vechain/vechain-sdk-js#1049), a load-balanced provider
whose backend lags and answers empty for blocks it does not have yet. A reader that trusts the answer
loses rows for good: the checkpoint moves past blocks whose logs were never stored. :class:`Completeness`
checks each answer of a :class:`~toolkit.chain.logs.LogReader` before its chunks are yielded, so before
anything of it can be committed; a block that fails the checks raises, and the checkpoint stays before it.

1. **Result caps.** An answer of exactly a known cap (stated by the provider, or configured) is split and
   read again by the reader. A cap nobody stated shows in the blooms (2.): the answer stops before
   blocks that hold logs. When it stops exactly after its last such block, only its count can tell:
   an answer of a count providers cap at (:func:`suspected_cap`) has its last block read again by hash.
   A cut answer of such a count, or two cut answers of the same count, teach the endpoint its cap
   (the reader then asks for fewer logs at once).
2. **Blooms.** Each block header's ``logsBloom`` (2,048 bits; each address and topic of each log sets the
   three bits given by the low 11 bits of the first three byte pairs of its Keccak-256 hash: Ethereum
   Yellow Paper, §4.3.1, function M3:2048) says whether the block may hold a log of one of the filter's
   addresses with one of its topics0. Such a block that returned no log is read again by its hash
   (EIP-234: exactly that block's logs, or an error -- geth's "unknown block" -- when the node does not
   have it); an answer whose logs stop before such blocks was cut, so its last block is read again with
   them. A block still without a log after that is a bloom false positive (a bloom is a superset test).
3. **Receipts** (``mode="receipts"``, exact). Every block whose bloom matches is compared with its
   receipts (``eth_getBlockReceipts`` by block hash): each log of the receipts that matches the filter
   must be in the answer; a block that lacks one takes the receipts' logs, a log the receipts do not
   have is an inconsistent node (:class:`~toolkit.chain.logs.InconsistentLogs`).

The headers checked are the ones the pull needs anyway (it stores the headers of the blocks with rows and
compares their hashes): here every block of each answer's range is fetched, in batches, while the
answer is read; the chunks carry the headers of their blocks with logs and of their last block, so the
pull does not fetch them again. What was read again, and why, is counted in the client's
:class:`~toolkit.chain.rpc.RpcStats` (``rereads``, ``checks``), which the run report keeps.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import numpy as np
import pyarrow as pa
from eth_hash.auto import keccak

from toolkit.chain.blocks import BlockHeader, BlockHeaders
from toolkit.chain.errors import ReorgDetected, Transient
from toolkit.chain.logs import InconsistentLogs
from toolkit.chain.logtable import LOG_FIELDS, Logs, log_dicts, positions, reordered
from toolkit.chain.rpc import RpcClient
from toolkit.hexarrays import fixed_hex

#: How the completeness of each answer is checked: ``bloom`` (caps and blooms, the default), ``receipts``
#: (and every block whose bloom matches against its receipts), ``none`` (the node is trusted).
VERIFY_MODES = ("bloom", "receipts", "none")
#: Bytes of a block's ``logsBloom``.
BLOOM_BYTES = 256
#: Blocks whose logs are read again by hash per JSON-RPC batch.
REREAD_BATCH = 50


def suspected_cap(count: int) -> bool:
    """Whether ``count`` logs look like a provider's result cap: a multiple of 1,000 (10,000 as Infura, Alchemy
    and QuickNode state theirs), or a power of two from 256 (vechain/vechain-sdk-js#1049: 256;
    docs/sources/chain.md#silent-truncation). Not multiples of 500 or 100: blocks of equal numbers of logs
    would make every answer suspect."""
    return count >= 256 and (count % 1000 == 0 or count & (count - 1) == 0)


@lru_cache(maxsize=4096)
def bloom_positions(item: bytes) -> tuple[tuple[int, int], ...]:
    """The three ``(byte, mask)`` places ``item`` (an address or a topic, as bytes) sets in a bloom
    (Yellow Paper §4.3.1 M3:2048: bits numbered from the low end of the 2,048-bit big-endian value)."""
    digest = keccak(item)
    bits = [((digest[i] << 8) | digest[i + 1]) & 2047 for i in (0, 2, 4)]
    return tuple((BLOOM_BYTES - 1 - bit // 8, 1 << (bit % 8)) for bit in bits)


def _any_in(blooms: np.ndarray, items: Sequence[bytes]) -> np.ndarray:
    """For each bloom (rows of ``blooms``), whether it may contain one of ``items`` (all: no items given)."""
    if not items:
        return np.ones(len(blooms), bool)
    found = np.zeros(len(blooms), bool)
    for item in items:
        places = bloom_positions(item)
        found |= np.logical_and.reduce([(blooms[:, byte] & mask) != 0 for byte, mask in places])
    return found


def bloom_matches(blooms: np.ndarray, addresses: Sequence[str], topics0: Sequence[str]) -> np.ndarray:
    """For each bloom (``(n, 256)`` uint8), whether its block may hold a log of one of ``addresses`` with one of
    ``topics0`` (hex strings; empty: any)."""
    return _any_in(blooms, [bytes.fromhex(a[2:]) for a in addresses]) & \
        _any_in(blooms, [bytes.fromhex(t[2:]) for t in topics0])


def blooms_of(headers: Sequence[BlockHeader]) -> np.ndarray:
    """The headers' ``logsBloom`` as ``(n, 256)`` uint8, a whole column at a time; a header without a
    readable bloom gets one with every bit set (its block is checked as if it matched)."""
    values = [h.logs_bloom for h in headers]
    blooms = fixed_hex(values, BLOOM_BYTES) if all(isinstance(v, str) for v in values) else None
    if blooms is not None:
        return blooms
    rows = [fixed_hex([v], BLOOM_BYTES) if isinstance(v, str) else None for v in values]
    full = np.full(BLOOM_BYTES, 0xFF, np.uint8)
    return np.array([row[0] if row is not None else full for row in rows], np.uint8).reshape(-1, BLOOM_BYTES)


class Completeness:
    """The checks of the module docstring for the answers of one endpoint (``client``), with headers read
    through ``headers`` (not kept: a pull over a long range would otherwise hold every header)."""

    def __init__(self, client: RpcClient, headers: BlockHeaders, mode: str = "bloom") -> None:
        if mode not in VERIFY_MODES or mode == "none":
            raise ValueError(f"verify mode {mode!r}: one of {', '.join(m for m in VERIFY_MODES if m != 'none')}")
        self._client = client
        self._headers = headers
        self.mode = mode
        #: Counts of answers that stopped before blocks with logs: the same count twice is the endpoint's cap.
        self._cut_counts: Counter[int] = Counter()

    def count(self, what: str, cause: str, n: int = 1) -> None:
        """Count ``n`` re-reads (``what="rereads"``) or checks (``"checks"``) of ``cause`` in the run report."""
        if n:
            getattr(self._client.stats, what)[cause] += n

    async def headers(self, start: int, end: int) -> dict[int, BlockHeader]:
        """The headers of blocks ``[start, end)``, fetched now (not cached)."""
        return await self._headers.get(range(start, end), refresh=True, keep=False)

    async def complete(self, addresses: Sequence[str], topics0: Sequence[str], start: int, end: int, logs: Logs,
                       blocks: np.ndarray, headers: dict[int, BlockHeader]) -> tuple[Logs, np.ndarray, int | None]:
        """The logs of blocks ``[start, end)`` (``logs``, their block numbers ``blocks``, both in (block, log
        index) order) made complete -- blocks re-read where blooms (and receipts) say logs are missing -- and the
        endpoint's result cap when this answer showed it (else None)."""
        numbers = np.arange(start, end)
        matching = numbers[bloom_matches(blooms_of([headers[n] for n in range(start, end)]), addresses, topics0)]
        self.count("checks", "blocks", end - start)
        self.count("checks", "bloom_matches", len(matching))
        empty = matching[~np.isin(matching, blocks)]
        reread = set(empty.tolist())
        last = int(blocks[-1]) if len(blocks) else None
        cut = last is not None and len(empty) > 0 and int(empty[-1]) > last
        suspect = last is not None and suspected_cap(len(logs))
        if cut or suspect:
            self.count("rereads", "stopped_early" if cut else "result_cap")
            reread.add(last)  # the answer may have been cut inside its last block  # type: ignore[arg-type]
        replaced: dict[int, list[dict[str, Any]]] = {}
        cap = None
        if reread:
            self.count("rereads", "bloom_without_logs", len(empty))
            replaced = await self._by_hash(addresses, topics0, [headers[n] for n in sorted(reread)])
            self.count("checks", "bloom_false_positives", sum(1 for n in empty.tolist() if not replaced[n]))
            before = int(np.count_nonzero(np.isin(blocks, sorted(reread))))
            recovered = sum(map(len, replaced.values())) - before
            self.count("checks", "logs_recovered", recovered)
            if recovered > 0 and (cut or suspect):
                self._cut_counts[len(logs)] += 1
                if suspect or self._cut_counts[len(logs)] >= 2:
                    cap = len(logs)
        if self.mode == "receipts":
            have = _merge(logs, blocks, replaced)
            replaced.update(await self._against_receipts(addresses, topics0, matching, have, headers))
        if not replaced or all(len(found) == np.count_nonzero(blocks == n) for n, found in replaced.items()):
            return logs, blocks, cap  # nothing was missing (a block read again has the same logs)
        merged = _merge(logs, blocks, replaced)
        merged_blocks, indexes = positions(merged)
        order = np.lexsort((indexes, merged_blocks))
        return reordered(merged, order), merged_blocks[order], cap

    async def _by_hash(self, addresses: Sequence[str], topics0: Sequence[str],
                       headers: Sequence[BlockHeader]) -> dict[int, list[dict[str, Any]]]:
        """The logs of each header's block, read by its hash (EIP-234), checked to be that block's."""
        answers: list[Any] = []
        for first in range(0, len(headers), REREAD_BATCH):
            piece = headers[first:first + REREAD_BATCH]
            try:
                answers += await self._client.batch([("eth_getLogs", [_hash_filter(h.hash, addresses, topics0)])
                                                     for h in piece])
            except Transient as error:
                if "unknown block" not in str(error):
                    raise
                raise ReorgDetected(
                    f"{self._client.redacted_url} no longer knows one of blocks {piece[0].number}-{piece[-1].number} "
                    "by its hash after retries: the chain reorganised while reading; read up to a finalized block "
                    "or re-run") from None
        out: dict[int, list[dict[str, Any]]] = {}
        for header, answer in zip(headers, answers, strict=True):
            found = answer if isinstance(answer, list) else []
            for log in found:
                if not isinstance(log, dict) or log.get("blockHash") != header.hash or log.get("removed"):
                    raise ReorgDetected(
                        f"eth_getLogs by hash at {self._client.redacted_url} returned a log of another block "
                        f"than {header.number} ({header.hash}): the chain reorganised while reading; read up to a "
                        "finalized block or re-run")
            out[header.number] = found
        return out

    async def _against_receipts(self, addresses: Sequence[str], topics0: Sequence[str], matching: np.ndarray,
                                logs: Logs, headers: dict[int, BlockHeader]) -> dict[int, list[dict[str, Any]]]:
        """``--verify receipts``: the blocks whose answer lacks a log their receipts hold, with the receipts' logs."""
        if not len(matching):
            return {}
        wanted_addresses = {a.lower() for a in addresses}
        wanted_topics = {t.lower() for t in topics0}
        numbers = matching.tolist()
        receipts: list[Any] = []
        for first in range(0, len(numbers), REREAD_BATCH):
            piece = numbers[first:first + REREAD_BATCH]
            receipts += await self._client.batch([("eth_getBlockReceipts", [headers[n].hash]) for n in piece])
        self.count("checks", "receipts_blocks", len(numbers))
        ours: dict[int, set[tuple[str, str]]] = {}
        for log in log_dicts(logs) if len(numbers) else []:
            ours.setdefault(int(log["blockNumber"], 16), set()).add((log["transactionHash"], log["logIndex"]))
        out: dict[int, list[dict[str, Any]]] = {}
        for number, block_receipts in zip(numbers, receipts, strict=True):
            expected = [log for receipt in block_receipts or [] for log in receipt.get("logs", [])
                        if _matches(log, wanted_addresses, wanted_topics)]
            keys = {(log["transactionHash"], log["logIndex"]) for log in expected}
            have = ours.get(number, set())
            if have - keys:
                raise InconsistentLogs(
                    f"eth_getLogs at {self._client.redacted_url} returned logs of block {number} that its receipts "
                    "do not hold; the provider is inconsistent, try another endpoint")
            if keys - have:
                self.count("rereads", "receipts")
                self.count("checks", "logs_recovered", len(keys - have))
                out[number] = expected
        return out


def _hash_filter(block_hash: str, addresses: Sequence[str], topics0: Sequence[str]) -> dict[str, Any]:
    """The ``eth_getLogs`` filter object of one block by its hash (EIP-234)."""
    params: dict[str, Any] = {"blockHash": block_hash}
    if addresses:
        params["address"] = list(addresses)
    if topics0:
        params["topics"] = [list(topics0)]
    return params


def _matches(log: dict[str, Any], addresses: set[str], topics: set[str]) -> bool:
    """Whether a receipt's log is one the filter selects."""
    if log.get("removed"):
        return False
    if addresses and str(log.get("address", "")).lower() not in addresses:
        return False
    first = (log.get("topics") or [None])[0]
    return not topics or (isinstance(first, str) and first.lower() in topics)


def _merge(logs: Logs, blocks: np.ndarray, replaced: dict[int, list[dict[str, Any]]]) -> Logs:
    """``logs`` with the logs of the ``replaced`` blocks swapped for the given ones (not yet in order)."""
    if not replaced:
        return logs
    keep = ~np.isin(blocks, np.fromiter(replaced, np.int64, len(replaced)))
    added = [log for found in replaced.values() for log in found]
    if isinstance(logs, pa.Table):
        schema = pa.schema(list(LOG_FIELDS))
        return pa.concat_tables([logs.filter(pa.array(keep)), pa.Table.from_pylist(added, schema=schema)])
    return [log for log, kept in zip(logs, keep, strict=True) if kept] + added
