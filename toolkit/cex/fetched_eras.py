"""Fetched leverage-tier tables (``liqtk cex fetch --what tiers``, table ``cex_leverage_tiers``) as venue eras.

Each fetch of one symbol becomes an era named ``fetched-<time>``, in force from the fetch time
(``valid_from``), with the tiers of ccxt's ``LeverageTier`` list (:func:`toolkit.cex.tier_tables.tiers_from_leverage_tiers`:
maintenance amounts by the recursion, checked against Binance's ``cum``). Its provenance names the run, the
exchange and the ccxt version (docs/sources/venues.md#ccxt-unified-structures). A symbol the profile does not
describe becomes an instrument from the fetched market facts (contract size, tick, lot, linear or inverse).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from toolkit.cex.instruments import Instrument, Kind
from toolkit.cex.tier_tables import TierTableError, tiers_from_leverage_tiers
from toolkit.cex.venues import Era, Provenance, VenueProfile
from toolkit.errors import UserInputError

#: Base unit of a settlement currency the profile does not list (8 decimals, like every profile's default).
DEFAULT_BASE_UNIT = Decimal("0.00000001")


def _instrument(symbol: str, row: Mapping[str, Any], profile: VenueProfile) -> Instrument:
    currency = str(row.get("currency") or "USDT")
    base = next((p.instrument.base_unit for p in profile.instruments.values()
                 if p.instrument.settlement_currency == currency), DEFAULT_BASE_UNIT)
    return Instrument(symbol=symbol, kind=Kind.INVERSE if row.get("kind") == "inverse" else Kind.LINEAR,
                      contract_value=Decimal(str(row.get("contract_size") or 1)),
                      tick_size=Decimal(str(row.get("tick_size") or DEFAULT_BASE_UNIT)),
                      lot_size=Decimal(str(row.get("lot_size") or DEFAULT_BASE_UNIT)), settlement_currency=currency,
                      quote_currency=currency, base_unit=base)


def with_fetched_eras(profile: VenueProfile, rows: Iterable[Mapping[str, Any]]) -> VenueProfile:
    """``profile`` with one era per fetched table in ``rows`` (records of ``cex_leverage_tiers`` of this venue)."""
    tables: dict[tuple[str, datetime], list[Mapping[str, Any]]] = {}
    for row in rows:
        tables.setdefault((str(row["venue_symbol"]), row["fetched_at"]), []).append(row)
    for (symbol, fetched_at), entries in sorted(tables.items(), key=lambda item: item[0][1]):
        first = entries[0]
        unified = [{"tier": r["tier"], "minNotional": r["min_notional"], "maxNotional": r["max_notional"],
                    "maintenanceMarginRate": r["maintenance_margin_rate"], "maxLeverage": r["max_leverage"],
                    "info": json.loads(r["info_json"] or "{}")} for r in entries]
        try:
            tiers = tiers_from_leverage_tiers(symbol, unified)
        except TierTableError as exc:
            raise UserInputError(f"--store: the fetched {profile.id} {symbol} table of {fetched_at:%Y-%m-%d %H:%M} "
                                 f"does not hold together ({exc})") from None
        stamp = fetched_at.strftime("%Y-%m-%dT%H:%MZ")
        provenance = Provenance(f"liqtk cex fetch run {first['run_id']} ({first['exchange']}, "
                                "docs/sources/venues.md#ccxt-unified-structures)", stamp)
        era = Era(f"fetched-{stamp}", fetched_at, tiers, provenance, fetched=True)
        instrument = None if symbol in profile.instruments else _instrument(symbol, first, profile)
        profile = profile.with_eras(symbol, [era], instrument)
    return profile


def load_fetched(profile: VenueProfile, store_path: Any) -> VenueProfile:
    """``profile`` with the eras fetched into the store at ``store_path`` (none when it has none)."""
    from toolkit.store import cex_store
    from toolkit.store.db import Store

    frame = cex_store.read(Store(store_path, create=False), "cex_leverage_tiers", "venue = ?", [profile.id])
    return with_fetched_eras(profile, frame.to_dict("records"))
