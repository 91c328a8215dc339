"""Positions snapshots of Aave v3.0 and v3.6 after the version scenario (``devchain_v36``): each pool's account
math is found by its probes (v3.0: reserve category bits; v3.6: POOL_REVISION 10, collateral bitmap, v3.5
rounding), and every account's collateral, debt and health factor equal the pool's own ``getUserAccountData`` at
the block, also after prices move; the e-mode borrower's WETH takes the category's threshold on both; the
snapshot records the rules and its check against the pool."""

from __future__ import annotations

from decimal import Decimal

import pytest

from snapwork import call
from toolkit.devchain.aave_v36 import EMODE
from toolkit.devchain.assets import USD_DECIMALS, to_raw
from toolkit.devchain.aave_versions_scenario import CASES
from toolkit.protocols.aave import POOL_V3
from toolkit.snapshot import snapshot
from toolkit.store import positions as stored
from toolkit.store.db import Store

pytestmark = [pytest.mark.node, pytest.mark.slow, pytest.mark.xdist_group("aave_v36")]


def _check(devchain, market, tmp_path, block: int, name: str, extra: tuple[str, ...] = ()) -> tuple[str, set[str]]:
    pool = market.pool.address.lower()
    result = snapshot("devchain", "aave-v3", rpc=devchain.url, store=tmp_path / f"{name}.duckdb", block=block,
                      address=pool)
    (outcome,) = result.outcomes
    assert outcome.warnings == []
    rows = stored.read_positions(Store(tmp_path / f"{name}.duckdb", create=False), outcome.snapshot_id)
    w3 = devchain.chain.w3
    with_debt = set()
    for account in [devchain.accounts[case.borrower_index].lower() for case in CASES] + list(extra):
        collateral, debt, _, _, _, health = call(w3, pool, POOL_V3.fn("getUserAccountData"), (account,), block)
        mine = rows[rows["account"] == account]
        if debt == 0:
            assert mine.empty
            continue
        with_debt.add(account)
        assert set(mine["account_collateral_raw"]) == {str(collateral)}, (name, case.name)
        assert set(mine["account_debt_raw"]) == {str(debt)}, (name, case.name)
        assert set(mine["health_factor_raw"]) == {str(health)}, (name, case.name)
    emode = rows[rows["account"] == devchain.accounts[CASES[0].borrower_index].lower()].set_index("symbol")
    assert emode.loc["WETH", "liquidation_threshold_raw"] == str(EMODE.liquidation_threshold * 10**14)
    assert set(emode["emode_category"]) == {EMODE.id}
    assert set(rows["account"]) == with_debt and len(with_debt) >= 2 + len(extra)
    return outcome.rules, with_debt


def test_each_version_is_valued_as_its_own_pool_values_it(devchain_v36, devchain_v36_liquidations, tmp_path) -> None:
    devchain = devchain_v36
    block = devchain.chain.w3.eth.block_number
    rules, _ = _check(devchain, devchain.v3, tmp_path, block, "v30")
    assert rules.startswith("Aave v3.0-3.1, POOL_REVISION 1: e-mode by reserve category bits") and "0 differ" in rules
    rules, _ = _check(devchain, devchain.v36, tmp_path, block, "v36")
    assert rules.startswith("Aave v3.6+, POOL_REVISION 10: e-mode by collateral bitmap; collateral rounded down")
    assert "0 differ" in rules
    reverting = devchain.snapshot()
    try:  # two collaterals, two debts, prices that are not round numbers, interest accrued
        newcomer = devchain.accounts[16]
        for market in (devchain.v3, devchain.v36):
            devchain.fund_and_supply(market, newcomer, {"WETH": "3.3", "WBTC": "0.07"})
            market.borrow(newcomer, "USDC", devchain.to_raw("USDC", "4321.987654"))
            market.borrow(newcomer, "WBTC", devchain.to_raw("WBTC", "0.0123457"))
            market.set_price("WETH", to_raw(Decimal("2987.123457"), USD_DECIMALS))
            market.set_price("WBTC", to_raw(Decimal("61234.56789"), USD_DECIMALS))
        moved = devchain.mine(50)
        _check(devchain, devchain.v3, tmp_path, moved, "v30-moved", (newcomer.lower(),))
        _check(devchain, devchain.v36, tmp_path, moved, "v36-moved", (newcomer.lower(),))
    finally:
        devchain.revert(reverting)
