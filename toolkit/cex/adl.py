"""Auto-deleveraging: ranking, indicator quintiles and allocation of a liquidated order.

Sources (``docs/sources/venues.md``):

* docs/sources/venues.md#bitmex-insurance-fund-and-adl BitMEX (https://bitmex.com/app/autoDeleveraging ,
  https://testnet.bitmex.com/app/autoDeleveragingExamples):
  ``Ranking = PNL% * EffLev`` when ``PNL% > 0``, ``PNL% / EffLev`` otherwise;
  ``EffLev = |MarkValue| / (MarkValue - BankruptValue)``, ``PNL% = (MarkValue - AvgEntryValue) / |AvgEntryValue|``;
  for inverse contracts value = ``-Q / price``. Longs and shorts ranked separately, highest first; deleveraged
  at the bankruptcy price of the liquidated order; indicator in 20% increments.
* docs/sources/venues.md#binance-insurance-fund-and-adl Binance
  (https://www.binance.com/en/support/faq/detail/360033525471): ``PNL% = UPNL / |notional|``,
  ``EffLev = |notional| / (WalletBalance + UPNL)``, same product/quotient.

Scores are written with operators only (scalars or numpy arrays). They depend on prices and on collateral per
contract, never on the quantity itself, so two positions that differ only in size get identical scores in
both exact and float arithmetic.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal
from enum import Enum
from typing import Any

import numpy as np

INDICATOR_STEPS = 5


class Ranking(str, Enum):
    """Counterparty ordering of a venue."""

    BITMEX = "bitmex"
    BINANCE = "binance"
    RANDOM = "random"


def _price_function(inverse: bool, price: Any) -> Any:
    """``g(P)``: value per contract unit, ``P`` (linear/quanto) or ``1/P`` (inverse)."""
    return 1 / price if inverse else price


def _ratio(numerator: Any, denominator: Any) -> Any:
    """``numerator / denominator`` with a zero denominator giving signed infinity (exact and float alike)."""
    if isinstance(denominator, np.ndarray):
        with np.errstate(divide="ignore", invalid="ignore"):
            return numerator / denominator
    if denominator == 0:
        return Decimal("Infinity") if numerator >= 0 else Decimal("-Infinity")
    return numerator / denominator


def _combine(pnl_pct: Any, leverage: Any) -> Any:
    """``pnl * lev`` for gains, ``pnl / lev`` for losses (element-wise for arrays)."""
    if isinstance(pnl_pct, np.ndarray):
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(pnl_pct > 0, pnl_pct * leverage, pnl_pct / leverage)
    return pnl_pct * leverage if pnl_pct > 0 else pnl_pct / leverage


def bitmex_score(inverse: bool, side: Any, entry: Any, mark: Any, bankruptcy: Any) -> Any:
    """BitMEX ranking from prices: with signed value ``V(X) = side * k * Q * g(X)`` (``k = -1`` inverse),
    ``PNL% = side * k * (g(M) - g(E)) / g(E)`` and ``EffLev = g(M) / (side * k * (g(M) - g(B)))``."""
    k = -1 if inverse else 1
    g_entry, g_mark = _price_function(inverse, entry), _price_function(inverse, mark)
    g_bankrupt = _price_function(inverse, bankruptcy)
    pnl_pct = side * k * (g_mark - g_entry) / g_entry
    leverage = _ratio(g_mark, side * k * (g_mark - g_bankrupt))
    return _combine(pnl_pct, leverage)


def binance_score(inverse: bool, side: Any, entry: Any, mark: Any, collateral_per_unit: Any) -> Any:
    """Binance ranking: per unit of ``qty * contract_value``, ``notional = g(M)``,
    ``UPNL = side * k * (g(M) - g(E))``, ``PNL% = UPNL / notional``, ``EffLev = notional / (WB + UPNL)``;
    ``collateral_per_unit`` is the wallet balance (isolated margin) per unit."""
    k = -1 if inverse else 1
    g_entry, g_mark = _price_function(inverse, entry), _price_function(inverse, mark)
    upnl = side * k * (g_mark - g_entry)
    return _combine(upnl / g_mark, _ratio(g_mark, collateral_per_unit + upnl))


def rank_order(scores: Sequence[Any]) -> list[int]:
    """Indices by score, highest first; ties keep input order (the engines pass candidates in account order)."""
    return sorted(range(len(scores)), key=lambda i: -scores[i])


def percentiles(ranked_qty: Sequence[Decimal], side_total: Decimal) -> list[Decimal]:
    """ADL indicator in 20% steps: the cumulative quantity through each ranked position over the side's total,
    rounded up to the next 20% (BitMEX example: 10/100 -> 20%, 30/100 -> 40%, 70/100 -> 80%)."""
    result, cumulative = [], Decimal(0)
    for qty in ranked_qty:
        cumulative += qty
        steps = (cumulative * INDICATOR_STEPS / side_total).to_integral_value(ROUND_CEILING)
        result.append(steps / INDICATOR_STEPS)
    return result


def indicator_lights(percentile: Decimal) -> int:
    """Lights of the 5-light indicator: top 20% -> 5 lights, last 20% -> 1 light (assumed orientation)."""
    return INDICATOR_STEPS + 1 - int(percentile * INDICATOR_STEPS)


@dataclass(frozen=True)
class Allocation:
    """``qty`` taken from the ranked candidate at ``index``."""

    index: int
    qty: Decimal


def allocate(ranked_qty: Sequence[Decimal], needed: Decimal) -> list[Allocation]:
    """Take ``needed`` contracts from the ranked positions, highest first
    (docs/sources/venues.md#bitmex-insurance-fund-and-adl: a short of 20 closes all 10 of
    the top account and 10 of the second's 20)."""
    allocations = []
    for index, qty in enumerate(ranked_qty):
        if needed <= 0:
            break
        take = min(qty, needed)
        allocations.append(Allocation(index, take))
        needed -= take
    return allocations
