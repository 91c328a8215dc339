"""Venue profiles: loader and validation of ``toolkit/cex/venues/<id>.toml``.

A profile holds a venue's rules (each with ``value``, ``source``, ``date``, ``unverified`` and ``note``), its
settlement currencies and its instruments with their risk-tier eras. Items marked UNVERIFIED in
``../shared/reference/cex-engines.md`` carry ``unverified = true`` and stay configurable: load a profile, then
``dataclasses.replace`` its :class:`VenueRules`. The file format is described in ``docs/cex.md``.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from enum import Enum
from functools import cache
from importlib import resources
from typing import Any

from toolkit.cex.adl import Ranking
from toolkit.cex.funding import FundingSchedule, bitmex_cap, funding_rate
from toolkit.cex.instruments import Instrument, Kind, PriceRounding
from toolkit.cex.margin import MarginBasis, MarginRules, TierUnit
from toolkit.cex.tiers import RiskTier, maintenance_amounts, step_rule_tiers
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
    (BitMEX §1.7). ``market``: the position is closed in the market, the trader keeps what is left after the
    liquidation fee (Binance §2.1, dYdX §2.4, Hyperliquid §2.5); a fill past the limit becomes a takeover."""

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


@dataclass(frozen=True)
class Era:
    """Risk tiers in force from ``valid_from`` (``None``: undated, selectable by name only).

    ``tiers`` is empty when the profile has no tier table for the instrument: positions must then give the
    ``mmr`` / ``maintenance_amount`` overrides.
    """

    name: str
    valid_from: datetime | None
    tiers: tuple[RiskTier, ...]
    provenance: Provenance


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
        try:
            return self.instruments[symbol]
        except KeyError:
            raise UserInputError(f"{field_name}: {self.id} has no symbol {symbol!r}; choose one of "
                                 f"{', '.join(self.instruments)}") from None

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


# ---------------------------------------------------------------------------------------------- parsing

class _ProfileError(Exception):
    """A malformed profile; turned into a UserInputError naming the file."""


def _decimal(raw: Any) -> Decimal:
    """A decimal from a string, an int, or a fraction written ``"a/b"``."""
    text = str(raw).strip()
    try:
        if "/" in text:
            numerator, denominator = text.split("/")
            return Decimal(numerator) / Decimal(denominator)
        value = Decimal(text)
    except (InvalidOperation, ValueError, ZeroDivisionError):
        raise _ProfileError(f"{raw!r} is not a number") from None
    if not value.is_finite():
        raise _ProfileError(f"{raw!r} is not a finite number")
    return value


def _enum(kind: type[Enum]) -> Callable[[Any], Any]:
    def convert(raw: Any) -> Any:
        try:
            return kind(raw)
        except ValueError:
            raise _ProfileError(f"{raw!r} is not one of {', '.join(m.value for m in kind)}") from None
    return convert


def _bool(raw: Any) -> bool:
    if not isinstance(raw, bool):
        raise _ProfileError(f"{raw!r} is not true or false")
    return raw


def _int(raw: Any) -> int:
    if not isinstance(raw, int) or isinstance(raw, bool):
        raise _ProfileError(f"{raw!r} is not an integer")
    return raw


def _hours(raw: Any) -> tuple[int, ...]:
    if not isinstance(raw, list) or not raw or any(not isinstance(h, int) or not 0 <= h < 24 for h in raw):
        raise _ProfileError(f"{raw!r} is not a list of UTC hours 0-23")
    return tuple(sorted(raw))


def _date(raw: Any) -> datetime:
    try:
        moment = datetime.fromisoformat(str(raw).replace("Z", "+00:00"))
    except ValueError:
        raise _ProfileError(f"{raw!r} is not an ISO date") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


