"""Deploy and configure a real Aave v2 market from ``@aave/protocol-v2@1.0.1`` artifacts.

The sequence follows the v2 deployment of ``aave/protocol-v2`` (``markets/aave``), all sent by the
deployer, which owns the addresses provider and the oracles and is pool and emergency admin:

1. ``LendingPoolAddressesProvider(marketId)``; ``setPoolAdmin``, ``setEmergencyAdmin``.
2. ``LendingPool`` implementation, linked to ReserveLogic and ValidationLogic (itself linked to
   GenericLogic); ``setLendingPoolImpl`` creates the LendingPool **proxy** and initializes it
   (``LendingPoolAddressesProvider.sol`` L101-L104, L194-L209). That block is the start block.
3. ``LendingPoolConfigurator`` implementation; ``setLendingPoolConfiguratorImpl``.
4. ``LendingPoolCollateralManager``; ``setLendingPoolCollateralManager``:
   ``LendingPool.liquidationCall`` delegatecalls it (``LendingPool.sol`` L424-L452), so the
   LendingPool proxy emits ``LiquidationCall``.
5. ETH-quoted MockAggregators (18 decimals) for WBTC and USDC, and
   ``AaveOracle(assets, sources, fallbackOracle=0, WETH)``: the oracle quotes in ETH with unit 1e18
   and returns exactly ``1 ether`` for WETH without reading a source (``AaveOracle.sol`` L83-L87).
   ``setPriceOracle``.
6. ``LendingRateOracle`` with the market borrow rates used by the stable-rate model;
   ``setLendingRateOracle``. ``AaveProtocolDataProvider(provider)``.
7. Per reserve: ``DefaultReserveInterestRateStrategy``, ``AToken`` / ``StableDebtToken`` /
   ``VariableDebtToken`` implementations bound to the reserve (v1.0.1 tokens take pool, asset and
   treasury in their constructors), ``initReserve``, ``configureReserveAsCollateral``,
   ``enableBorrowingOnReserve``, ``setReserveFactor``.

v2 has no liquidation protocol fee and a fixed 50 % close factor
(``LendingPoolCollateralManager.sol`` L39), whatever the health factor.

Not part of Aave: an ETH/USD MockAggregator (8 decimals, like Chainlink ETH/USD) so that v2 ETH
prices can be converted to USD; see :class:`AaveV2Market`.
"""

from __future__ import annotations

from typing import Any

from eth_typing import ChecksumAddress
from web3.contract import Contract

from toolkit.devchain.artifacts import ArtifactRef
from toolkit.devchain.assets import (
    ETH_DECIMALS,
    TOKEN_SPECS,
    USD_DECIMALS,
    Quote,
    deploy_feed,
    to_raw,
    usd_to_eth_answer,
)
from toolkit.devchain.chain import Chain
from toolkit.devchain.market import AaveMarket, FeedRecord, Reserve, ReserveParams
from toolkit.errors import UserInputError

PACKAGE = "@aave/protocol-v2"

_LENDINGPOOL = "contracts/protocol/lendingpool"
ADDRESSES_PROVIDER = ArtifactRef(
    PACKAGE, "contracts/protocol/configuration/LendingPoolAddressesProvider.sol"
)
LENDING_POOL = ArtifactRef(PACKAGE, f"{_LENDINGPOOL}/LendingPool.sol")
CONFIGURATOR = ArtifactRef(PACKAGE, f"{_LENDINGPOOL}/LendingPoolConfigurator.sol")
COLLATERAL_MANAGER = ArtifactRef(PACKAGE, f"{_LENDINGPOOL}/LendingPoolCollateralManager.sol")
RATE_STRATEGY = ArtifactRef(PACKAGE, f"{_LENDINGPOOL}/DefaultReserveInterestRateStrategy.sol")
AAVE_ORACLE = ArtifactRef(PACKAGE, "contracts/misc/AaveOracle.sol")
#: The contract Aave v2 Ethereum uses as LendingRateOracle (owner-set market borrow rates).
LENDING_RATE_ORACLE = ArtifactRef(PACKAGE, "contracts/mocks/oracle/LendingRateOracle.sol")
DATA_PROVIDER = ArtifactRef(PACKAGE, "contracts/misc/AaveProtocolDataProvider.sol")
A_TOKEN = ArtifactRef(PACKAGE, "contracts/protocol/tokenization/AToken.sol")
STABLE_DEBT_TOKEN = ArtifactRef(PACKAGE, "contracts/protocol/tokenization/StableDebtToken.sol")
VARIABLE_DEBT_TOKEN = ArtifactRef(PACKAGE, "contracts/protocol/tokenization/VariableDebtToken.sol")

MARKET_ID = "Aave Devchain v2 Market"
ZERO_ADDRESS = "0x0000000000000000000000000000000000000000"
#: Oracle quote unit: 1 ETH = 1e18.
QUOTE_UNIT = 10**ETH_DECIMALS

