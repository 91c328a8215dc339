"""Venue profiles: loader and validation of ``toolkit/cex/venues/<id>.toml``.

A profile holds a venue's rules (each with ``value``, ``source``, ``date``, ``unverified`` and ``note``), its
settlement currencies and its instruments with their risk-tier eras. Every ``source`` names an entry of
``docs/sources/venues.md`` (``docs/sources/venues.md#<anchor>``), which gives the public URL or repository, path
and commit. Items no source confirms carry ``unverified = true`` and stay configurable: load a profile, then
``dataclasses.replace`` its :class:`VenueRules`. The file format is described in ``docs/cex.md``.

Eras are dated: ``valid_from`` is the first date a source shows the tiers in force (for a snapshot of an API,
the snapshot's date: they may have applied earlier), ``seen`` the latest date a source shows them still in force.
:func:`era_staleness` says when the era picked for a date is older than :data:`STALE_AFTER` there. Bracket files
(``[[tier_files]]``, :mod:`toolkit.cex.tier_tables`) add an era to every symbol they list, creating linear
instruments for symbols the TOML does not describe.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from decimal import Decimal
from enum import Enum
from functools import cache
from importlib import resources
from typing import Any

from toolkit.cex.adl import Ranking
from toolkit.cex.funding import FundingSchedule, bitmex_cap, funding_rate
from toolkit.cex.instruments import Instrument, PriceRounding
from toolkit.cex.margin import MarginRules
from toolkit.cex.tier_tables import venue_symbol
from toolkit.cex.tiers import RiskTier
from toolkit.errors import UserInputError

VENUE_IDS = ("bitmex", "binance-usdm", "bybit", "okx", "dydx-v4", "hyperliquid")
#: Short names accepted wherever a venue is named (``liqtk cex --venue``, ``liqtk replay --venues``, Python), and
#: the profile each one means (docs/conventions.md).
VENUE_ALIASES: dict[str, str] = {"binance": "binance-usdm", "dydx": "dydx-v4"}


def venue_id(name: str, option: str = "venue") -> str:
    """The profile id ``name`` means: a profile id of :data:`VENUE_IDS` or a short name of :data:`VENUE_ALIASES`
    (any case). ``option`` is what an error message calls the value."""
    canonical = VENUE_ALIASES.get(name.strip().lower(), name.strip().lower())
    if canonical not in VENUE_IDS:
        known = ", ".join([*VENUE_IDS, *(f"{a} (= {v})" for a, v in VENUE_ALIASES.items())])
        raise UserInputError(f"{option}: unknown venue {name!r}; choose one of {known}")
    return canonical


class LiquidationStyle(str, Enum):
    """``takeover``: the engine takes the position at the bankruptcy price and the fund keeps any surplus
    (BitMEX docs/sources/venues.md#bitmex-liquidation-process). ``market``: the position is closed in the market, the
    trader keeps what is left after the
    liquidation fee (Binance docs/sources/venues.md#binance-liquidation-price, dYdX
    docs/sources/venues.md#dydx-v4-liquidation, Hyperliquid docs/sources/venues.md#hyperliquid-liquidations); a fill
    past the limit becomes a takeover."""

    TAKEOVER = "takeover"
    MARKET = "market"


class MarketLimit(str, Enum):
    """Worst price a market-style liquidation may fill at: the bankruptcy price, or dYdX's Fillable Price."""

    BANKRUPTCY = "bankruptcy"
    FILLABLE_PRICE = "fillable_price"


class PartialRule(str, Enum):
    """``none``; ``tier``: close down to a lower tier first (BitMEX one tier, OKX two tiers from tier 3);
    ``fraction``: send only a fraction of large positions, then cool down (Hyperliquid)."""

    NONE = "none"
    TIER = "tier"
    FRACTION = "fraction"


class AdlPrice(str, Enum):
    """Price ADL closes counterparties at: the liquidated order's bankruptcy price, or the mark price."""

    BANKRUPTCY = "bankruptcy"
    MARK = "mark"


class FundingCap(str, Enum):
    """``im_mm``: 75% * (IM - MM) of the base tier (BitMEX); ``mmr``: ±base MMR (Binance);
    ``fixed``: ``funding_cap_value``; ``none``."""

    NONE = "none"
    IM_MM = "im_mm"
    MMR = "mmr"
    FIXED = "fixed"


@dataclass(frozen=True)
class Provenance:
    """Where a parameter comes from."""

    source: str
    date: str
    unverified: bool = False
    note: str = ""


@dataclass(frozen=True)
class VenueRules:
    """Every rule the engines apply. Optional rules are ``None`` when a venue does not have them."""

    margin: MarginRules
    price_rounding: PriceRounding
    liquidation_style: LiquidationStyle
    market_limit: MarketLimit
    liquidation_fee_rate: Decimal
    partial: PartialRule
    partial_min_tier: int
    partial_tiers_down: int
    partial_fraction: Decimal
    partial_min_value: Decimal
    partial_cooldown: timedelta
    backstop_equity_fraction: Decimal | None
    fillable_spread_to_mmr: Decimal
    fillable_bankruptcy_adjustment: Decimal
    adl_ranking: Ranking
    adl_price: AdlPrice
    adl_drawdown_limit: Decimal | None
    adl_drawdown_window: timedelta
    funding_hours: tuple[int, ...]
    funding_interval: timedelta
    funding_interest_rate: Decimal
    funding_interest_clamp: Decimal
    funding_cap: FundingCap
    funding_cap_value: Decimal | None


#: An era more than this much older than the date it is applied to is reported as possibly out of date.
STALE_AFTER = timedelta(days=365)


@dataclass(frozen=True)
class Era:
    """Risk tiers in force from ``valid_from`` (``None``: undated, selectable by name only).

    ``tiers`` is empty when the profile has no tier table for the instrument: positions must then give the
    ``mmr`` / ``maintenance_amount`` overrides. ``seen``: the latest date a source (``seen_source``) shows
    these tiers still in force; ``fetched``: the era was read from the exchange (``liqtk cex fetch``).
    """

    name: str
    valid_from: datetime | None
    tiers: tuple[RiskTier, ...]
    provenance: Provenance
    seen: datetime | None = None
    seen_source: str = ""
    fetched: bool = False

    @property
    def last_known(self) -> datetime | None:
        """The latest date a source shows this era in force."""
        dates = [d for d in (self.valid_from, self.seen) if d is not None]
        return max(dates) if dates else None


def era_staleness(era: Era, as_of: datetime | None) -> str | None:
    """A warning when the era applied at ``as_of`` was last known in force more than :data:`STALE_AFTER`
    earlier (the venue may have changed its tiers since), else ``None``."""
    known = era.last_known
    if as_of is None or known is None or as_of - known <= STALE_AFTER:
        return None
    return (f"era {era.name} was last known in force on {known.date()}, {(as_of - known).days} days before "
            f"{as_of.date()}: the venue may have changed its tiers since (liqtk cex fetch reads the current ones)")


@dataclass(frozen=True)
class InstrumentProfile:
    """An instrument and its eras, oldest first."""

    instrument: Instrument
    eras: tuple[Era, ...]
    provenance: Provenance

    def era(self, as_of: datetime | None = None, name: str | None = None) -> Era:
        """The era called ``name``, else the one in force at ``as_of``, else the latest dated era."""
        symbol = self.instrument.symbol
        if name is not None:
            for era in self.eras:
                if era.name == name:
                    return era
            raise UserInputError(f"era: {symbol} has no era {name!r}; choose one of "
                                 f"{', '.join(e.name for e in self.eras)}")
        dated = [e for e in self.eras if e.valid_from is not None]
        if as_of is None:
            return dated[-1]
        in_force = [e for e in dated if e.valid_from <= as_of]  # type: ignore[operator]
        if not in_force:
            raise UserInputError(f"as_of: no {symbol} era in force on {as_of.date()}; the earliest starts "
                                 f"{dated[0].valid_from.date()}")  # type: ignore[union-attr]
        return in_force[-1]


@dataclass(frozen=True)
class VenueProfile:
    """A venue: rules, instruments, and the provenance of every rule."""

    id: str
    name: str
    rules: VenueRules
    instruments: Mapping[str, InstrumentProfile]
    provenance: Mapping[str, Provenance] = field(default_factory=dict)

    def instrument(self, symbol: str, field_name: str = "symbol") -> InstrumentProfile:
        """The instrument ``symbol``: the venue's id (``BTCUSDT``) or the ccxt unified symbol (``BTC/USDT:USDT``)."""
        found = self.instruments.get(symbol) or self.instruments.get(venue_symbol(symbol, self.id))
        if found is None:
            known = list(self.instruments)
            shown = ", ".join(known[:12]) + (f" and {len(known) - 12} more" if len(known) > 12 else "")
            raise UserInputError(f"{field_name}: {self.id} has no symbol {symbol!r}; choose one of {shown}")
        return found

    def with_eras(self, symbol: str, eras: Sequence[Era], instrument: Instrument | None = None) -> VenueProfile:
        """A copy with ``eras`` added to ``symbol`` (chronologically); ``instrument`` creates the symbol when the
        profile does not have it (a fetched table of another contract)."""
        current = self.instruments.get(symbol)
        if current is None:
            if instrument is None:
                self.instrument(symbol)  # raises the unknown-symbol error
            current = InstrumentProfile(instrument, (), Provenance("liqtk cex fetch", "fetched"))  # type: ignore[arg-type]
        merged = _chronological([*current.eras, *eras])
        return replace(self, instruments={**self.instruments, symbol: replace(current, eras=merged)})

    def unverified(self) -> list[str]:
        """Names of rules the reference marks UNVERIFIED."""
        return [name for name, prov in self.provenance.items() if prov.unverified]

    def funding_cap(self, era: Era) -> Decimal | None:
        """The cap on one payment's rate for instruments of ``era`` (see :class:`FundingCap`)."""
        rules, base = self.rules, era.tiers[0] if era.tiers else None
        if rules.funding_cap is FundingCap.FIXED:
            return rules.funding_cap_value
        if rules.funding_cap is FundingCap.NONE or base is None:
            return None
        if rules.funding_cap is FundingCap.IM_MM:
            return bitmex_cap(base.initial_rate, base.maintenance_rate)
        return base.maintenance_rate

    def funding_schedule(self, era: Era, rates: Mapping[datetime, Decimal] | None = None) -> FundingSchedule:
        """Payment times of this venue; rates from ``rates`` or, without them, ``F = funding_rate(0, I)``."""
        rules = self.rules
        default = funding_rate(Decimal(0), rules.funding_interest_rate, rules.funding_interest_clamp,
                               self.funding_cap(era))
        return FundingSchedule(rules.funding_hours, rules.funding_interval, default, rates)


def _chronological(eras: Sequence[Era]) -> tuple[Era, ...]:
    """Undated eras first (in their order), then dated ones by ``valid_from`` (stable)."""
    undated = [e for e in eras if e.valid_from is None]
    dated = sorted((e for e in eras if e.valid_from is not None), key=lambda e: e.valid_from)  # type: ignore[arg-type, return-value]
    return (*undated, *dated)



def parse_profile(venue_id: str, raw: Mapping[str, Any]) -> VenueProfile:
    """Build and validate a profile from the parsed TOML ``raw`` (:mod:`toolkit.cex.profile_files`)."""
    from toolkit.cex.profile_files import parse_profile as parse

    return parse(venue_id, raw)


@cache
def load_venue(name: str) -> VenueProfile:
    """The profile ``toolkit/cex/venues/<id>.toml`` of the venue ``name`` names (:func:`venue_id`)."""
    venue_id_ = venue_id(name)
    text = resources.files("toolkit.cex").joinpath("venues", f"{venue_id_}.toml").read_text(encoding="utf-8")
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise UserInputError(f"venue profile {venue_id_}: {exc}") from None
    return parse_profile(venue_id_, raw)
