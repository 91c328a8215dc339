"""Fair Price Marking: the mark price of a perpetual.

Source: docs/sources/venues.md#bitmex-fair-price-marking, https://www.bitmex.com/app/fairPriceMarking :
``Funding Basis = Funding Rate * (Time Until Funding / Funding Interval)``,
``Fair Price = Index Price * (1 + Funding Basis)``. The mark price moves liquidation prices and unrealised PnL,
never realised PnL.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from toolkit.cex.funding import FundingSchedule


def funding_basis(funding_rate: Decimal, time_until_funding: timedelta, interval: timedelta) -> Decimal:
    """``funding_rate * time_until_funding / interval`` (a fraction)."""
    return funding_rate * Decimal(time_until_funding.total_seconds()) / Decimal(interval.total_seconds())


def fair_price(index_price: Decimal, funding_rate: Decimal, now: datetime, next_funding: datetime,
               interval: timedelta) -> Decimal:
    """``index * (1 + funding basis)``: the mark price at ``now`` for the rate paid at ``next_funding``."""
    return index_price * (1 + funding_basis(funding_rate, next_funding - now, interval))


@dataclass(frozen=True)
class PricePath:
    """Mark prices per symbol on a common, strictly increasing UTC time grid (validated by :mod:`toolkit.cex.io`).
    """

    times: tuple[datetime, ...]
    marks: Mapping[str, tuple[Decimal, ...]]

    def at(self, index: int) -> dict[str, Decimal]:
        """Marks of every symbol at tick ``index``."""
        return {symbol: series[index] for symbol, series in self.marks.items()}


def fair_path(index_path: PricePath, schedules: Mapping[str, FundingSchedule]) -> PricePath:
    """Marks from an index path: each tick's fair price with the rate of the symbol's next funding time."""
    marks = {}
    for symbol, series in index_path.marks.items():
        schedule = schedules[symbol]
        values = []
        for moment, index_price in zip(index_path.times, series, strict=True):
            upcoming = schedule.next_after(moment)
            values.append(fair_price(index_price, schedule.rate_at(upcoming), moment, upcoming, schedule.interval))
        marks[symbol] = tuple(values)
    return PricePath(index_path.times, marks)
