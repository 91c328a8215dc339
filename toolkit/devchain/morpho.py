"""Morpho Blue on the devchain: the real ``Morpho.sol`` compiled from npm sources, with its mocks.

Sources: npm ``@morpho-org/morpho-blue@1.0.0`` ``src/`` (``Morpho.sol`` has ``pragma solidity
0.8.19``, so it is compiled with the npm ``solc-0.8.19`` release through
:mod:`toolkit.devchain.solc`; nothing compiled is committed). The package's test mocks are compiled
with it: ``mocks/OracleMock.sol`` (``price()`` with a public ``setPrice``) and ``mocks/IrmMock.sol``
(borrow rate = utilization / 365 days, per second). Loan and collateral tokens are the devchain's
MintableERC20 WETH, WBTC and USDC (:mod:`toolkit.devchain.assets`).

Deployment (:func:`deploy_morpho`), all from anvil account :data:`DEPLOYER_INDEX` (11), so the
addresses depend only on that account's nonce, whatever else the devchain deploys and in which order:

1. ``Morpho(owner = deployer)`` (nonce 0), ``IrmMock`` (1), one ``OracleMock`` per market (2, 3),
   and a USD ``MockAggregator`` for USDC answering 1.00000000 (4), which the registry names as the
   loan token's USD feed (``deployments/morpho_blue.toml``);
2. ``enableIrm(irm)``, ``enableLltv(lltv)`` per market (``Morpho.sol`` L104-L120);
3. ``OracleMock.setPrice`` at the starting USD prices and ``createMarket(marketParams)``
   (``Morpho.sol`` L150-L164; emits ``CreateMarket``).

The id of a market is ``keccak256(abi.encode(loanToken, collateralToken, oracle, irm, lltv))``
(``src/libraries/MarketParamsLib.sol`` L13-L20), so market ids also depend on the token addresses,
which :meth:`Devchain.start` deploys first from account 0 (fixed too). Oracle prices are the price of
one base unit of collateral in base units of loan token, scaled by 1e36 (``src/interfaces/IOracle.sol``
L10-L13).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any, NamedTuple

from eth_typing import ChecksumAddress
from web3 import Web3
from web3.contract import Contract
from web3.logs import DISCARD
from web3.types import BlockIdentifier, TxReceipt

from toolkit.devchain.anvil import repo_root
from toolkit.devchain.assets import MAX_UINT256, TOKENS_BY_SYMBOL, USD_DECIMALS, Quote, deploy_feed, to_raw
from toolkit.devchain.chain import Chain
from toolkit.devchain.solc import CompiledContract, SolcError, compile_standard
from toolkit.errors import ToolkitError, UserInputError
from toolkit.protocols.morpho_blue import MarketParams

if TYPE_CHECKING:  # devchain.py may deploy Morpho in Devchain.start, so no runtime import of it here
    from toolkit.devchain.devchain import Devchain

#: Sources of npm ``@morpho-org/morpho-blue``.
MORPHO_SRC = repo_root() / "node_modules" / "@morpho-org" / "morpho-blue" / "src"
#: The compiler release ``Morpho.sol`` asks for (``pragma solidity 0.8.19``, L2).
SOLC_PACKAGE = "solc-0.8.19"
#: Source units compiled together, named relative to ``src/`` so their relative imports resolve.
SOURCE_UNITS = ("Morpho.sol", "mocks/OracleMock.sol", "mocks/IrmMock.sol")
#: anvil account that deploys and owns Morpho (0 deploys Aave, 9 is the treasury, 10 deploys Venus).
DEPLOYER_INDEX = 11
#: anvil accounts of the scenario: the deployer supplies the loan token (after deploying), three
#: borrowers and the liquidator are accounts the Aave and Venus scenarios do not use.
PROVIDER_INDEX = DEPLOYER_INDEX
BORROWER_INDICES = (16, 17, 18)
LIQUIDATOR_INDEX = 8

#: Blocks mined after the last liquidation: finalized = head - 2 on the devchain.
FINALITY_BLOCKS = 3


@dataclass(frozen=True)
class MarketSpec:
    """A market the devchain creates: collateral and loan token symbols and LLTV (wad)."""

    name: str
    collateral: str
    loan: str
    lltv: int


#: Created in this order.
MARKET_SPECS: tuple[MarketSpec, ...] = (
    MarketSpec("WETH/USDC", "WETH", "USDC", 86 * 10**16),
    MarketSpec("WBTC/USDC", "WBTC", "USDC", 77 * 10**16),
)


class MarketState(NamedTuple):
    """``market(id)``: totals in loan-token base units and shares, ``lastUpdate`` (s), fee (wad)."""

    total_supply_assets: int
    total_supply_shares: int
    total_borrow_assets: int
    total_borrow_shares: int
    last_update: int
    fee: int


class PositionState(NamedTuple):
    """``position(id, user)``: supply and borrow shares, collateral in collateral base units."""

    supply_shares: int
    borrow_shares: int
    collateral: int


@dataclass(frozen=True)
class MorphoMarket:
    """One created market: its spec, params, id and oracle mock."""

    spec: MarketSpec
    params: MarketParams
    oracle: Contract

    @property
    def market_id(self) -> str:
        return self.params.market_id()

    @property
    def call_arg(self) -> tuple[ChecksumAddress, ChecksumAddress, ChecksumAddress, ChecksumAddress, int]:
        """The ``MarketParams`` tuple as web3 encodes it for ``supply``, ``borrow``, ``liquidate``..."""
        to_cs, p = Web3.to_checksum_address, self.params
        return to_cs(p.loan_token), to_cs(p.collateral_token), to_cs(p.oracle), to_cs(p.irm), p.lltv


def compile_morpho() -> dict[str, CompiledContract]:
    """``Morpho``, ``OracleMock``, ``IrmMock`` and ``EventsLib`` compiled with npm ``solc-0.8.19``
    (cached by :mod:`toolkit.devchain.solc` after the first run, about 5 s).

    :raises SolcError: the npm package or the compiler is missing, or compilation failed.
    """
    if not (MORPHO_SRC / "Morpho.sol").exists():
        raise SolcError(f"@morpho-org/morpho-blue not found at {MORPHO_SRC}; run 'npm ci' in the repository first")
    standard_input = {
        "language": "Solidity",
        "sources": {unit: {"content": (MORPHO_SRC / unit).read_text()} for unit in SOURCE_UNITS},
        "settings": {
            "optimizer": {"enabled": True, "runs": 200},
            "outputSelection": {"*": {"*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object"]}},
        },
    }
    output = compile_standard(standard_input, solc_package=SOLC_PACKAGE, import_roots=[MORPHO_SRC])
    wanted = {"Morpho": "Morpho.sol", "OracleMock": "mocks/OracleMock.sol", "IrmMock": "mocks/IrmMock.sol",
              "EventsLib": "libraries/EventsLib.sol"}
    compiled = {}
    for name, unit in wanted.items():
        entry = output["contracts"][unit][name]
        compiled[name] = CompiledContract(name=name, abi=entry["abi"],
                                          bytecode="0x" + entry["evm"]["bytecode"]["object"],
                                          deployed_bytecode="0x" + entry["evm"]["deployedBytecode"]["object"])
    return compiled


def oracle_answer(collateral_usd: Decimal, loan_usd: Decimal, collateral_decimals: int, loan_decimals: int) -> int:
    """The 1e36-scaled ``IOracle.price()`` for USD prices of one whole collateral and loan token:
    ``collateral_usd / loan_usd x 10^(36 + loan_decimals - collateral_decimals)``, exact.

    :raises UserInputError: when the prices do not give an integer answer.
    """
    value = Decimal(collateral_usd) / Decimal(loan_usd) * Decimal(10) ** (36 + loan_decimals - collateral_decimals)
    if value != value.to_integral_value() or value <= 0:
        raise UserInputError(f"price {collateral_usd}/{loan_usd} USD is not a positive integer at 1e36 scale")
    return int(value)


class MorphoMarkets:
    """The deployed Morpho singleton and its markets, plus the calls scenarios need.

    Amounts are raw integers in token base units; ``user`` arguments are anvil accounts (unlocked).
    """

    def __init__(self, devchain: Devchain, chain: Chain, morpho: Contract, irm: str, usdc_usd_feed: str,
                 markets: dict[str, MorphoMarket], start_block: int) -> None:
        self.devchain = devchain
        self.chain = chain
        self.morpho = morpho
        self.irm = irm
        self.usdc_usd_feed = usdc_usd_feed
        self.markets = markets
        self.start_block = start_block

    def market(self, name: str) -> MorphoMarket:
        """The market called ``name`` (``WETH/USDC``, ``WBTC/USDC``)."""
        try:
            return self.markets[name]
        except KeyError:
            raise UserInputError(f"no Morpho market {name!r}; created: {', '.join(self.markets)}") from None

    def addresses(self) -> dict[str, Any]:
        """Every address as JSON-able data."""
        return {
            "deployer": self.chain.deployer,
            "morpho": self.morpho.address,
            "irm": self.irm,
            "usdcUsdFeed": self.usdc_usd_feed,
            "startBlock": self.start_block,
            "markets": {name: {"id": m.market_id, "loanToken": m.params.loan_token,
                               "collateralToken": m.params.collateral_token, "oracle": m.params.oracle,
                               "irm": m.params.irm, "lltv": m.params.lltv} for name, m in self.markets.items()},
        }

    # -- reads ----------------------------------------------------------------------------------

    def market_state(self, name: str, block: BlockIdentifier = "latest") -> MarketState:
        """``market(id)`` at ``block`` (totals without interest accrued since ``lastUpdate``)."""
        return MarketState(*self.morpho.functions.market(self.market(name).market_id).call(block_identifier=block))

    def position(self, name: str, user: str, block: BlockIdentifier = "latest") -> PositionState:
        """``position(id, user)`` at ``block``."""
        market_id = self.market(name).market_id
        return PositionState(*self.morpho.functions.position(market_id, user).call(block_identifier=block))

    def price(self, name: str, block: BlockIdentifier = "latest") -> int:
        """``OracleMock.price()`` of the market at ``block`` (1e36-scaled, loan per collateral base unit)."""
        return self.market(name).oracle.functions.price().call(block_identifier=block)

    # -- actions --------------------------------------------------------------------------------

    def _approve(self, owner: str, symbol: str, amount: int) -> None:
        """``owner`` approves Morpho for every unit of token ``symbol`` unless ``amount`` is already
        allowed (read on chain, so it stays right across ``evm_revert``)."""
        erc20 = self.devchain.token(symbol)
        if erc20.functions.allowance(owner, self.morpho.address).call() < amount:
            self.chain.transact(erc20.functions.approve(self.morpho.address, MAX_UINT256), owner)

    def supply(self, user: str, name: str, assets: int) -> TxReceipt:
        """``user`` supplies ``assets`` of the loan token for itself (``Morpho.sol`` L169-L197)."""
        market = self.market(name)
        self._approve(user, market.spec.loan, assets)
        fn = self.morpho.functions.supply(market.call_arg, assets, 0, user, b"")
        return self.chain.transact(fn, user)

    def supply_collateral(self, user: str, name: str, assets: int) -> TxReceipt:
        """``user`` posts ``assets`` of the collateral token for itself (``Morpho.sol`` L303-L320)."""
        market = self.market(name)
        self._approve(user, market.spec.collateral, assets)
        fn = self.morpho.functions.supplyCollateral(market.call_arg, assets, user, b"")
        return self.chain.transact(fn, user)

    def borrow(self, user: str, name: str, assets: int) -> TxReceipt:
        """``user`` borrows ``assets`` of the loan token to itself (``Morpho.sol`` L235-L266)."""
        fn = self.morpho.functions.borrow(self.market(name).call_arg, assets, 0, user, user)
        return self.chain.transact(fn, user)

    def set_price(self, name: str, price: int) -> TxReceipt:
        """Set the market's ``OracleMock`` price (1e36-scaled, see :func:`oracle_answer`)."""
        return self.chain.transact(self.market(name).oracle.functions.setPrice(price))

    def liquidate(self, liquidator: str, name: str, borrower: str, *, seized_assets: int = 0,
                  repaid_shares: int = 0) -> TxReceipt:
        """Real ``liquidate`` from ``liquidator``, giving exactly one of ``seized_assets``
        (collateral base units) or ``repaid_shares`` (``Morpho.sol`` L347-L417). The liquidator
        approves Morpho for all its loan token first and must hold what the liquidation repays.
        """
        if (seized_assets == 0) == (repaid_shares == 0):
            raise UserInputError("give exactly one of seized_assets or repaid_shares, and make it positive")
        market = self.market(name)
        self._approve(liquidator, market.spec.loan, MAX_UINT256)
        fn = self.morpho.functions.liquidate(market.call_arg, borrower, seized_assets, repaid_shares, b"")
        return self.chain.transact(fn, liquidator)

    def liquidate_events(self, receipt: TxReceipt) -> list[Any]:
        """The ``Liquidate`` events of ``receipt``, decoded by web3 with the compiled ABI."""
        return list(self.morpho.events.Liquidate().process_receipt(receipt, errors=DISCARD))


