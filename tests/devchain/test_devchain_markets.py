"""The deployed Aave v3 / v2 markets are wired and configured as documented."""

from __future__ import annotations

import json

import pytest

from toolkit.devchain import DEVCHAIN_CHAIN_ID, Devchain
from toolkit.devchain import aave_v2, aave_v3
from toolkit.devchain.assets import TOKEN_SPECS, USD_FEED

pytestmark = pytest.mark.node

RAY = 10**27
SYMBOLS = [spec.symbol for spec in TOKEN_SPECS]


def bits(word: int, start: int, width: int) -> int:
    return (word >> start) & ((1 << width) - 1)


def test_chain_identity(devchain: Devchain) -> None:
    assert devchain.chain_id == DEVCHAIN_CHAIN_ID == devchain.chain.w3.eth.chain_id
    assert devchain.url == f"http://127.0.0.1:{devchain.node.port}"
    assert devchain.node.process.poll() is None


def test_addresses_are_json_and_complete(devchain: Devchain) -> None:
    addresses = json.loads(json.dumps(devchain.addresses()))
    w3 = devchain.chain.w3
    for key in ("pool", "poolAddressesProvider", "aaveOracle", "protocolDataProvider",
                "aclManager", "poolConfigurator"):
        assert w3.eth.get_code(addresses["aave_v3"][key]) != b"", key
    for key in ("lendingPool", "lendingPoolAddressesProvider", "aaveOracle",
                "protocolDataProvider", "lendingPoolCollateralManager", "ethUsdFeed"):
        assert w3.eth.get_code(addresses["aave_v2"][key]) != b"", key
    assert {s: t["decimals"] for s, t in addresses["tokens"].items()} == {
        "WETH": 18, "WBTC": 8, "USDC": 6}
    for market in ("aave_v3", "aave_v2"):
        for symbol in SYMBOLS:
            reserve = addresses[market]["reserves"][symbol]
            assert reserve["underlying"] == addresses["tokens"][symbol]["address"]
            for token in ("aToken", "variableDebtToken", "stableDebtToken"):
                assert w3.eth.get_code(reserve[token]) != b""


def test_v3_wiring(devchain: Devchain) -> None:
    a = devchain.addresses()["aave_v3"]
    provider = devchain.chain.at(aave_v3.ADDRESSES_PROVIDER, a["poolAddressesProvider"])
    assert provider.functions.getPool().call() == a["pool"]
    assert provider.functions.getPoolConfigurator().call() == a["poolConfigurator"]
    assert provider.functions.getPriceOracle().call() == a["aaveOracle"]
    assert provider.functions.getACLManager().call() == a["aclManager"]
    assert provider.functions.getPoolDataProvider().call() == a["protocolDataProvider"]
    acl = devchain.chain.at(aave_v3.ACL_MANAGER, a["aclManager"])
    assert acl.functions.isPoolAdmin(devchain.chain.deployer).call()
    oracle = devchain.v3.oracle
    assert oracle.functions.BASE_CURRENCY().call() == "0x" + "00" * 20
    assert oracle.functions.BASE_CURRENCY_UNIT().call() == 10**8
    assert devchain.v3.pool.functions.ADDRESSES_PROVIDER().call() == a["poolAddressesProvider"]


def test_v2_wiring(devchain: Devchain) -> None:
    a = devchain.addresses()["aave_v2"]
    provider = devchain.chain.at(aave_v2.ADDRESSES_PROVIDER, a["lendingPoolAddressesProvider"])
    assert provider.functions.getLendingPool().call() == a["lendingPool"]
    assert provider.functions.getLendingPoolConfigurator().call() == a["lendingPoolConfigurator"]
    manager = provider.functions.getLendingPoolCollateralManager().call()
    assert manager == a["lendingPoolCollateralManager"]
    assert provider.functions.getPriceOracle().call() == a["aaveOracle"]
    assert provider.functions.getLendingRateOracle().call() == a["lendingRateOracle"]
    assert provider.functions.getPoolAdmin().call() == devchain.chain.deployer
    pool_provider = devchain.v2.pool.functions.getAddressesProvider().call()
    assert pool_provider == a["lendingPoolAddressesProvider"]
    assert devchain.v2.oracle.functions.WETH().call() == a["weth"]


@pytest.mark.parametrize("market", ["aave_v3", "aave_v2"])
def test_start_block_is_pool_proxy_creation(devchain: Devchain, market: str) -> None:
    m = devchain.markets[market]
    w3 = devchain.chain.w3
    assert w3.eth.get_code(m.pool.address, block_identifier=m.start_block - 1) == b""
    assert w3.eth.get_code(m.pool.address, block_identifier=m.start_block) != b""
    assert devchain.v3.start_block < devchain.v2.start_block


