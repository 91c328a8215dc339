"""The replay's keeper: at each step, find every liquidatable position with the protocols' own view functions
and liquidate it with real transactions, within each protocol's rules.

Reading (:meth:`Keeper.states`, one JSON-RPC batch of ``eth_call`` per pass):

* Aave v3 / v2: ``Pool.getUserAccountData(user)`` health factor (liquidatable below 1e18, ``ValidationLogic``
  ``validateLiquidationCall``), the aToken balance of each collateral and the variable-debt token balance of USDC;
* Venus: ``Comptroller.getAccountLiquidity(user)`` shortfall (liquidatable when positive,
  ``PolicyFacet.liquidateBorrowAllowed``) and ``VToken.getAccountSnapshot(user)`` of each market the position
  uses (vToken balance, stored borrow balance, exchange rate);
* Morpho Blue: ``position(id, user)``, ``market(id)`` and the market oracle's ``price()``, with the terms of
  ``Morpho._isHealthy`` (``Morpho.sol`` L527-L540: ``borrowShares.toAssetsUp(...) >
  collateral x price / 1e36 x LLTV``): liquidatable when the borrow exceeds that limit. The market's totals are
  read without the interest accrued since its last update, so a position that becomes unhealthy by interest
  alone is found one step later.

Liquidating (:meth:`Keeper.step`), repaying USDC from anvil account :data:`KEEPER_INDEX`, which holds enough
USDC to repay every debt twice; the seized collateral is kept (no swap):

* Aave v3 / v2: ``liquidationCall(collateral, USDC, user, type(uint256).max, receiveAToken=false)``, as
  :meth:`toolkit.devchain.market.AaveMarket.liquidate` sends it but without its approval per call (the keeper
  approved every pool once): the pool caps the repayment at the close factor (v3: 50 %, 100 % at HF <= 0.95;
  v2: always 50 %) and at what the collateral covers with the bonus;
* Venus: ``VBep20.liquidateBorrow(user, repay, vTokenCollateral)``, its error code checked with ``eth_call``
  first (:func:`toolkit.devchain.venus.succeed`), with ``repay`` = close factor (0.5) x the stored borrow
  balance, lowered in proportion when ``Comptroller.liquidateCalculateSeizeTokens`` says the seizure would
  exceed the borrower's vTokens of that collateral (the comptroller refuses that);
* Morpho Blue (no close factor): ``liquidate`` repaying all the borrow shares when the collateral covers them
  with the incentive, else seizing all the collateral, which realizes the rest as bad debt
  (``Morpho.sol`` L388-L403); whichever ``eth_call`` accepts first.

The collateral seized is the one with the largest value at the step's prices. A position is liquidated again
in the same step while it stays liquidatable, up to :data:`MAX_PASSES` times (the block-by-block behaviour of
competing liquidators, compressed into one step). A position with debt but no collateral left (or, on Venus,
vToken dust too small to repay one base unit of USDC after a seizure rounded down) cannot be liquidated: its
debt is bad debt, kept on the account by Aave v2/v3.0 and Venus (``bad_debt_mechanism`` ``none_recorded``) and
valued by :meth:`Keeper.states` at the end of the replay. A liquidation that reverts is not retried in that step
and is reported (:attr:`Keeper.failures`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from typing import Any, Protocol, TypeVar

from eth_abi import decode, encode
from eth_utils import function_abi_to_4byte_selector, get_abi_output_types, keccak
from web3 import Web3
from web3.contract.contract import ContractFunction
from web3.exceptions import ContractLogicError
from web3.types import RPCEndpoint

from toolkit.crash.events import ASSET_TOKENS
from toolkit.crash.population import STABLE, Borrower
from toolkit.devchain import Devchain
from toolkit.devchain.assets import MAX_UINT256, TOKENS_BY_SYMBOL
from toolkit.devchain.chain import TransactionFailed
from toolkit.devchain.venus import succeed
from toolkit.errors import ToolkitError
from toolkit.protocols.morpho_blue import ORACLE_PRICE_SCALE, WAD, to_assets_up

#: anvil account that repays debt and receives collateral (no other devchain scenario runs in a replay).
KEEPER_INDEX = 7
#: Liquidations of one position in one step, at most (module docstring).
MAX_PASSES = 5
#: USDC the keeper holds, as a multiple of the population's total debt.
KEEPER_FUNDS_FACTOR = 2
#: Rounds of lowering a Venus repayment until its seizure fits the collateral.
_SEIZE_FIT_ROUNDS = 8


@dataclass(frozen=True)
class PositionState:
    """A position at the current prices: collateral value per token and debt in USD (exact), whether its
    protocol lets it be liquidated now, the collateral it holds in protocol units (aToken or underlying base
    units, vTokens, Morpho collateral) and its USDC debt (base units; Morpho: borrow shares)."""

    collateral_usd: dict[str, Fraction]
    debt_usd: Fraction
    liquidatable: bool
    balances: dict[str, int]
    debt_raw: int

    @property
    def total_collateral_usd(self) -> Fraction:
        return sum(self.collateral_usd.values(), Fraction(0))

    @property
    def shortfall_usd(self) -> Fraction:
        """Debt not covered by the collateral (0 for a solvent position)."""
        return max(Fraction(0), self.debt_usd - self.total_collateral_usd)

    def seize_symbol(self) -> str | None:
        """The held collateral with the largest value (the volatile one on a tie), or ``None``."""
        held = [s for s, amount in self.balances.items() if amount > 0]
        return max(held, key=lambda s: (self.collateral_usd[s], s != STABLE)) if held else None


#: ``Transfer(address indexed from, address indexed to, uint256 value)`` of ERC-20 (EIP-20).
TRANSFER_TOPIC = "0x" + keccak(text="Transfer(address,address,uint256)").hex()


@dataclass(frozen=True)
class TokenTransfer:
    """One ERC-20 ``Transfer`` log of a receipt: token (emitter), from, to (lower-case) and raw amount."""

    token: str
    sender: str
    recipient: str
    amount: int


def token_transfers(receipt: Any) -> tuple[TokenTransfer, ...]:
    """Every ERC-20 ``Transfer`` log of ``receipt``, in log order (ERC-721 transfers, with 4 topics, excluded)."""
    out = []
    for log in receipt["logs"]:
        topics = [t.to_0x_hex() if hasattr(t, "to_0x_hex") else str(t) for t in log["topics"]]
        if len(topics) == 3 and topics[0] == TRANSFER_TOPIC:
            data = log["data"].hex() if isinstance(log["data"], bytes) else str(log["data"]).removeprefix("0x")
            out.append(TokenTransfer(str(log["address"]).lower(), "0x" + topics[1][-40:], "0x" + topics[2][-40:],
                                     int(data, 16)))
    return tuple(out)


@dataclass(frozen=True)
class KeeperAction:
    """One liquidation the keeper sent: step, position, protocol, collateral seized, transaction and block,
    and the ERC-20 transfers its receipt holds (what actually moved)."""

    step: int
    index: int
    protocol: str
    collateral_symbol: str
    tx_hash: str
    block_number: int
    transfers: tuple[TokenTransfer, ...]


@dataclass(frozen=True)
class KeeperFailure:
    """A liquidation that reverted, and why."""

    step: int
    index: int
    protocol: str
    reason: str


def _usd(prices: Mapping[str, Decimal], symbol: str) -> Fraction:
    return Fraction(1) if symbol == STABLE else Fraction(prices[symbol])


@dataclass(frozen=True)
class _Read:
    """One view call, encoded once: which position and value it is for, target, calldata, output types."""

    index: int
    key: str
    to: str
    data: str
    types: tuple[str, ...]


def _encoded(index: int, key: str, fn: ContractFunction) -> _Read:
    """``fn`` (a bound contract call) as a :class:`_Read`: selector and ABI-encoded arguments."""
    inputs = [arg["type"] for arg in fn.abi["inputs"]]
    data = function_abi_to_4byte_selector(fn.abi) + encode(inputs, list(fn.args))
    return _Read(index, key, fn.address, "0x" + data.hex(), tuple(get_abi_output_types(fn.abi)))


def _batch(w3: Web3, reads: Sequence[_Read]) -> list[tuple[Any, ...]]:
    """The decoded results of ``reads`` from one JSON-RPC batch of ``eth_call`` at ``latest``."""
    responses = w3.provider.make_batch_request(
        [(RPCEndpoint("eth_call"), [{"to": r.to, "data": r.data}, "latest"]) for r in reads])
    if not isinstance(responses, list) or len(responses) != len(reads):
        raise ToolkitError(f"the devchain answered a batch of {len(reads)} eth_call with {responses!r:.200}")
    out = []
    for read, response in zip(reads, responses, strict=True):
        if "error" in response:
            raise ToolkitError(f"eth_call {read.key} of position {read.index} failed: {response['error']}")
        out.append(decode(list(read.types), bytes.fromhex(str(response["result"]).removeprefix("0x"))))
    return out


class Liquidatable(Protocol):
    """What :func:`liquidation_passes` needs of a position: its index in the population and its protocol."""

    index: int
    protocol: str


P = TypeVar("P", bound=Liquidatable)


def liquidation_passes(step: int, due: Callable[[set[int]], list[P]], liquidate: Callable[[P], KeeperAction | None],
                       failures: list[KeeperFailure]) -> list[KeeperAction]:
    """Up to :data:`MAX_PASSES` passes over the positions ``due`` says are liquidatable (given the indexes settled so
    far): each is liquidated once per pass; one that ``liquidate`` cannot take (``None``) or whose transaction
    reverts (recorded in ``failures``) is settled for the step. Returns the liquidations sent."""
    actions: list[KeeperAction] = []
    settled: set[int] = set()
    for _ in range(MAX_PASSES):
        found = due(settled)
        if not found:
            break
        for item in found:
            try:
                action = liquidate(item)
            except TransactionFailed as exc:
                failures.append(KeeperFailure(step, item.index, item.protocol, str(exc)))
                action = None
            if action is None:
                settled.add(item.index)
            else:
                actions.append(action)
    return actions


class Keeper:
    """Finds and liquidates the liquidatable positions of ``borrowers`` (module docstring)."""

    def __init__(self, devchain: Devchain, borrowers: Sequence[Borrower]) -> None:
        assert devchain.venus is not None and devchain.morpho is not None
        self.devchain = devchain
        self.venus = devchain.venus
        self.morpho = devchain.morpho
        self.borrowers = list(borrowers)
        self.address = devchain.accounts[KEEPER_INDEX]
        #: Every liquidation sent and every one that reverted, in order.
        self.actions: list[KeeperAction] = []
        self.failures: list[KeeperFailure] = []
        #: Every view call :meth:`states` makes, encoded once.
        self._plan = [_encoded(b.index, key, fn) for b in self.borrowers for key, fn in self._reads(b)]

    def fund(self) -> None:
        """Mint the keeper's USDC (:data:`KEEPER_FUNDS_FACTOR` x the population's debt) and approve, once and for
        all, every contract a liquidation pulls it from: the Aave v3 and v2 pools, the Venus vUSDC and Morpho."""
        total = sum(b.debt_raw for b in self.borrowers)
        usdc = self.devchain.token(STABLE)
        self.devchain.fund(self.address, STABLE, total * KEEPER_FUNDS_FACTOR)
        for spender in (self.devchain.v3.pool.address, self.devchain.v2.pool.address,
                        self.venus.market(STABLE).address, self.morpho.morpho.address):
            self.devchain.chain.transact(usdc.functions.approve(spender, MAX_UINT256), self.address)

    # -- reading ----------------------------------------------------------------------------------

    def states(self, prices: Mapping[str, Decimal]) -> dict[int, PositionState]:
        """Every position's :class:`PositionState` at ``prices`` (USD by token symbol; module docstring)."""
        by_position: dict[int, dict[str, Any]] = {b.index: {} for b in self.borrowers}
        for read, answer in zip(self._plan, _batch(self.devchain.chain.w3, self._plan), strict=True):
            by_position[read.index][read.key] = answer if len(answer) > 1 else answer[0]
        return {b.index: self._state(b, by_position[b.index], prices) for b in self.borrowers}

    def _reads(self, b: Borrower) -> list[tuple[str, ContractFunction]]:
        if b.protocol in ("aave-v3", "aave-v2"):
            market = self._aave(b)
            reads = [("account", market.pool.functions.getUserAccountData(b.address)),
                     ("debt", market.token(market.reserve(STABLE).variable_debt_token).functions.balanceOf(b.address))]
            return reads + [(f"a:{s}", market.token(market.reserve(s).a_token).functions.balanceOf(b.address))
                            for s in b.collateral_symbols]
        if b.protocol == "venus":
            symbols = dict.fromkeys((*b.collateral_symbols, STABLE))
            return [("liquidity", self.venus.comptroller.functions.getAccountLiquidity(b.address))] + [
                (f"v:{s}", self.venus.market(s).vtoken.functions.getAccountSnapshot(b.address)) for s in symbols]
        market = self.morpho.market(b.morpho_market)
        functions, market_id = self.morpho.morpho.functions, bytes.fromhex(market.market_id.removeprefix("0x"))
        return [("position", functions.position(market_id, b.address)),
                ("market", functions.market(market_id)), ("price", market.oracle.functions.price())]

    def _aave(self, b: Borrower) -> Any:
        return self.devchain.v3 if b.protocol == "aave-v3" else self.devchain.v2

    def _state(self, b: Borrower, read: dict[str, Any], prices: Mapping[str, Decimal]) -> PositionState:
        if b.protocol in ("aave-v3", "aave-v2"):
            balances = {s: read[f"a:{s}"] for s in b.collateral_symbols}
            values = {s: Fraction(n, 10 ** TOKENS_BY_SYMBOL[s].decimals) * _usd(prices, s) for s, n in balances.items()}
            collateral_base, debt_base, *_, health = read["account"]
            liquidatable = health < WAD and collateral_base > 0 and debt_base > 0
            return PositionState(values, Fraction(read["debt"], 10**6), liquidatable, balances, read["debt"])
        if b.protocol == "venus":
            _, _, shortfall = read["liquidity"]
            balances, values = {}, {}
            for s in b.collateral_symbols:
                _, vtokens, _, rate = read[f"v:{s}"]
                balances[s] = vtokens
                values[s] = Fraction(vtokens * rate, WAD * 10 ** TOKENS_BY_SYMBOL[s].decimals) * _usd(prices, s)
            borrowed = read[f"v:{STABLE}"][2]
            liquidatable = shortfall > 0 and any(balances.values())
            return PositionState(values, Fraction(borrowed, 10**6), liquidatable, balances, borrowed)
        _, shares, collateral = read["position"]
        _, _, total_assets, total_shares, _, _ = read["market"]
        borrowed = to_assets_up(shares, total_assets, total_shares)
        lltv = self.morpho.market(b.morpho_market).params.lltv
        max_borrow = collateral * read["price"] // ORACLE_PRICE_SCALE * lltv // WAD
        symbol = b.collateral_symbol
        value = Fraction(collateral, 10 ** TOKENS_BY_SYMBOL[symbol].decimals) * _usd(prices, symbol)
        return PositionState({symbol: value}, Fraction(borrowed, 10**6), collateral > 0 and max_borrow < borrowed,
                             {symbol: collateral}, shares)

    # -- liquidating ------------------------------------------------------------------------------

    def step(self, step: int, prices: Mapping[str, Decimal]) -> list[KeeperAction]:
        """Liquidate every liquidatable position at the current oracle prices (module docstring); ``prices``
        are the step's USD prices by asset (``ETH``, ``BTC``)."""
        usd = {ASSET_TOKENS[asset]: price for asset, price in prices.items()}
        states: dict[int, PositionState] = {}

        def due(settled: set[int]) -> list[Borrower]:
            states.update(self.states(usd))
            return [b for b in self.borrowers if states[b.index].liquidatable and b.index not in settled]

        actions = liquidation_passes(step, due, lambda b: self._liquidate(step, b, states[b.index]), self.failures)
        self.actions.extend(actions)
        return actions

    def _liquidate(self, step: int, b: Borrower, state: PositionState) -> KeeperAction | None:
        """One liquidation of ``b``; ``None`` when the collateral left is too little to repay one base unit
        (Venus dust after a seizure rounded down): nothing a liquidator can take, its debt is bad debt."""
        symbol = state.seize_symbol()
        assert symbol is not None  # liquidatable positions hold collateral
        chain = self.devchain.chain
        if b.protocol in ("aave-v3", "aave-v2"):
            market = self._aave(b)
            receipt = chain.transact(market.pool.functions.liquidationCall(
                market.reserve(symbol).underlying, market.reserve(STABLE).underlying, b.address, MAX_UINT256, False),
                self.address)
        elif b.protocol == "venus":
            repay = self._venus_repay(b, state, symbol)
            if repay == 0:
                return None
            receipt = succeed(self.venus.chain, self.venus.market(STABLE).vtoken.functions.liquidateBorrow(
                b.address, repay, self.venus.market(symbol).address), self.address)
        else:
            receipt = self._morpho_liquidate(b, state)
        return KeeperAction(step, b.index, b.protocol, symbol, receipt["transactionHash"].to_0x_hex(),
                            receipt["blockNumber"], token_transfers(receipt))

    def _venus_repay(self, b: Borrower, state: PositionState, symbol: str) -> int:
        """Close factor x stored borrow, lowered until the seizure fits the vTokens held (module docstring);
        0 when not even one base unit fits."""
        close_factor = self.venus.comptroller.functions.closeFactorMantissa().call()
        repay = state.debt_raw * close_factor // WAD
        borrowed, collateral = self.venus.market(STABLE).address, self.venus.market(symbol).address
        held = state.balances[symbol]
        for _ in range(_SEIZE_FIT_ROUNDS):
            _, seize = self.venus.comptroller.functions.liquidateCalculateSeizeTokens(
                borrowed, collateral, repay).call()
            if seize <= held or repay == 0:
                break
            repay = max(0, min(repay - 1, repay * held // seize))
        return repay

    def _morpho_liquidate(self, b: Borrower, state: PositionState) -> Any:
        """Repay all borrow shares if ``eth_call`` accepts it, else seize all the collateral."""
        market = self.morpho.market(b.morpho_market)
        try:
            self.morpho.morpho.functions.liquidate(market.call_arg, b.address, 0, state.debt_raw, b"").call(
                {"from": self.address})
        except ContractLogicError:
            return self.morpho.liquidate(self.address, b.morpho_market, b.address,
                                         seized_assets=state.balances[b.collateral_symbol])
        return self.morpho.liquidate(self.address, b.morpho_market, b.address, repaid_shares=state.debt_raw)
