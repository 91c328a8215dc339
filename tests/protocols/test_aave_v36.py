"""Aave v3.6 (npm aave-v3-origin 3.6.0) next to Aave v3.0 (npm @aave/core-v3 1.19.3) on one local chain.

The version scenario (:mod:`toolkit.devchain.aave_versions_scenario`) runs the same five liquidations on both
markets with real transactions; pulls of ``aave-v3`` on the devchain store them (v3.0 as the registry's
``devchain`` deployment, the v3.6 Pool as ``--address``: it has no registry entry, see
:mod:`toolkit.devchain.aave_v36`). Every row is checked against the receipt (``LiquidationCall``,
``DeficitCreated`` and ERC-20 ``Transfer`` logs, decoded by web3 with the contracts' own ABIs) and against the
Pool's and the oracle's view functions at the state block. Expected close factors, e-mode parameters and fees
are derived here from those views, following the contracts' code as quoted in docs/sources/aave.md, and the
case table of the scenario module is checked against hand-computed amounts.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import pytest_asyncio
from web3.logs import DISCARD

from toolkit.devchain import Devchain
from toolkit.devchain.aave_origin import compiled_artifacts
from toolkit.devchain.assets import TOKEN
from toolkit.devchain.market import AaveMarket
from toolkit.pipeline import PullRequest, pull_async
from toolkit.protocols.discovery import expand_offline
from toolkit.protocols.registry import registry
from toolkit.store.db import Store

pytestmark = [pytest.mark.node, pytest.mark.xdist_group("aave_v36")]

MARKETS = ("aave_v3", "aave_v36")
WAD = 10**18
HF_095 = 95 * 10**16
THRESHOLD_BASE = 2000 * 10**8  # MIN_BASE_MAX_CLOSE_FACTOR_THRESHOLD (LiquidationLogic.sol 3.6.0 L57)
TREASURY_INDEX = 9
#: The v3.6 Pool proxy of every devchain started with aave_v36=True (toolkit/devchain/aave_v36.py docstring).
V36_POOL = "0xE14B6D9017045DC2B8735AE43D2d7617c4B0f735"

#: Debt repaid for debtToCover = max uint256, by hand from the scenario's positions and prices (human units;
#: interest of a few blocks makes the chain's figures larger by less than 1e-6 relative):
#: emode: 50 % of 26,400; whole_position_half: v3.0 50 % of the 15,000 USDC debt, v3.6 50 % of the whole
#: 24,000 debt; small_debt: v3.0 50 % of 1,900, v3.6 all of it (1,900 < 2,000); low_health_factor: all 30,000;
#: bad_debt: all 0.5 WBTC at $20,000 covers 10,000 / 1.05 = 9,523.809523... USDC.
EXPECTED_REPAID = {
    ("aave_v3", "emode"): Decimal(13200), ("aave_v36", "emode"): Decimal(13200),
    ("aave_v3", "whole_position_half"): Decimal(7500), ("aave_v36", "whole_position_half"): Decimal(12000),
    ("aave_v3", "small_debt"): Decimal(950), ("aave_v36", "small_debt"): Decimal(1900),
    ("aave_v3", "low_health_factor"): Decimal(30000), ("aave_v36", "low_health_factor"): Decimal(30000),
    ("aave_v3", "bad_debt"): Decimal(10000) / Decimal("1.05"), ("aave_v36", "bad_debt"): Decimal(10000) / Decimal("1.05"),
}
#: close_factor_bps by hand: v3.0 50 % unless HF <= 0.95; v3.6 12,000 / 15,000 = 80 % of the USDC debt in
#: whole_position_half, 100 % below the $2,000 threshold or HF <= 0.95.
EXPECTED_CLOSE_FACTOR = {
    ("aave_v3", "emode"): 5000, ("aave_v36", "emode"): 5000,
    ("aave_v3", "whole_position_half"): 5000, ("aave_v36", "whole_position_half"): 8000,
    ("aave_v3", "small_debt"): 5000, ("aave_v36", "small_debt"): 10000,
    ("aave_v3", "low_health_factor"): 10000, ("aave_v36", "low_health_factor"): 10000,
    ("aave_v3", "bad_debt"): 10000, ("aave_v36", "bad_debt"): 10000,
}


def _market(devchain: Devchain, name: str) -> AaveMarket:
    market = devchain.v3 if name == "aave_v3" else devchain.v36
    assert market is not None
    return market


def _bits(data: int, start: int, width: int) -> int:
    """ReserveConfiguration fields (docs/sources/aave.md#aave-reserve-configuration)."""
    return (data >> start) & ((1 << width) - 1)


def _percent_mul(value: int, bps: int) -> int:
    return (value * bps + 5000) // 10000  # PercentageMath.percentMul, half up


def _percent_div(value: int, bps: int) -> int:
    return (value * 10000 + bps // 2) // bps  # PercentageMath.percentDiv, half up


def _items(liquidations: list[dict[str, Any]], market: str) -> list[dict[str, Any]]:
    return [item for item in liquidations if item["market"] == market]


def _row(frame: pd.DataFrame, item: dict[str, Any], event: str = "LiquidationCall") -> pd.Series:
    (row,) = [r for _, r in frame[(frame.tx_hash == item["tx_hash"].lower()) & (frame.event == event)].iterrows()]
    return row


def _transfers(devchain: Devchain, receipt: Any, token: str) -> list[tuple[str, str, int]]:
    """(from, to, value) of the ERC-20 Transfer events ``token`` emitted in ``receipt``."""
    contract = devchain.chain.at(TOKEN, token)
    return [(e.args["from"].lower(), e.args.to.lower(), e.args.value)
            for e in contract.events.Transfer().process_receipt(receipt, errors=DISCARD) if e.address == contract.address]


@pytest_asyncio.fixture(scope="module")
async def frame(devchain_v36: Devchain, devchain_v36_liquidations: list[dict[str, Any]],
                tmp_path_factory: pytest.TempPathFactory) -> pd.DataFrame:
    path: Path = tmp_path_factory.mktemp("aave_v36") / "s.duckdb"
    for address in (None, devchain_v36.v36.pool.address):
        await pull_async(PullRequest(chain="devchain", protocol="aave-v3", rpc_url=devchain_v36.url, store_path=path,
                                     address=address))
    return Store(path, create=False).liquidations()


def test_v36_is_compiled_from_npm_and_deployed_beside_v30(devchain_v36: Devchain) -> None:
    """v3.0 kept the address the registry names; the v3.6 Pool is at its documented address, revision 10, its
    e-mode category 1 has WETH in the collateral bitmap and USDC in the borrowable one, and the deprecated
    reserve category bits stay 0."""
    addresses = devchain_v36.addresses()
    (v30_entry,) = expand_offline(registry().find("devchain", "aave-v3"), {})  # the pool the devchain registry names
    assert v30_entry.contracts["pool"].lower() == addresses["aave_v3"]["pool"].lower() == \
        "0xd8058efe0198ae9dd7d563e1b4938dcbc86a1f81"
    assert addresses["aave_v36"]["pool"] == V36_POOL
    pool = devchain_v36.v36.pool
    assert pool.functions.POOL_REVISION().call() == 10  # PoolInstance.sol L15
    assert set(addresses["aave_v36"]["libraries"]) == {
        f"@aave-dao/aave-v3-origin:{name}" for name in
        ("BorrowLogic", "FlashLoanLogic", "LiquidationLogic", "PoolLogic", "SupplyLogic", "ConfiguratorLogic")}
    weth, usdc = (devchain_v36.v36.reserve(s).underlying for s in ("WETH", "USDC"))
    weth_id, usdc_id = (pool.functions.getReserveData(a).call()[7] for a in (weth, usdc))
    assert pool.functions.getEModeCategoryCollateralBitmap(1).call() == 1 << weth_id
    assert pool.functions.getEModeCategoryBorrowableBitmap(1).call() == 1 << usdc_id
    assert tuple(pool.functions.getEModeCategoryCollateralConfig(1).call()) == (9000, 9300, 10400)
    assert _bits(pool.functions.getConfiguration(weth).call()[0], 168, 8) == 0
    v30 = devchain_v36.v3.pool
    assert _bits(v30.functions.getConfiguration(weth).call()[0], 168, 8) == 1  # v3.0: category by reserve bits
    assert compiled_artifacts() is compiled_artifacts()  # compiled (or read from the cache) once per process


@pytest.mark.parametrize("market", MARKETS)
def test_one_row_per_liquidation_with_the_event_fields(frame, devchain_v36, devchain_v36_liquidations, market) -> None:
    m = _market(devchain_v36, market)
    items = _items(devchain_v36_liquidations, market)
    rows = frame[(frame.emitter == m.pool.address.lower()) & (frame.event == "LiquidationCall")]
    assert sorted(rows.tx_hash) == sorted(i["tx_hash"].lower() for i in items) and len(items) == 5
    for item in items:
        row = _row(frame, item)
        receipt = devchain_v36.chain.w3.eth.get_transaction_receipt(item["tx_hash"])
        (event,) = m.pool.events.LiquidationCall().process_receipt(receipt, errors=DISCARD)
        assert (row.debt_repaid_raw, row.collateral_seized_raw) == (
            str(event.args.debtToCover), str(event.args.liquidatedCollateralAmount))
        assert (row.borrower, row.liquidator) == (event.args.user.lower(), event.args.liquidator.lower())
        assert (row.debt_asset, row.collateral_asset) == (event.args.debtAsset.lower(), event.args.collateralAsset.lower())
        assert bool(row.receive_a_token) is event.args.receiveAToken is item["receive_a_token"]
        assert (row.block_number, row.log_index) == (event.blockNumber, event.logIndex)
        assert row.state_status == "ok" and row.state_block == row.block_number - 1


@pytest.mark.parametrize("market", MARKETS)
def test_amounts_equal_the_token_movements_of_the_receipt(frame, devchain_v36, devchain_v36_liquidations, market) -> None:
    """Debt paid in by the liquidator, collateral (or aTokens) out to it, the protocol fee to the treasury."""
    m = _market(devchain_v36, market)
    treasury = devchain_v36.accounts[TREASURY_INDEX].lower()
    for item in _items(devchain_v36_liquidations, market):
        row = _row(frame, item)
        receipt = devchain_v36.chain.w3.eth.get_transaction_receipt(item["tx_hash"])
        debt, coll = m.reserve(item["debt_symbol"]), m.reserve(item["collateral_symbol"])
        liquidator, user = row.liquidator, row.borrower
        paid = [v for f, t, v in _transfers(devchain_v36, receipt, debt.underlying)
                if f == liquidator and t == debt.a_token.lower()]
        assert paid == [int(row.debt_repaid_raw)]
        if item["receive_a_token"]:
            got = [v for f, t, v in _transfers(devchain_v36, receipt, coll.a_token) if f == user and t == liquidator]
        else:
            got = [v for f, t, v in _transfers(devchain_v36, receipt, coll.underlying)
                   if f == coll.a_token.lower() and t == liquidator]
        assert got == [int(row.collateral_seized_raw)]
        fee = [v for f, t, v in _transfers(devchain_v36, receipt, coll.a_token) if f == user and t == treasury]
        assert fee == [int(row.protocol_fee_raw)] and int(row.protocol_fee_raw) > 0


@pytest.mark.parametrize("market", MARKETS)
def test_prices_health_factor_and_the_parameters_that_applied(frame, devchain_v36, devchain_v36_liquidations,
                                                              market) -> None:
    """Threshold and bonus: the e-mode category's when it applies to the collateral -- on v3.0 when the
    collateral reserve's bits 168-175 equal the borrower's category, on v3.6 when the collateral's reserve id
    is set in the category's collateralBitmap (docs/sources/aave.md#aave-v32-emode) -- else the reserve's."""
    m = _market(devchain_v36, market)
    pool = m.pool.functions
    for item in _items(devchain_v36_liquidations, market):
        row = _row(frame, item)
        block = int(row.state_block)
        assert row.debt_price_raw == str(m.price(item["debt_symbol"], block=block))
        assert row.collateral_price_raw == str(m.price(item["collateral_symbol"], block=block))
        # the liquidation is alone in its block: the state before it is the state block's, and the views run in
        # the liquidation block's context (number, timestamp), where interest has accrued to its time
        before = m.account_data_in_block(item["user"], state_block=block, number=int(row.block_number),
                                         timestamp=int(row.block_timestamp.timestamp()))
        assert row.state_position == "before_tx" and row.health_factor_before_raw == str(before.health_factor)
        config = pool.getConfiguration(item["collateral_asset"]).call(block_identifier=block)[0]
        category = pool.getUserEMode(item["user"]).call(block_identifier=block)
        assert category == item["emode"]
        if market == "aave_v3":
            data = pool.getEModeCategoryData(category).call(block_identifier=block)
            applies = category != 0 and _bits(config, 168, 8) == category
            emode_threshold, emode_bonus = data[1], data[2]
        else:
            reserve_id = pool.getReserveData(item["collateral_asset"]).call(block_identifier=block)[7]
            bitmap = pool.getEModeCategoryCollateralBitmap(category).call(block_identifier=block)
            applies = category != 0 and (bitmap >> reserve_id) & 1 == 1
            _, emode_threshold, emode_bonus = pool.getEModeCategoryCollateralConfig(category).call(block_identifier=block)
        expected = (emode_threshold, emode_bonus, category) if applies else (_bits(config, 16, 16), _bits(config, 32, 16), 0)
        assert (row.liquidation_threshold_bps, row.liquidation_bonus_bps, row.emode_category) == expected
        assert applies is (item["case"] == "emode")
        assert (row.ltv_bps, row.protocol_fee_bps) == (_bits(config, 0, 16), _bits(config, 152, 16))


@pytest.mark.parametrize("market", MARKETS)
def test_seized_collateral_and_fee_follow_the_bonus_that_applied(frame, devchain_v36_liquidations, market) -> None:
    """liquidator's collateral + fee = percentMul(debt value in collateral units, bonus), capped at the borrower's
    balance in bad_debt; fee = percentMul(total - percentDiv(total, bonus), fee bps)
    (docs/sources/aave.md#aave-v3-protocol-fee). In the e-mode case the bonus is the category's 104 %."""
    for item in _items(devchain_v36_liquidations, market):
        row = _row(frame, item)
        total = int(row.collateral_seized_raw) + int(row.protocol_fee_raw)
        bonus, fee_bps = int(row.liquidation_bonus_bps), int(row.protocol_fee_bps)
        assert int(row.protocol_fee_raw) == _percent_mul(total - _percent_div(total, bonus), fee_bps)
        if item["case"] == "emode":
            assert (bonus, int(row.liquidation_threshold_bps), fee_bps) == (10400, 9300, 1000)
        if item["case"] != "bad_debt":
            base = (int(row.debt_price_raw) * int(row.debt_repaid_raw) * 10**int(row.collateral_decimals)) // (
                int(row.collateral_price_raw) * 10**int(row.debt_decimals))
            assert total == _percent_mul(base, bonus)


@pytest.mark.parametrize("market", MARKETS)
def test_close_factor_is_the_rule_of_the_pool_at_that_block(frame, devchain_v36, devchain_v36_liquidations,
                                                           market) -> None:
    """v3.0: 50 % of the reserve's debt, 100 % at HF <= 0.95. v3.6 (LiquidationLogic.sol 3.6.0 L245-L281,
    docs/sources/aave.md#aave-v33-close-factor): 100 % of the reserve's debt unless the borrower's collateral and
    debt in the two reserves are both >= 2000e8 and HF > 0.95; then at most 50 % of the whole position's debt.
    Derived here from the tokens' balances, the prices and getUserAccountData at the state block."""
    m = _market(devchain_v36, market)
    for item in _items(devchain_v36_liquidations, market):
        row = _row(frame, item)
        block = int(row.state_block)
        account = m.account_data(item["user"], block=block)
        debt, coll = m.reserve(item["debt_symbol"]), m.reserve(item["collateral_symbol"])
        reserve_debt = m.debt_balance(item["user"], item["debt_symbol"], block)
        if market == "aave_v3":
            expected = 10000 if account.health_factor <= HF_095 else 5000
            assert row.close_factor_rule.startswith("Aave v3.0-3.")
        else:
            collateral = m.a_token_balance(item["user"], item["collateral_symbol"], block)
            coll_base = collateral * int(row.collateral_price_raw) // 10**coll.decimals
            debt_base = -(-reserve_debt * int(row.debt_price_raw) // 10**debt.decimals)
            expected = 10000
            if coll_base >= THRESHOLD_BASE and debt_base >= THRESHOLD_BASE and account.health_factor > HF_095:
                half = _percent_mul(account.total_debt, 5000)
                if debt_base > half:
                    max_debt = half * 10**debt.decimals // int(row.debt_price_raw)
                    expected = (max_debt * 10000 + reserve_debt // 2) // reserve_debt
            assert row.close_factor_rule.startswith("Aave v3.3+")
        assert row.close_factor_bps == expected == EXPECTED_CLOSE_FACTOR[(market, item["case"])]
        repaid = Decimal(int(row.debt_repaid_raw)) / 10**debt.decimals
        assert abs(repaid / EXPECTED_REPAID[(market, item["case"])] - 1) < Decimal("1e-6")
        if item["case"] != "bad_debt":  # debtToCover = max: the close factor (to the bp) limited the repayment
            assert abs(int(row.debt_repaid_raw) - _percent_mul(reserve_debt, expected)) <= reserve_debt // 10**4


def test_emode_row_says_which_rule_applied(frame, devchain_v36_liquidations) -> None:
    """The e-mode liquidation is category 1 on both pools, found by the reserve bits on v3.0 and by the
    collateral bitmap on v3.6; the rule text names the pool version and the e-mode rule."""
    v30, v36 = (_row(frame, i) for i in devchain_v36_liquidations if i["case"] == "emode")
    assert (v30.emode_category, v36.emode_category) == (1, 1)
    assert "v3.0-3.1" in v30.close_factor_rule and "bits 168-175" in v30.close_factor_rule
    assert "v3.3+" in v36.close_factor_rule and "collateralBitmap" in v36.close_factor_rule


def test_bad_debt_is_a_deficit_on_v36_and_stays_as_debt_on_v30(frame, devchain_v36, devchain_v36_liquidations) -> None:
    """All collateral seized: v3.6 burns the rest of the USDC debt and the WETH debt, two DeficitCreated before
    the LiquidationCall, and getReserveDeficit grows by those amounts; v3.0 leaves the debt on the account."""
    v30_item, v36_item = (i for i in devchain_v36_liquidations if i["case"] == "bad_debt")
    w3 = devchain_v36.chain.w3
    v36 = devchain_v36.v36
    receipt = w3.eth.get_transaction_receipt(v36_item["tx_hash"])
    deficits = v36.pool.events.DeficitCreated().process_receipt(receipt, errors=DISCARD)
    (liquidation,) = v36.pool.events.LiquidationCall().process_receipt(receipt, errors=DISCARD)
    assert [(e.args.debtAsset, e.args.user) for e in deficits] == [
        (v36.reserve("USDC").underlying, v36_item["user"]), (v36.reserve("WETH").underlying, v36_item["user"])]
    assert max(e.logIndex for e in deficits) < liquidation.logIndex
    block = v36_item["block_number"]
    for event in deficits:
        grew = (v36.pool.functions.getReserveDeficit(event.args.debtAsset).call(block_identifier=block)
                - v36.pool.functions.getReserveDeficit(event.args.debtAsset).call(block_identifier=block - 1))
        assert grew == event.args.amountCreated > 0
    assert v36.debt_balance(v36_item["user"], "USDC", block) == v36.debt_balance(v36_item["user"], "WETH", block) == 0
    usdc_deficit, weth_deficit = deficits
    row = _row(frame, v36_item)
    assert (row.bad_debt_raw, row.bad_debt_mechanism) == (str(usdc_deficit.args.amountCreated), "deficit")
    other = _row(frame, v36_item, "DeficitCreated")
    assert (other.debt_asset, other.bad_debt_raw, other.join_key) == (
        v36.reserve("WETH").underlying.lower(), str(weth_deficit.args.amountCreated), row.join_key)
    assert other.bad_debt_usd == pytest.approx(weth_deficit.args.amountCreated / WAD * 3000, rel=1e-9)
    assert row.bad_debt_usd == pytest.approx(usdc_deficit.args.amountCreated / 10**6, rel=1e-9)

    v30 = devchain_v36.v3
    v30_row = _row(frame, v30_item)
    assert pd.isna(v30_row.bad_debt_raw) and v30_row.bad_debt_mechanism == "none_recorded"
    assert v30.account_data(v30_item["user"], block=v30_item["block_number"]).total_collateral == 0
    assert v30.debt_balance(v30_item["user"], "USDC", v30_item["block_number"]) > 0
    for item, row_ in ((v36_item, row), (v30_item, v30_row)):  # the whole collateral went to liquidator and treasury
        m = _market(devchain_v36, item["market"])
        held = m.a_token_balance(item["user"], "WBTC", item["block_number"] - 1)
        assert int(row_.collateral_seized_raw) + int(row_.protocol_fee_raw) >= held
        assert m.a_token_balance(item["user"], "WBTC", item["block_number"]) == 0