def deploy_morpho(devchain: Devchain) -> MorphoMarkets:
    """Compile and deploy Morpho Blue with its mocks from account :data:`DEPLOYER_INDEX` and create
    the :data:`MARKET_SPECS` markets (see the module docstring for the order)."""
    compiled = compile_morpho()
    chain = Chain(devchain.url, deployer_index=DEPLOYER_INDEX)
    w3 = chain.w3

    def deploy(name: str, *args: Any, abi: list[dict[str, Any]] | None = None) -> Contract:
        factory = w3.eth.contract(abi=compiled[name].abi, bytecode=compiled[name].bytecode)
        receipt = chain.send(chain.deployer, factory.constructor(*args).data_in_transaction)
        contract = w3.eth.contract(address=receipt["contractAddress"], abi=abi or compiled[name].abi)
        chain.created_at[contract.address] = receipt["blockNumber"]
        return contract

    # Morpho's ABI from solc 0.8.19 omits the events emitted through EventsLib: add them.
    events = [e for e in compiled["EventsLib"].abi if e["type"] == "event"]
    morpho = deploy("Morpho", chain.deployer, abi=compiled["Morpho"].abi + events)
    irm = deploy("IrmMock")
    oracles = [deploy("OracleMock") for _ in MARKET_SPECS]
    usdc_feed = deploy_feed(chain, to_raw(TOKENS_BY_SYMBOL["USDC"].usd_price, USD_DECIMALS), Quote.USD)

    chain.transact(morpho.functions.enableIrm(irm.address))
    for spec in MARKET_SPECS:
        chain.transact(morpho.functions.enableLltv(spec.lltv))
    markets: dict[str, MorphoMarket] = {}
    for spec, oracle in zip(MARKET_SPECS, oracles):
        coll, loan = TOKENS_BY_SYMBOL[spec.collateral], TOKENS_BY_SYMBOL[spec.loan]
        chain.transact(oracle.functions.setPrice(oracle_answer(coll.usd_price, loan.usd_price, coll.decimals,
                                                                loan.decimals)))
        params = MarketParams(devchain.token(spec.loan).address.lower(),
                              devchain.token(spec.collateral).address.lower(),
                              oracle.address.lower(), irm.address.lower(), spec.lltv)
        market = MorphoMarket(spec, params, oracle)
        chain.transact(morpho.functions.createMarket(market.call_arg))
        markets[spec.name] = market
    return MorphoMarkets(devchain, chain, morpho, irm.address, usdc_feed.address, markets,
                         chain.created_at[morpho.address])