#: Risk parameters, bps: the Aave v2 Ethereum launch values in ``aave/protocol-v2``
#: ``markets/aave/reservesConfigs.ts`` (commit 02778f55): strategyWETH, strategyWBTC, strategyUSDC.
RESERVE_PARAMS: dict[str, ReserveParams] = {
    "WETH": ReserveParams(ltv=8000, liquidation_threshold=8250, liquidation_bonus=10500,
                          reserve_factor=1000),
    "WBTC": ReserveParams(ltv=7000, liquidation_threshold=7500, liquidation_bonus=11000,
                          reserve_factor=2000),
    "USDC": ReserveParams(ltv=8000, liquidation_threshold=8500, liquidation_bonus=10500,
                          reserve_factor=1000),
}
#: ``stableBorrowRateEnabled`` of the same launch configs (true for all three).
STABLE_BORROWING = {"WETH": True, "WBTC": True, "USDC": True}

_RAY = 10**27
#: ``DefaultReserveInterestRateStrategy`` constructor arguments after the provider (ray):
#: optimalUtilizationRate, baseVariableBorrowRate, variableRateSlope1, variableRateSlope2,
#: stableRateSlope1, stableRateSlope2. ``aave/protocol-v2`` ``markets/aave/rateStrategies.ts``
#: (commit 1e5573c0): rateStrategyWETH (WETH), rateStrategyVolatileTwo (WBTC),
#: rateStrategyStableThree (USDC).
RATE_STRATEGIES: dict[str, tuple[int, ...]] = {
    "WETH": (65 * _RAY // 100, 0, 8 * _RAY // 100, _RAY, 10 * _RAY // 100, _RAY),
    "WBTC": (65 * _RAY // 100, 0, 8 * _RAY // 100, 3 * _RAY, 10 * _RAY // 100, 3 * _RAY),
    "USDC": (90 * _RAY // 100, 0, 4 * _RAY // 100, 60 * _RAY // 100, 2 * _RAY // 100,
             60 * _RAY // 100),
}
#: ``LendingRateOracle`` market borrow rates (ray): ``LendingRateOracleRatesCommon`` in
#: ``aave/protocol-v2`` ``markets/aave/commons.ts`` (commit 01a66268).
MARKET_BORROW_RATES = {"WETH": 3 * _RAY // 100, "WBTC": 3 * _RAY // 100, "USDC": 39 * _RAY // 1000}


class AaveV2Market(AaveMarket):
    """An Aave v2 market: prices in ETH (1e18), plus an ETH/USD feed to convert them to USD.

    The ETH/USD feed is a MockAggregator (8 decimals) that Aave itself never reads. Like every
    MockAggregator it cannot be updated: :meth:`set_eth_usd_price` deploys a new one, so the feed in
    force at a block is the last entry of :attr:`eth_usd_feeds` whose ``from_block`` is at or
    below it.
    """

    def __init__(self, *, eth_usd_feed: FeedRecord, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.eth_usd_feeds: list[FeedRecord] = [eth_usd_feed]

    def addresses(self) -> dict[str, Any]:
        out = super().addresses()
        out["ethUsdFeed"] = self.eth_usd_feeds[-1].address
        out["ethUsdFeedHistory"] = [
            {"address": f.address, "fromBlock": f.from_block} for f in self.eth_usd_feeds
        ]
        return out

    def feed_state(self) -> Any:
        return {"reserves": super().feed_state(), "ethUsd": list(self.eth_usd_feeds)}

    def restore_feed_state(self, state: Any) -> None:
        super().restore_feed_state(state["reserves"])
        self.eth_usd_feeds = list(state["ethUsd"])

    def set_price(self, symbol: str, answer: int) -> ChecksumAddress:
        """Move the ETH price of ``symbol`` (raw, 18 decimals); the oracle fixes WETH at 1 ETH."""
        if symbol == "WETH":
            raise UserInputError(
                "Aave v2's AaveOracle prices WETH at exactly 1 ETH; "
                "move ETH/USD with set_eth_usd_price"
            )
        return super().set_price(symbol, answer)

    def set_eth_usd_price(self, answer: int) -> ChecksumAddress:
        """Deploy a new ETH/USD MockAggregator answering ``answer`` (USD, 8 decimals); return it."""
        feed = deploy_feed(self.chain, answer, Quote.USD)
        self.eth_usd_feeds.append(FeedRecord(feed.address, self.chain.created_at[feed.address]))
        return feed.address


def deploy_aave_v2(chain: Chain, tokens: dict[str, Contract], treasury: str) -> AaveV2Market:
    """Deploy an Aave v2 market listing ``tokens`` (must include WETH) from ``chain.deployer``.

    :param tokens: the underlying ERC-20s by symbol (:func:`toolkit.devchain.assets.deploy_tokens`).
    :param treasury: receiver of the reserve-factor share of interest (aTokens).
    """
    admin = chain.deployer
    provider = chain.deploy(ADDRESSES_PROVIDER, MARKET_ID)
    chain.transact(provider.functions.setPoolAdmin(admin))
    chain.transact(provider.functions.setEmergencyAdmin(admin))

    pool_impl = chain.deploy(LENDING_POOL)
    receipt = chain.transact(provider.functions.setLendingPoolImpl(pool_impl.address))
    start_block = receipt["blockNumber"]
    pool = chain.at(LENDING_POOL, provider.functions.getLendingPool().call())
    configurator_impl = chain.deploy(CONFIGURATOR)
    chain.transact(provider.functions.setLendingPoolConfiguratorImpl(configurator_impl.address))
    configurator = chain.at(CONFIGURATOR, provider.functions.getLendingPoolConfigurator().call())
    collateral_manager = chain.deploy(COLLATERAL_MANAGER)
    chain.transact(provider.functions.setLendingPoolCollateralManager(collateral_manager.address))

    specs = [spec for spec in TOKEN_SPECS if spec.symbol in tokens]
    eth_usd = next(spec.usd_price for spec in specs if spec.symbol == "WETH")
    priced = [spec for spec in specs if spec.symbol != "WETH"]
    feeds = [
        deploy_feed(chain, usd_to_eth_answer(spec.usd_price, eth_usd), Quote.ETH)
        for spec in priced
    ]
    oracle = chain.deploy(AAVE_ORACLE, [tokens[s.symbol].address for s in priced],
                          [f.address for f in feeds], ZERO_ADDRESS, tokens["WETH"].address)
    oracle_block = chain.transact(provider.functions.setPriceOracle(oracle.address))["blockNumber"]
    rate_oracle = chain.deploy(LENDING_RATE_ORACLE)
    for spec in specs:
        chain.transact(rate_oracle.functions.setMarketBorrowRate(
            tokens[spec.symbol].address, MARKET_BORROW_RATES[spec.symbol]))
    chain.transact(provider.functions.setLendingRateOracle(rate_oracle.address))
    data_provider = chain.deploy(DATA_PROVIDER, provider.address)

    reserves: dict[str, Reserve] = {}
    for spec in specs:
        asset = tokens[spec.symbol].address
        strategy = chain.deploy(RATE_STRATEGY, provider.address, *RATE_STRATEGIES[spec.symbol])
        a_token = chain.deploy(A_TOKEN, pool.address, asset, treasury,
                               f"Aave interest bearing {spec.symbol}", f"a{spec.symbol}", ZERO_ADDRESS)
        stable = chain.deploy(STABLE_DEBT_TOKEN, pool.address, asset,
                              f"Aave stable debt bearing {spec.symbol}", f"stableDebt{spec.symbol}",
                              ZERO_ADDRESS)
        variable = chain.deploy(VARIABLE_DEBT_TOKEN, pool.address, asset,
                                f"Aave variable debt bearing {spec.symbol}",
                                f"variableDebt{spec.symbol}", ZERO_ADDRESS)
        chain.transact(configurator.functions.initReserve(
            a_token.address, stable.address, variable.address, spec.decimals, strategy.address))
        _configure_reserve(chain, configurator, asset, RESERVE_PARAMS[spec.symbol],
                           STABLE_BORROWING[spec.symbol])
        a_proxy, stable_proxy, variable_proxy = (
            data_provider.functions.getReserveTokensAddresses(asset).call()
        )
        reserves[spec.symbol] = Reserve(
            symbol=spec.symbol, decimals=spec.decimals, underlying=asset, a_token=a_proxy,
            stable_debt_token=stable_proxy, variable_debt_token=variable_proxy,
            interest_rate_strategy=strategy.address,
        )

    eth_usd_feed = deploy_feed(chain, to_raw(eth_usd, USD_DECIMALS), Quote.USD)
    addresses = {
        "lendingPool": pool.address,
        "lendingPoolImpl": pool_impl.address,
        "lendingPoolAddressesProvider": provider.address,
        "lendingPoolConfigurator": configurator.address,
        "lendingPoolConfiguratorImpl": configurator_impl.address,
        "lendingPoolCollateralManager": collateral_manager.address,
        "aaveOracle": oracle.address,
        "lendingRateOracle": rate_oracle.address,
        "protocolDataProvider": data_provider.address,
        "treasury": treasury,
        "weth": tokens["WETH"].address,
        "quoteUnit": QUOTE_UNIT,
    }
    return AaveV2Market(
        name="aave_v2", chain=chain, pool=pool, oracle=oracle, quote=Quote.ETH,
        supply_function="deposit", reserves=reserves, addresses=addresses, start_block=start_block,
        price_feeds={s.symbol: FeedRecord(f.address, oracle_block) for s, f in zip(priced, feeds)},
        eth_usd_feed=FeedRecord(eth_usd_feed.address, chain.created_at[eth_usd_feed.address]),
    )


def _configure_reserve(chain: Chain, configurator: Contract, asset: ChecksumAddress,
                       params: ReserveParams, stable_borrowing: bool) -> None:
    """Set collateral parameters, borrowing (variable; stable if enabled), reserve factor."""
    fns = configurator.functions
    chain.transact(fns.configureReserveAsCollateral(
        asset, params.ltv, params.liquidation_threshold, params.liquidation_bonus))
    chain.transact(fns.enableBorrowingOnReserve(asset, stable_borrowing))
    chain.transact(fns.setReserveFactor(asset, params.reserve_factor))
