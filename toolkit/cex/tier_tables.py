"""Tier tables as data: bracket files shipped with the profiles, and ccxt ``LeverageTier`` lists.

Two inputs become :class:`~toolkit.cex.tiers.RiskTier` tuples here:

* a **bracket file** beside the venue profiles (``venues/<name>.csv``): one row per bracket with the venue's
  own fields, exact text (Binance ``notionalFloor``, ``notionalCap``, ``maintMarginRatio``, ``cum``,
  ``initialLeverage``; docs/sources/venues.md#binance-usdm-brackets-2024-10-24). The maintenance amount
  column is checked against the recursion ``cum_n = floor_n x (MMR_n - MMR_(n-1)) + cum_(n-1)``
  (docs/sources/venues.md#binance-maintenance-amount) so a mistyped row cannot load;
* a fetched **ccxt leverage-tier list** (``fetch_leverage_tiers``: ``tier``, ``minNotional``, ``maxNotional``,
  ``maintenanceMarginRate``, ``maxLeverage``, ``info``; docs/sources/venues.md#ccxt-unified-structures). The
  unified structure has no maintenance amount: it is derived with the same recursion, which is the rule on
  Binance and Hyperliquid (docs/sources/venues.md#hyperliquid-margin-tiers) and gives 0 on a table of one
  tier. Where the venue's raw ``info`` carries ``cum`` (Binance) the derived value must equal it.

Symbols: a ccxt unified symbol (``BTC/USDT:USDT``) is turned into the venue's own id with
:func:`venue_symbol` (the form the profiles use).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from toolkit.cex.instruments import finite_decimal
from toolkit.cex.tiers import RiskTier, maintenance_amounts

#: Columns of a bracket file.
BRACKET_COLUMNS = ("symbol", "currency", "bracket", "notionalFloor", "notionalCap", "maintMarginRatio", "cum",
                   "initialLeverage")


class TierTableError(ValueError):
    """A tier table that does not hold together; the message names the symbol and the tier."""


@dataclass(frozen=True)
class SymbolTiers:
    """The tiers of one symbol: ``symbol`` as the venue writes it, ``unified`` as ccxt does, settlement currency."""

    symbol: str
    unified: str
    currency: str
    tiers: tuple[RiskTier, ...]


def _number(raw: Any, where: str) -> Decimal:
    return finite_decimal(raw, where, TierTableError)


def venue_symbol(unified: str, venue: str) -> str:
    """The venue's own id of a ccxt unified perpetual symbol (``BASE/QUOTE:SETTLE[-EXPIRY]``).

    binance-usdm and bybit ``BTCUSDT`` (Binance quarterlies ``BTCUSDT_241227``), okx ``BTC-USDT-SWAP``,
    bitmex ``XBTUSD`` / ``ETHUSDT``, dydx-v4 ``BTC-USD``, hyperliquid ``BTC``. A symbol without ``/`` is taken
    to be the venue's id already.
    """
    if "/" not in unified:
        return unified
    pair, _, settle = unified.partition(":")
    base, _, quote = pair.partition("/")
    settle, _, expiry = settle.partition("-")
    if venue == "hyperliquid":
        return base
    if venue == "dydx-v4":
        return f"{base}-{quote}"
    if venue == "okx":
        return f"{base}-{quote}-{expiry}" if expiry else f"{base}-{quote}-SWAP"
    if venue == "bitmex":
        base = "XBT" if base == "BTC" else base
        return f"{base}{quote}" + (f"_{expiry}" if expiry else "")
    return f"{base}{quote}" + (f"_{expiry}" if expiry else "")


def _checked(symbol: str, floors: Sequence[Decimal], caps: Sequence[Decimal | None], rates: Sequence[Decimal],
             leverages: Sequence[Decimal], amounts: Sequence[Decimal] | None) -> tuple[RiskTier, ...]:
    """Tiers from columns, with the checks every table must pass."""
    if not rates:
        raise TierTableError(f"{symbol}: no tiers")
    if floors[0] != 0:
        raise TierTableError(f"{symbol}: tier 1 starts at {floors[0]}, not 0")
    for n in range(1, len(rates)):
        if caps[n - 1] != floors[n]:
            raise TierTableError(f"{symbol}: tier {n} ends at {caps[n - 1]} but tier {n + 1} starts at {floors[n]}")
        if rates[n] < rates[n - 1]:
            raise TierTableError(f"{symbol}: the maintenance rate falls from tier {n} to tier {n + 1}")
    if any(not 0 < r < 1 for r in rates) or any(lev <= 0 for lev in leverages):
        raise TierTableError(f"{symbol}: rates must lie between 0 and 1 and leverages be positive")
    derived = maintenance_amounts(list(floors), list(rates))
    if amounts is not None:
        for n, (given, expected) in enumerate(zip(amounts, derived, strict=True), start=1):
            if given != expected:
                raise TierTableError(f"{symbol}: tier {n} maintenance amount is {given.normalize():f}, the "
                                     f"recursion gives {expected.normalize():f}")
    return tuple(RiskTier(n + 1, caps[n], rates[n], 1 / leverages[n], derived[n], leverages[n])
                 for n in range(len(rates)))


def read_bracket_file(text: str, venue: str) -> dict[str, SymbolTiers]:
    """Every symbol of a bracket file (module docstring), keyed by the venue's id; lines starting ``#`` are notes."""
    lines = [line for line in text.splitlines() if line and not line.startswith("#")]
    reader = csv.DictReader(io.StringIO("\n".join(lines)))
    if tuple(reader.fieldnames or ()) != BRACKET_COLUMNS:
        raise TierTableError(f"bracket file: columns must be {', '.join(BRACKET_COLUMNS)}")
    rows: dict[str, list[dict[str, str]]] = {}
    for row in reader:
        rows.setdefault(row["symbol"], []).append(row)
    result = {}
    for unified, brackets in rows.items():
        brackets.sort(key=lambda r: int(r["bracket"]))
        where = f"{unified}"
        floors = [_number(r["notionalFloor"], where) for r in brackets]
        caps: list[Decimal | None] = [_number(r["notionalCap"], where) for r in brackets]
        tiers = _checked(unified, floors, caps, [_number(r["maintMarginRatio"], where) for r in brackets],
                         [_number(r["initialLeverage"], where) for r in brackets],
                         [_number(r["cum"], where) for r in brackets])
        currencies = {r["currency"] for r in brackets}
        if len(currencies) != 1:
            raise TierTableError(f"{unified}: brackets in several currencies {sorted(currencies)}")
        symbol = venue_symbol(unified, venue)
        result[symbol] = SymbolTiers(symbol, unified, currencies.pop(), tiers)
    return result


