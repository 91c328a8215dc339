"""The Aave version rules as pure functions (no node), on hand-derived examples.

Each expected value is worked out in the comment beside it from the contract code quoted in
docs/sources/aave.md (v3.0: @aave/core-v3 1.19.3 LiquidationLogic.sol L54-L68, L375-L379, L398-L431;
v3.3+: aave-v3-origin 3.6.0 LiquidationLogic.sol L44-L65, L224-L281). The same rules on real contracts:
tests/protocols/test_aave_v36.py.
"""

from __future__ import annotations

import pytest

from toolkit.protocols.aave_rules import (CloseFactor, PoolRules, Position, ReserveConfig, close_factor, emode_v30,
                                          emode_v32, price_keys_v30)

V2, V30, V32, V33 = PoolRules(2), PoolRules(3), PoolRules(3, emode_bitmap=True), PoolRules(3, deficit=True)
USD = 10**8  # base currency unit
WETH = ReserveConfig(ltv_bps=8050, liquidation_threshold_bps=8300, liquidation_bonus_bps=10500, decimals=18,
                     protocol_fee_bps=1000, emode_category=0)


def usdc_debt(debt_usdc: int, collateral_weth: int, weth_usd: int, total_debt_usd: int) -> Position:
    """A borrower's USDC debt (6 decimals) against WETH (18 decimals), prices in USD with 8 decimals."""
    return Position(reserve_debt_raw=debt_usdc * 10**6, reserve_collateral_raw=collateral_weth * 10**18,
                    total_debt_base=total_debt_usd * USD, debt_price=USD, collateral_price=weth_usd * USD,
                    debt_decimals=6, collateral_decimals=18)


def test_reserve_configuration_bits() -> None:
    # LTV 8050 | LT 8300 << 16 | LB 10500 << 32 | 18 decimals << 48 | fee 1000 << 152 | category 1 << 168
    data = 8050 | 8300 << 16 | 10500 << 32 | 18 << 48 | 1 << 56 | 1000 << 152 | 1 << 168
    assert ReserveConfig.from_bitmap(data, 3) == ReserveConfig(8050, 8300, 10500, 18, 1000, 1)
    assert ReserveConfig.from_bitmap(data, 2) == ReserveConfig(8050, 8300, 10500, 18, 0, 0)  # v2: no fee, no e-mode


def test_rule_labels_follow_the_probes() -> None:
    assert V2.label == "Aave v2"
    assert V30.label.startswith("Aave v3.0-3.2") and not V30.bitmap_emode
    assert PoolRules(3, emode_bitmap=False).label.startswith("Aave v3.0-3.1")
    assert V32.label.startswith("Aave v3.2") and V32.bitmap_emode
    assert V33.label.startswith("Aave v3.3+") and V33.bitmap_emode  # v3.3 includes the v3.2 e-mode


@pytest.mark.parametrize(("health_factor", "bps"), [(95 * 10**16, 10000), (95 * 10**16 + 1, 5000), (10**18 - 1, 5000)])
def test_v30_close_factor_is_per_reserve_with_the_095_threshold(health_factor: int, bps: int) -> None:
    # L375-L377: healthFactor > 0.95e18 ? 0.5e4 : 1e4
    assert close_factor(V30, health_factor).bps == bps
    assert close_factor(V2, health_factor).bps == 5000  # v2: always 50 %


def test_v33_debt_below_the_threshold_allows_all_of_it() -> None:
    # 1,900 USDC debt = 1,900e8 < 2,000e8, even though 1 WETH at $2,200 (2,200e8) is above it: 100 %
    result = close_factor(V33, 961 * 10**15, usdc_debt(1900, 1, 2200, 1900))
    assert (result.bps, result.max_debt_raw) == (10000, 1900 * 10**6)
    assert "debt in this reserve (1,900.00) is below" in result.rule


