"""The seeded borrower population of a replay, and the perpetual each borrower's position is equivalent to.

Borrowers (:func:`build_population`)
------------------------------------
``borrowers`` positions, assigned to the protocols in turn (position ``i`` to ``protocols[i % len]``: the
default four, Aave v3, Aave v2, Venus (the Compound v2 design) and Morpho Blue, hold a quarter each). Every
position borrows USDC against the event's asset (WETH for ``ETH``, WBTC for ``BTC``), opened at the window's
first price. Three draws per position, in this order, from ``numpy.random.default_rng(seed)``:

* size: collateral value ``N`` in USD, log-uniform in ``collateral_usd`` (default 1,000 - 50,000 USD: retail
  sizes, below the smallest largest risk limit of the default venue contracts, BitMEX ETHUSDT's 100,000 USDT,
  so every position can be opened on every venue), rounded to cents;
* health factor at opening ``HF0``, uniform in ``health_factor`` (default 1.05 - 1.60: the first positions
  become liquidatable after a fall of ``1 - 1/1.05`` = 4.8 %, the last after 37.5 %, which spans the four
  crashes' hourly falls), rounded to 1e-4;
* collateral mix: the share ``s`` of ``N`` posted as USDC collateral, uniform in ``stable_share`` (default
  0 - 0.3), rounded to 1e-4. Morpho Blue markets take one collateral token, so ``s = 0`` there.

Amounts (raw, rounded down): volatile collateral ``(1 - s) N / P0`` tokens, USDC collateral ``s N``, debt
``(sum of value x liquidation threshold) / HF0`` USDC, with each protocol's deployed threshold
(:data:`THRESHOLDS`: Aave's reserve ``liquidationThreshold``, Venus' collateral factor, Morpho's LLTV).
A position may not be opened beyond its borrow limit (Aave ``ltv``; the others' threshold is also the limit):
``HF0`` is raised to ``limit ratio x 1.001`` where the draw is below it (Aave v3 WBTC: LT 78 % / LTV 73 %,
``HF0 >= 1.0699``). The health factor on chain then differs from ``HF0`` only by the oracles' rounding.

Accounts: position ``i`` belongs to the address ``keccak256("liquidation-toolkit crash replay borrower" ||
uint32 i)[12:]``, which the replay impersonates on anvil (anvil's 20 default accounts are too few).

The perpetual equivalent (:func:`perp_position`)
------------------------------------------------
A lending position with ``q`` volatile collateral tokens at price ``P``, ``U`` USDC collateral and ``D`` USDC
debt is long the volatile asset against the debt asset. Its equity at price ``X`` is ``qX + U - D``. A linear
perpetual long of ``q`` (one contract = one token) entered at ``P0`` with isolated margin ``M = qP0 + U - D``
has equity ``M + q(X - P0) = qX + U - D`` at every price: the same position, in USD (USDC and USD at par).
So: notional = the volatile collateral's value ``qP0`` (all the collateral value when ``s = 0``), margin =
equity ``N - D``, leverage ``qP0 / M``. Interest accrued on chain during the replay (hours of 12-second blocks)
is not carried over.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, Decimal
from fractions import Fraction

import numpy as np
from eth_utils import keccak, to_checksum_address

from toolkit.devchain import aave_v2, aave_v3
from toolkit.devchain.assets import TOKENS_BY_SYMBOL
from toolkit.devchain.morpho import MARKET_SPECS
from toolkit.devchain.venus import COLLATERAL_FACTORS
from toolkit.errors import UserInputError

#: Protocol ids (as in the registry and the store) a population can use, in the default assignment order.
PROTOCOLS: tuple[str, ...] = ("aave-v3", "aave-v2", "venus", "morpho-blue")
#: Debt and stable collateral token of every position.
STABLE = "USDC"
#: Cushion above the borrow limit when a draw of ``HF0`` is below it (module docstring).
LIMIT_CUSHION = Fraction(1001, 1000)
_WAD = 10**18
_BPS = 10_000


def _aave(params: dict[str, aave_v3.ReserveParams]) -> dict[str, tuple[Fraction, Fraction]]:
    return {s: (Fraction(p.ltv, _BPS), Fraction(p.liquidation_threshold, _BPS)) for s, p in params.items()}


#: ``(borrow limit, liquidation threshold)`` per protocol and collateral symbol, as deployed by
#: :mod:`toolkit.devchain` (Aave ``RESERVE_PARAMS``; Venus ``COLLATERAL_FACTORS``; Morpho ``MARKET_SPECS`` LLTV).
THRESHOLDS: dict[str, dict[str, tuple[Fraction, Fraction]]] = {
    "aave-v3": _aave(aave_v3.RESERVE_PARAMS),
    "aave-v2": _aave(aave_v2.RESERVE_PARAMS),
    "venus": {s: (Fraction(cf, _WAD), Fraction(cf, _WAD)) for s, cf in COLLATERAL_FACTORS.items()},
    "morpho-blue": {m.collateral: (Fraction(m.lltv, _WAD), Fraction(m.lltv, _WAD)) for m in MARKET_SPECS},
}


def _range(values: tuple[Decimal, Decimal], name: str, low: Decimal, high: Decimal | None) -> None:
    lo, hi = values
    if not (low <= lo <= hi and (high is None or hi <= high)):
        bound = f"{low} <= low <= high" + (f" <= {high}" if high is not None else "")
        raise UserInputError(f"{name}: give two numbers with {bound}, got {lo},{hi}")


@dataclass(frozen=True)
class PopulationSpec:
    """Size, protocols, collateral mix and health-factor distribution of the borrowers (module docstring)."""

    borrowers: int = 80
    protocols: tuple[str, ...] = PROTOCOLS
    collateral_usd: tuple[Decimal, Decimal] = (Decimal(1000), Decimal(50000))
    health_factor: tuple[Decimal, Decimal] = (Decimal("1.03"), Decimal("1.50"))
    stable_share: tuple[Decimal, Decimal] = (Decimal(0), Decimal("0.3"))

    def validate(self) -> None:
        """One clear error for values no population accepts."""
        if self.borrowers <= 0:
            raise UserInputError(f"--borrowers: must be a positive number of positions, got {self.borrowers}")
        unknown = [p for p in self.protocols if p not in PROTOCOLS]
        if unknown or not self.protocols or len(set(self.protocols)) != len(self.protocols):
            raise UserInputError(f"--protocols: give distinct protocols among {', '.join(PROTOCOLS)}, got "
                                 f"{', '.join(self.protocols) or 'none'}")
        _range(self.collateral_usd, "--collateral-usd", Decimal("0.01"), None)
        _range(self.health_factor, "--health-factor", Decimal(1), None)
        if self.health_factor[0] == 1:
            raise UserInputError("--health-factor: the low end must be above 1 (a position at 1 is liquidatable)")
        _range(self.stable_share, "--stable-share", Decimal(0), Decimal("0.99"))


@dataclass(frozen=True)
class Borrower:
    """One lending position as opened: raw token amounts (USDC 6 decimals) and the health factor aimed at (the
    draw, or the borrow limit x 1.001 where the draw is below it; 28 significant digits)."""

    index: int
    protocol: str
    address: str
    collateral_symbol: str
    collateral_raw: int
    stable_raw: int
    debt_raw: int
    health_factor: Decimal
    #: Liquidation thresholds of the volatile and the stable collateral when not the devchain's
    #: (:data:`THRESHOLDS`): a fork replay's positions carry their own.
    thresholds: tuple[Fraction, Fraction] | None = None

    @property
    def position_id(self) -> str:
        """``p0007``: the position's name in the report and the engines' account id."""
        return f"p{self.index:04d}"

    @property
    def morpho_market(self) -> str:
        """Name of the Morpho Blue market of the collateral (``WETH/USDC``)."""
        return f"{self.collateral_symbol}/{STABLE}"

    @property
    def collateral_symbols(self) -> tuple[str, ...]:
        """Collateral tokens posted: the volatile one, then USDC when some is posted."""
        return (self.collateral_symbol, STABLE) if self.stable_raw else (self.collateral_symbol,)


def borrower_address(index: int) -> str:
    """The account of position ``index`` (module docstring)."""
    digest = keccak(b"liquidation-toolkit crash replay borrower" + index.to_bytes(4, "big"))
    return to_checksum_address(digest[12:])


def _units(raw: int, symbol: str) -> Decimal:
    return Decimal(raw).scaleb(-TOKENS_BY_SYMBOL[symbol].decimals)


def _draw(rng: np.random.Generator, bounds: tuple[Decimal, Decimal], quantum: str, log: bool = False) -> Decimal:
    """One draw in ``bounds`` (log-uniform with ``log``), rounded half-even to ``quantum``. The uniform double of
    PCG64 is taken exactly and the rest is ``Decimal`` arithmetic (its powers are correctly rounded), so the draw
    is the same on every platform."""
    lo, hi = bounds
    u = Decimal(float(rng.random()))
    value = lo * (hi / lo) ** u if log else lo + (hi - lo) * u
    return value.quantize(Decimal(quantum), ROUND_HALF_EVEN)


def build_population(spec: PopulationSpec, collateral_symbol: str, price: Decimal, seed: int) -> list[Borrower]:
    """The positions of ``spec`` opened at ``price`` (USD per ``collateral_symbol`` token), deterministic for
    ``seed`` (module docstring)."""
    spec.validate()
    rng = np.random.default_rng(seed)
    decimals = TOKENS_BY_SYMBOL[collateral_symbol].decimals
    stable_decimals = TOKENS_BY_SYMBOL[STABLE].decimals
    borrowers = []
    for index in range(spec.borrowers):
        protocol = spec.protocols[index % len(spec.protocols)]
        size = _draw(rng, spec.collateral_usd, "0.01", log=True)
        target = _draw(rng, spec.health_factor, "0.0001")
        share = _draw(rng, spec.stable_share, "0.0001")  # drawn for every position: the sequence stays aligned
        if protocol == "morpho-blue":
            share = Decimal(0)
        amount = int((size * (1 - share) / price).scaleb(decimals).to_integral_value(ROUND_DOWN))
        stable = int((size * share).scaleb(stable_decimals).to_integral_value(ROUND_DOWN))
        if amount <= 0:
            raise UserInputError(f"--collateral-usd: {size} USD buys no base unit of {collateral_symbol} at {price}")
        limits = THRESHOLDS[protocol]
        value = Fraction(amount, 10**decimals) * Fraction(price)
        stable_value = Fraction(stable, 10**stable_decimals)
        (ltv, lt), (stable_ltv, stable_lt) = limits[collateral_symbol], limits.get(STABLE, (Fraction(0), Fraction(0)))
        weighted_lt = value * lt + stable_value * stable_lt
        borrow_limit = value * ltv + stable_value * stable_ltv
        health = max(Fraction(target), weighted_lt / borrow_limit * LIMIT_CUSHION)
        debt = math.floor(weighted_lt / health * 10**stable_decimals)
        borrowers.append(Borrower(index, protocol, borrower_address(index), collateral_symbol, amount, stable, debt,
                                  Decimal(health.numerator) / Decimal(health.denominator)))
    return borrowers


@dataclass(frozen=True)
class PerpPosition:
    """The perpetual equivalent of a borrower (module docstring): ``qty`` tokens long at ``entry`` USD with
    isolated margin ``margin`` USD; ``collateral_usd`` and ``debt_usd`` are the lending side's ``N`` and ``D``."""

    qty: Decimal
    entry: Decimal
    margin: Decimal
    collateral_usd: Decimal
    debt_usd: Decimal

    @property
    def notional(self) -> Decimal:
        return self.qty * self.entry

    @property
    def leverage(self) -> Decimal:
        """``q P0 / M``; positions are opened with positive equity, so ``M > 0``."""
        return self.notional / self.margin


def perp_position(borrower: Borrower, price: Decimal) -> PerpPosition:
    """The equivalent long of ``borrower`` at the opening ``price`` (exact ``Decimal``)."""
    qty = _units(borrower.collateral_raw, borrower.collateral_symbol)
    collateral = qty * price + _units(borrower.stable_raw, STABLE)
    debt = _units(borrower.debt_raw, STABLE)
    return PerpPosition(qty, price, collateral - debt, collateral, debt)
