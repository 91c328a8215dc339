"""Parsing and validation of the venue profile files ``toolkit/cex/venues/<id>.toml`` (format: docs/cex.md).

Every problem raises :class:`~toolkit.errors.UserInputError` naming the profile and the field. Tier rules:
``step`` (BitMEX, docs/sources/venues.md#bitmex-risk-limits), ``table`` (explicit columns, maintenance amounts
checked against docs/sources/venues.md#binance-maintenance-amount) and ``half_initial`` (Hyperliquid,
docs/sources/venues.md#hyperliquid-margin-tiers); ``[[tier_files]]`` add bracket files
(:mod:`toolkit.cex.tier_tables`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from enum import Enum
from importlib import resources
from typing import Any

from toolkit.cex.adl import Ranking
from toolkit.cex.instruments import Instrument, Kind, PriceRounding
from toolkit.cex.margin import MarginBasis, MarginRules, TierUnit
from toolkit.cex.tier_tables import TierTableError, read_bracket_file
from toolkit.cex.tiers import RiskTier, maintenance_amounts, step_rule_tiers
from toolkit.cex.venues import (AdlPrice, Era, FundingCap, InstrumentProfile, LiquidationStyle, MarketLimit,
                                PartialRule, Provenance, VenueProfile, VenueRules, _chronological)
from toolkit.errors import UserInputError

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
        # Hyperliquid: maintenance rate = half the initial rate at the tier's maximum leverage, deduction by the
        # cum recursion (docs/sources/venues.md#hyperliquid-margin-tiers)
        raw_leverage = table["max_leverage"]
        leverages = _column(table, "max_leverage", where) if isinstance(raw_leverage, list) else [_decimal(raw_leverage)]
        bounds = _column(table, "lower_bound", where, len(leverages)) if "lower_bound" in table else [Decimal(0)]
        if len(bounds) != len(leverages) or bounds[0] != 0 or any(b <= a for a, b in zip(bounds, bounds[1:])):
            raise _ProfileError(f"{where}.lower_bound: one increasing bound per tier, starting at 0")
        initial = [1 / lev for lev in leverages]
        rates = [i / 2 for i in initial]
        amounts = maintenance_amounts(bounds, rates)
        caps: list[Decimal | None] = [*bounds[1:], None]
        return tuple(RiskTier(n + 1, caps[n], rates[n], initial[n], amounts[n], leverages[n])
                     for n in range(len(rates)))
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
    return tuple(RiskTier(n + 1, sizes[n], rates[n], 1 / leverages[n], amounts[n], leverages[n])
                 for n in range(count))


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
        seen = _date(era["seen"]) if "seen" in era else None
        if seen is not None and not era.get("seen_source"):
            raise _ProfileError(f"{era_where}.seen_source: missing (the source that shows the era in force then)")
        eras.append(Era(str(era.get("name", index)), valid_from, _parse_tiers(era.get("tiers"), f"{era_where}.tiers"),
                        _provenance(era, era_where), seen, str(era.get("seen_source", ""))))
    dated = [e.valid_from for e in eras if e.valid_from is not None]
    if dated != sorted(dated):
        raise _ProfileError(f"{where}.eras: dated eras must be in chronological order")
    return InstrumentProfile(instrument, tuple(eras), _provenance(raw, where))


_TIER_FILE_KEYS = ("file", "era", "valid_from", "source", "date", "tick_size", "lot_size")


def _add_tier_files(venue_id: str, files: Any, instruments: dict[str, InstrumentProfile],
                    currencies: Mapping[str, Decimal]) -> None:
    """``[[tier_files]]``: one era per symbol of each bracket file (module docstring). Symbols the TOML does not
    describe become linear instruments of contract value 1 with the file's ``tick_size`` / ``lot_size``
    (flagged unverified: the bracket file does not give them)."""
    for index, entry in enumerate(files or []):
        where = f"tier_files[{index}]"
        for key in _TIER_FILE_KEYS:
            if key not in entry:
                raise _ProfileError(f"{where}.{key}: missing")
        text = resources.files("toolkit.cex").joinpath("venues", entry["file"]).read_text(encoding="utf-8")
        try:
            tables = read_bracket_file(text, venue_id)
        except TierTableError as exc:
            raise _ProfileError(f"{where} ({entry['file']}): {exc}") from None
        provenance = _provenance(entry, where)
        valid_from = _date(entry["valid_from"])
        for symbol, table in tables.items():
            era = Era(str(entry["era"]), valid_from, table.tiers, provenance)
            current = instruments.get(symbol)
            if current is None:
                if table.currency not in currencies:
                    raise _ProfileError(f"{where}: {symbol} settles in {table.currency}, not in [currencies]")
                instrument = Instrument(symbol=symbol, kind=Kind.LINEAR, contract_value=Decimal(1),
                                        tick_size=_decimal(entry["tick_size"]), lot_size=_decimal(entry["lot_size"]),
                                        settlement_currency=table.currency, quote_currency=table.currency,
                                        base_unit=currencies[table.currency])
                note = f"{table.unified} from {entry['file']}; tick and lot size not in the file"
                current = InstrumentProfile(instrument, (), Provenance(provenance.source, provenance.date, True, note))
            instruments[symbol] = replace(current, eras=_chronological([*current.eras, era]))


def parse_profile(venue_id: str, raw: Mapping[str, Any]) -> VenueProfile:
    """Build and validate a profile from the parsed TOML ``raw``."""
    try:
        currencies = {name: _decimal(table["base_unit"]) for name, table in raw.get("currencies", {}).items()}
        rules, provenance = _parse_rules(raw.get("rules", {}))
        instruments = {symbol: _parse_instrument(symbol, table, currencies)
                       for symbol, table in raw.get("instruments", {}).items()}
        _add_tier_files(venue_id, raw.get("tier_files"), instruments, currencies)
        if not instruments:
            raise _ProfileError("instruments: none defined")
        for symbol, profile in instruments.items():
            if not any(e.valid_from is not None for e in profile.eras):
                raise _ProfileError(f"instruments.{symbol}.eras: at least one era needs valid_from")
    except _ProfileError as exc:
        raise UserInputError(f"venue profile {venue_id}: {exc}") from None
    except KeyError as exc:
        raise UserInputError(f"venue profile {venue_id}: missing key {exc}") from None
    return VenueProfile(id=str(raw.get("id", venue_id)), name=str(raw.get("name", venue_id)), rules=rules,
                        instruments=instruments, provenance=provenance)
