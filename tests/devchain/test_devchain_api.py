"""Scenario API: amounts, prices, snapshots, mining, reverts. Every test restores the chain state."""

from __future__ import annotations

from decimal import Decimal

import pytest

from toolkit.devchain import Devchain, to_raw
from toolkit.devchain.assets import USD_FEED, usd_to_eth_answer
from toolkit.devchain.chain import TransactionFailed
from toolkit.devchain.devchain import BLOCK_TIME
from toolkit.errors import UserInputError


def test_to_raw_is_exact() -> None:
    assert to_raw("1.5", 18) == 1_500_000_000_000_000_000
    assert to_raw(Decimal("0.00000001"), 8) == 1
    assert to_raw(32000, 6) == 32_000_000_000
    with pytest.raises(UserInputError):
        to_raw("0.0000001", 6)


def test_usd_to_eth_answer_rounds_down() -> None:
    assert usd_to_eth_answer(Decimal(1), Decimal(3000)) == 333_333_333_333_333
    assert usd_to_eth_answer(Decimal(48000), Decimal(3000)) == 16 * 10**18


@pytest.mark.node
def test_devchain_to_raw_and_unknown_symbol(devchain: Devchain) -> None:
    assert devchain.to_raw("USDC", "10000") == 10_000_000_000
    assert devchain.to_raw("WBTC", "0.5") == 50_000_000
    with pytest.raises(UserInputError):
        devchain.to_raw("DAI", "1")
    with pytest.raises(UserInputError):
        devchain.v3.reserve("DAI")


@pytest.mark.node
def test_snapshot_revert_restores_price_and_feed_history(devchain: Devchain) -> None:
    head = devchain.chain.w3.eth.block_number
    old_feed = devchain.v3.addresses()["priceFeeds"]["WETH"]
    snap = devchain.snapshot()
    new_feed = devchain.v3.set_price("WETH", 2500 * 10**8)
    assert new_feed != old_feed
    assert devchain.v3.price("WETH") == 2500 * 10**8
    assert devchain.v3.addresses()["priceFeeds"]["WETH"] == new_feed
    devchain.revert(snap)
    assert devchain.chain.w3.eth.block_number == head
    assert devchain.v3.price("WETH") == 3000 * 10**8
    assert devchain.v3.addresses()["priceFeeds"]["WETH"] == old_feed


@pytest.mark.node
def test_v2_eth_usd_feed_moves_by_new_deployment(devchain: Devchain) -> None:
    history = devchain.v2.addresses()["ethUsdFeedHistory"]
    assert len(history) == 1
    snap = devchain.snapshot()
    feed = devchain.v2.set_eth_usd_price(2000 * 10**8)
    after = devchain.v2.addresses()
    assert after["ethUsdFeed"] == feed != history[0]["address"]
    assert after["ethUsdFeedHistory"][1]["fromBlock"] == devchain.chain.w3.eth.block_number
    assert devchain.chain.at(USD_FEED, feed).functions.latestAnswer().call() == 2000 * 10**8
    devchain.revert(snap)
    assert devchain.v2.addresses()["ethUsdFeedHistory"] == history


@pytest.mark.node
def test_v2_refuses_weth_price(devchain: Devchain) -> None:
    with pytest.raises(UserInputError):
        devchain.v2.set_price("WETH", 10**18)


@pytest.mark.node
def test_mine_advances_head_and_time(devchain: Devchain) -> None:
    w3 = devchain.chain.w3
    snap = devchain.snapshot()
    head = w3.eth.get_block("latest")
    assert devchain.mine(3) == head["number"] + 3
    assert w3.eth.get_block("latest")["timestamp"] == head["timestamp"] + 3 * BLOCK_TIME
    devchain.revert(snap)
    assert w3.eth.block_number == head["number"]


@pytest.mark.node
def test_supply_borrow_and_failed_liquidation(devchain: Devchain) -> None:
    user, liquidator = devchain.accounts[7], devchain.accounts[6]
    snap = devchain.snapshot()
    try:
        devchain.fund(user, "WETH", devchain.to_raw("WETH", "2"))
        assert devchain.balance(user, "WETH") == 2 * 10**18
        devchain.v3.supply(user, "WETH", 2 * 10**18)
        devchain.v3.borrow(user, "USDC", devchain.to_raw("USDC", "1000"))
        assert devchain.balance(user, "USDC") == 1_000_000_000
        data = devchain.v3.account_data(user)
        assert data.total_collateral == 6000 * 10**8
        assert data.total_debt == 1000 * 10**8
        assert data.health_factor > 10**18
        # A healthy position cannot be liquidated: the real Pool reverts
        # (Errors.HEALTH_FACTOR_NOT_BELOW_THRESHOLD = '45').
        with pytest.raises(TransactionFailed, match="45"):
            devchain.v3.liquidate(liquidator, "WETH", "USDC", user, 10**6, False)
    finally:
        devchain.revert(snap)
    assert devchain.balance(user, "WETH") == 0
