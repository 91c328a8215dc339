"""Deploy and drive a real Venus core pool (the Compound v2 design) from ``@venusprotocol/venus-protocol@9.2.0``.

Everything is sent by anvil account :data:`VENUS_DEPLOYER_INDEX` (its own nonce sequence), so the
addresses below are the same on every fresh devchain, whatever else was deployed before:

1. ``AccessControlManager`` (``@venusprotocol/governance-contracts``, the contract Venus uses on
   BNB Chain; ``deploy/001-comptroller.ts`` deploys it the same way for local networks).
2. ``Unitroller`` (the comptroller proxy and storage: every vToken's ``comptroller()``), the
   ``Diamond`` implementation and its four facets ``MarketFacet``, ``PolicyFacet``, ``RewardFacet``,
   ``SetterFacet``: ``_setPendingImplementation(diamond)``, ``diamond._become(unitroller)``, then
   ``diamondCut`` adds each facet's selectors, taken from its interface ABI
   (``contracts/Comptroller/Diamond/interfaces/I<Facet>.sol``). This is the comptroller of the BNB
   Chain core pool (``deployments/bscmainnet_addresses.json``: ``Unitroller``, ``MarketFacet``,
   ``PolicyFacet``, ``RewardFacet``, ``SetterFacet``). The single-contract alternatives in 9.2.0
   (``ComptrollerHarness``, ``ComptrollerMock``, ``DiamondConsolidated``) are 31-38 KB of runtime
   code, above the EIP-170 limit of 24,576 bytes, so they cannot be deployed on a standard node.
3. ``ComptrollerLens`` (liquidity and seize computations); ``_setComptrollerLens``.
4. ``SimplePriceOracle`` (``contracts/test/``): ``getUnderlyingPrice(vToken)`` returns the price
   stored for the vToken's underlying, in the Compound unit ``price x 1e(36 - underlying decimals)``;
   ``_setPriceOracle``. Venus's production oracle (ResilientOracle) is not in this package.
5. ``JumpRateModel(0, 0.1e18, 2.5e18, 0.8e18)`` per year (base 0 %, slope 10 %, jump 250 %, kink
   80 %; the model ``JumpRateModel_base0bps_slope1000bps_jump25000bps_kink8000bps`` of
   ``deployments/bscmainnet``), ``blocksPerYear`` = 10,512,000 (``JumpRateModel.sol`` L18).
6. One ``VBep20Delegate`` implementation and, per devchain token (the WETH/WBTC/USDC
   MintableERC20s of ``Devchain.tokens``), a ``VBep20Delegator`` vToken (8 decimals, initial
   exchange rate 0.02 x 10^(underlying decimals + 10)), as the BNB Chain vTokens are built.
   ``setAccessControlManager``, ``_setReserveFactor``, and ``setReduceReservesBlockDelta`` set to
   10^9 blocks: the vTokens then never push reserves to a ProtocolShareReserve (a separate
   package), which is neutral for the exchange rate (cash and reserves fall by the same amount,
   ``VToken.sol`` L1514-L1554).
7. Comptroller parameters: ``_setCloseFactor(0.5e18)``, ``_setLiquidationIncentive(1.1e18)``,
   ``_supportMarket``, supply and borrow caps (a cap of 0 forbids minting/borrowing in Venus,
   ``PolicyFacet.sol`` L36-L37, L115-L116), ``_setCollateralFactor`` (:data:`COLLATERAL_FACTORS`).

Venus vTokens have **no protocol seize share**: ``seizeInternal`` moves all ``seizeTokens`` to the
liquidator (``VToken.sol`` L1369-L1418). On BNB Chain the treasury's cut is taken afterwards by
the separate ``Liquidator`` contract (``contracts/Liquidator/Liquidator.sol``), which this devchain
does not deploy (it needs the VAI controller, vBNB, WBNB and a ProtocolShareReserve); the
comptroller's ``liquidatorContract`` stays unset, so any account may call
``VBep20.liquidateBorrow`` (``PolicyFacet.sol`` L235).

Compound-style functions report most failures as a non-zero return code, not a revert; every
action here checks that code first with ``eth_call`` and raises :class:`TransactionFailed`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from eth_typing import ChecksumAddress
from eth_utils import function_abi_to_4byte_selector
from web3.contract import Contract
from web3.contract.contract import ContractFunction
from web3.exceptions import ContractLogicError
from web3.types import BlockIdentifier, TxReceipt

from toolkit.devchain.artifacts import ArtifactRef, artifacts_dir
from toolkit.devchain.assets import TOKEN, TOKEN_SPECS, to_raw
from toolkit.devchain.chain import Chain, TransactionFailed
from toolkit.errors import UserInputError

if TYPE_CHECKING:  # only for annotations: devchain.py may import this module
    from toolkit.devchain.devchain import Devchain

PACKAGE = "@venusprotocol/venus-protocol"
GOVERNANCE_PACKAGE = "@venusprotocol/governance-contracts"
#: Artifact directories of the Venus npm packages, added to the loader's package table.

#: anvil account that deploys and administers the Venus contracts (not 0, Aave; not 9, treasury).
VENUS_DEPLOYER_INDEX = 10

_DIAMOND_DIR = "contracts/Comptroller/Diamond"
ACCESS_CONTROL_MANAGER = ArtifactRef(GOVERNANCE_PACKAGE, "contracts/Governance/AccessControlManager.sol")
UNITROLLER = ArtifactRef(PACKAGE, "contracts/Comptroller/Unitroller.sol")
DIAMOND = ArtifactRef(PACKAGE, f"{_DIAMOND_DIR}/Diamond.sol")
#: Not deployable (too large); its ABI is the whole comptroller as seen through the Unitroller.
COMPTROLLER_ABI = ArtifactRef(PACKAGE, f"{_DIAMOND_DIR}/DiamondConsolidated.sol")
FACETS = ("MarketFacet", "PolicyFacet", "RewardFacet", "SetterFacet")
COMPTROLLER_LENS = ArtifactRef(PACKAGE, "contracts/Lens/ComptrollerLens.sol")
PRICE_ORACLE = ArtifactRef(PACKAGE, "contracts/test/SimplePriceOracle.sol")
RATE_MODEL = ArtifactRef(PACKAGE, "contracts/InterestRateModels/JumpRateModel.sol")
VTOKEN_DELEGATE = ArtifactRef(PACKAGE, "contracts/Tokens/VTokens/VBep20Delegate.sol")
VTOKEN = ArtifactRef(PACKAGE, "contracts/Tokens/VTokens/VBep20Delegator.sol")

#: ``closeFactorMantissa``: at most half of a borrow may be repaid per liquidation.
CLOSE_FACTOR = 5 * 10**17
#: ``liquidationIncentiveMantissa``: the liquidator seizes 110 % of the value repaid.
LIQUIDATION_INCENTIVE = 11 * 10**17
#: ``collateralFactorMantissa`` per market (chosen for the scenario; Venus bounds them to 0.9).
COLLATERAL_FACTORS: dict[str, int] = {"WETH": 8 * 10**17, "WBTC": 8 * 10**17, "USDC": 825 * 10**15}
#: ``reserveFactorMantissa`` per market (chosen for the scenario).
RESERVE_FACTORS: dict[str, int] = {"WETH": 2 * 10**17, "WBTC": 2 * 10**17, "USDC": 10**17}
#: ``JumpRateModel`` constructor: baseRatePerYear, multiplierPerYear, jumpMultiplierPerYear, kink.
RATE_MODEL_ARGS = (0, 10**17, 25 * 10**17, 8 * 10**17)
#: vToken decimals (every Venus and Compound v2 cToken has 8).
VTOKEN_DECIMALS = 8
#: Supply and borrow cap of every market (raw underlying units): large enough never to bind.
MARKET_CAP = 10**40
#: Blocks between two reductions of reserves to the ProtocolShareReserve (never, on the devchain).
REDUCE_RESERVES_BLOCK_DELTA = 10**9
#: ``IDiamondCut.FacetCutAction.Add``.
FACET_CUT_ADD = 0


def initial_exchange_rate(underlying_decimals: int) -> int:
    """0.02 underlying per vToken, as a mantissa: 0.02 x 10^(18 + underlying decimals - 8)."""
    return 2 * 10 ** (16 + underlying_decimals - VTOKEN_DECIMALS)


def usd_price_mantissa(usd: int | str, underlying_decimals: int) -> int:
    """Oracle answer for a token worth ``usd`` dollars: usd x 10^(36 - decimals) (exact)."""
    return to_raw(usd, 36 - underlying_decimals)


@dataclass(frozen=True)
class VenusVToken:
    """One listed market: the vToken (VBep20Delegator with the VBep20Delegate ABI) and its underlying."""

    vtoken: Contract
    underlying: Contract
    underlying_decimals: int

    @property
    def address(self) -> ChecksumAddress:
        return self.vtoken.address


class VenusMarket:
    """The deployed Venus pool plus the calls a scenario needs.

    :param chain: connection whose deployer is anvil account :data:`VENUS_DEPLOYER_INDEX`.
    :param comptroller: the Unitroller with the full comptroller ABI.
    :param oracle: the price oracle in force (changes with :meth:`use_oracle`).
    :param markets: vTokens by underlying symbol.
    :param addresses: every deployed address (JSON-able), see :meth:`addresses`.
    :param start_block: block of the first vToken's creation (no ``LiquidateBorrow`` before it).
    """

    def __init__(self, *, chain: Chain, comptroller: Contract, oracle: Contract,
                 markets: dict[str, VenusVToken], addresses: dict[str, Any], start_block: int) -> None:
        self.chain = chain
        self.comptroller = comptroller
        self.oracle = oracle
        self.markets = markets
        self.start_block = start_block
        self._addresses = addresses

    # -- lookups --------------------------------------------------------------------------------

    def market(self, symbol: str) -> VenusVToken:
        """The market of underlying ``symbol`` (``WETH``, ``WBTC``, ``USDC``)."""
        try:
            return self.markets[symbol]
        except KeyError:
            raise UserInputError(f"venus has no market for {symbol!r}; listed: {', '.join(self.markets)}") from None

    def addresses(self) -> dict[str, Any]:
        """Every address of the deployment as JSON-able data (the oracle in force now included)."""
        return {**self._addresses, "oracle": self.oracle.address, "startBlock": self.start_block,
                "vTokens": {s: m.address for s, m in self.markets.items()}}

    # -- reads ----------------------------------------------------------------------------------

    def price(self, symbol: str, block: BlockIdentifier = "latest") -> int:
        """``comptroller.oracle().getUnderlyingPrice(vToken)`` at ``block`` (raw, 1e(36-decimals))."""
        oracle = self.chain.at(PRICE_ORACLE, self.comptroller.functions.oracle().call(block_identifier=block))
        return oracle.functions.getUnderlyingPrice(self.market(symbol).address).call(block_identifier=block)

    def account_liquidity(self, account: str, block: BlockIdentifier = "latest") -> tuple[int, int, int]:
        """``getAccountLiquidity(account)``: (error, liquidity, shortfall), oracle units x 1e18."""
        error, liquidity, shortfall = self.comptroller.functions.getAccountLiquidity(account).call(
            block_identifier=block)
        return error, liquidity, shortfall

    def exchange_rate(self, symbol: str, block: BlockIdentifier = "latest") -> int:
        """``exchangeRateStored()`` of the market at ``block`` (mantissa)."""
        return self.market(symbol).vtoken.functions.exchangeRateStored().call(block_identifier=block)

    # -- actions --------------------------------------------------------------------------------

    def supply(self, account: str, symbol: str, amount: int) -> TxReceipt:
        """``account`` approves the vToken and mints it with ``amount`` raw units of ``symbol``."""
        market = self.market(symbol)
        self.chain.transact(market.underlying.functions.approve(market.address, amount), account)
        return succeed(self.chain, market.vtoken.functions.mint(amount), account)

    def enter_markets(self, account: str, symbols: list[str]) -> TxReceipt:
        """``account`` uses the markets of ``symbols`` as collateral (``enterMarkets``)."""
        fn = self.comptroller.functions.enterMarkets([self.market(s).address for s in symbols])
        codes = _call(fn, account)
        if any(codes):
            raise TransactionFailed(f"enterMarkets from {account} returned error codes {codes}")
        return self.chain.transact(fn, account)

    def borrow(self, account: str, symbol: str, amount: int) -> TxReceipt:
        """``account`` borrows ``amount`` raw units of ``symbol``."""
        return succeed(self.chain, self.market(symbol).vtoken.functions.borrow(amount), account)

    def liquidate(self, liquidator: str, borrower: str, debt_symbol: str, repay_amount: int,
                  collateral_symbol: str) -> TxReceipt:
        """``liquidator`` repays ``repay_amount`` raw units of ``borrower``'s ``debt_symbol`` borrow
        and seizes vTokens of ``collateral_symbol`` (``VBep20.liquidateBorrow``); the borrowed
        vToken emits ``LiquidateBorrow``."""
        debt = self.market(debt_symbol)
        self.chain.transact(debt.underlying.functions.approve(debt.address, repay_amount), liquidator)
        fn = debt.vtoken.functions.liquidateBorrow(borrower, repay_amount, self.market(collateral_symbol).address)
        return succeed(self.chain, fn, liquidator)

    def set_price(self, symbol: str, answer: int) -> TxReceipt:
        """Store ``answer`` (raw, 1e(36-decimals)) as the price of ``symbol``'s underlying in the
        oracle in force (``SimplePriceOracle.setUnderlyingPrice``)."""
        return self.chain.transact(self.oracle.functions.setUnderlyingPrice(self.market(symbol).address, answer))

    def list_market(self, listing: MarketListing) -> VenusVToken:
        """List one more market after deployment (from the Venus admin), priced in the oracle in force; it is
        then a market of this pool like the others (:meth:`market`)."""
        addresses = self._addresses
        market = _list_market(self.chain, self.comptroller, self.chain.at(ACCESS_CONTROL_MANAGER, addresses[
            "accessControlManager"]), self.chain.at(RATE_MODEL, addresses["interestRateModel"]),
            self.chain.at(VTOKEN_DELEGATE, addresses["vTokenDelegate"]), self.oracle, listing)
        self.markets[listing.symbol] = market
        return market

    def use_oracle(self, prices: dict[str, int]) -> Contract:
        """Deploy a new SimplePriceOracle holding ``prices`` (raw, by symbol; every market needs
        one) and make it the comptroller's oracle (``_setPriceOracle``); return it."""
        missing = sorted(set(self.markets) - set(prices))
        if missing:
            raise UserInputError(f"use_oracle needs a price for every market; missing {', '.join(missing)}")
        oracle = self.chain.deploy(PRICE_ORACLE)
        for symbol, answer in prices.items():
            self.chain.transact(oracle.functions.setUnderlyingPrice(self.market(symbol).address, answer))
        succeed(self.chain, self.comptroller.functions._setPriceOracle(oracle.address), self.chain.deployer)
        self.oracle = oracle
        return oracle