def test_v33_collateral_below_the_threshold_allows_all_of_it() -> None:
    # 0.5 WETH at $3,000 = 1,500e8 < 2,000e8 (the 3,000 USDC debt is above): 100 % of the 3,000 USDC
    position = Position(reserve_debt_raw=3000 * 10**6, reserve_collateral_raw=5 * 10**17, total_debt_base=3000 * USD,
                        debt_price=USD, collateral_price=3000 * USD, debt_decimals=6, collateral_decimals=18)
    result = close_factor(V33, 97 * 10**16, position)
    assert (result.bps, result.max_debt_raw) == (10000, 3000 * 10**6)
    assert "collateral in this reserve (1,500.00) is below" in result.rule


def test_v33_half_of_the_whole_position() -> None:
    # 15,000 USDC of a 24,000 USD position, 10 WETH at $2,850 (28,500e8), HF 0.9856: both above 2,000e8 and
    # HF > 0.95, so at most percentMul(24,000e8, 5000) = 12,000e8 -> 12,000e8 x 1e6 / 1e8 = 12,000 USDC,
    # 12,000 / 15,000 = 80.00 % of the reserve's debt
    result = close_factor(V33, 9856 * 10**14, usdc_debt(15000, 10, 2850, 24000))
    assert result == CloseFactor(8000, 12000 * 10**6, result.rule)
    assert "50% of the whole position's debt (12,000.00 of 24,000.00" in result.rule


def test_v33_half_of_the_position_covering_the_whole_reserve_debt() -> None:
    # 5,000 USDC of a 24,000 USD position: 12,000e8 >= 5,000e8, so the whole 5,000 USDC
    result = close_factor(V33, 99 * 10**16, usdc_debt(5000, 10, 3000, 24000))
    assert (result.bps, result.max_debt_raw) == (10000, 5000 * 10**6) and "covers" in result.rule


def test_v33_health_factor_at_095_allows_all() -> None:
    result = close_factor(V33, 95 * 10**16, usdc_debt(15000, 10, 2850, 24000))
    assert (result.bps, result.max_debt_raw) == (10000, 15000 * 10**6) and "<= 0.95" in result.rule


def test_v33_needs_the_position() -> None:
    with pytest.raises(ValueError):
        close_factor(V33, 10**18)


def test_emode_v32_is_the_collateral_bitmap() -> None:
    # reserve id 3 in bitmap 0b1000 -> the category's 93 % / 104 %; bitmap 0b0100 -> the reserve's own
    applied = emode_v32(1, WETH, 3, 0b1000, 9300, 10400)
    assert (applied.category, applied.liquidation_threshold_bps, applied.liquidation_bonus_bps) == (1, 9300, 10400)
    assert applied.price_source is None
    other = emode_v32(1, WETH, 3, 0b0100, 9300, 10400)
    assert (other.category, other.liquidation_threshold_bps, other.liquidation_bonus_bps) == (0, 8300, 10500)
    # a stale category in the deprecated reserve bits does not matter in v3.2+
    stale = ReserveConfig(8050, 8300, 10500, 18, 1000, 1)
    assert emode_v32(1, stale, 3, 0, 9300, 10400).category == 0


def test_emode_v30_is_the_reserve_bits_and_the_price_source() -> None:
    in_category = ReserveConfig(8050, 8300, 10500, 18, 1000, 2)
    source = "0x" + "ab" * 20
    applied = emode_v30(2, in_category, 9300, 10400, source)
    assert (applied.category, applied.liquidation_threshold_bps, applied.liquidation_bonus_bps) == (2, 9300, 10400)
    # _getConfigurationData: the price source replaces both keys when the collateral is in the category ...
    assert price_keys_v30(applied, 2, "0xdebt", "0xcoll") == (source, source)
    # ... and only the debt's when it is not
    outside = emode_v30(2, WETH, 9300, 10400, source)
    assert (outside.category, outside.liquidation_bonus_bps) == (0, 10500)
    assert price_keys_v30(outside, 2, "0xdebt", "0xcoll") == (source, "0xcoll")
    no_source = emode_v30(2, in_category, 9300, 10400, "0x" + "00" * 20)
    assert price_keys_v30(no_source, 2, "0xdebt", "0xcoll") == ("0xdebt", "0xcoll")
