"""Liquidation levels of a hand-derived book of three positions (two assets, e-mode on one), step by step.

The book (prices: WETH 2,000 USD, WBTC 50,000 USD, USDC 1 USD; HF = sum(amount x price x LT) / debt):

* p1 (Aave v3, no e-mode): 10 WETH, LT 0.825; debt 12,000 USDC. Weighted collateral 16,500, HF 1.375.
  WETH falls by m: HF = 16,500 (1 - m) / 12,000 < 1  <=>  m > 1 - 12,000/16,500 = 3/11 = 27.27 %:
  first liquidatable step 28 (at 27 %: 16,500 x 0.73 = 12,045 >= 12,000).
* p2 (Aave v3, e-mode category 1, whose LT 0.95 replaces WETH's 0.825): 5 WETH; debt 9,000 USDC. Weighted
  9,500, HF 19/18. m > 1 - 9,000/9,500 = 1/19 = 5.26 %: step 6 (at 5 %: 9,500 x 0.95 = 9,025 >= 9,000; at 6 %:
  8,930 < 9,000). Without e-mode (LT 0.825) the weighted collateral would be 8,250 < 9,000: liquidatable now.
* p3 (Morpho-like single debt, two collaterals): 1 WBTC (LT 0.70) and 2 WETH (LT 0.825); debt 30,000 USDC.
  Weighted 35,000 + 3,300 = 38,300.
  - WBTC alone: 35,000 (1 - m) + 3,300 < 30,000  <=>  m > 1 - 26,700/35,000 = 83/350 = 23.71 %: step 24.
  - WETH alone: 3,300 (1 - m) + 35,000 < 30,000 needs m > 1 + 5,000/3,300: never.
  - both together: 38,300 (1 - m) < 30,000  <=>  m > 83/383 = 21.67 %: step 22.

Liquidatable collateral at step k, valued at the snapshot's prices (and at the moved prices, f = 1 - k/100):

* WETH: k < 6: 0; 6 <= k < 28: p2, 10,000 (10,000 f); k >= 28: p1 + p2, 30,000 (30,000 f). Debt 9,000, then 21,000.
* WBTC: k < 24: 0; k >= 24: p3, 54,000 (50,000 f + 4,000: its WETH stays at 2,000). Debt 30,000.
* all non-stable: p2 from 6 (10,000), p3 from 22 (54,000), p1 from 28 (20,000); at the moved prices all of it x f.
"""

from __future__ import annotations

from fractions import Fraction

import pandas as pd
import pytest

from toolkit.compare.lending_levels import (ALL_NON_STABLE, Holding, LendingAccount, Terms, accounts_from_snapshot,
                                           levels)

F = Fraction
WETH, WBTC, USDC = F(2000), F(50000), F(1)


def _book() -> list[LendingAccount]:
    usdc = lambda debt: Holding("USDC", F(0), F(debt), USDC, F(0), 6)  # noqa: E731
    return [
        LendingAccount("aave-v3", "devchain", "pool", "p1", (Holding("WETH", F(10), F(0), WETH, F("0.825")),
                                                             usdc(12000))),
        LendingAccount("aave-v3", "devchain", "pool", "p2", (Holding("WETH", F(5), F(0), WETH, F("0.95")),
                                                             usdc(9000)), emode_category=1),
        LendingAccount("morpho-blue", "devchain", "m", "p3", (Holding("WBTC", F(1), F(0), WBTC, F("0.70"), 8),
                                                               Holding("WETH", F(2), F(0), WETH, F("0.825")),
                                                               usdc(30000))),
    ]


def _expected(scenario: str, k: int) -> tuple[Fraction, Fraction, Fraction, int]:
    """Collateral at the snapshot's prices, at the moved prices, debt, accounts (module docstring)."""
    f = 1 - F(k, 100)
    if scenario == "WETH":
        return ((F(0), F(0), F(0), 0) if k < 6 else (F(10000), 10000 * f, F(9000), 1) if k < 28
                else (F(30000), 30000 * f, F(21000), 2))
    if scenario == "WBTC":
        return (F(0), F(0), F(0), 0) if k < 24 else (F(54000), 50000 * f + 4000, F(30000), 1)
    collateral = (10000 if k >= 6 else 0) + (54000 if k >= 22 else 0) + (20000 if k >= 28 else 0)
    debt = (9000 if k >= 6 else 0) + (30000 if k >= 22 else 0) + (12000 if k >= 28 else 0)
    return F(collateral), collateral * f, F(debt), (k >= 6) + (k >= 22) + (k >= 28)


