"""Compound v2 and its forks (Venus): ``LiquidateBorrow`` logs to normalized rows, enriched at the block before.

Sources: docs/sources/compound.md#compound-v2-liquidateborrow (Compound v2, ``compound-finance/compound-protocol``)
and the Venus core pool code of ``@venusprotocol/venus-protocol@9.2.0`` (``contracts/``), which the
devchain deploys.

* Event: ``LiquidateBorrow(address liquidator, address borrower, uint repayAmount,
  address cTokenCollateral, uint seizeTokens)``, nothing indexed, emitted by the **borrowed** cToken
  (``CTokenInterfaces.sol`` L151, ``CToken.sol`` L775; Venus ``VToken.sol`` L1344, same topic0).
  ``market_id`` is the emitter; ``repayAmount`` is in the borrowed underlying's base units,
  ``seizeTokens`` in cTokens of ``cTokenCollateral`` (``collateral_token``). The liquidator always
  receives cTokens, so ``receive_a_token`` is true.
* Underlyings: ``underlying()`` of each cToken at ``state_block``. Markets of the chain's native coin
  (cETH, vBNB) have none; the registry lists them in ``params.native_markets`` and their asset is
  :data:`NATIVE_ASSET` with ``params.native_symbol`` and 18 decimals. ``liqtk decode`` leaves
  ``debt_asset``, ``collateral_asset`` and ``collateral_seized_raw`` null (they need the state).
* Exchange rate: ``liquidateBorrow`` first accrues interest on both markets (``CToken.sol``
  ``liquidateBorrowInternal``; ``VToken.sol`` L1242-L1252), and the seize uses the collateral's
  ``exchangeRateStored()`` *after* that accrual. The rate is therefore rebuilt exactly from the
  state at ``state_block`` by replaying ``accrueInterest`` to ``block_number``
  (:func:`accrued_exchange_rate`; ``VToken.sol`` L410-L527, ``exchangeRateStoredInternal``
  L1644-L1674): interest = borrowRatePerBlock x blocks x totalBorrows / 1e18, reserves +=
  reserveFactor x interest / 1e18, rate = (cash + borrows - reserves) x 1e18 / totalSupply.
* Seize split: since Compound 2.9 (``CToken.sol`` L802-L840), ``protocolSeizeShareMantissa``
  (2.8e16) of ``seizeTokens`` go to reserves: ``protocolSeizeTokens = seizeTokens x share / 1e18``,
  the liquidator gets the rest, and reserves grow by ``exchangeRate x protocolSeizeTokens / 1e18``.
  Older cTokens, cETH and Venus vTokens have no such getter (the call reverts): share 0.
  ``collateral_seized_raw`` = liquidator's cTokens x rate / 1e18 (underlying it can redeem),
  ``protocol_fee_raw`` = the reserves' amount above.
* Venus routes BNB Chain liquidations through its ``Liquidator`` contract (comptroller
  ``liquidatorContract()``), which splits the seized vTokens with the treasury *after* the event
  (``Liquidator.sol`` ``_distributeLiquidationIncentive``, event ``LiquidateBorrowedTokens``). That
  event is not read: such rows keep everything the contract received in ``collateral_seized_raw``,
  leave the protocol fee null and say so in ``incomplete_reason``.
* Parameters (mantissas, 1e18 = 1): ``Comptroller.markets(cToken)`` (first two words only: the
  third, ``isComped``/``isVenus``, came later), ``closeFactorMantissa``,
  ``liquidationIncentiveMantissa``. There is no separate liquidation threshold: the collateral
  factor is both LTV and threshold. Close factor: ``repayAmount <= closeFactor x borrowBalance``,
  except for deprecated markets (Compound ``isDeprecated``) and Venus forced liquidations
  (``isForcedLiquidationEnabled``, ``PolicyFacet.sol`` L249-L254), where it is 100 %.
* Prices: ``Comptroller.oracle()`` then ``getUnderlyingPrice(cToken)``: price per whole token x
  1e(36 - underlying decimals), so the unit differs per token (``price_unit_raw`` is null).
  Compound's oracles before the 2020 Open Price Feed quoted in ETH, answering exactly 1e18 for cETH
  (docs/sources/compound.md#compound-v2-prices). ``params.quote_probe`` names such a market and its currency: when the
  oracle answers exactly 1e18 for it, prices are in that currency, converted to USD with the
  chain's ETH/USD feed (``deployments/chains.toml``); without a usable feed the USD columns stay
  null and ``incomplete_reason`` says why.
* Health factor: the Comptroller's own account liquidity terms (``ComptrollerLens.sol``
  ``getHypotheticalAccountLiquidity``) over ``getAssetsIn(borrower)``: collateral = sum of
  cTokens x (collateralFactor x exchangeRate x price), debt = sum of borrowBalance x price (truncating
  1e18 fixed point), HF = collateral / debt in wad. Debt the Comptroller adds beyond the markets
  (Venus VAI) is the excess of these sums over ``getAccountLiquidity``'s liquidity - shortfall.
  ``borrower_collateral_usd`` is the collateral without collateral factors.
* Check: ``seizeTokens`` is recomputed with ``liquidateCalculateSeizeTokens`` from the state read
  (:mod:`toolkit.protocols.checks.compound_v2`, column ``state_check``).
* Bad debt: none recorded (``bad_debt_mechanism`` ``none_recorded``).

State is read where :mod:`toolkit.protocols.enrichment` says (right before the liquidation's transaction, or
at the start of its block; ``state_block`` = ``block_number - 1``). ETH/USD: :mod:`toolkit.protocols.eth_usd`.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from toolkit.abi import load_abi
from toolkit.protocols.base import Call, CallFailed, PerLogAdapter, Ref, StateCaller, StateRounds
from toolkit.protocols.eth_usd import EthUsd, eth_usd_at, eth_usd_calls, partial_status
from toolkit.protocols.registry import Deployment

CTOKEN = load_abi("compound-v2/CToken.json")
COMPTROLLER = load_abi("compound-v2/Comptroller.json")
PRICE_ORACLE = load_abi("compound-v2/PriceOracle.json")
ERC20 = load_abi("common/ERC20.json")

#: The event (same signature and topic0 in Venus).
LIQUIDATE_BORROW = CTOKEN.event("LiquidateBorrow")

#: Fixed-point scale of every Compound mantissa (``ExponentialNoError.expScale``).
MANTISSA = 10**18
BPS = 10_000
#: ``collateral_asset``/``debt_asset`` of markets of the chain's native coin (cETH, vBNB).
NATIVE_ASSET = "0xeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee"
ZERO_ADDRESS = "0x" + "0" * 40
#: State of a market read for the exchange-rate replay, in call order.
MARKET_STATE = ("getCash", "totalBorrows", "totalReserves", "totalSupply", "accrualBlockNumber",
                "borrowRatePerBlock", "reserveFactorMantissa")


def mul_truncate(mantissa: int, value: int) -> int:
    """``mul_ScalarTruncate(Exp(mantissa), value)``: value x mantissa / 1e18, rounded down."""
    return mantissa * value // MANTISSA


def accrued_exchange_rate(cash: int, borrows: int, reserves: int, supply: int, accrual_block: int,
                          borrow_rate: int, reserve_factor: int, block: int) -> int:
    """The exchange rate (mantissa: underlying base units per cToken base unit x 1e18) after
    ``accrueInterest`` runs in ``block`` on a market in this state (module docstring).

    :raises CallFailed: when the market has no cTokens (the row's state is then unavailable).
    """
    if supply == 0:
        raise CallFailed("the collateral market has no cTokens (totalSupply 0)")
    interest = mul_truncate(borrow_rate * (block - accrual_block), borrows)
    borrows_new = borrows + interest
    reserves_new = reserves + mul_truncate(reserve_factor, interest)
    return (cash + borrows_new - reserves_new) * MANTISSA // supply


def bps_of(mantissa: int) -> int | None:
    """A mantissa in bps when it is a whole number of bps (1e14), else None."""
    return mantissa // 10**14 if mantissa % 10**14 == 0 else None


def share_of_bonus_bps(seize_share: int, incentive: int) -> int | None:
    """The protocol seize share in the unit of ``protocol_fee_bps`` (bps of the liquidation bonus),
    when whole: the reserves take share x incentive of the repaid value, the bonus is
    (incentive - 1) of it, so the ratio is share x incentive / (incentive - 1)."""
    if incentive <= MANTISSA:
        return None
    bps = Fraction(seize_share * incentive * BPS, MANTISSA * (incentive - MANTISSA))
    return int(bps) if bps.denominator == 1 else None


@dataclass(frozen=True)
class Token:
    """Symbol and decimals of an underlying."""

    address: str
    symbol: str | None
    decimals: int


@dataclass(frozen=True)
class Quote:
    """Currency of the oracle's answers at a block and how it converts to USD.

    :ivar usd_per_unit: USD per unit of :attr:`currency`; None when no conversion is available.
    :ivar how: the explanation that goes into ``price_source``.
    :ivar eth_usd: the ETH/USD feed read when the currency is ETH (:mod:`toolkit.protocols.eth_usd`).
    :ivar missing: why there is no USD conversion, when there is none.
    """

    currency: str
    usd_per_unit: Fraction | None
    how: str
    eth_usd: EthUsd | None = None
    missing: str | None = None


@dataclass(frozen=True)
class Account:
    """A borrower's liquidity terms as the Comptroller sums them.

    :ivar weighted_collateral: sum of cTokens x collateralFactor x exchangeRate x price (oracle units x 1e18).
    :ivar debt: sum of borrowBalance x price, plus debt the Comptroller adds beyond the markets (same unit).
    :ivar collateral_value: collateral without collateral factors, in the oracle currency (exact).
    :ivar debt_value: :attr:`debt` in the oracle currency (exact).
    """

    weighted_collateral: int
    debt: int
    collateral_value: Fraction
    debt_value: Fraction

    @property
    def health_factor(self) -> int | None:
        """weighted collateral / debt in wad (rounded down); None without debt."""
        return self.weighted_collateral * MANTISSA // self.debt if self.debt else None


class CompoundV2Adapter(PerLogAdapter):
    """Adapter for the ``compound_v2`` family (protocol ids ``compound-v2``, ``venus``)."""

    family = "compound_v2"
    event = LIQUIDATE_BORROW

    def __init__(self) -> None:
        #: Underlying token of each cToken by (chain id, cToken): immutable, read once per run.
        self._underlyings: dict[tuple[int, str], str] = {}
        #: Symbol and decimals by (chain id, token).
        self._tokens: dict[tuple[int, str], Token] = {}

    def topics0(self, deployment: Deployment) -> tuple[str, ...]:
        return (LIQUIDATE_BORROW.topic0,)

    def liquidation_fields(self, values: dict[str, Any], identity: dict[str, Any], deployment: Deployment,
                           constant: Callable[[Any], Any]) -> dict[str, Any]:
        return {
            "market_id": identity["emitter"],
            "event": constant(LIQUIDATE_BORROW.name),
            "borrower": values["borrower"],
            "liquidator": values["liquidator"],
            "debt_asset": constant(None),
            "debt_repaid_raw": values["repayAmount"],
            "collateral_asset": constant(None),
            "collateral_seized_raw": constant(None),
            "collateral_token": values["cTokenCollateral"],
            "collateral_token_seized_raw": values["seizeTokens"],
            "receive_a_token": constant(True),
            "bad_debt_raw": constant(None),
            "bad_debt_mechanism": constant("none_recorded"),
        }

    async def enrich(self, rows: list[dict[str, Any]], deployment: Deployment, state: StateCaller) -> None:
        if rows:
            await _Enrichment(self, deployment, state, rows).run()


class _Enrichment(StateRounds):
    """The state reads for one batch of rows. One round of ``eth_call``s reads, through
    :class:`~toolkit.protocols.base.Ref` s in the same call, each row's comptroller (from the borrowed
    cToken), its oracle and parameters, the borrower's markets, liquidity and flags, the collateral
    market's state, and the prices, listings and the borrower's snapshots in the borrowed and collateral
    markets. A second round reads what could not be named beforehand: the borrower's other markets
    (``getAssetsIn``), and the metadata of underlyings met for the first time."""

    def __init__(self, adapter: CompoundV2Adapter, deployment: Deployment, state: StateCaller,
                 rows: list[dict[str, Any]]) -> None:
        self.adapter = adapter
        super().__init__(state, deployment, rows)
        params = deployment.params
        self.native_markets = {m.lower() for m in params.get("native_markets", [])}
        self.native_symbol: str | None = params.get("native_symbol")
        probe = params.get("quote_probe")
        self.probe: tuple[str, str] | None = (probe["market"].lower(), probe["currency"]) if probe else None

    async def run(self) -> None:
        await self._round(self._first_round())
        self._keep_underlyings()
        await self._round({key: call for key, call in self._second_round().items() if key not in self.results})
        self._keep_tokens()
        self._fill(self.rows, self._state_columns)

    def _optional(self, key: Hashable, default: Any) -> Any:
        """First output of a call, or ``default`` when it failed (functions that exist only in some
        versions or forks revert elsewhere) or was not made."""
        value = self.results.get(key)
        return default if value is None or isinstance(value, CallFailed) else value[0]

    # -- rounds ---------------------------------------------------------------------------------

    def _first_round(self) -> dict[Hashable, Call]:
        calls: dict[Hashable, Call] = {}
        for row in self.rows:
            block, borrowed, collateral, borrower = (row["block_number"] - 1, row["market_id"],
                                                     row["collateral_token"], row["borrower"])
            calls[("comptroller", block, borrowed)] = Call(block, borrowed, CTOKEN.fn("comptroller"))
            comptroller = Ref(("comptroller", block, borrowed))
            calls[("oracle", block, borrowed)] = Call(block, comptroller, COMPTROLLER.fn("oracle"))
            for name in ("closeFactorMantissa", "liquidationIncentiveMantissa", "liquidatorContract"):
                calls[(name, block, borrowed)] = Call(block, comptroller, COMPTROLLER.fn(name))
            for name, args in (("getAssetsIn", (borrower,)), ("getAccountLiquidity", (borrower,)),
                               ("isDeprecated", (borrowed,)), ("isForcedLiquidationEnabled", (borrowed,)),
                               ("isForcedLiquidationEnabledForUser", (borrower, borrowed))):
                calls[(name, block, borrowed, *args)] = Call(block, comptroller, COMPTROLLER.fn(name), args)
            for ctoken in (borrowed, collateral):
                if ctoken not in self.native_markets and (self.chain_id, ctoken) not in self.adapter._underlyings:
                    calls[("underlying", ctoken)] = Call(block, ctoken, CTOKEN.fn("underlying"))
            for name in (*MARKET_STATE, "protocolSeizeShareMantissa"):
                calls[(name, block, collateral)] = Call(block, collateral, CTOKEN.fn(name))
            probe = () if self.probe is None else (self.probe[0],)
            calls.update(self._market_calls(row, {borrowed, collateral, *probe}))
            calls.update(self._token_calls(row))
            if self.probe is not None and self.probe[1] == "ETH":
                calls.update(eth_usd_calls(self.deployment, block))
        return calls

    def _market_calls(self, row: dict[str, Any], ctokens: set[str]) -> dict[Hashable, Call]:
        """Price, listing and the borrower's snapshot of each of ``ctokens`` (the comptroller and its oracle
        read in the same call)."""
        block, borrowed, borrower = row["block_number"] - 1, row["market_id"], row["borrower"]
        comptroller: str | Ref = Ref(("comptroller", block, borrowed))
        oracle: str | Ref = Ref(("oracle", block, borrowed))
        if ("oracle", block, borrowed) in self.results:  # a later round: the addresses are known
            try:
                comptroller = self._get(("comptroller", block, borrowed))[0]
                oracle = self._get(("oracle", block, borrowed))[0]
            except CallFailed:
                return {}
        calls: dict[Hashable, Call] = {}
        for ctoken in sorted(ctokens):
            calls[("price", block, ctoken)] = Call(block, oracle, PRICE_ORACLE.fn("getUnderlyingPrice"), (ctoken,))
            calls[("markets", block, ctoken)] = Call(block, comptroller, COMPTROLLER.fn("markets"), (ctoken,))
            calls[("snapshot", block, ctoken, borrower)] = Call(block, ctoken, CTOKEN.fn("getAccountSnapshot"),
                                                                (borrower,))
        return calls

    def _token_calls(self, row: dict[str, Any]) -> dict[Hashable, Call]:
        """Decimals and symbol of the row's underlyings known but not cached yet."""
        calls: dict[Hashable, Call] = {}
        block = row["block_number"] - 1
        for ctoken in (row["market_id"], row["collateral_token"]):
            asset = self.adapter._underlyings.get((self.chain_id, ctoken))
            if asset is not None and (self.chain_id, asset) not in self.adapter._tokens:
                calls[("decimals", asset)] = Call(block, asset, ERC20.fn("decimals"))
                calls[("symbol", asset)] = Call(block, asset, ERC20.fn("symbol"))
        return calls

    def _keep_underlyings(self) -> None:
        for key, value in self.results.items():
            if key[0] == "underlying" and not isinstance(value, CallFailed):
                self.adapter._underlyings[(self.chain_id, key[1])] = value[0]

    def _underlying(self, ctoken: str) -> str:
        """The underlying of ``ctoken`` (:data:`NATIVE_ASSET` for native markets)."""
        if ctoken in self.native_markets:
            return NATIVE_ASSET
        found = self.adapter._underlyings.get((self.chain_id, ctoken))
        if found is None:
            raise self.results[("underlying", ctoken)]
        return found

    def _second_round(self) -> dict[Hashable, Call]:
        """The borrower's other markets, and metadata of underlyings learned in the first round."""
        calls: dict[Hashable, Call] = {}
        for row in self.rows:
            assets = self._optional(("getAssetsIn", row["block_number"] - 1, row["market_id"], row["borrower"]), ())
            calls.update(self._market_calls(row, set(assets)))
            calls.update(self._token_calls(row))
        return calls

    def _keep_tokens(self) -> None:
        for key, value in self.results.items():
            if key[0] == "decimals" and not isinstance(value, CallFailed):
                symbol = self.results[("symbol", key[1])]
                self.adapter._tokens[(self.chain_id, key[1])] = Token(
                    key[1], None if isinstance(symbol, CallFailed) else symbol[0], value[0])

    def _token(self, ctoken: str) -> Token:
        """The underlying of ``ctoken`` with its symbol and decimals."""
        asset = self._underlying(ctoken)
        if asset == NATIVE_ASSET:
            return Token(NATIVE_ASSET, self.native_symbol, 18)
        found = self.adapter._tokens.get((self.chain_id, asset))
        if found is None:
            raise self.results[("decimals", asset)]
        return found

    # -- columns --------------------------------------------------------------------------------

    def _quote(self, block: int, oracle: str) -> Quote:
        """The currency of the oracle's answers at ``block`` and its USD value (module docstring)."""
        if self.probe is None or self._get(("price", block, self.probe[0]))[0] != MANTISSA:
            return Quote("USD", Fraction(1), "USD")
        market, currency = self.probe
        how = f"{currency} (the oracle answers exactly 1e18 for {market}, registry params.quote_probe)"
        if currency != "ETH":
            missing = f"oracle prices are in {currency} and the registry has no {currency}/USD feed"
            return Quote(currency, None, f"{how}; no USD", missing=missing)
        eth_usd = eth_usd_at(self.results, self.deployment, block)
        return Quote(currency, eth_usd.usd_per_eth, how + eth_usd.source(), eth_usd, eth_usd.missing)

    def _account(self, block: int, market: str, borrower: str) -> Account | str:
        """The borrower's liquidity terms over ``getAssetsIn`` (module docstring, "Health factor"),
        or, when its markets sum to *more* debt than ``getAccountLiquidity`` implies (so the sums do
        not reproduce the Comptroller's), the reason."""
        weighted = debt = 0
        collateral_value = debt_value = Fraction(0)
        for ctoken in self._get(("getAssetsIn", block, market, borrower))[0]:
            error, balance, borrowed, rate = self._get(("snapshot", block, ctoken, borrower))
            if error:
                raise CallFailed(f"getAccountSnapshot({borrower}) on {ctoken} returned error {error} at block {block}")
            factor = self._get(("markets", block, ctoken))[1]
            price = self._get(("price", block, ctoken))[0]
            weighted += mul_truncate(mul_truncate(mul_truncate(factor, rate), price), balance)
            debt += mul_truncate(price, borrowed)
            collateral_value += Fraction(balance * rate * price, MANTISSA**3)
            debt_value += Fraction(borrowed * price, MANTISSA**2)
        error, liquidity, shortfall = self._get(("getAccountLiquidity", block, market, borrower))
        if error:
            raise CallFailed(f"getAccountLiquidity({borrower}) returned error {error} at block {block}")
        excess = (weighted - debt) - (liquidity - shortfall)
        if excess < 0:
            return (f"the borrower's markets sum to {-excess} (oracle units x 1e18) more debt than "
                    f"getAccountLiquidity reports at block {block}: health factor and borrower totals left empty")
        return Account(weighted, debt + excess, collateral_value, debt_value + Fraction(excess, MANTISSA))

    def _state_columns(self, row: dict[str, Any]) -> dict[str, Any]:
        block, borrowed, collateral, borrower = (row["block_number"] - 1, row["market_id"], row["collateral_token"],
                                                 row["borrower"])
        comptroller = self._get(("comptroller", block, borrowed))[0]
        oracle = self._get(("oracle", block, borrowed))[0]
        listed, factor = self._get(("markets", block, collateral))
        if not listed or not self._get(("markets", block, borrowed))[0]:
            raise CallFailed(f"{borrowed} or {collateral} is not listed in comptroller {comptroller} at block {block}")
        debt, coll = self._token(borrowed), self._token(collateral)
        debt_price = self._get(("price", block, borrowed))[0]
        coll_price = self._get(("price", block, collateral))[0]
        close_factor = self._get(("closeFactorMantissa", block, borrowed))[0]
        incentive = self._get(("liquidationIncentiveMantissa", block, borrowed))[0]
        rate = accrued_exchange_rate(*(self._get((name, block, collateral))[0] for name in MARKET_STATE),
                                     block=row["block_number"])
        share = self._optional(("protocolSeizeShareMantissa", block, collateral), 0)
        quote = self._quote(block, oracle)
        forced = any(self._optional(key, False) for key in (
            ("isDeprecated", block, borrowed, borrowed),
            ("isForcedLiquidationEnabled", block, borrowed, borrowed),
            ("isForcedLiquidationEnabledForUser", block, borrowed, borrower, borrowed)))
        account = self._account(block, borrowed, borrower)
        reasons = [account] if isinstance(account, str) else []

        repay, seized = int(row["debt_repaid_raw"]), int(row["collateral_token_seized_raw"])
        protocol_tokens = mul_truncate(share, seized)
        received = mul_truncate(rate, seized - protocol_tokens)
        fee: int | None = mul_truncate(rate, protocol_tokens)
        fee_bps = share_of_bonus_bps(share, incentive)
        liquidator_contract = self._optional(("liquidatorContract", block, borrowed), ZERO_ADDRESS)
        if liquidator_contract != ZERO_ADDRESS and liquidator_contract == row["liquidator"]:
            fee = fee_bps = None
            reasons.append(f"liquidated through the comptroller's liquidatorContract {liquidator_contract} (Venus "
                           "Liquidator), which shares the seized vTokens with the treasury after this event "
                           "(LiquidateBorrowedTokens, not read): collateral_seized_raw is all that contract received")

        def usd(value: Fraction | None) -> float | None:
            return None if value is None or quote.usd_per_unit is None else float(value * quote.usd_per_unit)

        debt_unit_price = Fraction(debt_price, 10 ** (36 - debt.decimals))
        coll_unit_price = Fraction(coll_price, 10 ** (36 - coll.decimals))
        debt_whole, coll_whole = Fraction(repay, 10**debt.decimals), Fraction(received, 10**coll.decimals)
        fee_whole = None if fee is None else Fraction(fee, 10**coll.decimals)
        repaid_value, received_value = debt_whole * debt_unit_price, coll_whole * coll_unit_price
        hf = None if isinstance(account, str) else account.health_factor
        return {
            "debt_asset": debt.address,
            "collateral_asset": coll.address,
            "collateral_seized_raw": str(received),
            "state_block": block,
            "debt_symbol": debt.symbol,
            "debt_decimals": debt.decimals,
            "debt_repaid": float(debt_whole),
            "collateral_symbol": coll.symbol,
            "collateral_decimals": coll.decimals,
            "collateral_seized": float(coll_whole),
            "protocol_fee_raw": None if fee is None else str(fee),
            "protocol_fee": None if fee_whole is None else float(fee_whole),
            "collateral_exchange_rate_raw": str(rate),
            "collateral_conversion": (
                f"{collateral} exchange rate {rate} (exchangeRateStored at block {block} accrued to block "
                f"{row['block_number']}); protocolSeizeShareMantissa {share}: {protocol_tokens} of {seized} "
                "cTokens to reserves"),
            "price_currency": quote.currency,
            "price_unit_raw": None,
            "debt_price_raw": str(debt_price),
            "collateral_price_raw": str(coll_price),
            **(quote.eth_usd.columns() if quote.eth_usd is not None else {"eth_usd_price_raw": None,
                                                                           "eth_usd_decimals": None}),
            "debt_price_usd": usd(debt_unit_price),
            "collateral_price_usd": usd(coll_unit_price),
            "price_source": (f"oracle {oracle} of comptroller {comptroller}: getUnderlyingPrice at block {block}, "
                             f"price x 1e(36 - underlying decimals) in {quote.how}"),
            "ltv_bps": bps_of(factor),
            "liquidation_threshold_bps": bps_of(factor),
            "collateral_factor_raw": str(factor),
            "liquidation_bonus_bps": bps_of(incentive),
            "liquidation_incentive_raw": str(incentive),
            "protocol_fee_bps": fee_bps,
            "close_factor_bps": BPS if forced else bps_of(close_factor),
            "close_factor_rule": (
                "100%: deprecated market or forced liquidation (Compound Comptroller isDeprecated, Venus "
                "PolicyFacet.sol L249-L254)" if forced else
                f"closeFactorMantissa {close_factor} x borrowBalanceStored in the borrowed market "
                "(Comptroller.liquidateBorrowAllowed, PolicyFacet.sol L265-L269)"),
            "health_factor_before_raw": None if hf is None else str(hf),
            "health_factor_before": None if hf is None else float(Fraction(hf, MANTISSA)),
            "borrower_collateral_usd": None if isinstance(account, str) else usd(account.collateral_value),
            "borrower_debt_usd": None if isinstance(account, str) else usd(account.debt_value),
            "debt_repaid_usd": usd(repaid_value),
            "collateral_seized_usd": usd(received_value),
            "protocol_fee_usd": usd(None if fee_whole is None else fee_whole * coll_unit_price),
            "liquidation_bonus_usd": usd(received_value - repaid_value),
            "liquidation_bonus_pct": (float(100 * (received_value - repaid_value) / repaid_value)
                                      if repaid_value else None),
            "incomplete_reason": "; ".join(reasons) or None,
            "state_status": partial_status(quote.missing),
        }


#: The adapter of the ``compound_v2`` family (see :mod:`toolkit.protocols`).
ADAPTER = CompoundV2Adapter
