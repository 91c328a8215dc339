"""The venues' second population in a replay: the same positions' sizes held at realistic leverage.

The first population (:func:`toolkit.crash.venues.venue_population`) gives every borrower's perpetual the lending
position's own equity as margin, so both sides have the same equity at every price: a like-for-like comparison,
but at the 1.5x-5x leverage a lending position carries, far below what venue traders use. This one keeps each
position's contracts ``q`` (the borrower's volatile collateral) and draws its leverage ``L`` from a distribution
(``share`` of the positions at each leverage; default
:data:`toolkit.compare.venue_levels.DEFAULT_LEVERAGE_DISTRIBUTION`, sourced in
docs/sources/leverage.md#default-leverage-distribution), capped at the tier's maximum leverage: isolated margin
``q P / L`` at its entry price ``P``.

Entry (:func:`entry_index`): venue traders at 25x-125x do not hold a position for a day; a population opened at the
window's first price would be liquidated by the day's drift hours before the crash. So it is opened at the first
step of the path's dense (minute) window, the last price before the cascade, and its engine runs from there
(hourly paths: at the window's first price). A model choice, stated in the report.

Draws: one uniform number per position, in population order, from ``numpy.random.default_rng([seed, 2])`` (its own
stream: the borrower draws of ``seed`` are not moved), mapped to the leverage whose cumulative share first exceeds
it. Each position keeps its lenders' 1x short as the ADL counterparties, as in the first population. A position
above the contract's largest risk limit is left out, as there.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal

import numpy as np

from toolkit.cex import AccountSpec, MarginMode, PositionSpec
from toolkit.cex.instruments import LONG, SHORT
from toolkit.cex.tiers import tier_for_size
from toolkit.compare import VenueContract
from toolkit.compare.equivalent import SYMBOL
from toolkit.compare.venue_levels import DEFAULT_LEVERAGE_DISTRIBUTION, LeverageBucket
from toolkit.crash.population import Borrower, perp_position
from toolkit.crash.venues import LENDER_SUFFIX, VenuePopulation, population_equivalent

#: Name of this population in the report (the first one is ``same equity``).
NAME = "leverage mix"


def draw_leverages(count: int, distribution: Sequence[LeverageBucket], seed: int) -> list[Decimal]:
    """``count`` leverages drawn from ``distribution`` (module docstring)."""
    rng = np.random.default_rng([seed, 2])
    bounds, total = [], Decimal(0)
    for bucket in distribution:
        total += bucket.share
        bounds.append((total, bucket.leverage))
    out = []
    for _ in range(count):
        u = Decimal(float(rng.random()))
        out.append(next((lev for bound, lev in bounds if u < bound), bounds[-1][1]))
    return out


def entry_index(times: Sequence[datetime], dense_start: datetime | None) -> int:
    """The step the population is opened at (module docstring): the first at or after ``dense_start``, else 0."""
    if dense_start is None:
        return 0
    return next((i for i, moment in enumerate(times) if moment >= dense_start), 0)


def leverage_population(contract: VenueContract, borrowers: Sequence[Borrower], moment: datetime, price: Decimal,
                        seed: int, distribution: Sequence[LeverageBucket] = DEFAULT_LEVERAGE_DISTRIBUTION,
                        prices: Mapping[str, Decimal] | None = None) -> VenuePopulation:
    """The borrowers' positions on ``contract`` at leverages drawn from ``distribution`` (module docstring);
    ``prices`` (USD by asset at ``moment``) value a quanto's settlement currency."""
    equivalent = population_equivalent(contract, borrowers, moment, price, prices)
    profile, era = equivalent.profile, equivalent.era
    instrument = profile.instrument(SYMBOL).instrument
    population = VenuePopulation(contract, equivalent, [], name=NAME)
    for borrower, drawn in zip(borrowers, draw_leverages(len(borrowers), distribution, seed), strict=True):
        qty = perp_position(borrower, price).qty
        size = profile.rules.margin.tier_size(instrument, qty, instrument.value(qty, price))
        tier = tier_for_size(era.tiers, size)
        if tier is None:
            population.excluded[borrower.position_id] = (f"size {size:f} above the largest risk limit of "
                                                         f"{contract} (era {era.name})")
            continue
        leverage = min(drawn, tier.max_leverage)
        population.accounts.append(AccountSpec(borrower.position_id, MarginMode.ISOLATED, Decimal(0), (
            PositionSpec(SYMBOL, LONG, qty, price, leverage),)))
        population.accounts.append(AccountSpec(borrower.position_id + LENDER_SUFFIX, MarginMode.ISOLATED, Decimal(0), (
            PositionSpec(SYMBOL, SHORT, qty, price, Decimal(1)),)))
    return population