@pytest.mark.parametrize("symbol", SYMBOLS)
def test_v3_reserve_configuration(devchain: Devchain, symbol: str) -> None:
    reserve = devchain.v3.reserve(symbol)
    params = aave_v3.RESERVE_PARAMS[symbol]
    (word,) = devchain.v3.pool.functions.getConfiguration(reserve.underlying).call()
    assert bits(word, 0, 16) == params.ltv
    assert bits(word, 16, 16) == params.liquidation_threshold
    assert bits(word, 32, 16) == params.liquidation_bonus
    assert bits(word, 48, 8) == reserve.decimals
    assert bits(word, 56, 1) == 1  # active
    assert bits(word, 57, 1) == 0  # frozen
    assert bits(word, 58, 1) == 1  # borrowing enabled
    assert bits(word, 60, 1) == 0  # paused
    assert bits(word, 63, 1) == 1  # flash loans enabled
    assert bits(word, 64, 16) == params.reserve_factor
    assert bits(word, 152, 16) == params.liquidation_protocol_fee == 1000

    data = devchain.v3.pool.functions.getReserveData(reserve.underlying).call()
    assert tuple(data[8:12]) == (reserve.a_token, reserve.stable_debt_token,
                          reserve.variable_debt_token, reserve.interest_rate_strategy)
    assert data[1] >= RAY and data[3] >= RAY  # liquidity and variable borrow index

    provider = devchain.chain.at(aave_v3.DATA_PROVIDER,
                                 devchain.v3.addresses()["protocolDataProvider"])
    cfg = provider.functions.getReserveConfigurationData(reserve.underlying).call()
    assert tuple(cfg[:5]) == (reserve.decimals, params.ltv, params.liquidation_threshold,
                       params.liquidation_bonus, params.reserve_factor)
    assert provider.functions.getLiquidationProtocolFee(reserve.underlying).call() == 1000

    a_token = devchain.chain.at(aave_v3.A_TOKEN, reserve.a_token)
    assert a_token.functions.RESERVE_TREASURY_ADDRESS().call() == devchain.v3.addresses()["treasury"]


@pytest.mark.parametrize("symbol", SYMBOLS)
def test_v2_reserve_configuration(devchain: Devchain, symbol: str) -> None:
    reserve = devchain.v2.reserve(symbol)
    params = aave_v2.RESERVE_PARAMS[symbol]
    (word,) = devchain.v2.pool.functions.getConfiguration(reserve.underlying).call()
    assert bits(word, 0, 16) == params.ltv
    assert bits(word, 16, 16) == params.liquidation_threshold
    assert bits(word, 32, 16) == params.liquidation_bonus
    assert bits(word, 48, 8) == reserve.decimals
    assert bits(word, 56, 1) == 1
    assert bits(word, 58, 1) == 1
    assert bits(word, 59, 1) == 1  # stable borrowing enabled (launch config)
    assert bits(word, 64, 16) == params.reserve_factor

    provider = devchain.chain.at(aave_v2.DATA_PROVIDER,
                                 devchain.v2.addresses()["protocolDataProvider"])
    cfg = provider.functions.getReserveConfigurationData(reserve.underlying).call()
    assert tuple(cfg) == (reserve.decimals, params.ltv, params.liquidation_threshold,
                   params.liquidation_bonus, params.reserve_factor, True, True, True, True, False)


def test_prices_after_demo(devchain: Devchain) -> None:
    assert devchain.v3.price("WETH") == 3000 * 10**8
    assert devchain.v3.price("WBTC") == 48000 * 10**8
    assert devchain.v3.price("USDC") == 10**8
    assert devchain.v2.price("WETH") == 10**18
    assert devchain.v2.price("WBTC") == 16 * 10**18
    assert devchain.v2.price("USDC") == 10**18 // 3000
    feed = devchain.chain.at(USD_FEED, devchain.v2.addresses()["ethUsdFeed"])
    assert feed.functions.latestAnswer().call() == 3000 * 10**8
    assert feed.functions.decimals().call() == 8
    history = devchain.v3.addresses()["priceFeedHistory"]["WBTC"]
    assert len(history) == 2 and history[0]["fromBlock"] < history[1]["fromBlock"]
    assert devchain.v3.oracle.functions.getSourceOfAsset(
        devchain.v3.reserve("WBTC").underlying).call() == history[1]["address"]
