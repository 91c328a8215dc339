"""Positions, prices and liquidations on one deployed Aave market (v3 Pool or v2 LendingPool).

Aave v2 and v3 share the calls the scenarios need, with the same argument order:

* ``borrow(asset, amount, interestRateMode, referralCode, onBehalfOf)``
  (v3 ``contracts/interfaces/IPool.sol`` L304-L310;
  v2 ``contracts/interfaces/ILendingPool.sol`` L220-L226);
* ``liquidationCall(collateralAsset, debtAsset, user, debtToCover, receiveAToken)``
  (v3 ``IPool.sol`` L412-L418; v2 ``ILendingPool.sol`` L283-L289);
* ``getUserAccountData(user)`` -> (totalCollateral, totalDebt, availableBorrows,
  currentLiquidationThreshold, ltv, healthFactor) in the oracle's base currency
  (v3: USD, 8 decimals; v2: ETH, 18 decimals), bps, bps and wad
  (v3 ``IPool.sol`` L477-L489; v2 ``ILendingPool.sol`` L328-L338);

and differ only in the name of the supply call: v3 ``supply`` (``IPool.sol`` L248), v2 ``deposit``
(``ILendingPool.sol`` L181-L186). All amounts here are raw integers in the token's smallest unit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

from eth_typing import ChecksumAddress
from web3.contract import Contract
from web3.types import BlockIdentifier, TxReceipt

from toolkit.devchain.assets import TOKEN, Quote, deploy_feed
from toolkit.devchain.chain import Chain
from toolkit.errors import UserInputError

#: ``interestRateMode`` 2 = variable rate: ``enum InterestRateMode {NONE, STABLE, VARIABLE}``
#: (v3 ``contracts/protocol/libraries/types/DataTypes.sol`` L82; v2 ``DataTypes.sol`` L48).
VARIABLE_RATE = 2


@dataclass(frozen=True)
class ReserveParams:
    """Risk parameters of one reserve, all in bps (10000 = 100 %).

    :ivar liquidation_bonus: includes the 100 % (10500 = 5 % bonus), as stored on chain.
    :ivar liquidation_protocol_fee: share of the bonus sent to the treasury (v3 only; 0 on v2).
    """

    ltv: int
    liquidation_threshold: int
    liquidation_bonus: int
    reserve_factor: int
    liquidation_protocol_fee: int = 0


@dataclass(frozen=True)
class Reserve:
    """The token contracts of one listed reserve."""

    symbol: str
    decimals: int
    underlying: ChecksumAddress
    a_token: ChecksumAddress
    stable_debt_token: ChecksumAddress
    variable_debt_token: ChecksumAddress
    interest_rate_strategy: ChecksumAddress

    def to_json(self) -> dict[str, Any]:
        """The reserve as JSON-able data (Aave's camelCase names)."""
        return {
            "symbol": self.symbol,
            "decimals": self.decimals,
            "underlying": self.underlying,
            "aToken": self.a_token,
            "stableDebtToken": self.stable_debt_token,
            "variableDebtToken": self.variable_debt_token,
            "interestRateStrategy": self.interest_rate_strategy,
        }


class FeedRecord(NamedTuple):
    """A price feed and the first block at which the oracle used it."""

    address: ChecksumAddress
    from_block: int


class AccountData(NamedTuple):
    """``getUserAccountData`` of one user; values in the market's base currency units."""

    total_collateral: int
    total_debt: int
    available_borrows: int
    liquidation_threshold: int
    ltv: int
    health_factor: int


class AaveMarket:
    """A deployed Aave market plus the calls that open positions, move prices and liquidate.

    :param name: ``"aave_v3"`` or ``"aave_v2"``.
    :param pool: the Pool / LendingPool **proxy** (emits ``LiquidationCall``).
    :param oracle: the market's AaveOracle (owner/pool admin: the chain's deployer).
    :param quote: currency of the oracle's prices (v3 USD 1e8, v2 ETH 1e18).
    :param supply_function: ``"supply"`` (v3) or ``"deposit"`` (v2).
    :param addresses: every deployed address of the market (JSON-able), see :meth:`addresses`.
    :param start_block: block of the Pool proxy creation.
    :param price_feeds: the oracle's source per reserve symbol at deployment;
        :attr:`price_feeds` then keeps every source each symbol had, oldest first.
    """

    def __init__(
        self,
        *,
        name: str,
        chain: Chain,
        pool: Contract,
        oracle: Contract,
        quote: Quote,
        supply_function: str,
        reserves: dict[str, Reserve],
        addresses: dict[str, Any],
        start_block: int,
        price_feeds: dict[str, FeedRecord],
    ) -> None:
        self.name = name
        self.chain = chain
        self.pool = pool
        self.oracle = oracle
        self.quote = quote
        self.supply_function = supply_function
        self.reserves = reserves
        self.start_block = start_block
        self._addresses = addresses
        self.price_feeds: dict[str, list[FeedRecord]] = {
            symbol: [record] for symbol, record in price_feeds.items()
        }

    # -- lookups --------------------------------------------------------------------------------

    def reserve(self, symbol: str) -> Reserve:
        """The reserve listed under ``symbol`` (``WETH``, ``WBTC``, ``USDC``)."""
        try:
            return self.reserves[symbol]
        except KeyError:
            raise UserInputError(
                f"{self.name} has no reserve {symbol!r}; listed: {', '.join(self.reserves)}"
            ) from None

    def addresses(self) -> dict[str, Any]:
        """Every address of the market as JSON-able data (the price feeds in force now included)."""
        out = dict(self._addresses)
        out["reserves"] = {s: r.to_json() for s, r in self.reserves.items()}
        out["priceFeeds"] = {s: feeds[-1].address for s, feeds in self.price_feeds.items()}
        out["priceFeedHistory"] = {
            s: [{"address": f.address, "fromBlock": f.from_block} for f in feeds]
            for s, feeds in self.price_feeds.items()
        }
        out["startBlock"] = self.start_block
        return out

    def feed_state(self) -> Any:
        """A copy of the price-feed history, for :meth:`restore_feed_state` after ``evm_revert``."""
        return {symbol: list(feeds) for symbol, feeds in self.price_feeds.items()}

    def restore_feed_state(self, state: Any) -> None:
        """Restore a history saved by :meth:`feed_state`."""
        self.price_feeds = {symbol: list(feeds) for symbol, feeds in state.items()}

    def token(self, address: str) -> Contract:
        """An ERC-20 handle (underlying, aToken or debt token) at ``address``."""
        return self.chain.at(TOKEN, address)

    # -- reads ----------------------------------------------------------------------------------

    def account_data(self, user: str, block: BlockIdentifier = "latest") -> AccountData:
        """``getUserAccountData(user)`` at ``block`` (base-currency units, bps, HF in wad)."""
        return AccountData(*self.pool.functions.getUserAccountData(user).call(block_identifier=block))

    def account_data_in_block(self, user: str, *, state_block: int, number: int, timestamp: int) -> AccountData:
        """``getUserAccountData(user)`` on the post-state of ``state_block``, run in the context of block
        ``number`` at ``timestamp`` (the node's own ``eth_call`` block override): what the first transaction of
        that block saw, interest accrued to its time."""
        fn = self.pool.functions.getUserAccountData(user)
        w3 = self.pool.w3
        data = w3.eth.contract(abi=fn.contract_abi).encode_abi(fn.abi_element_identifier, args=fn.args)
        answer = w3.manager.request_blocking("eth_call", [{"to": self.pool.address, "data": data}, hex(state_block),
                                                          {}, {"number": hex(number), "time": hex(timestamp)}])
        return AccountData(*(int(answer[2 + 64 * i:66 + 64 * i], 16) for i in range(6)))

    def debt_balance(self, user: str, symbol: str, block: BlockIdentifier = "latest") -> int:
        """Variable debt of ``user`` in ``symbol`` at ``block`` (raw units, interest included)."""
        token = self.token(self.reserve(symbol).variable_debt_token)
        return token.functions.balanceOf(user).call(block_identifier=block)

    def a_token_balance(self, user: str, symbol: str, block: BlockIdentifier = "latest") -> int:
        """aToken balance (supplied amount plus interest) of ``user`` in ``symbol`` at ``block``."""
        token = self.token(self.reserve(symbol).a_token)
        return token.functions.balanceOf(user).call(block_identifier=block)

    def price(self, symbol: str, block: BlockIdentifier = "latest") -> int:
        """``AaveOracle.getAssetPrice`` of ``symbol`` at ``block`` (raw, in :attr:`quote` units)."""
        asset = self.reserve(symbol).underlying
        return self.oracle.functions.getAssetPrice(asset).call(block_identifier=block)

    # -- actions --------------------------------------------------------------------------------

    def approve(self, owner: str, symbol: str, amount: int) -> TxReceipt:
        """``owner`` approves the pool to pull ``amount`` raw units of the underlying ``symbol``."""
        underlying = self.token(self.reserve(symbol).underlying)
        return self.chain.transact(underlying.functions.approve(self.pool.address, amount), owner)

    def supply(self, user: str, symbol: str, amount: int) -> TxReceipt:
        """``user`` supplies ``amount`` raw units of ``symbol`` for itself (approve, supply/deposit)."""
        self.approve(user, symbol, amount)
        fn = getattr(self.pool.functions, self.supply_function)
        return self.chain.transact(fn(self.reserve(symbol).underlying, amount, user, 0), user)

    def borrow(self, user: str, symbol: str, amount: int) -> TxReceipt:
        """``user`` borrows ``amount`` raw units of ``symbol`` at the variable rate."""
        asset = self.reserve(symbol).underlying
        return self.chain.transact(
            self.pool.functions.borrow(asset, amount, VARIABLE_RATE, 0, user), user
        )

    def set_user_emode(self, user: str, category: int) -> TxReceipt:
        """``user`` enters e-mode ``category`` (0 leaves it): ``Pool.setUserEMode`` (v3 only;
        ``IPool.sol`` of @aave/core-v3 and of aave-v3-origin)."""
        return self.chain.transact(self.pool.functions.setUserEMode(category), user)

    def liquidate(
        self,
        liquidator: str,
        collateral: str,
        debt: str,
        user: str,
        debt_to_cover: int,
        receive_a_token: bool,
    ) -> TxReceipt:
        """Real ``liquidationCall`` from ``liquidator``, who must hold the debt token.

        The liquidator first approves the pool for ``debt_to_cover`` raw units of ``debt``
        (pass :data:`~toolkit.devchain.assets.MAX_UINT256` to cover as much as the close factor
        allows). Returns the receipt; its ``LiquidationCall`` log is emitted by the pool proxy.
        """
        self.approve(liquidator, debt, debt_to_cover)
        fn = self.pool.functions.liquidationCall(
            self.reserve(collateral).underlying,
            self.reserve(debt).underlying,
            user,
            debt_to_cover,
            receive_a_token,
        )
        return self.chain.transact(fn, liquidator)

    def liquidation_record(self, receipt: TxReceipt, user: str, liquidator: str, collateral: str, debt: str,
                           debt_to_cover: int, receive_a_token: bool, health_factor_before: int) -> dict[str, Any]:
        """What a scenario returns about one liquidation it sent (JSON-able; see
        :func:`toolkit.devchain.run_demo_scenario`)."""
        return {
            "market": self.name,
            "pool": self.pool.address,
            "tx_hash": receipt["transactionHash"].to_0x_hex(),
            "block_number": receipt["blockNumber"],
            "user": user,
            "liquidator": liquidator,
            "collateral_asset": self.reserve(collateral).underlying,
            "debt_asset": self.reserve(debt).underlying,
            "collateral_symbol": collateral,
            "debt_symbol": debt,
            "debt_to_cover": debt_to_cover,
            "receive_a_token": receive_a_token,
            "health_factor_before": health_factor_before,
        }

    def set_price(self, symbol: str, answer: int) -> ChecksumAddress:
        """Move the oracle price of ``symbol`` to ``answer`` (raw, :attr:`quote` decimals).

        MockAggregator has no setter, so this deploys a new MockAggregator answering ``answer``
        and calls ``AaveOracle.setAssetSources([asset], [feed])`` from the deployer (v3: pool
        admin, ``AaveOracle.sol`` L64-L69; v2: owner, ``AaveOracle.sol`` L49-L55). Returns the
        new feed's address.
        """
        asset = self.reserve(symbol).underlying
        feed = deploy_feed(self.chain, answer, self.quote)
        receipt = self.chain.transact(self.oracle.functions.setAssetSources([asset], [feed.address]))
        self.price_feeds[symbol].append(FeedRecord(feed.address, receipt["blockNumber"]))
        return feed.address


__all__ = [
    "VARIABLE_RATE",
    "AaveMarket",
    "AccountData",
    "FeedRecord",
    "Reserve",
    "ReserveParams",
]
