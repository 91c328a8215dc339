"""Deploy and configure a real Aave v3 market from ``@aave/core-v3@1.19.3`` artifacts.

The sequence follows ``aave/aave-v3-deploy`` (addresses provider -> ACL -> Pool proxy -> configurator
proxy -> data provider -> oracle -> token implementations -> ``initReserves`` -> risk parameters),
all sent by the deployer, which is ACL admin, pool admin and addresses-provider owner:

1. ``PoolAddressesProvider(marketId, owner)``; ``setACLAdmin(deployer)``.
2. ``ACLManager(provider)`` (needs the ACL admin set first, ``ACLManager.sol`` L29-L34);
   ``provider.setACLManager``; ``addPoolAdmin(deployer)``.
3. ``Pool(provider)`` implementation, linked to BorrowLogic, BridgeLogic, EModeLogic, FlashLoanLogic
   (itself linked to BorrowLogic), LiquidationLogic, PoolLogic, SupplyLogic;
   ``provider.setPoolImpl`` creates the Pool **proxy** and initializes it
   (``PoolAddressesProvider.sol`` L167-L181). That transaction's block is the market's start block.
4. ``PoolConfigurator`` implementation (linked to ConfiguratorLogic); ``setPoolConfiguratorImpl``.
5. ``AaveProtocolDataProvider(provider)``; ``setPoolDataProvider``.
6. One USD MockAggregator per asset and ``AaveOracle(provider, assets, sources, fallback=0,
   BASE_CURRENCY=address(0), BASE_CURRENCY_UNIT=1e8)`` (USD, 8 decimals, as Aave v3 Ethereum;
   ``AaveOracle.sol`` L47-L62); ``setPriceOracle``.
7. ``AToken``, ``StableDebtToken``, ``VariableDebtToken`` implementations and one
   ``DefaultReserveInterestRateStrategy`` per rate profile; ``PoolConfigurator.initReserves``.
8. Per reserve: ``configureReserveAsCollateral`` (``PoolConfigurator.sol`` L130-L169),
   ``setReserveBorrowing``, ``setReserveFlashLoaning``, ``setReserveFactor``,
   ``setLiquidationProtocolFee`` (L311-L321).

Liquidation rules of this code (``contracts/protocol/libraries/logic/LiquidationLogic.sol``):
close factor 50 % (L54), 100 % when HF <= 0.95 (L61, L68, L375-L377); the liquidation protocol fee
is a share of the bonus, taken out of the collateral the liquidator receives and sent to the
treasury as aTokens (L509-L522, L203-L219), so ``LiquidationCall.liquidatedCollateralAmount``
(emitted at L233) excludes it.
"""

from __future__ import annotations

from eth_typing import ChecksumAddress
from web3.contract import Contract

from toolkit.devchain.artifacts import ArtifactRef
from toolkit.devchain.assets import TOKEN_SPECS, USD_DECIMALS, Quote, deploy_feed, to_raw
from toolkit.devchain.chain import Chain
from toolkit.devchain.market import AaveMarket, FeedRecord, Reserve, ReserveParams

PACKAGE = "@aave/core-v3"

ADDRESSES_PROVIDER = ArtifactRef(PACKAGE, "contracts/protocol/configuration/PoolAddressesProvider.sol")
ACL_MANAGER = ArtifactRef(PACKAGE, "contracts/protocol/configuration/ACLManager.sol")
POOL = ArtifactRef(PACKAGE, "contracts/protocol/pool/Pool.sol")
POOL_CONFIGURATOR = ArtifactRef(PACKAGE, "contracts/protocol/pool/PoolConfigurator.sol")
DATA_PROVIDER = ArtifactRef(PACKAGE, "contracts/misc/AaveProtocolDataProvider.sol")
AAVE_ORACLE = ArtifactRef(PACKAGE, "contracts/misc/AaveOracle.sol")
A_TOKEN = ArtifactRef(PACKAGE, "contracts/protocol/tokenization/AToken.sol")
STABLE_DEBT_TOKEN = ArtifactRef(PACKAGE, "contracts/protocol/tokenization/StableDebtToken.sol")
VARIABLE_DEBT_TOKEN = ArtifactRef(PACKAGE, "contracts/protocol/tokenization/VariableDebtToken.sol")
RATE_STRATEGY = ArtifactRef(PACKAGE, "contracts/protocol/pool/DefaultReserveInterestRateStrategy.sol")

