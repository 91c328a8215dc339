"""Lending liquidation levels: how much collateral (and debt) becomes liquidatable as a price falls, exactly, from
each position's composition (:func:`levels`; ``liqtk levels`` and :func:`toolkit.compare.levels` add the venues).

Input: open lending positions, one :class:`LendingAccount` per account and market (a positions snapshot,
:func:`accounts_from_snapshot`), each with its holdings per asset: collateral counted by the protocol and debt in
whole tokens, the oracle price at the snapshot (USD per whole token) and the liquidation threshold in force for
the asset as collateral (Aave: the reserve's, or the e-mode category's when the account is in the asset's
category; Compound v2 and Venus: the collateral factor; Morpho Blue: the market's LLTV).

Method (exact, :class:`fractions.Fraction`)
------------------------------------------
A scenario moves the prices of a set ``S`` of assets by the same factor ``f = 1 - m`` (a fall of ``m``), every
other price fixed. With, per account,

* ``A`` = sum over collateral in ``S`` of amount x price x threshold, ``B`` the same over the other collateral,
* ``C`` = sum over debt in ``S`` of amount x price, ``D`` the same over the other debt,

the health factor at the move is ``HF(f) = (f A + B) / (f C + D)`` (the formula of Aave's ``getUserAccountData``,
Compound's account liquidity and Morpho's ``_isHealthy``, without their fixed-point rounding), and the account is
liquidatable when ``HF(f) < 1`` (Aave ``ValidationLogic.validateLiquidationCall``: ``healthFactor <
HEALTH_FACTOR_LIQUIDATION_THRESHOLD``; Compound: shortfall > 0; Morpho: borrowed > max borrow), i.e. when
``f (A - C) < D - B``: for ``A > C`` (a long of ``S``) at every move ``m > 1 - (D - B) / (A - C)``, for ``A < C``
(a short of ``S``) at every move below that, for ``A = C`` at every move or none (DERIVED).

Two scenarios: each collateral asset alone (``S`` = that asset), and all non-stable assets together
(``S`` = every asset whose symbol is not in ``stables``, default :data:`STABLES`). Moves are whole percent steps
``0 .. max_move`` (default 60). At each step: the accounts liquidatable, the value of their collateral and of the
part of it in ``S``, and their debt, valued at the snapshot's prices (so the curve says how much of today's book is
liquidatable after that move, and only grows for long positions), and their collateral at the moved prices. The
step at which an account is first liquidatable is the smallest ``k`` with ``k/100`` above its crossing move
(``crossing`` in :attr:`Levels.accounts`).

Assumptions: prices of the moved assets fall together and exactly; interest does not accrue; the oracle price is
the price; an account is counted whole once liquidatable (a liquidation closes part of it, up to the close factor).
Sources: docs/sources/levels.md#health-factor.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import pandas as pd

from toolkit.errors import UserInputError

#: Symbols priced as US dollars (the debt side of most positions); a parameter of :func:`levels`.
STABLES: frozenset[str] = frozenset({"USDC", "USDT", "DAI", "USDS", "GHO", "FRAX", "LUSD", "BOLD", "CRVUSD", "PYUSD",
                                     "USDE", "SUSDE", "SDAI", "RLUSD", "USDC.E", "USDBC", "USD0", "EURC"})
#: Largest fall reported by default, in percent.
MAX_MOVE = 60
#: Name of the scenario that moves every non-stable asset together.
ALL_NON_STABLE = "all non-stable"


@dataclass(frozen=True)
class Holding:
    """One asset of an account: ``collateral`` counted by the protocol and ``debt``, in whole tokens, the price in
    USD per whole token and the liquidation threshold in force for it as collateral (a share, e.g. 0.825)."""

    symbol: str
    collateral: Fraction
    debt: Fraction
    price: Fraction
    threshold: Fraction
    decimals: int = 18


@dataclass(frozen=True)
class LendingAccount:
    """The open position of one account in one market of one deployment."""

    protocol: str
    deployment: str
    market_id: str
    account: str
    holdings: tuple[Holding, ...]
    emode_category: int = 0

    @property
    def collateral_usd(self) -> Fraction:
        return sum((h.collateral * h.price for h in self.holdings), Fraction(0))

    @property
    def debt_usd(self) -> Fraction:
        return sum((h.debt * h.price for h in self.holdings), Fraction(0))

    def health_factor(self, moved: frozenset[str] = frozenset(), factor: Fraction = Fraction(1)) -> Fraction | None:
        """``HF(f)`` of the module docstring; ``None`` without debt."""
        terms = self.terms(moved)
        debt = factor * terms.moved_debt + terms.other_debt
        return None if debt == 0 else (factor * terms.moved_weighted + terms.other_weighted) / debt

    def terms(self, moved: frozenset[str]) -> Terms:
        """``A, B, C, D`` and the unweighted collateral in and out of ``moved`` (module docstring)."""
        a = b = c = d = vs = vr = Fraction(0)
        for h in self.holdings:
            value, owed = h.collateral * h.price, h.debt * h.price
            if h.symbol in moved:
                a, c, vs = a + value * h.threshold, c + owed, vs + value
            else:
                b, d, vr = b + value * h.threshold, d + owed, vr + value
        return Terms(a, b, c, d, vs, vr)


@dataclass(frozen=True)
class Terms:
    """``A, B, C, D`` of the module docstring, and the collateral value in ``S`` (``moved_value``) and out of it."""

    moved_weighted: Fraction
    other_weighted: Fraction
    moved_debt: Fraction
    other_debt: Fraction
    moved_value: Fraction
    other_value: Fraction

    def crossing(self) -> Fraction | None:
        """The move ``m*`` where ``HF = 1`` (``1 - (D - B) / (A - C)``); ``None`` when ``A = C``."""
        slope = self.moved_weighted - self.moved_debt
        return None if slope == 0 else 1 - (self.other_debt - self.other_weighted) / slope

    def steps(self, max_move: int) -> range:
        """The whole-percent steps ``k`` in ``0 .. max_move`` at which ``HF(1 - k/100) < 1``."""
        slope = self.moved_weighted - self.moved_debt
        gap = self.other_debt - self.other_weighted
        last = max_move + 1
        if slope == 0:
            return range(0, last) if gap > 0 else range(0)
        crossing = 1 - gap / slope
        if slope > 0:  # liquidatable for k/100 > crossing
            first = max(0, math.floor(crossing * 100) + 1)
            return range(min(first, last), last)
        # a short of S: liquidatable for k/100 < crossing
        return range(0, max(0, min(last, math.ceil(crossing * 100))))


@dataclass
class Levels:
    """The result of :func:`levels`.

    * ``table``: one row per scenario, place (each protocol/deployment and ``all``) and step: ``move_pct`` (the fall,
      0 .. 60), ``price_factor``, ``accounts``, ``collateral_usd``, ``moved_collateral_usd``, ``debt_usd`` (of the
      liquidatable accounts, at the snapshot's prices) and ``collateral_at_move_usd`` (at the moved prices); USD
      floats rounded once from exact values;
    * ``accounts``: one row per scenario and account: ``crossing`` (the exact move where HF = 1, as float; empty
      when no move crosses), ``first_step`` (first step at which it is liquidatable, empty if none within range),
      ``health_factor`` now, collateral and debt now;
    * ``exact``: ``(scenario, place, step) -> (collateral, moved collateral, debt)`` as Fractions, at the snapshot's
      prices.
    """

    table: pd.DataFrame
    accounts: pd.DataFrame
    exact: dict[tuple[str, str, int], tuple[Fraction, Fraction, Fraction]] = field(default_factory=dict)
    max_move: int = MAX_MOVE

    def curve(self, scenario: str, place: str = "all") -> pd.DataFrame:
        """The rows of one scenario and place, by step."""
        rows = self.table[(self.table["scenario"] == scenario) & (self.table["place"] == place)]
        return rows.sort_values("move_pct").reset_index(drop=True)


#: The value columns of a level row (:meth:`StepCurve.rows`).
LEVEL_COLUMNS = ("accounts", "collateral_usd", "moved_collateral_usd", "debt_usd", "collateral_at_move_usd")


class StepCurve:
    """Sums over the steps ``0 .. max_move`` of what is liquidatable, kept as difference arrays of (count, moved
    value, other value, moved debt, other debt) at the snapshot's prices."""

    def __init__(self, max_move: int) -> None:
        self.max_move = max_move
        self.diffs = [[Fraction(0)] * 5 for _ in range(max_move + 2)]

    def add(self, steps: range, values: Sequence[Fraction]) -> None:
        """Count ``values`` at every step of ``steps`` (a sub-range of ``0 .. max_move``)."""
        if len(steps):
            for i, value in enumerate(values):
                self.diffs[steps.start][i] += value
                self.diffs[steps.stop][i] -= value

    def totals(self) -> list[tuple[int, Fraction, list[Fraction]]]:
        """``(step, price factor, running sums)`` for every step."""
        out, running = [], [Fraction(0)] * 5
        for step in range(self.max_move + 1):
            running = [r + d for r, d in zip(running, self.diffs[step], strict=True)]
            out.append((step, 1 - Fraction(step, 100), running))
        return out

    def rows(self, **fixed: Any) -> list[dict[str, Any]]:
        """One row per step: ``fixed`` columns, ``move_pct``, ``price_factor`` and :data:`LEVEL_COLUMNS`."""
        rows = []
        for step, factor, (count, moved_value, other_value, moved_debt, other_debt) in self.totals():
            rows.append({**fixed, "move_pct": step, "price_factor": float(factor), "accounts": int(count),
                         "collateral_usd": float(moved_value + other_value), "moved_collateral_usd": float(moved_value),
                         "debt_usd": float(moved_debt + other_debt),
                         "collateral_at_move_usd": float(factor * moved_value + other_value)})
        return rows


def collateral_symbols(accounts: Iterable[LendingAccount]) -> list[str]:
    """Every asset held as collateral by some account, by total collateral value, largest first."""
    totals: dict[str, Fraction] = {}
    for account in accounts:
        for h in account.holdings:
            if h.collateral > 0:
                totals[h.symbol] = totals.get(h.symbol, Fraction(0)) + h.collateral * h.price
    return sorted(totals, key=lambda s: (-totals[s], s))


def scenarios(accounts: Sequence[LendingAccount], stables: frozenset[str] = STABLES,
              assets: Sequence[str] | None = None) -> dict[str, frozenset[str]]:
    """The scenarios of the module docstring: each collateral asset alone (or ``assets``), then all non-stable
    assets together; scenario name -> moved symbols."""
    chosen = list(assets) if assets is not None else collateral_symbols(accounts)
    upper = {s.upper() for s in stables}
    out = {symbol: frozenset({symbol}) for symbol in chosen}
    volatile = frozenset(h.symbol for a in accounts for h in a.holdings if h.symbol.upper() not in upper)
    if volatile:
        out[ALL_NON_STABLE] = volatile
    return out


def _place(account: LendingAccount) -> str:
    return account.protocol if account.deployment in ("", None) else f"{account.protocol}/{account.deployment}"


def levels(accounts: Sequence[LendingAccount], *, max_move: int = MAX_MOVE, stables: frozenset[str] = STABLES,
           assets: Sequence[str] | None = None) -> Levels:
    """Liquidation levels of ``accounts`` (module docstring). ``assets`` limits the single-asset scenarios."""
    if not 1 <= max_move <= 99:
        raise UserInputError(f"max_move: give a whole percentage between 1 and 99, got {max_move}")
    places = sorted({_place(a) for a in accounts})
    rows: list[dict[str, Any]] = []
    account_rows: list[dict[str, Any]] = []
    exact: dict[tuple[str, str, int], tuple[Fraction, Fraction, Fraction]] = {}
    for name, moved in scenarios(accounts, stables, assets).items():
        curves = {place: StepCurve(max_move) for place in [*places, "all"]}
        for account in accounts:
            terms = account.terms(moved)
            hit = terms.steps(max_move)
            crossing = terms.crossing()
            health = account.health_factor()
            account_rows.append({
                "scenario": name, "protocol": account.protocol, "deployment": account.deployment,
                "market_id": account.market_id, "account": account.account,
                "crossing": None if crossing is None else float(crossing),
                "first_step": hit.start if len(hit) else None,
                "health_factor": None if health is None else float(health),
                "collateral_usd": float(account.collateral_usd), "debt_usd": float(account.debt_usd)})
            values = (Fraction(1), terms.moved_value, terms.other_value, terms.moved_debt, terms.other_debt)
            for place in (_place(account), "all"):
                curves[place].add(hit, values)
        for place, curve in curves.items():
            rows += curve.rows(scenario=name, moved_assets=",".join(sorted(moved)), place=place)
            for step, _, running in curve.totals():
                exact[(name, place, step)] = (running[1] + running[2], running[1], running[3] + running[4])
    return Levels(pd.DataFrame(rows, columns=["scenario", "moved_assets", "place", "move_pct", "price_factor",
                                              *LEVEL_COLUMNS]),
                  pd.DataFrame(account_rows, columns=["scenario", "protocol", "deployment", "market_id", "account",
                                                      "crossing", "first_step", "health_factor", "collateral_usd",
                                                      "debt_usd"]),
                  exact, max_move)


#: Columns :func:`accounts_from_snapshot` reads (a positions snapshot, :mod:`toolkit.snapshot`).
SNAPSHOT_COLUMNS = ("protocol", "deployment", "market_id", "account", "symbol", "asset", "decimals",
                    "collateral_raw", "uses_as_collateral", "debt_raw", "price_raw", "price_unit_raw",
                    "usd_per_currency_raw", "usd_per_currency_unit_raw", "liquidation_threshold_raw", "emode_category")
WAD = 10**18


def _int(value: Any) -> int | None:
    if value is None or (isinstance(value, float) and math.isnan(value)) or value == "":
        return None
    return int(value)


def price_usd(row: Any) -> Fraction | None:
    """USD per whole token of a snapshot row, exact: ``price_raw / price_unit_raw x usd_per_currency_raw /
    usd_per_currency_unit_raw``; ``None`` when the row has no USD conversion."""
    price, unit = _int(row.price_raw), _int(row.price_unit_raw)
    usd, usd_unit = _int(row.usd_per_currency_raw), _int(row.usd_per_currency_unit_raw)
    if None in (price, unit, usd, usd_unit) or not unit or not usd_unit:
        return None
    return Fraction(price, unit) * Fraction(usd, usd_unit)


def accounts_from_snapshot(rows: pd.DataFrame) -> list[LendingAccount]:
    """One :class:`LendingAccount` per account and market of the rows of a positions snapshot (``liqtk positions``,
    :func:`toolkit.positions`): amounts from the exact ``*_raw`` columns, collateral only where the asset counts as
    collateral, USD prices exact from the oracle answer and the currency's USD value (:func:`price_usd`). Rows
    without a USD price are refused."""
    missing = [c for c in SNAPSHOT_COLUMNS if c not in rows.columns]
    if missing:
        raise UserInputError(f"not a positions snapshot: columns {', '.join(missing)} are missing")
    grouped: dict[tuple[str, str, str, str], list[Holding]] = {}
    modes: dict[tuple[str, str, str, str], int] = {}
    for row in rows.itertuples(index=False):
        price = price_usd(row)
        if price is None:
            raise UserInputError(f"{row.protocol} account {row.account}: {row.symbol or row.asset} has no USD price in "
                                 "the snapshot; levels need USD prices")
        scale = 10 ** int(row.decimals)
        collateral = Fraction(_int(row.collateral_raw) or 0, scale) if bool(row.uses_as_collateral) else Fraction(0)
        key = (row.protocol, row.deployment, row.market_id, row.account)
        grouped.setdefault(key, []).append(Holding(
            str(row.symbol or row.asset), collateral, Fraction(_int(row.debt_raw) or 0, scale), price,
            Fraction(_int(row.liquidation_threshold_raw) or 0, WAD), int(row.decimals)))
        modes[key] = _int(row.emode_category) or 0
    return [LendingAccount(*key, tuple(holdings), modes[key]) for key, holdings in sorted(grouped.items())]
