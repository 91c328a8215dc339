"""The demo scenario produced real ``LiquidationCall`` logs with the documented properties."""

from __future__ import annotations

from typing import Any

import pytest
from eth_abi import decode
from web3 import Web3

from toolkit.devchain import MAX_UINT256, Devchain

pytestmark = pytest.mark.node

LIQUIDATION_CALL_TOPIC0 = "0xe413a321e8681d831f4dbccbca790d2952b56f977908e45be37335533e005286"


def liquidation_log(devchain: Devchain, liq: dict[str, Any]) -> dict[str, Any]:
    """The single LiquidationCall log of the liquidation's receipt, decoded."""
    receipt = devchain.chain.w3.eth.get_transaction_receipt(liq["tx_hash"])
    assert receipt["status"] == 1
    logs = [lg for lg in receipt["logs"] if lg["topics"][0].to_0x_hex() == LIQUIDATION_CALL_TOPIC0]
    assert len(logs) == 1
    log = logs[0]
    debt_to_cover, collateral_amount, liquidator, receive_a_token = decode(
        ["uint256", "uint256", "address", "bool"], log["data"])
    return {
        "emitter": log["address"],
        "block_number": log["blockNumber"],
        "collateral_asset": Web3.to_checksum_address(log["topics"][1][-20:]),
        "debt_asset": Web3.to_checksum_address(log["topics"][2][-20:]),
        "user": Web3.to_checksum_address(log["topics"][3][-20:]),
        "debt_to_cover": debt_to_cover,
        "liquidated_collateral_amount": collateral_amount,
        "liquidator": Web3.to_checksum_address(liquidator),
        "receive_a_token": receive_a_token,
    }


def test_demo_covers_the_required_cases(devchain_liquidations: list[dict[str, Any]]) -> None:
    for market in ("aave_v3", "aave_v2"):
        liqs = [liq for liq in devchain_liquidations if liq["market"] == market]
        assert {liq["kind"] for liq in liqs} == {"partial", "full"}
        assert {liq["receive_a_token"] for liq in liqs} == {True, False}
        assert {(liq["collateral_symbol"], liq["debt_symbol"]) for liq in liqs} == {
            ("WETH", "USDC"), ("WBTC", "WETH")}
        for liq in liqs:
            if liq["kind"] == "full":
                assert liq["debt_to_cover"] == MAX_UINT256


def test_each_receipt_has_a_liquidation_call_from_the_pool_proxy(
    devchain: Devchain, devchain_liquidations: list[dict[str, Any]]
) -> None:
    for liq in devchain_liquidations:
        log = liquidation_log(devchain, liq)
        pool = devchain.markets[liq["market"]].pool.address
        assert log["emitter"] == pool == liq["pool"]
        assert log["block_number"] == liq["block_number"]
        assert log["collateral_asset"] == liq["collateral_asset"]
        assert log["debt_asset"] == liq["debt_asset"]
        assert log["user"] == liq["user"]
        assert log["liquidator"] == liq["liquidator"]
        assert log["receive_a_token"] is liq["receive_a_token"]
        assert log["liquidated_collateral_amount"] > 0


def test_liquidations_are_finalized(
    devchain: Devchain, devchain_liquidations: list[dict[str, Any]]
) -> None:
    finalized = devchain.chain.w3.eth.get_block("finalized")["number"]
    assert max(liq["block_number"] for liq in devchain_liquidations) <= finalized


@pytest.mark.parametrize("market", ["aave_v3", "aave_v2"])
def test_partial_liquidation_leaves_debt(
    devchain: Devchain, devchain_liquidations: list[dict[str, Any]], market: str
) -> None:
    (liq,) = [x for x in devchain_liquidations if x["market"] == market and x["kind"] == "partial"]
    m = devchain.markets[market]
    block = liq["block_number"]
    before = m.debt_balance(liq["user"], liq["debt_symbol"], block - 1)
    after = m.debt_balance(liq["user"], liq["debt_symbol"], block)
    log = liquidation_log(devchain, liq)
    assert log["debt_to_cover"] == liq["debt_to_cover"] < before // 2  # below the 50 % maximum
    assert after > 0
    assert abs((before - after) - liq["debt_to_cover"]) <= before // 10**6  # interest of one block
    assert 1 * 10**18 > liq["health_factor_before"]
    if market == "aave_v3":
        assert liq["health_factor_before"] > 95 * 10**16


def test_v3_full_liquidation_clears_the_debt(
    devchain: Devchain, devchain_liquidations: list[dict[str, Any]]
) -> None:
    (liq,) = [x for x in devchain_liquidations if x["market"] == "aave_v3" and x["kind"] == "full"]
    assert liq["health_factor_before"] <= 95 * 10**16
    block = liq["block_number"]
    before = devchain.v3.debt_balance(liq["user"], liq["debt_symbol"], block - 1)
    log = liquidation_log(devchain, liq)
    assert devchain.v3.debt_balance(liq["user"], liq["debt_symbol"], block) == 0
    assert before <= log["debt_to_cover"] <= before + before // 10**6


def test_v2_full_request_is_capped_at_half(
    devchain: Devchain, devchain_liquidations: list[dict[str, Any]]
) -> None:
    (liq,) = [x for x in devchain_liquidations if x["market"] == "aave_v2" and x["kind"] == "full"]
    block = liq["block_number"]
    before = devchain.v2.debt_balance(liq["user"], liq["debt_symbol"], block - 1)
    log = liquidation_log(devchain, liq)
    assert before // 2 <= log["debt_to_cover"] <= (before + before // 10**6) // 2


def test_v3_event_amount_excludes_protocol_fee(
    devchain: Devchain, devchain_liquidations: list[dict[str, Any]]
) -> None:
    """User's collateral loss = event amount + fee; the fee reaches the treasury as aTokens."""
    treasury = devchain.v3.addresses()["treasury"]
    for liq in (x for x in devchain_liquidations if x["market"] == "aave_v3"):
        block, symbol = liq["block_number"], liq["collateral_symbol"]
        held_before = devchain.v3.a_token_balance(liq["user"], symbol, block - 1)
        lost = held_before - devchain.v3.a_token_balance(liq["user"], symbol, block)
        fee = (devchain.v3.a_token_balance(treasury, symbol, block)
               - devchain.v3.a_token_balance(treasury, symbol, block - 1))
        event_amount = liquidation_log(devchain, liq)["liquidated_collateral_amount"]
        assert fee > 0
        # LiquidationLogic.sol L509-L522: bonus = total - total / 1.05; fee = 10 % of the bonus.
        total = event_amount + fee
        assert abs(fee - (total - total * 10000 // 10500) // 10) <= 2
        assert abs(lost - total) <= held_before // 10**6  # one block of supply interest