def _call(fn: ContractFunction, sender: str) -> Any:
    """``eth_call`` of ``fn`` from ``sender``; a revert becomes :class:`TransactionFailed`."""
    try:
        return fn.call({"from": sender})
    except ContractLogicError as exc:
        raise TransactionFailed(f"{fn.fn_name} from {sender} reverted: {exc.message}") from None


def succeed(chain: Chain, fn: ContractFunction, sender: str | None = None) -> TxReceipt:
    """Send ``fn`` after checking with ``eth_call`` that it returns error code 0 (Compound style).

    :raises TransactionFailed: with the function name and the error code (``ErrorReporter.sol``).
    """
    sender = sender or chain.deployer
    code = _call(fn, sender)
    if code != 0:
        raise TransactionFailed(f"{fn.fn_name} from {sender} returned error code {code} (ErrorReporter.sol)")
    return chain.transact(fn, sender)


def _facet_selectors(facet: str) -> list[bytes]:
    """Selectors of every function in the facet's interface ABI (``I<facet>.sol``; interfaces have
    no bytecode, so the JSON is read directly rather than through :class:`ArtifactRef`)."""
    path = artifacts_dir(PACKAGE) / _DIAMOND_DIR / "interfaces" / f"I{facet}.sol" / f"I{facet}.json"
    abi = json.loads(path.read_text())["abi"]
    return [function_abi_to_4byte_selector(entry) for entry in abi if entry["type"] == "function"]


