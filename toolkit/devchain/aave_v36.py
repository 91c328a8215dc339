"""Deploy a real Aave v3.6 market (npm ``@aave-dao/aave-v3-origin@3.6.0``) next to the devchain's Aave v3.0.

Compiled from the package's sources by :mod:`toolkit.devchain.aave_origin` (cached), deployed from
anvil account :data:`DEPLOYER_INDEX` (20) with its own nonce sequence, so every address below is the
same on every devchain, whatever else was deployed before, and nothing of the other protocols moves.
The market lists the devchain's own WETH, WBTC and USDC (as Aave v3.0 and v3.6 share tokens on
Ethereum) with the risk parameters of the v3.0 market (:data:`toolkit.devchain.aave_v3.RESERVE_PARAMS`).

The sequence follows the package's deployment procedures (``src/deployments/contracts/procedures/``
``AaveV3SetupProcedure.sol``, ``AaveV3PoolProcedure.sol``, ``AaveV3TokensProcedure.sol``,
``AaveV3OracleProcedure.sol``; docs/sources/aave.md#aave-v3-origin-deployment):

1. ``PoolAddressesProvider(marketId, owner)``, ``DefaultReserveInterestRateStrategyV2(provider)``
   (one strategy for the whole pool since v3.4; per-reserve rates are ``interestRateData``);
   ``setACLAdmin``, ``ACLManager(provider)``, ``setACLManager``, ``addPoolAdmin(deployer)``.
2. ``PoolInstance(provider, strategy)`` (``POOL_REVISION`` 10), linked to BorrowLogic, FlashLoanLogic
   (itself linked to BorrowLogic), LiquidationLogic, PoolLogic and SupplyLogic; ``setPoolImpl`` creates the
   Pool **proxy** (its block is the market's start block). ``PoolConfiguratorInstance`` (linked to
   ConfiguratorLogic); ``setPoolConfiguratorImpl``.
3. One 8-decimal USD ``MockAggregator`` per asset (``@aave/core-v3``, as the v3.0 market) and
   ``AaveOracle(provider, assets, sources, fallback 0, base currency 0 = USD, unit 1e8)``; ``setPriceOracle``.
4. ``ATokenInstance(pool, rewardsController 0, treasury)`` (the treasury is an immutable of the aToken
   since v3.4) and ``VariableDebtTokenInstance(pool, 0)``; ``initReserves`` with each reserve's
   ``interestRateData`` (v3.0's rate profiles in bps, :data:`RATE_DATA`).
5. Per reserve: ``configureReserveAsCollateral``, ``setReserveBorrowing``, ``setReserveFlashLoaning``,
   ``setReserveFactor``, ``setLiquidationProtocolFee``.
6. E-mode category :data:`EMODE` (v3.2+ "liquid e-mode"): ``setEModeCategory(id, ltv, lt, lb, label)``
   (no price source since v3.2), ``setAssetCollateralInEMode(WETH)`` sets the category's
   ``collateralBitmap`` bit of WETH's reserve id, ``setAssetBorrowableInEMode(USDC)`` the
   ``borrowableBitmap`` bit of USDC's. The reserves' configuration bits 168-175 (v3.0-3.1 e-mode
   category) stay 0: 3.2+ has no setter for them.

The Pool proxy is ``0xE14B6D9017045DC2B8735AE43D2d7617c4B0f735`` (``Devchain.addresses()["aave_v36"]`` has
every address). It has no entry in ``deployments/aave.toml``: an entry there would join every
``--protocol aave-v3`` pull of the devchain; pull it with ``--address`` (``PullRequest(address=...)``).

Liquidation rules of this code (``src/contracts/protocol/libraries/logic/LiquidationLogic.sol``):
the v3.3 close factor (docs/sources/aave.md#aave-v33-close-factor) and bad-debt deficit
(docs/sources/aave.md#aave-v33-deficit).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from eth_abi import encode
from web3.contract import Contract

from toolkit.devchain.aave_origin import PACKAGE
from toolkit.devchain.aave_v3 import BASE_CURRENCY_UNIT, RESERVE_PARAMS, ZERO_ADDRESS, configure_reserve
from toolkit.devchain.artifacts import ArtifactRef
from toolkit.devchain.assets import TOKEN_SPECS, USD_DECIMALS, Quote, deploy_feed, to_raw
from toolkit.devchain.chain import Chain
from toolkit.devchain.market import AaveMarket, FeedRecord, Reserve

if TYPE_CHECKING:  # only for annotations: devchain.py imports this module
    from toolkit.devchain.devchain import Devchain

_SRC = "src/contracts/"
ADDRESSES_PROVIDER = ArtifactRef(PACKAGE, _SRC + "protocol/configuration/PoolAddressesProvider.sol")
ACL_MANAGER = ArtifactRef(PACKAGE, _SRC + "protocol/configuration/ACLManager.sol")
POOL = ArtifactRef(PACKAGE, _SRC + "instances/PoolInstance.sol")
POOL_CONFIGURATOR = ArtifactRef(PACKAGE, _SRC + "instances/PoolConfiguratorInstance.sol")
A_TOKEN = ArtifactRef(PACKAGE, _SRC + "instances/ATokenInstance.sol")
VARIABLE_DEBT_TOKEN = ArtifactRef(PACKAGE, _SRC + "instances/VariableDebtTokenInstance.sol")
AAVE_ORACLE = ArtifactRef(PACKAGE, _SRC + "misc/AaveOracle.sol")
RATE_STRATEGY = ArtifactRef(PACKAGE, _SRC + "misc/DefaultReserveInterestRateStrategyV2.sol")

#: anvil account that deploys and administers the v3.6 market (owner, ACL admin, pool admin).
DEPLOYER_INDEX = 20
#: The market's name in :class:`~toolkit.devchain.market.AaveMarket` and ``Devchain.addresses()``.
NAME = "aave_v36"
MARKET_ID = "Aave Devchain Market v3.6"

#: ``IDefaultInterestRateStrategyV2.InterestRateData`` (bps): optimalUsageRatio, baseVariableBorrowRate,
#: variableRateSlope1, variableRateSlope2 -- the v3.0 market's rate profiles
#: (:data:`toolkit.devchain.aave_v3.RATE_STRATEGIES`) in the V2 strategy's units.
RATE_DATA: dict[str, tuple[int, int, int, int]] = {
    "WETH": (4500, 0, 700, 30000),
    "WBTC": (4500, 0, 700, 30000),
    "USDC": (9000, 0, 400, 6000),
}


@dataclass(frozen=True)
class EModeSpec:
    """An e-mode category of the devchain's Aave v3 markets (bps; the bonus includes the 100 %).

    :ivar collateral: symbols that are collateral in the category (on v3.0: its members).
    :ivar borrowable: symbols that may be borrowed in it (on v3.0 members too).
    """

    id: int
    label: str
    ltv: int
    liquidation_threshold: int
    liquidation_bonus: int
    collateral: tuple[str, ...]
    borrowable: tuple[str, ...]


#: The category of the v3.6 market (and of the v3.0 market in the version scenario): WETH collateral,
#: USDC debt, above the reserves' LTV 80.5 % / threshold 83 % / bonus 105 % of WETH.
EMODE = EModeSpec(1, "WETH-USDC devchain", 9000, 9300, 10400, ("WETH",), ("USDC",))


def deploy_aave_v36(devchain: Devchain) -> AaveMarket:
    """Deploy the v3.6 market from account :data:`DEPLOYER_INDEX` on ``devchain`` (its tokens listed);
    return it as an :class:`AaveMarket` whose ``chain`` sends as that account."""
    chain = Chain(devchain.url, deployer_index=DEPLOYER_INDEX)
    admin = chain.deployer
    treasury = devchain.addresses()["aave_v3"]["treasury"]
    tokens = devchain.tokens

    provider = chain.deploy(ADDRESSES_PROVIDER, MARKET_ID, admin)
    strategy = chain.deploy(RATE_STRATEGY, provider.address)
    chain.transact(provider.functions.setACLAdmin(admin))
    acl = chain.deploy(ACL_MANAGER, provider.address)
    chain.transact(provider.functions.setACLManager(acl.address))
    chain.transact(acl.functions.addPoolAdmin(admin))

    pool_impl = chain.deploy(POOL, provider.address, strategy.address)
    start_block = chain.transact(provider.functions.setPoolImpl(pool_impl.address))["blockNumber"]
    pool = chain.at(POOL, provider.functions.getPool().call())
    configurator_impl = chain.deploy(POOL_CONFIGURATOR)
    chain.transact(provider.functions.setPoolConfiguratorImpl(configurator_impl.address))
    configurator = chain.at(POOL_CONFIGURATOR, provider.functions.getPoolConfigurator().call())

    specs = [spec for spec in TOKEN_SPECS if spec.symbol in tokens]
    feeds = [deploy_feed(chain, to_raw(spec.usd_price, USD_DECIMALS), Quote.USD) for spec in specs]
    assets = [tokens[spec.symbol].address for spec in specs]
    oracle = chain.deploy(AAVE_ORACLE, provider.address, assets, [f.address for f in feeds],
                          ZERO_ADDRESS, ZERO_ADDRESS, BASE_CURRENCY_UNIT)
    oracle_block = chain.transact(provider.functions.setPriceOracle(oracle.address))["blockNumber"]

    a_token_impl = chain.deploy(A_TOKEN, pool.address, ZERO_ADDRESS, treasury)
    variable_impl = chain.deploy(VARIABLE_DEBT_TOKEN, pool.address, ZERO_ADDRESS)
    chain.transact(configurator.functions.initReserves([
        (a_token_impl.address, variable_impl.address, tokens[spec.symbol].address,
         f"Aave Devchain v3.6 {spec.symbol}", f"aDev36{spec.symbol}",
         f"Aave Devchain v3.6 Variable Debt {spec.symbol}", f"variableDebtDev36{spec.symbol}", b"",
         encode(["uint16", "uint32", "uint32", "uint32"], RATE_DATA[spec.symbol]))
        for spec in specs
    ]))
    for spec in specs:
        configure_reserve(chain, configurator, tokens[spec.symbol].address, RESERVE_PARAMS[spec.symbol])
    _configure_emode(chain, configurator, tokens)

    reserves: dict[str, Reserve] = {}
    for spec in specs:
        asset = tokens[spec.symbol].address
        reserves[spec.symbol] = Reserve(
            symbol=spec.symbol, decimals=spec.decimals, underlying=asset,
            a_token=pool.functions.getReserveAToken(asset).call(), stable_debt_token=ZERO_ADDRESS,
            variable_debt_token=pool.functions.getReserveVariableDebtToken(asset).call(),
            interest_rate_strategy=strategy.address,
        )
    addresses = {
        "pool": pool.address,
        "poolImpl": pool_impl.address,
        "poolAddressesProvider": provider.address,
        "poolConfigurator": configurator.address,
        "poolConfiguratorImpl": configurator_impl.address,
        "aclManager": acl.address,
        "aaveOracle": oracle.address,
        "interestRateStrategy": strategy.address,
        "treasury": treasury,
        "aTokenImpl": a_token_impl.address,
        "variableDebtTokenImpl": variable_impl.address,
        "baseCurrency": ZERO_ADDRESS,
        "baseCurrencyUnit": BASE_CURRENCY_UNIT,
        "deployer": admin,
        "libraries": chain.libraries(),
        "emodeCategory": EMODE.id,
    }
    return AaveMarket(
        name=NAME, chain=chain, pool=pool, oracle=oracle, quote=Quote.USD, supply_function="supply",
        reserves=reserves, addresses=addresses, start_block=start_block,
        price_feeds={s.symbol: FeedRecord(f.address, oracle_block) for s, f in zip(specs, feeds)},
    )


def _configure_emode(chain: Chain, configurator: Contract, tokens: dict[str, Contract]) -> None:
    """Category :data:`EMODE` with its collateral and borrowable bitmaps (``PoolConfigurator.sol``
    ``setEModeCategory``, ``setAssetCollateralInEMode``, ``setAssetBorrowableInEMode``)."""
    fns = configurator.functions
    chain.transact(fns.setEModeCategory(EMODE.id, EMODE.ltv, EMODE.liquidation_threshold,
                                        EMODE.liquidation_bonus, EMODE.label))
    for symbol in EMODE.collateral:
        chain.transact(fns.setAssetCollateralInEMode(tokens[symbol].address, EMODE.id, True))
    for symbol in EMODE.borrowable:
        chain.transact(fns.setAssetBorrowableInEMode(tokens[symbol].address, EMODE.id, True))