@dataclass(frozen=True)
class ScenarioLiquidation:
    """One liquidation of :func:`run_morpho_scenario`: who, where, and what is asked of ``liquidate``."""

    kind: str
    market: str
    borrower_index: int
    collateral: str
    borrow: str
    seize: str | None
    repay_share_fraction: Decimal | None


#: Positions and their liquidations, in human units. After the price drop (WETH $3,000 -> $2,700,
#: WBTC $60,000 -> $40,000) the first borrower may borrow 10 x 2,700 x 0.86 = 23,220 < 24,000 USDC
#: and loses 3 WETH; the second 11,610 < 12,500 and repays half its borrow shares; the third 30,800 <
#: 45,000 and loses its whole WBTC, which repays about 37,240 USDC (LIF 1/0.931), so the rest of its
#: debt is realized as bad debt.
SCENARIO: tuple[ScenarioLiquidation, ...] = (
    ScenarioLiquidation("plain", "WETH/USDC", BORROWER_INDICES[0], "10", "24000", "3", None),
    ScenarioLiquidation("plain", "WETH/USDC", BORROWER_INDICES[1], "5", "12500", None, Decimal("0.5")),
    ScenarioLiquidation("bad_debt", "WBTC/USDC", BORROWER_INDICES[2], "1", "45000", "1", None),
)
#: USD prices after the drop.
CRASH_USD: dict[str, Decimal] = {"WETH": Decimal(2700), "WBTC": Decimal(40000)}
#: Loan token supplied to each market by the liquidity provider, and held by the liquidator.
LIQUIDITY_USDC = "100000"
LIQUIDATOR_USDC = "100000"


