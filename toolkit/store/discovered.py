"""The store's cache of discovered markets (tables ``discovered_markets`` and ``discovery_scans``).

A pull reads it before it reads any registry log (:func:`load`), so each run reads only the registry
logs after the last one, and writes what it found in one transaction right after its run starts
(:func:`save`), before any liquidation row: a market is cached before a row of it is stored.
``liqtk decode`` reads it to attribute logs of discovered markets without a node. A rewind after a
reorganization removes what was found above the block it rewinds to (``Writer.rewind_chain``).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from toolkit.protocols.discovery import Cached, Discovery, Key, Market

if TYPE_CHECKING:
    from toolkit.store.db import Store, Writer


def load(store: Store | None, chain_id: int) -> dict[Key, Cached]:
    """The markets and scan positions the store holds for ``chain_id`` (empty without a store)."""
    if store is None:
        return {}
    with store.reader() as con:
        markets = con.execute(
            "SELECT protocol, registry, market, name, found_block, how, details_json FROM discovered_markets "
            "WHERE chain_id = ? ORDER BY found_block, market", [chain_id]).fetchall()
        scans = con.execute("SELECT protocol, registry, scanned_to FROM discovery_scans WHERE chain_id = ?",
                            [chain_id]).fetchall()
    cached: dict[Key, Cached] = {}
    for protocol, registry, market, name, found_block, how, details in markets:
        cached.setdefault((protocol, registry), Cached()).markets[market] = Market(
            market, found_block, how, name, json.loads(details) if details else {})
    for protocol, registry, scanned_to in scans:
        cached.setdefault((protocol, registry), Cached()).scanned_to = scanned_to
    return cached


def save(writer: Writer, discovery: Discovery, run_id: str) -> None:
    """Store the new markets and the scan positions of ``discovery`` in one transaction (a market already
    stored keeps its first record; a scan position only moves forward)."""
    rows = [(discovery.chain_id, result.template.protocol, result.template.name, market)
            for result in discovery.results for market in result.new]
    scans = [(discovery.chain_id, result.template.protocol, result.template.name, result.scanned_to)
             for result in discovery.results]
    if not rows and not scans:
        return
    with writer._transaction() as con:
        for chain_id, protocol, registry, market in rows:
            con.execute("INSERT OR IGNORE INTO discovered_markets VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, current_timestamp)",
                        [chain_id, protocol, registry, market.address, market.name, market.found_block, market.how,
                         json.dumps(market.details, sort_keys=True), run_id])
        for chain_id, protocol, registry, scanned_to in scans:
            con.execute("INSERT INTO discovery_scans VALUES (?, ?, ?, ?, ?, current_timestamp) "
                        "ON CONFLICT DO UPDATE SET scanned_to = greatest(scanned_to, excluded.scanned_to), "
                        "run_id = excluded.run_id, updated_at = excluded.updated_at",
                        [chain_id, protocol, registry, scanned_to, run_id])
