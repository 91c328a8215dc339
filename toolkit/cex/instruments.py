"""Contract specifications and exact value / PnL arithmetic.

Source: docs/sources/venues.md#bitmex-contracts (BitMEX contract guides:
https://www.bitmex.com/app/inversePerpetualsGuide , https://www.bitmex.com/app/linearPerpetualsGuide ,
https://bitmex.com/app/quantoPerpetualsGuide ).

Units
-----
* ``qty`` is a number of contracts (``Decimal``, a multiple of the instrument's lot size).
* prices are quote-currency units per base unit (USD per XBT for XBTUSD).
* every *value* is in the settlement currency and is rounded half-even to the currency's base unit
  (1 satoshi = 1e-8 XBT), the way BitMEX books ``grossValue`` in satoshis.

Value of ``qty`` contracts at ``price`` (unsigned):

* inverse (XBTUSD): ``qty * contract_value / price``  (``contract_value`` = 1 USD per contract)
* linear (COINUSDT): ``qty * contract_value * price`` (``contract_value`` = base units per contract)
* quanto (ETHUSD): ``qty * contract_value * price``   (``contract_value`` = XBT per USD of price)

PnL of a position with side ``s`` (+1 long, -1 short), booked entry value ``V_E`` and exit value ``V_X``
is ``s * k * (V_X - V_E)`` with ``k = +1`` for linear/quanto and ``k = -1`` for inverse
(inverse: ``Q * (1/E - 1/Exit)`` XBT for a long, docs/sources/venues.md#bitmex-contracts).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal, InvalidOperation
from enum import Enum
from typing import Any

from toolkit.errors import UserInputError

LONG = 1
SHORT = -1
ZERO = Decimal(0)
ONE = Decimal(1)


class Kind(str, Enum):
    """How a contract's value depends on its price (docs/sources/venues.md#bitmex-contracts)."""

    INVERSE = "inverse"
    LINEAR = "linear"
    QUANTO = "quanto"


class PriceRounding(str, Enum):
    """How liquidation and bankruptcy prices are rounded to the tick.

    ``conservative``: a long's price rounds up, a short's down (BitMEX as implemented in
    binares/uxs:uxs/base/wrappers/bitmex.py, docs/sources/venues.md#bitmex-liquidation-price; Bybit
    https://help.bybit.com/hc/en-us/articles/360011431853).
    ``nearest``: half-up to the nearest tick (reproduces the Binance test vectors of
    freqtrade/freqtrade:tests/exchange/test_binance.py, docs/sources/venues.md#binance-liquidation-price).
    """

    CONSERVATIVE = "conservative"
    NEAREST = "nearest"


def parse_side(text: str, field: str = "side") -> int:
    """``long``/``buy`` -> +1, ``short``/``sell`` -> -1; anything else is a :class:`UserInputError`."""
    value = str(text).strip().lower()
    if value in ("long", "buy"):
        return LONG
    if value in ("short", "sell"):
        return SHORT
    raise UserInputError(f"{field}: {text!r} is not long or short")


def finite_decimal(raw: Any, field: str, error: type[Exception] = UserInputError) -> Decimal:
    """A finite decimal from the text of ``raw`` (text or a number, never through float); else ``error`` with
    ``<field>: <raw> is not a (finite) number``."""
    try:
        value = Decimal(str(raw).strip())
    except InvalidOperation:
        raise error(f"{field}: {raw!r} is not a number") from None
    if not value.is_finite():
        raise error(f"{field}: {raw!r} is not a finite number")
    return value


def side_name(side: int) -> str:
    return "long" if side == LONG else "short"


def quantize(amount: Decimal, unit: Decimal, rounding: str = ROUND_HALF_EVEN) -> Decimal:
    """``amount`` rounded to a multiple of ``unit`` (default half-even)."""
    return (amount / unit).quantize(ONE, rounding=rounding) * unit


@dataclass(frozen=True)
class Instrument:
    """One perpetual contract.

    ``contract_value`` is the multiplier described in the module docstring, ``tick_size`` the price
    increment, ``lot_size`` the quantity increment, ``base_unit`` the smallest booked amount of the
    settlement currency.
    """

    symbol: str
    kind: Kind
    contract_value: Decimal
    tick_size: Decimal
    lot_size: Decimal
    settlement_currency: str
    quote_currency: str
    base_unit: Decimal

    @property
    def value_sign(self) -> int:
        """``k`` in the PnL formula: +1 when the value rises with the price, -1 for inverse."""
        return -1 if self.kind is Kind.INVERSE else 1

    def value(self, qty: Decimal, price: Decimal) -> Decimal:
        """Unsigned value of ``qty`` contracts at ``price`` in the settlement currency
        (docs/sources/venues.md#bitmex-contracts)."""
        if self.kind is Kind.INVERSE:
            return quantize(qty * self.contract_value / price, self.base_unit)
        return quantize(qty * self.contract_value * price, self.base_unit)

    def price_of(self, qty: Decimal, value: Decimal) -> Decimal:
        """The (unrounded) price at which ``qty`` contracts are worth ``value``: the inverse of :meth:`value`."""
        if self.kind is Kind.INVERSE:
            return qty * self.contract_value / value
        return value / (qty * self.contract_value)

    def pnl(self, side: int, entry_value: Decimal, exit_value: Decimal) -> Decimal:
        """Realised PnL of a position of ``side`` opened at ``entry_value`` and closed at ``exit_value``."""
        return side * self.value_sign * (exit_value - entry_value)

    def money(self, amount: Decimal) -> Decimal:
        """``amount`` rounded half-even to the settlement currency's base unit."""
        return quantize(amount, self.base_unit)

    def round_price(self, price: Decimal, side: int, mode: PriceRounding) -> Decimal:
        """A liquidation/bankruptcy price on the tick grid (see :class:`PriceRounding`)."""
        if mode is PriceRounding.NEAREST:
            return quantize(price, self.tick_size, ROUND_HALF_UP)
        return quantize(price, self.tick_size, ROUND_CEILING if side == LONG else ROUND_FLOOR)

    def round_fill(self, price: Decimal, closing_side: int) -> Decimal:
        """A fill price on the tick grid, rounded against the trader closing a ``closing_side`` position
        (a sale rounds down, a purchase up)."""
        return quantize(price, self.tick_size, ROUND_FLOOR if closing_side == LONG else ROUND_CEILING)

    def is_lot_multiple(self, qty: Decimal) -> bool:
        return qty % self.lot_size == 0

    def floor_lots(self, qty: Decimal) -> Decimal:
        return quantize(qty, self.lot_size, ROUND_FLOOR)

    def ceil_lots(self, qty: Decimal) -> Decimal:
        return quantize(qty, self.lot_size, ROUND_CEILING)
