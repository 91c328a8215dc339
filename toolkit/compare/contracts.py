"""Which venue contract, and which of its risk-tier eras, a comparison applies.

A venue's rules (maintenance, liquidation style, partial rule, fees, ADL) come from its profile in
:mod:`toolkit.cex.venues`; its risk tiers belong to one instrument and change over time (eras). A comparison
names a :class:`VenueContract`, by default the venue's bitcoin perpetual (:data:`DEFAULT_SYMBOLS`), the
contract whose tiers the profiles document best (docs/sources/venues.md#bitmex-risk-limits and the venues'
tier entries there).

Era at a date: the era in force then. Before the earliest dated era of a profile (Hyperliquid in 2020, say)
the earliest era is applied as a counterfactual ("these rules on that day") and flagged with
``in_force=False`` so every output can say so.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from toolkit.cex import load_venue
from toolkit.cex.venues import Era, VenueProfile, venue_id
from toolkit.errors import UserInputError

#: Contract of each venue used when none is named: the bitcoin perpetual of the profile.
DEFAULT_SYMBOLS: dict[str, str] = {
    "bitmex": "XBTUSD",
    "binance-usdm": "BTCUSDT",
    "bybit": "BTCUSDT",
    "okx": "BTC-USD-SWAP",
    "dydx-v4": "BTC-USD",
    "hyperliquid": "BTC",
}


@dataclass(frozen=True)
class VenueContract:
    """A venue profile id and one of its instruments."""

    venue: str
    symbol: str

    @classmethod
    def of(cls, value: VenueContract | str) -> VenueContract:
        """``"bitmex"`` (default symbol), ``"bitmex:XBTUSD"``, or a :class:`VenueContract` as is."""
        if isinstance(value, VenueContract):
            return value
        name, _, symbol = str(value).partition(":")
        venue = venue_id(name)
        contract = cls(venue, symbol or DEFAULT_SYMBOLS[venue])
        load_venue(venue).instrument(contract.symbol, "venue symbol")
        return contract

    def __str__(self) -> str:
        return f"{self.venue}:{self.symbol}"


def contracts(values: Sequence[VenueContract | str]) -> list[VenueContract]:
    """:meth:`VenueContract.of` for each of ``values``."""
    return [VenueContract.of(v) for v in values]


def venue_era(profile: VenueProfile, symbol: str, moment: datetime) -> tuple[Era, bool]:
    """The era of ``symbol`` in force at ``moment`` and ``True``; before the earliest dated era, that era and
    ``False`` (a counterfactual: the venue's later rules applied to an earlier date)."""
    instrument = profile.instrument(symbol)
    moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    dated = [e for e in instrument.eras if e.valid_from is not None]
    if not dated:
        raise UserInputError(f"{profile.id} {symbol} has no dated era; choose another symbol")
    if moment < dated[0].valid_from:  # type: ignore[operator]
        return dated[0], False
    return instrument.era(moment), True


def base_asset(symbol: str) -> str:
    """The asset a venue symbol starts with, bitcoin as ``BTC`` (BitMEX names it ``XBT``)."""
    return symbol.upper().replace("XBT", "BTC")


#: The contract of each venue for an asset where the choice is documented (docs/sources/venues.md): Binance
#: ``ETHUSDT`` (2024-10-24 brackets), BitMEX ``ETHUSD`` (quanto, 2021-07-22 risk limits), Hyperliquid ``ETH``,
#: dYdX ``ETH-USD``.
ASSET_SYMBOLS: dict[tuple[str, str], str] = {
    ("binance-usdm", "ETH"): "ETHUSDT", ("bitmex", "ETH"): "ETHUSD", ("hyperliquid", "ETH"): "ETH",
    ("dydx-v4", "ETH"): "ETH-USD",
}


def asset_contract(venue_id: str, asset: str, moment: datetime, *, quanto: bool = False) -> VenueContract:
    """The contract of ``venue_id`` for ``asset`` (``ETH``, ``BTC``) when none is named: the documented one of
    :data:`ASSET_SYMBOLS`, else the venue's first perpetual of the asset, when its profile has a tier table for it
    at ``moment``; else its bitcoin perpetual (:data:`DEFAULT_SYMBOLS`). Quanto contracts (tiers in another
    currency) only with ``quanto=True``, for callers that convert their tiers at the settlement currency's price."""
    from toolkit.cex.instruments import Kind

    profile = load_venue(venue_id)
    documented = ASSET_SYMBOLS.get((venue_id, asset))
    candidates = ([documented] if documented else []) + [
        s for s in profile.instruments if base_asset(s).startswith(asset) and s != documented]
    for symbol in candidates:
        if profile.instrument(symbol).instrument.kind is Kind.QUANTO and not quanto:
            continue
        era, _ = venue_era(profile, symbol, moment)
        if era.tiers:
            return VenueContract(venue_id, symbol)
    return VenueContract(venue_id, DEFAULT_SYMBOLS[venue_id])
