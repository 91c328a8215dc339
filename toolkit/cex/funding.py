"""Perpetual funding: rate, clamp, cap, payment schedule and payments.

Sources (docs/sources/venues.md#bitmex-funding, BitMEX guide text quoted at
https://r.arson.gg/r/BitMEX/comments/d5kupn/funding_calculations and
https://bitmex.com/app/perpetualContractsGuideExamples ):

* ``F = P + clamp(I - P, -0.05%, +0.05%)``
* ``P = (max(0, ImpactBid - Mark) - max(0, Mark - ImpactAsk)) / Spot + FairBasisUsedInMark``
* ``I = (QuoteRate - BaseRate) / FundingInterval`` (daily rates, 3 intervals per day)
* cap ``|F| <= 75% * (IM - MM)`` (https://blog.bitmex.com/important-changes-to-bitcoin-usd-swap-funding)
* paid at 04:00, 12:00, 20:00 UTC only by positions held at that time; amount = mark value * F, positive F
  means longs pay shorts (https://www.bitmex.com/app/swapsGuide).

Other venues use the same shape with their own times, clamp and cap (venue profiles, docs/sources/venues.md).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from toolkit.cex.instruments import ZERO, Instrument
from toolkit.errors import UserInputError


def interest_rate(quote_rate_daily: Decimal, base_rate_daily: Decimal, intervals_per_day: int = 3) -> Decimal:
    """``I = (quote - base) / intervals``: the interest component per funding interval
    (docs/sources/venues.md#bitmex-funding)."""
    return (quote_rate_daily - base_rate_daily) / intervals_per_day


def premium_index(impact_bid: Decimal, impact_ask: Decimal, mark: Decimal, spot: Decimal,
                  fair_basis: Decimal) -> Decimal:
    """``P``: impact-price premium over spot plus the funding basis already in the mark price
    (docs/sources/venues.md#bitmex-funding)."""
    return (max(ZERO, impact_bid - mark) - max(ZERO, mark - impact_ask)) / spot + fair_basis


def clamp(value: Decimal, limit: Decimal) -> Decimal:
    """``value`` limited to ``[-limit, +limit]``."""
    return max(-limit, min(limit, value))


def funding_rate(premium: Decimal, interest: Decimal, interest_clamp: Decimal = Decimal("0.0005"),
                 cap: Decimal | None = None) -> Decimal:
    """``F = P + clamp(I - P, ±interest_clamp)``, then limited to ``±cap`` when the venue caps it
    (docs/sources/venues.md#bitmex-funding)."""
    rate = premium + clamp(interest - premium, interest_clamp)
    return rate if cap is None else clamp(rate, cap)


def bitmex_cap(initial_rate: Decimal, maintenance_rate: Decimal, fraction: Decimal = Decimal("0.75")) -> Decimal:
    """``75% * (IM - MM)``: XBTUSD (1%, 0.5%) -> 0.375% per 8 h (docs/sources/venues.md#bitmex-funding)."""
    return fraction * (initial_rate - maintenance_rate)


def payment(instrument: Instrument, side: int, qty: Decimal, mark: Decimal, rate: Decimal) -> Decimal:
    """Funding paid by a position (negative = received): ``side * mark value * F``, settlement currency."""
    return instrument.money(side * instrument.value(qty, mark) * rate)


@dataclass(frozen=True)
class FundingSchedule:
    """When funding is paid and at which rate.

    ``hours``: UTC hours of the payments (BitMEX 4, 12, 20); ``interval``: time between payments.
    ``rates``: rate paid at each funding time (e.g. a BitMEX ``/funding`` export); a funding time missing from
    it is an error. Without ``rates`` every payment uses ``default_rate`` (the venue's interest component with
    a zero premium, i.e. ``funding_rate(0, I)``).
    """

    hours: tuple[int, ...]
    interval: timedelta
    default_rate: Decimal
    rates: Mapping[datetime, Decimal] | None = field(default=None)

    def times_between(self, start: datetime, end: datetime) -> Iterator[datetime]:
        """Funding times ``t`` with ``start < t <= end``, in order."""
        day = start.replace(hour=0, minute=0, second=0, microsecond=0)
        while day <= end:
            for hour in self.hours:
                moment = day + timedelta(hours=hour)
                if start < moment <= end:
                    yield moment
            day += timedelta(days=1)

    def next_after(self, moment: datetime) -> datetime:
        """The first funding time strictly after ``moment``."""
        return next(self.times_between(moment, moment + timedelta(days=1, hours=1)))

    def rate_at(self, funding_time: datetime) -> Decimal:
        """The rate paid at ``funding_time``."""
        if self.rates is None:
            return self.default_rate
        try:
            return self.rates[funding_time]
        except KeyError:
            raise UserInputError(
                f"funding: no rate for the funding time {funding_time.isoformat()}; "
                "the funding file must cover the whole price path") from None