@dataclass(frozen=True)
class MarketListing:
    """A market to list: the underlying token, its decimals, USD price (human units), collateral and reserve
    factors (mantissas)."""

    symbol: str
    underlying: Contract
    decimals: int
    usd_price: str
    collateral_factor: int
    reserve_factor: int


def _list_market(chain: Chain, comptroller: Contract, acm: Contract, rate_model: Contract, delegate: Contract,
                 oracle: Contract, listing: MarketListing) -> VenusVToken:
    """Deploy a ``VBep20Delegator`` vToken for ``listing`` and list it (module docstring, steps 6-7): the
    comptroller's ``_supportMarket`` emits ``MarketListed``."""
    admin = chain.deployer
    vtoken = chain.deploy(VTOKEN, listing.underlying.address, comptroller.address, rate_model.address,
                          initial_exchange_rate(listing.decimals), f"Venus {listing.symbol}", f"v{listing.symbol}",
                          VTOKEN_DECIMALS, admin, delegate.address, b"")
    vtoken = chain.at(VTOKEN_DELEGATE, vtoken.address)
    succeed(chain, vtoken.functions.setAccessControlManager(acm.address))
    for signature in ("_setReserveFactor(uint256)", "setReduceReservesBlockDelta(uint256)"):
        chain.transact(acm.functions.giveCallPermission(vtoken.address, signature, admin))
    chain.transact(vtoken.functions.setReduceReservesBlockDelta(REDUCE_RESERVES_BLOCK_DELTA))
    succeed(chain, vtoken.functions._setReserveFactor(listing.reserve_factor))
    succeed(chain, comptroller.functions._supportMarket(vtoken.address))
    chain.transact(comptroller.functions._setMarketSupplyCaps([vtoken.address], [MARKET_CAP]))
    chain.transact(comptroller.functions._setMarketBorrowCaps([vtoken.address], [MARKET_CAP]))
    chain.transact(oracle.functions.setUnderlyingPrice(vtoken.address, usd_price_mantissa(listing.usd_price,
                                                                                          listing.decimals)))
    succeed(chain, comptroller.functions._setCollateralFactor(vtoken.address, listing.collateral_factor))
    return VenusVToken(vtoken, listing.underlying, listing.decimals)


