"""Initial and maintenance margin.

Sources (``docs/sources/venues.md``):

* docs/sources/venues.md#bitmex-initial-and-maintenance-margin initial margin = entry value / leverage
  (https://support.bitmex.com/hc/en-gb/articles/18589433891997-What-Is-Initial-Margin-on-BitMEX).
* docs/sources/venues.md#bitmex-initial-and-maintenance-margin maintenance margin includes the funding rate when the
  side pays it (BitMEX staff, r/BitMEX 9 Mar 2020,
  https://r.arson.gg/r/BitMEX/comments/fc6rui/is_maintenance_margin_factored_into_liquidation); the fitted
  liquidation model of docs/sources/venues.md#bitmex-liquidation-price reproduces BitMEX's UI only with ``rate = base
  MMR + max(0, funding paid
  by this side)`` and *no* taker-fee term, so the taker fee is added only where a venue documents it
  (OKX: "tier MMR + fee rate", docs/sources/venues.md#okx-maintenance-and-liquidation).
* Maintenance margin is computed on the **entry value** (BitMEX: the cross example of
  docs/sources/venues.md#bitmex-liquidation-price, liquidation
  510 / bankruptcy 500, and the fitted inverse model both require it; Bybit
  docs/sources/venues.md#bybit-liquidation-price likewise) or on the
  **mark value** (Binance docs/sources/venues.md#binance-liquidation-price ``notional * MMR - cum``, dYdX
  docs/sources/venues.md#dydx-v4-liquidation ``|S * P * MMF|``, Hyperliquid
  docs/sources/venues.md#hyperliquid-liquidations).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import Enum

from toolkit.cex.instruments import ZERO, Instrument
from toolkit.cex.tiers import RiskTier, tier_for_size


class MarginBasis(str, Enum):
    """Which price the maintenance requirement is computed at."""

    ENTRY = "entry"
    MARK = "mark"


class TierUnit(str, Enum):
    """What a venue's tier limits measure: settlement-currency value, or number of contracts (OKX)."""

    VALUE = "value"
    CONTRACTS = "contracts"


@dataclass(frozen=True)
class Requirement:
    """The maintenance requirement of one position: tier used, effective rate, maintenance amount."""

    tier: RiskTier
    rate: Decimal
    amount: Decimal

    def margin(self, basis_value: Decimal) -> Decimal:
        """``rate * value - amount`` (settlement currency) for the value at the basis price."""
        return self.rate * basis_value - self.amount


@dataclass(frozen=True)
class MarginRules:
    """A venue's margin conventions (see the module docstring for the sources)."""

    basis: MarginBasis
    tier_unit: TierUnit
    taker_fee: Decimal
    maintenance_includes_taker_fee: bool
    maintenance_includes_funding: bool

    def effective_rate(self, tier: RiskTier, side: int, funding_rate: Decimal) -> Decimal:
        """Tier rate, plus the taker fee and the funding this side pays when the venue includes them."""
        rate = tier.maintenance_rate
        if self.maintenance_includes_taker_fee:
            rate += self.taker_fee
        if self.maintenance_includes_funding:
            rate += max(ZERO, side * funding_rate)
        return rate

    def tier_size(self, instrument: Instrument, qty: Decimal, value: Decimal) -> Decimal:
        """The size the tier table is looked up with: ``value`` or ``qty`` (see :class:`TierUnit`)."""
        return qty if self.tier_unit is TierUnit.CONTRACTS else value

    def requirement(self, instrument: Instrument, tiers: Sequence[RiskTier], side: int, qty: Decimal,
                    basis_value: Decimal, funding_rate: Decimal) -> Requirement:
        """Requirement for ``qty`` contracts whose value at the basis price is ``basis_value``.

        Above the largest bounded tier the last tier applies (a mark-price move can push a position past it).
        """
        tier = tier_for_size(tiers, self.tier_size(instrument, qty, basis_value)) or tiers[-1]
        return Requirement(tier, self.effective_rate(tier, side, funding_rate), tier.maintenance_amount)


def initial_margin(instrument: Instrument, qty: Decimal, price: Decimal, leverage: Decimal) -> Decimal:
    """Entry value / leverage, in settlement currency rounded to its base unit
    (docs/sources/venues.md#bitmex-initial-and-maintenance-margin)."""
    return instrument.money(instrument.value(qty, price) / leverage)