def run_morpho_scenario(devchain: Devchain, markets: MorphoMarkets) -> list[dict[str, Any]]:
    """Open the :data:`SCENARIO` positions, drop the oracle prices, liquidate; one dict per liquidation.

    Each dict holds ``kind`` (``plain`` or ``bad_debt``), ``market`` (name), ``market_id``,
    ``tx_hash``, ``block_number``, ``borrower``, ``liquidator``, ``loan_token``, ``collateral_token``,
    ``seized_assets_requested`` / ``repaid_shares_requested`` (the argument given; 0 for the other)
    and the ``Liquidate`` event values as web3 decoded them (``repaid_assets``, ``repaid_shares``,
    ``seized_assets``, ``bad_debt_assets``, ``bad_debt_shares``).

    :raises ToolkitError: when a bad-debt liquidation realizes none or a plain one realizes some
        (a guard against changed parameters; the devchain is deterministic).
    """
    accounts = devchain.accounts
    provider, liquidator = accounts[PROVIDER_INDEX], accounts[LIQUIDATOR_INDEX]
    for name, market in markets.markets.items():
        raw = devchain.to_raw(market.spec.loan, LIQUIDITY_USDC)
        devchain.fund(provider, market.spec.loan, raw)
        markets.supply(provider, name, raw)
    devchain.fund(liquidator, "USDC", devchain.to_raw("USDC", LIQUIDATOR_USDC))
    for item in SCENARIO:
        borrower = accounts[item.borrower_index]
        spec = markets.market(item.market).spec
        collateral = devchain.to_raw(spec.collateral, item.collateral)
        devchain.fund(borrower, spec.collateral, collateral)
        markets.supply_collateral(borrower, item.market, collateral)
        markets.borrow(borrower, item.market, devchain.to_raw(spec.loan, item.borrow))

    for name, market in markets.markets.items():
        coll, loan = TOKENS_BY_SYMBOL[market.spec.collateral], TOKENS_BY_SYMBOL[market.spec.loan]
        markets.set_price(name, oracle_answer(CRASH_USD[coll.symbol], loan.usd_price, coll.decimals, loan.decimals))

    out = []
    for item in SCENARIO:
        borrower = accounts[item.borrower_index]
        market = markets.market(item.market)
        seized = devchain.to_raw(market.spec.collateral, item.seize) if item.seize is not None else 0
        shares = 0
        if item.repay_share_fraction is not None:
            owed = markets.position(item.market, borrower).borrow_shares
            shares = int(owed * item.repay_share_fraction)
        receipt = markets.liquidate(liquidator, item.market, borrower, seized_assets=seized, repaid_shares=shares)
        (event,) = markets.liquidate_events(receipt)
        if (event.args.badDebtAssets > 0) != (item.kind == "bad_debt"):
            raise ToolkitError(f"Morpho scenario: {item.kind} liquidation of account {item.borrower_index} "
                               f"realized {event.args.badDebtAssets} bad debt, against its design")
        out.append({
            "kind": item.kind,
            "market": item.market,
            "market_id": market.market_id,
            "tx_hash": receipt["transactionHash"].to_0x_hex(),
            "block_number": receipt["blockNumber"],
            "borrower": borrower,
            "liquidator": liquidator,
            "loan_token": market.params.loan_token,
            "collateral_token": market.params.collateral_token,
            "seized_assets_requested": seized,
            "repaid_shares_requested": shares,
            "repaid_assets": event.args.repaidAssets,
            "repaid_shares": event.args.repaidShares,
            "seized_assets": event.args.seizedAssets,
            "bad_debt_assets": event.args.badDebtAssets,
            "bad_debt_shares": event.args.badDebtShares,
        })
    devchain.mine(FINALITY_BLOCKS)
    return out