MARKET_ID = "Aave Devchain Market"
ZERO_ADDRESS = "0x0000000000000000000000000000000000000000"
#: ``AaveOracle.BASE_CURRENCY_UNIT``: USD with 8 decimals.
BASE_CURRENCY_UNIT = 10**USD_DECIMALS

#: Risk parameters, bps. Approximate mainnet values of Aave v3 Ethereum Core (the LTV, LT, LB and
#: protocol fee given in the project brief; reserve factors WETH 15 %, WBTC 20 %, USDC 10 %).
#: Not read from a primary source here: treat them as "approximate mainnet values".
RESERVE_PARAMS: dict[str, ReserveParams] = {
    "WETH": ReserveParams(ltv=8050, liquidation_threshold=8300, liquidation_bonus=10500,
                          reserve_factor=1500, liquidation_protocol_fee=1000),
    "WBTC": ReserveParams(ltv=7300, liquidation_threshold=7800, liquidation_bonus=10500,
                          reserve_factor=2000, liquidation_protocol_fee=1000),
    "USDC": ReserveParams(ltv=7700, liquidation_threshold=8000, liquidation_bonus=10450,
                          reserve_factor=1000, liquidation_protocol_fee=1000),
}

_RAY = 10**27
#: ``DefaultReserveInterestRateStrategy`` constructor arguments after the provider (ray):
#: optimalUsageRatio, baseVariableBorrowRate, variableRateSlope1, variableRateSlope2,
#: stableRateSlope1, stableRateSlope2, baseStableRateOffset, stableRateExcessOffset,
#: optimalStableToTotalDebtRatio. Values of ``rateStrategyVolatileOne`` / ``rateStrategyStableOne``
#: in ``aave/aave-v3-deploy`` ``markets/aave/rateStrategies.ts`` (commit 09e91b80).
RATE_STRATEGIES: dict[str, tuple[int, ...]] = {
    "volatile_one": (45 * _RAY // 100, 0, 7 * _RAY // 100, 3 * _RAY,
                     7 * _RAY // 100, 3 * _RAY, 2 * _RAY // 100, 5 * _RAY // 100, 20 * _RAY // 100),
    "stable_one": (90 * _RAY // 100, 0, 4 * _RAY // 100, 60 * _RAY // 100,
                   5 * _RAY // 1000, 60 * _RAY // 100, 1 * _RAY // 100, 8 * _RAY // 100,
                   20 * _RAY // 100),
}
RESERVE_RATE_STRATEGY = {"WETH": "volatile_one", "WBTC": "volatile_one", "USDC": "stable_one"}


def deploy_aave_v3(chain: Chain, tokens: dict[str, Contract], treasury: str, market_id: str = MARKET_ID) -> AaveMarket:
    """Deploy an Aave v3 market listing ``tokens`` (WETH, WBTC, USDC) from ``chain.deployer``.

    :param tokens: the underlying ERC-20s by symbol (:func:`toolkit.devchain.assets.deploy_tokens`).
    :param treasury: receiver of reserve-factor interest and liquidation protocol fees (aTokens).
    :param market_id: the addresses provider's market id (``getMarketId()``).
    """
    admin = chain.deployer
    provider = chain.deploy(ADDRESSES_PROVIDER, market_id, admin)
    chain.transact(provider.functions.setACLAdmin(admin))
    acl = chain.deploy(ACL_MANAGER, provider.address)
    chain.transact(provider.functions.setACLManager(acl.address))
    chain.transact(acl.functions.addPoolAdmin(admin))

    pool_impl = chain.deploy(POOL, provider.address)
    start_block = chain.transact(provider.functions.setPoolImpl(pool_impl.address))["blockNumber"]
    pool = chain.at(POOL, provider.functions.getPool().call())
    configurator_impl = chain.deploy(POOL_CONFIGURATOR)
    chain.transact(provider.functions.setPoolConfiguratorImpl(configurator_impl.address))
    configurator = chain.at(POOL_CONFIGURATOR, provider.functions.getPoolConfigurator().call())
    data_provider = chain.deploy(DATA_PROVIDER, provider.address)
    chain.transact(provider.functions.setPoolDataProvider(data_provider.address))

    specs = [spec for spec in TOKEN_SPECS if spec.symbol in tokens]
    feeds = [deploy_feed(chain, to_raw(spec.usd_price, USD_DECIMALS), Quote.USD) for spec in specs]
    assets = [tokens[spec.symbol].address for spec in specs]
    oracle = chain.deploy(AAVE_ORACLE, provider.address, assets, [f.address for f in feeds],
                          ZERO_ADDRESS, ZERO_ADDRESS, BASE_CURRENCY_UNIT)
    oracle_block = chain.transact(provider.functions.setPriceOracle(oracle.address))["blockNumber"]

    a_token_impl = chain.deploy(A_TOKEN, pool.address)
    stable_impl = chain.deploy(STABLE_DEBT_TOKEN, pool.address)
    variable_impl = chain.deploy(VARIABLE_DEBT_TOKEN, pool.address)
    strategies = {
        name: chain.deploy(RATE_STRATEGY, provider.address, *args).address
        for name, args in RATE_STRATEGIES.items()
    }
    chain.transact(configurator.functions.initReserves([
        (a_token_impl.address, stable_impl.address, variable_impl.address, spec.decimals,
         strategies[RESERVE_RATE_STRATEGY[spec.symbol]], tokens[spec.symbol].address, treasury,
         ZERO_ADDRESS,
         f"Aave Ethereum {spec.symbol}", f"aEth{spec.symbol}",
         f"Aave Ethereum Variable Debt {spec.symbol}", f"variableDebtEth{spec.symbol}",
         f"Aave Ethereum Stable Debt {spec.symbol}", f"stableDebtEth{spec.symbol}", b"")
        for spec in specs
    ]))
    for spec in specs:
        configure_reserve(chain, configurator, tokens[spec.symbol].address,
                           RESERVE_PARAMS[spec.symbol])

    reserves: dict[str, Reserve] = {}
    for spec in specs:
        asset = tokens[spec.symbol].address
        a_token, stable_debt, variable_debt = (
            data_provider.functions.getReserveTokensAddresses(asset).call()
        )
        reserves[spec.symbol] = Reserve(
            symbol=spec.symbol, decimals=spec.decimals, underlying=asset, a_token=a_token,
            stable_debt_token=stable_debt, variable_debt_token=variable_debt,
            interest_rate_strategy=strategies[RESERVE_RATE_STRATEGY[spec.symbol]],
        )

    addresses = {
        "pool": pool.address,
        "poolImpl": pool_impl.address,
        "poolAddressesProvider": provider.address,
        "poolConfigurator": configurator.address,
        "poolConfiguratorImpl": configurator_impl.address,
        "aclManager": acl.address,
        "aaveOracle": oracle.address,
        "protocolDataProvider": data_provider.address,
        "treasury": treasury,
        "aTokenImpl": a_token_impl.address,
        "stableDebtTokenImpl": stable_impl.address,
        "variableDebtTokenImpl": variable_impl.address,
        "baseCurrency": ZERO_ADDRESS,
        "baseCurrencyUnit": BASE_CURRENCY_UNIT,
    }
    return AaveMarket(
        name="aave_v3", chain=chain, pool=pool, oracle=oracle, quote=Quote.USD,
        supply_function="supply", reserves=reserves, addresses=addresses, start_block=start_block,
        price_feeds={s.symbol: FeedRecord(f.address, oracle_block) for s, f in zip(specs, feeds)},
    )


def configure_reserve(chain: Chain, configurator: Contract, asset: ChecksumAddress,
                       params: ReserveParams) -> None:
    """Set collateral parameters, borrowing, flash loans, reserve factor and protocol fee."""
    fns = configurator.functions
    chain.transact(fns.configureReserveAsCollateral(
        asset, params.ltv, params.liquidation_threshold, params.liquidation_bonus))
    chain.transact(fns.setReserveBorrowing(asset, True))
    chain.transact(fns.setReserveFlashLoaning(asset, True))
    chain.transact(fns.setReserveFactor(asset, params.reserve_factor))
    chain.transact(fns.setLiquidationProtocolFee(asset, params.liquidation_protocol_fee))
