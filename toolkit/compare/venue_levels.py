"""Venue levels next to the lending ones (:mod:`toolkit.compare.lending_levels`): the same exposure on each
venue's engine.

Two populations per venue contract, for a single-asset scenario (asset ``X`` falls, every other price fixed):

* **same positions** (:func:`same_position_levels`): each lending account long ``X`` becomes the perpetual the crash
  replay maps it to (:mod:`toolkit.compare.equivalent`): a linear long of ``q`` = its ``X`` collateral minus its
  ``X`` debt (whole tokens, rounded down to the token's base unit) at the account's own oracle price ``P0``, with
  isolated margin = its equity (all collateral minus all debt at current prices), so its equity equals the lending
  position's at every price of ``X``. Leverage is ``q P0 / margin`` capped at the tier's maximum (only the
  venue's maximum-leverage check uses it). The engine's exact liquidation price ``LP``
  (:func:`toolkit.cex.quote_account`) gives the first step ``k`` with ``P0 (1 - k/100) < LP`` (the engine
  liquidates below it: ``toolkit.cex.process``, equity < maintenance). A position above the contract's largest
  risk limit is left out (counted in ``excluded``); one with no equity left is liquidatable at once. Counted: the
  account's collateral value and debt, as on the lending side (:data:`toolkit.compare.lending_levels.LEVEL_COLUMNS`),
  so both curves measure the same thing.
* **leverage distribution** (:func:`distribution_levels`): the lending book's exposure to ``X`` (its ``X``
  collateral value at current prices, ``E``) held on the venue by longs whose leverages follow a distribution:
  ``share`` of ``E`` at each ``leverage`` (capped at the first tier's maximum), each opened at ``P0`` (the
  exposure-weighted mean price) as a position of the first tier. Counted: the position value ``share x E`` (and
  ``share x E x f`` at the moved price) once liquidatable.

Default distribution (:data:`DEFAULT_LEVERAGE_DISTRIBUTION`), a model choice documented with its source in
docs/sources/leverage.md#default-leverage-distribution: Binance's December 2019 statement on Binance Futures
users (60 % at 20x or more, 21 % at the 125x maximum), read as 40 % below 20x (5x and 10x, 20 % each), 39 % from 20x to
below 125x (25x and 50x, 19.5 % each) and 21 % at 125x. The representative leverage of each band is ours.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation, localcontext
from fractions import Fraction
from typing import Any

import pandas as pd

from toolkit.cex import AccountSpec, MarginMode, PositionSpec, quote_account
from toolkit.cex.instruments import LONG
from toolkit.cex.tiers import tier_for_size
from toolkit.compare.contracts import VenueContract
from toolkit.compare.equivalent import SYMBOL, equivalent_venue
from toolkit.compare.lending_levels import LEVEL_COLUMNS, LendingAccount, StepCurve
from toolkit.errors import UserInputError


@dataclass(frozen=True)
class LeverageBucket:
    """``share`` of the exposure held at ``leverage``."""

    leverage: Decimal
    share: Decimal


#: docs/sources/leverage.md#default-leverage-distribution (module docstring).
DEFAULT_LEVERAGE_DISTRIBUTION: tuple[LeverageBucket, ...] = tuple(
    LeverageBucket(Decimal(lev), Decimal(share)) for lev, share in
    (("5", "0.20"), ("10", "0.20"), ("25", "0.195"), ("50", "0.195"), ("125", "0.21")))


def parse_distribution(text: str) -> tuple[LeverageBucket, ...]:
    """``"5:0.2,10:0.2,25:0.195,50:0.195,125:0.21"`` (leverage:share, shares summing to 1)."""
    buckets = []
    for item in (part.strip() for part in text.split(",") if part.strip()):
        lev, _, share = item.partition(":")
        try:
            bucket = LeverageBucket(Decimal(lev), Decimal(share))
        except InvalidOperation:
            raise UserInputError(f"--leverage-distribution: {item!r} is not leverage:share, like 10:0.2") from None
        if not (bucket.leverage >= 1 and bucket.share > 0 and bucket.leverage.is_finite() and bucket.share.is_finite()):
            raise UserInputError(f"--leverage-distribution: need leverage >= 1 and share > 0, got {item!r}")
        buckets.append(bucket)
    if not buckets or sum(b.share for b in buckets) != 1:
        raise UserInputError(f"--leverage-distribution: give leverage:share pairs whose shares sum to 1, got {text!r}")
    return tuple(buckets)


def _decimal(value: Fraction) -> Decimal:
    with localcontext() as ctx:
        ctx.prec = 40
        return Decimal(value.numerator) / Decimal(value.denominator)


def first_step(price: Fraction, liquidation_price: Fraction | None, max_move: int) -> int | None:
    """The smallest step ``k`` in ``0 .. max_move`` with ``price (1 - k/100) < liquidation_price``."""
    if liquidation_price is None or liquidation_price <= 0:
        return None
    step = max(0, math.floor((1 - liquidation_price / price) * 100) + 1)
    return step if step <= max_move else None


def _holding(account: LendingAccount, symbol: str) -> tuple[Fraction, Fraction, int] | None:
    """Net long tokens of ``symbol``, its price and decimals; ``None`` when the account is not long it."""
    mine = [h for h in account.holdings if h.symbol == symbol]
    qty = sum((h.collateral - h.debt for h in mine), Fraction(0))
    return (qty, mine[0].price, mine[0].decimals) if mine and qty > 0 else None


def same_position_levels(accounts: Sequence[LendingAccount], symbol: str, contract: VenueContract, *,
                         moment: datetime, max_move: int) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """Rows of the "same positions" population on ``contract`` (module docstring), and the accounts left out
    (account -> reason)."""
    curve, excluded = StepCurve(max_move), {}
    moved = frozenset({symbol})
    for account in accounts:
        held = _holding(account, symbol)
        if held is None:
            continue
        qty, price, decimals = held
        terms = account.terms(moved)
        values = (Fraction(1), terms.moved_value, terms.other_value, terms.moved_debt, terms.other_debt)
        margin = account.collateral_usd - account.debt_usd
        if margin <= 0:
            curve.add(range(0, max_move + 1), values)
            continue
        p0 = _decimal(price)
        equivalent = equivalent_venue(contract, moment, p0, decimals)
        instrument = equivalent.profile.instrument(SYMBOL).instrument
        size = instrument.floor_lots(_decimal(qty))
        tier_size = equivalent.profile.rules.margin.tier_size(instrument, size, instrument.value(size, p0))
        tier = tier_for_size(equivalent.era.tiers, tier_size)
        if tier is None or size <= 0:
            excluded[account.account] = f"size {tier_size:f} above the largest risk limit of {contract}"
            continue
        leverage = min(size * p0 / _decimal(margin), tier.max_leverage)
        spec = AccountSpec(account.account, MarginMode.ISOLATED, Decimal(0),
                           (PositionSpec(SYMBOL, LONG, size, p0, leverage, isolated_margin=_decimal(margin)),))
        quote = quote_account(equivalent.profile, spec, lambda name: name, era=equivalent.era.name).positions[0]
        lp = quote.liquidation_price_exact
        step = first_step(Fraction(p0), None if lp is None else Fraction(lp), max_move)
        if step is not None:
            curve.add(range(step, max_move + 1), values)
    return curve.rows(), excluded


def distribution_levels(accounts: Sequence[LendingAccount], symbol: str, contract: VenueContract, *, moment: datetime,
                        max_move: int, distribution: Sequence[LeverageBucket] = DEFAULT_LEVERAGE_DISTRIBUTION
                        ) -> list[dict[str, Any]]:
    """Rows of the leverage-distribution population on ``contract`` (module docstring)."""
    exposure = Fraction(0)
    weighted_price = Fraction(0)
    decimals = 18
    for account in accounts:
        for h in account.holdings:
            if h.symbol == symbol and h.collateral > 0:
                exposure += h.collateral * h.price
                weighted_price += h.collateral * h.price * h.price
                decimals = h.decimals
    curve = StepCurve(max_move)
    if exposure == 0:
        return curve.rows()
    p0 = _decimal(weighted_price / exposure)
    equivalent = equivalent_venue(contract, moment, p0, decimals)
    instrument = equivalent.profile.instrument(SYMBOL).instrument
    first_tier = equivalent.era.tiers[0]
    for bucket in distribution:
        leverage = min(bucket.leverage, first_tier.max_leverage)
        notional = min(Decimal(10_000), first_tier.max_size or Decimal(10_000))
        size = max(instrument.floor_lots(notional / p0), instrument.lot_size)
        spec = AccountSpec("bucket", MarginMode.ISOLATED, Decimal(0), (PositionSpec(SYMBOL, LONG, size, p0, leverage),))
        lp = quote_account(equivalent.profile, spec, lambda name: name,
                           era=equivalent.era.name).positions[0].liquidation_price_exact
        step = first_step(Fraction(p0), None if lp is None else Fraction(lp), max_move)
        if step is not None:
            value = exposure * Fraction(bucket.share)
            curve.add(range(step, max_move + 1), (Fraction(1), value, Fraction(0), Fraction(0), Fraction(0)))
    return curve.rows()


def venue_levels(accounts: Sequence[LendingAccount], symbol: str, contracts: Sequence[VenueContract], *,
                 moment: datetime, max_move: int = 60,
                 distribution: Sequence[LeverageBucket] = DEFAULT_LEVERAGE_DISTRIBUTION) -> tuple[pd.DataFrame,
                                                                                                   dict[str, dict]]:
    """Both populations on every contract (module docstring) for the scenario where ``symbol`` falls alone: rows
    with ``scenario`` = ``symbol``, ``place`` = the contract, ``population`` = ``same positions`` or ``leverage
    distribution``; and the accounts each contract left out."""
    rows, excluded = [], {}
    for contract in contracts:
        same, left_out = same_position_levels(accounts, symbol, contract, moment=moment, max_move=max_move)
        rows += [{"scenario": symbol, "place": str(contract), "population": "same positions", **row} for row in same]
        rows += [{"scenario": symbol, "place": str(contract), "population": "leverage distribution", **row}
                 for row in distribution_levels(accounts, symbol, contract, moment=moment, max_move=max_move,
                                                distribution=distribution)]
        excluded[str(contract)] = left_out
    return pd.DataFrame(rows, columns=["scenario", "place", "population", "move_pct", "price_factor",
                                       *LEVEL_COLUMNS]), excluded