# rule name -> converter; rules absent from a file take the default in _DEFAULTS (or are required).
_RULES: dict[str, Callable[[Any], Any]] = {
    "margin_basis": _enum(MarginBasis), "tier_unit": _enum(TierUnit), "taker_fee": _decimal,
    "maintenance_includes_taker_fee": _bool, "maintenance_includes_funding": _bool,
    "price_rounding": _enum(PriceRounding), "liquidation_style": _enum(LiquidationStyle),
    "market_limit": _enum(MarketLimit), "liquidation_fee_rate": _decimal, "partial": _enum(PartialRule),
    "partial_min_tier": _int, "partial_tiers_down": _int, "partial_fraction": _decimal,
    "partial_min_value": _decimal, "partial_cooldown_seconds": _int, "backstop_equity_fraction": _decimal,
    "fillable_spread_to_mmr": _decimal, "fillable_bankruptcy_adjustment": _decimal,
    "adl_ranking": _enum(Ranking), "adl_price": _enum(AdlPrice), "adl_drawdown_limit": _decimal,
    "adl_drawdown_window_hours": _int, "funding_hours": _hours, "funding_interval_hours": _int,
    "funding_interest_rate": _decimal, "funding_interest_clamp": _decimal, "funding_cap": _enum(FundingCap),
    "funding_cap_value": _decimal,
}
_DEFAULTS: dict[str, Any] = {
    "market_limit": MarketLimit.BANKRUPTCY, "liquidation_fee_rate": Decimal(0), "partial_min_tier": 2,
    "partial_tiers_down": 1, "partial_fraction": Decimal(1), "partial_min_value": Decimal(0),
    "partial_cooldown_seconds": 0, "backstop_equity_fraction": None, "fillable_spread_to_mmr": Decimal(0),
    "fillable_bankruptcy_adjustment": Decimal(0), "adl_drawdown_limit": None, "adl_drawdown_window_hours": 8,
    "funding_cap_value": None,
}
# rules that must be present when another rule has a given value
_REQUIRED_WHEN: dict[tuple[str, Any], tuple[str, ...]] = {
    ("liquidation_style", LiquidationStyle.MARKET): ("market_limit", "liquidation_fee_rate"),
    ("market_limit", MarketLimit.FILLABLE_PRICE): ("fillable_spread_to_mmr", "fillable_bankruptcy_adjustment"),
    ("partial", PartialRule.TIER): ("partial_min_tier", "partial_tiers_down"),
    ("partial", PartialRule.FRACTION): ("partial_fraction", "partial_min_value", "partial_cooldown_seconds"),
    ("funding_cap", FundingCap.FIXED): ("funding_cap_value",),
}


def _provenance(table: Mapping[str, Any], where: str) -> Provenance:
    for key in ("source", "date"):
        if not isinstance(table.get(key), str) or not table[key].strip():
            raise _ProfileError(f"{where}: missing {key!r} (every parameter names its source and date)")
    unverified = table.get("unverified", False)
    if not isinstance(unverified, (bool, list)):
        raise _ProfileError(f"{where}: 'unverified' must be true/false or a list of field names")
    return Provenance(table["source"], table["date"], bool(unverified), str(table.get("note", "")))


def _parse_rules(raw: Mapping[str, Any]) -> tuple[VenueRules, dict[str, Provenance]]:
    values: dict[str, Any] = {}
    provenance: dict[str, Provenance] = {}
    for name, table in raw.items():
        if name not in _RULES:
            raise _ProfileError(f"rules.{name}: unknown rule")
        if not isinstance(table, Mapping) or "value" not in table:
            raise _ProfileError(f"rules.{name}: expected a table with value, source and date")
        try:
            values[name] = _RULES[name](table["value"])
        except _ProfileError as exc:
            raise _ProfileError(f"rules.{name}: {exc}") from None
        provenance[name] = _provenance(table, f"rules.{name}")
    for (name, trigger), needed in _REQUIRED_WHEN.items():
        if values.get(name) is trigger:
            for other in needed:
                if other not in values:
                    raise _ProfileError(f"rules.{other}: required when {name} = {trigger.value}")
    missing = [name for name in _RULES if name not in values and name not in _DEFAULTS]
    if missing:
        raise _ProfileError(f"rules.{missing[0]}: missing")
    merged = {**_DEFAULTS, **values}
    margin = MarginRules(merged["margin_basis"], merged["tier_unit"], merged["taker_fee"],
                         merged["maintenance_includes_taker_fee"], merged["maintenance_includes_funding"])
    rules = VenueRules(
        margin=margin, price_rounding=merged["price_rounding"], liquidation_style=merged["liquidation_style"],
        market_limit=merged["market_limit"], liquidation_fee_rate=merged["liquidation_fee_rate"],
        partial=merged["partial"], partial_min_tier=merged["partial_min_tier"],
        partial_tiers_down=merged["partial_tiers_down"], partial_fraction=merged["partial_fraction"],
        partial_min_value=merged["partial_min_value"],
        partial_cooldown=timedelta(seconds=merged["partial_cooldown_seconds"]),
        backstop_equity_fraction=merged["backstop_equity_fraction"],
        fillable_spread_to_mmr=merged["fillable_spread_to_mmr"],
        fillable_bankruptcy_adjustment=merged["fillable_bankruptcy_adjustment"],
        adl_ranking=merged["adl_ranking"], adl_price=merged["adl_price"],
        adl_drawdown_limit=merged["adl_drawdown_limit"],
        adl_drawdown_window=timedelta(hours=merged["adl_drawdown_window_hours"]),
        funding_hours=merged["funding_hours"], funding_interval=timedelta(hours=merged["funding_interval_hours"]),
        funding_interest_rate=merged["funding_interest_rate"],
        funding_interest_clamp=merged["funding_interest_clamp"], funding_cap=merged["funding_cap"],
        funding_cap_value=merged["funding_cap_value"],
    )
    return rules, provenance


def _column(table: Mapping[str, Any], key: str, where: str, length: int | None = None) -> list[Decimal]:
    values = table.get(key)
    if not isinstance(values, list) or not values or (length is not None and len(values) != length):
        raise _ProfileError(f"{where}.{key}: expected a list of {length or 'one or more'} numbers")
    return [_decimal(v) for v in values]


