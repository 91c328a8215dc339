"""Risk-limit tiers / leverage brackets: step-wise maintenance and initial margin rates.

Sources (``docs/sources/venues.md``):

* docs/sources/venues.md#bitmex-risk-limits BitMEX step rule (https://www.bitmex.com/app/riskLimitsExamples): at each
  step above the base risk
  limit both rates rise by the base maintenance rate, ``MM = base_MM * (1 + steps)``,
  ``IM = base_IM + steps * base_MM``.
* docs/sources/venues.md#binance-maintenance-amount Binance maintenance amount
  (https://www.binance.com/es/support/faq/ceccfcfb4e3a45e3b48b0b1bb1a8ae46):
  ``MM = notional * MMR - cum`` with ``cum_n = floor_n * (MMR_n - MMR_{n-1}) + cum_{n-1}``.

A tier covers position sizes ``(previous max, max]`` measured in the venue's tier unit (settlement-currency
value, or contracts for OKX); the last tier may be unbounded (``max_size=None``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

ZERO = Decimal(0)


@dataclass(frozen=True)
class RiskTier:
    """One tier: rates are fractions (0.005 = 0.5%), ``maintenance_amount`` in settlement currency."""

    number: int
    max_size: Decimal | None
    maintenance_rate: Decimal
    initial_rate: Decimal
    maintenance_amount: Decimal = ZERO
    leverage: Decimal | None = None

    @property
    def max_leverage(self) -> Decimal:
        """The highest leverage this tier allows: as published (``leverage``), else ``1 / initial rate``."""
        return self.leverage if self.leverage is not None else 1 / self.initial_rate


def step_rule_tiers(base_limit: Decimal, step: Decimal, base_maintenance: Decimal, base_initial: Decimal,
                    steps: int) -> tuple[RiskTier, ...]:
    """BitMEX risk limits: the base tier plus ``steps`` tiers of ``step`` each
    (docs/sources/venues.md#bitmex-risk-limits).

    >>> [(t.max_size, t.maintenance_rate, t.initial_rate) for t in step_rule_tiers(
    ...     Decimal(200), Decimal(150), Decimal("0.005"), Decimal("0.01"), 3)][1]
    (Decimal('350'), Decimal('0.010'), Decimal('0.015'))
    """
    return tuple(
        RiskTier(number=k + 1, max_size=base_limit + k * step,
                 maintenance_rate=base_maintenance * (1 + k),
                 initial_rate=base_initial + k * base_maintenance)
        for k in range(steps + 1)
    )


def maintenance_amounts(floors: Sequence[Decimal], rates: Sequence[Decimal]) -> list[Decimal]:
    """Binance ``cum`` column from each bracket's lower bound and rate
    (docs/sources/venues.md#binance-maintenance-amount recursion); ``cum_1 = 0``."""
    amounts = [ZERO]
    for n in range(1, len(rates)):
        amounts.append(floors[n] * (rates[n] - rates[n - 1]) + amounts[-1])
    return amounts


def tier_for_size(tiers: Sequence[RiskTier], size: Decimal) -> RiskTier | None:
    """The tier whose range holds ``size``; ``None`` above the largest bounded tier."""
    for tier in tiers:
        if tier.max_size is None or size <= tier.max_size:
            return tier
    return None


def override_tier(maintenance_rate: Decimal, maintenance_amount: Decimal, leverage: Decimal) -> RiskTier:
    """An unbounded single tier built from user overrides (``mmr``, ``maintenance_amount``); number 0."""
    return RiskTier(number=0, max_size=None, maintenance_rate=maintenance_rate,
                    initial_rate=1 / leverage, maintenance_amount=maintenance_amount, leverage=leverage)