def test_three_positions_give_the_hand_derived_value_at_every_step() -> None:
    result = levels(_book())
    assert set(result.table["scenario"]) == {"WETH", "WBTC", ALL_NON_STABLE}
    for scenario in ("WETH", "WBTC", ALL_NON_STABLE):
        for k in range(0, 61):
            collateral, _, debt = result.exact[(scenario, "all", k)]
            want_collateral, at_move, want_debt, want_count = _expected(scenario, k)
            assert (collateral, debt) == (want_collateral, want_debt), (scenario, k)
            row = result.curve(scenario).iloc[k]
            assert row["accounts"] == want_count and row["move_pct"] == k
            assert row["collateral_at_move_usd"] == float(at_move)
    first = result.accounts.set_index(["scenario", "account"])["first_step"]
    assert first[("WETH", "p1")] == 28 and first[("WETH", "p2")] == 6 and pd.isna(first[("WETH", "p3")])
    assert first[("WBTC", "p3")] == 24 and first[(ALL_NON_STABLE, "p3")] == 22
    crossing = result.accounts.set_index(["scenario", "account"])["crossing"]
    assert crossing[("WETH", "p1")] == pytest.approx(3 / 11) and crossing[("WBTC", "p3")] == pytest.approx(83 / 350)


def test_places_split_the_total_and_e_mode_matters() -> None:
    result = levels(_book())
    for k in (5, 6, 27, 28, 60):
        by_place = result.table[(result.table["scenario"] == "WETH") & (result.table["move_pct"] == k)]
        parts = by_place[by_place["place"] != "all"]["collateral_usd"].sum()
        assert parts == pytest.approx(by_place[by_place["place"] == "all"]["collateral_usd"].iloc[0])
    without_emode = [a if a.account != "p2" else LendingAccount(
        a.protocol, a.deployment, a.market_id, a.account,
        (Holding("WETH", F(5), F(0), WETH, F("0.825")), a.holdings[1])) for a in _book()]
    assert levels(without_emode).accounts.set_index(["scenario", "account"])["first_step"][("WETH", "p2")] == 0


def test_a_short_of_the_moved_asset_is_liquidatable_only_above_its_crossing() -> None:
    """Collateral 10,000 USDC (LT 0.8), debt 3 WETH: 8,000 < 6,000 (1 - m) never for a fall; it is liquidatable
    now only if the debt is larger: 4.2 WETH = 8,400 > 8,000, healthy once m > 1 - 8,000/8,400 = 1/21 (step 5)."""
    short = Terms(F(0), F(8000), F(8400), F(0), F(0), F(10000))
    assert list(short.steps(60)) == [0, 1, 2, 3, 4]
    assert list(Terms(F(0), F(8000), F(6000), F(0), F(0), F(10000)).steps(60)) == []


def test_snapshot_rows_become_accounts_with_exact_usd_prices() -> None:
    rows = pd.DataFrame([
        {"protocol": "aave-v2", "deployment": "devchain", "market_id": "pool", "account": "0xa", "symbol": "WETH",
         "asset": "0x1", "decimals": 18, "collateral_raw": str(3 * 10**18), "uses_as_collateral": True,
         "debt_raw": "0", "price_raw": str(10**18), "price_unit_raw": str(10**18),
         "usd_per_currency_raw": "300012345678", "usd_per_currency_unit_raw": str(10**8),
         "liquidation_threshold_raw": str(825 * 10**15), "emode_category": 0},
        {"protocol": "aave-v2", "deployment": "devchain", "market_id": "pool", "account": "0xa", "symbol": "USDC",
         "asset": "0x2", "decimals": 6, "collateral_raw": "0", "uses_as_collateral": False,
         "debt_raw": str(5000 * 10**6), "price_raw": str(333319 * 10**9), "price_unit_raw": str(10**18),
         "usd_per_currency_raw": "300012345678", "usd_per_currency_unit_raw": str(10**8),
         "liquidation_threshold_raw": "0", "emode_category": 0}])
    (account,) = accounts_from_snapshot(rows)
    weth, usdc = account.holdings
    assert weth.price == F(300012345678, 10**8) and weth.collateral == 3
    assert usdc.price == F(333319, 10**9) * F(300012345678, 10**8) and usdc.debt == 5000


def test_a_snapshot_far_from_the_price_path_gets_a_warning_with_both_dates() -> None:
    from datetime import UTC, datetime, timedelta
    from decimal import Decimal

    from toolkit.cex import PricePath
    from toolkit.compare.level_report import _age_warning
    from toolkit.store.positions import SnapshotRecord

    taken = datetime(2025, 1, 1, 0, 48, tzinfo=UTC)
    record = SnapshotRecord("1:aave-v3:core:9", 1, "aave-v3", "core", 9, "0x", taken, None, 0, 1, 0, 1, 1, "complete",
                            None)
    path = PricePath((datetime(2025, 10, 9, tzinfo=UTC), datetime(2025, 10, 10, tzinfo=UTC)),
                     {"PATH": (Decimal(4000), Decimal(3700))})
    (message,) = _age_warning([record], path, timedelta(days=7))
    assert "2025-01-01 00:48" in message and "2025-10-09 00:00" in message and "aave-v3/core" in message
    assert _age_warning([record], PricePath((taken + timedelta(days=2),), {"PATH": (Decimal(1),)}),
                        timedelta(days=7)) == []