def _parse_tiers(table: Mapping[str, Any] | None, where: str) -> tuple[RiskTier, ...]:
    """Tier rules: ``step`` (BitMEX), ``table`` (explicit columns), ``half_initial`` (Hyperliquid)."""
    if table is None:
        return ()
    rule = table.get("rule")
    if rule == "step":
        return step_rule_tiers(_decimal(table["base_limit"]), _decimal(table["step"]),
                               _decimal(table["base_maintenance"]), _decimal(table["base_initial"]),
                               _int(table["steps"]))
    if rule == "half_initial":
        # Hyperliquid: maintenance = half the initial margin at maximum leverage (§2.5)
        initial = 1 / _decimal(table["max_leverage"])
        return (RiskTier(1, None, initial / 2, initial),)
    if rule != "table":
        raise _ProfileError(f"{where}.rule: {rule!r} is not step, table or half_initial")
    sizes = _column(table, "max_size", where)
    count = len(sizes)
    rates = _column(table, "maintenance_rate", where, count)
    leverages = _column(table, "max_leverage", where, count)
    amounts = [Decimal(0)] * count  # no maintenance amount unless the venue publishes one (Binance cum)
    if "maintenance_amount" in table:
        amounts = _column(table, "maintenance_amount", where, count)
        derived = maintenance_amounts([Decimal(0), *sizes[:-1]], rates)
        for number, (a, b) in enumerate(zip(amounts, derived, strict=True), start=1):
            if a != b:
                raise _ProfileError(f"{where}.maintenance_amount: tier {number} is {a}, the cum recursion "
                                    f"gives {b.normalize():f}")
    if any(b <= a for a, b in zip(sizes, sizes[1:])) or any(b < a for a, b in zip(rates, rates[1:])):
        raise _ProfileError(f"{where}: tier sizes must increase and rates must not decrease")
    return tuple(RiskTier(n + 1, sizes[n], rates[n], 1 / leverages[n], amounts[n]) for n in range(count))


_INSTRUMENT_KEYS = ("kind", "contract_value", "tick_size", "lot_size", "settlement_currency", "quote_currency")


def _parse_instrument(symbol: str, raw: Mapping[str, Any], currencies: Mapping[str, Decimal]) -> InstrumentProfile:
    where = f"instruments.{symbol}"
    for key in _INSTRUMENT_KEYS:
        if key not in raw:
            raise _ProfileError(f"{where}.{key}: missing")
    settlement = raw["settlement_currency"]
    if settlement not in currencies:
        raise _ProfileError(f"{where}.settlement_currency: {settlement!r} is not in [currencies]")
    instrument = Instrument(symbol=symbol, kind=_enum(Kind)(raw["kind"]),
                            contract_value=_decimal(raw["contract_value"]), tick_size=_decimal(raw["tick_size"]),
                            lot_size=_decimal(raw["lot_size"]), settlement_currency=settlement,
                            quote_currency=str(raw["quote_currency"]), base_unit=currencies[settlement])
    for key in ("contract_value", "tick_size", "lot_size"):
        if getattr(instrument, key) <= 0:
            raise _ProfileError(f"{where}.{key}: must be positive")
    eras = []
    for index, era in enumerate(raw.get("eras", [])):
        era_where = f"{where}.eras[{index}]"
        valid_from = _date(era["valid_from"]) if "valid_from" in era else None
        eras.append(Era(str(era.get("name", index)), valid_from, _parse_tiers(era.get("tiers"), f"{era_where}.tiers"),
                        _provenance(era, era_where)))
    dated = [e.valid_from for e in eras if e.valid_from is not None]
    if not dated:
        raise _ProfileError(f"{where}.eras: at least one era needs valid_from")
    if dated != sorted(dated):
        raise _ProfileError(f"{where}.eras: dated eras must be in chronological order")
    return InstrumentProfile(instrument, tuple(eras), _provenance(raw, where))


def parse_profile(venue_id: str, raw: Mapping[str, Any]) -> VenueProfile:
    """Build and validate a profile from the parsed TOML ``raw``."""
    try:
        currencies = {name: _decimal(table["base_unit"]) for name, table in raw.get("currencies", {}).items()}
        rules, provenance = _parse_rules(raw.get("rules", {}))
        instruments = {symbol: _parse_instrument(symbol, table, currencies)
                       for symbol, table in raw.get("instruments", {}).items()}
        if not instruments:
            raise _ProfileError("instruments: none defined")
    except _ProfileError as exc:
        raise UserInputError(f"venue profile {venue_id}: {exc}") from None
    except KeyError as exc:
        raise UserInputError(f"venue profile {venue_id}: missing key {exc}") from None
    return VenueProfile(id=str(raw.get("id", venue_id)), name=str(raw.get("name", venue_id)), rules=rules,
                        instruments=instruments, provenance=provenance)


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