def deploy_venus(devchain: Devchain) -> VenusMarket:
    """Deploy the Venus pool of the module docstring on ``devchain``, listing its WETH, WBTC and USDC.

    Starting prices are the devchain's (``toolkit.devchain.assets.TOKEN_SPECS``): ETH $3,000,
    BTC $60,000, USDC $1, USD-quoted like Venus on BNB Chain.
    """
    chain = Chain(devchain.url, deployer_index=VENUS_DEPLOYER_INDEX)
    admin = chain.deployer

    acm = chain.deploy(ACCESS_CONTROL_MANAGER)
    unitroller = chain.deploy(UNITROLLER)
    diamond = chain.deploy(DIAMOND)
    facets = {name: chain.deploy(ArtifactRef(PACKAGE, f"{_DIAMOND_DIR}/facets/{name}.sol")) for name in FACETS}
    succeed(chain, unitroller.functions._setPendingImplementation(diamond.address))
    chain.transact(diamond.functions._become(unitroller.address))
    comptroller = chain.at(COMPTROLLER_ABI, unitroller.address)
    chain.transact(comptroller.functions.diamondCut(
        [(facets[name].address, FACET_CUT_ADD, _facet_selectors(name)) for name in FACETS]))

    lens = chain.deploy(COMPTROLLER_LENS)
    oracle = chain.deploy(PRICE_ORACLE)
    rate_model = chain.deploy(RATE_MODEL, *RATE_MODEL_ARGS)
    delegate = chain.deploy(VTOKEN_DELEGATE)
    succeed(chain, comptroller.functions._setAccessControl(acm.address))
    for signature in ("_supportMarket(address)", "_setCollateralFactor(address,uint256)",
                      "_setLiquidationIncentive(uint256)", "_setMarketSupplyCaps(address[],uint256[])",
                      "_setMarketBorrowCaps(address[],uint256[])"):
        chain.transact(acm.functions.giveCallPermission(comptroller.address, signature, admin))
    succeed(chain, comptroller.functions._setComptrollerLens(lens.address))
    succeed(chain, comptroller.functions._setPriceOracle(oracle.address))
    succeed(chain, comptroller.functions._setCloseFactor(CLOSE_FACTOR))
    succeed(chain, comptroller.functions._setLiquidationIncentive(LIQUIDATION_INCENTIVE))

    markets: dict[str, VenusVToken] = {}
    for spec in TOKEN_SPECS:
        listing = MarketListing(spec.symbol, chain.at(TOKEN, devchain.token(spec.symbol).address), spec.decimals,
                                str(spec.usd_price), COLLATERAL_FACTORS[spec.symbol], RESERVE_FACTORS[spec.symbol])
        markets[spec.symbol] = _list_market(chain, comptroller, acm, rate_model, delegate, oracle, listing)

    addresses = {
        "deployer": admin,
        "accessControlManager": acm.address,
        "unitroller": unitroller.address,
        "diamond": diamond.address,
        **{name[0].lower() + name[1:]: facet.address for name, facet in facets.items()},
        "comptrollerLens": lens.address,
        "interestRateModel": rate_model.address,
        "vTokenDelegate": delegate.address,
    }
    start_block = min(chain.created_at[m.address] for m in markets.values())
    return VenusMarket(chain=chain, comptroller=comptroller, oracle=oracle, markets=markets,
                       addresses=addresses, start_block=start_block)