def tiers_from_leverage_tiers(symbol: str, entries: Iterable[Mapping[str, Any]]) -> tuple[RiskTier, ...]:
    """Tiers from a ccxt ``LeverageTier`` list (module docstring); the last tier's cap is kept as given.

    Numbers are read from their text (``str`` of the value ccxt parsed; the raw ``info`` is preferred where it
    names the field: Binance ``notionalFloor``/``notionalCap``/``maintMarginRatio``/``cum``)."""
    items = sorted(entries, key=lambda e: float(e.get("tier") or 0))
    floors, caps, rates, leverages, amounts = [], [], [], [], []
    have_cum = True
    for entry in items:
        info = entry.get("info") or {}
        where = f"{symbol} tier {entry.get('tier')}"
        floors.append(_number(info.get("notionalFloor", entry.get("minNotional")), where))
        cap = info.get("notionalCap", entry.get("maxNotional"))
        caps.append(None if cap is None else _number(cap, where))
        rates.append(_number(info.get("maintMarginRatio", entry.get("maintenanceMarginRate")), where))
        leverages.append(_number(info.get("initialLeverage", entry.get("maxLeverage")), where))
        if "cum" in info:
            amounts.append(_number(info["cum"], where))
        else:
            have_cum = False
    return _checked(symbol, floors, caps, rates, leverages, amounts if have_cum else None)
