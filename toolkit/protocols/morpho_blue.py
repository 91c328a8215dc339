"""Morpho Blue: ``Liquidate`` logs to normalized rows, enriched at the block before.

Sources: npm ``@morpho-org/morpho-blue@1.0.0`` ``src/`` (tag v1.0.0; docs/sources/morpho.md#liquidate-event).
Line numbers below are of that package.

* Event: ``Liquidate(Id indexed id, address indexed caller, address indexed borrower,
  uint256 repaidAssets, uint256 repaidShares, uint256 seizedAssets, uint256 badDebtAssets,
  uint256 badDebtShares)`` (``libraries/EventsLib.sol`` L112-L121), emitted by the Morpho singleton
  (``Morpho.sol`` L406-L408). Row: ``market_id`` = ``id``; ``liquidator`` = ``caller``;
  ``debt_repaid_raw`` = ``repaidAssets`` (loan-token base units, transferred from the caller to
  Morpho, L414; it may exceed the market's borrow total by 1, L405); ``repaid_shares_raw`` =
  ``repaidShares``; ``collateral_seized_raw`` = ``seizedAssets`` (collateral base units, all sent to
  the caller, L410: there is no protocol fee); ``bad_debt_raw`` / ``bad_debt_shares_raw`` =
  ``badDebtAssets`` / ``badDebtShares``.
* Bad debt: when the borrower's collateral reaches 0, its remaining borrow shares are written off and
  ``totalBorrowAssets`` **and** ``totalSupplyAssets`` drop by ``badDebtAssets`` (L390-L403): the loss
  is socialized to the market's suppliers at once (``bad_debt_mechanism`` = ``supplier_socialized``).
* Market params ``(loanToken, collateralToken, oracle, irm, lltv)``: from the ``CreateMarket(Id
  indexed id, MarketParams marketParams)`` log (``EventsLib.sol`` L35) when the pulled logs hold it
  (:meth:`MorphoBlueAdapter.topics0` asks for both events; a ``CreateMarket`` log gives no row, its
  params are kept for the run), else ``idToMarketParams(id)`` at the state block (written by
  ``createMarket``, L158). Either way they must hash to the id, ``keccak256(abi.encode(params))``
  (``libraries/MarketParamsLib.sol`` L13-L20); a mismatch is a decode error or a failed state read.
* LLTV (wad, fixed per market) is the liquidation threshold and also the largest loan-to-value a
  borrow may reach (``borrow`` checks ``_isHealthy``, L258): ``ltv_bps`` = ``liquidation_threshold_bps``
  = LLTV in bps (null when LLTV is not a whole number of bps; ``lltv_raw`` is exact).
* Liquidation incentive factor (L365-L369, constants ``libraries/ConstantsLib.sol`` L10-L14):
  ``LIF = min(MAX_LIQUIDATION_INCENTIVE_FACTOR, WAD.wDivDown(WAD - LIQUIDATION_CURSOR.wMulDown(WAD - lltv)))``
  with ``MAX_LIQUIDATION_INCENTIVE_FACTOR = 1.15e18`` and ``LIQUIDATION_CURSOR = 0.3e18``, i.e.
  ``min(1.15, 1 / (1 - 0.3 x (1 - LLTV)))`` rounded down in wad: ``liquidation_incentive_raw``;
  ``liquidation_bonus_bps`` is it floored to bps (e.g. LLTV 86 % -> 1.043841336116910229 -> 10438).
  No close factor: any amount up to the whole position can be liquidated (``close_factor_bps`` 10000).
* Prices: ``IOracle(oracle).price()`` is the price of one base unit of collateral in base units of
  loan token, scaled by 1e36, i.e. of one whole collateral token in whole loan tokens with
  ``36 + loan decimals - collateral decimals`` decimals (``interfaces/IOracle.sol`` L10-L13).
  Stored as ``collateral_price_raw`` with ``price_currency`` = ``loan_token`` and ``price_unit_raw``
  = ``10^(36 + debt_decimals - collateral_decimals)``; ``debt_price_raw`` = ``price_unit_raw`` (the
  loan token is worth one loan token). Decimals are the tokens' ERC-20 ``decimals()``.
* USD: Morpho has no USD oracle. The registry names a Chainlink-style ``X/USD`` feed per loan token
  (deployment ``params.usd_feeds``, token -> feed, with sources); its ``latestAnswer()`` at the state
  block / ``10^decimals()`` is the USD price of one whole loan token (``debt_usd_price_raw``), and
  the collateral's USD price is ``collateral_price_raw / price_unit_raw x`` that. Without a feed
  (or when it reverts or answers <= 0) every USD column is null and ``price_source`` says why.
  ``liquidation_bonus_pct`` needs no USD: it is computed in loan-token units.
* Health factor (``health_factor_before_raw``, wad): ``maxBorrow x 1e18 / borrowed`` rounded down,
  with exactly the terms of ``_isHealthy`` (L527-L539): ``maxBorrow = collateral.mulDivDown(price,
  1e36).wMulDown(lltv)`` and ``borrowed = borrowShares.toAssetsUp(totalBorrowAssets,
  totalBorrowShares)`` (``libraries/SharesMathLib.sol``: virtual shares 1e6, virtual assets 1), from
  ``position(id, borrower)`` and ``market(id)`` at the state block. So it is below 1e18 exactly when
  the position was liquidatable at those totals. The stored totals exclude interest accrued since
  ``market.lastUpdate`` (``IMorpho.sol`` L22-L23), which ``liquidate`` adds first (L358), so
  ``borrowed`` can be lower than what the liquidation saw by that interest. When the borrower had
  no debt at the state block (position opened in the liquidation block) the health factor and the
  borrower totals are null and ``incomplete_reason`` says so.

State is read where :mod:`toolkit.protocols.enrichment` says (right before the liquidation's transaction, or
at the start of its block; ``state_block`` = ``block_number - 1``). For its ``state_check``
(:mod:`toolkit.protocols.checks.morpho_blue`) the IRM's ``borrowRateView`` is read too, to replay the interest
``liquidate`` accrues first.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from eth_abi import encode
from eth_utils import keccak

from toolkit.abi import LogDecodeError, load_abi
from toolkit.protocols.base import Call, CallFailed, Ref, StateCaller, StateRounds, error_record, log_identity
from toolkit.protocols.event_args import log_args_json
from toolkit.protocols.registry import Deployment

MORPHO = load_abi("morpho-blue/Morpho.json")
ORACLE = load_abi("morpho-blue/IOracle.json")
ERC20 = load_abi("common/ERC20.json")
USD_FEED = load_abi("common/ChainlinkAggregator.json")
IRM = load_abi("morpho-blue/IIrm.json")

LIQUIDATE = MORPHO.event("Liquidate")
CREATE_MARKET = MORPHO.event("CreateMarket")

WAD = 10**18
#: ``ORACLE_PRICE_SCALE``, ``LIQUIDATION_CURSOR``, ``MAX_LIQUIDATION_INCENTIVE_FACTOR``
#: (``src/libraries/ConstantsLib.sol`` L8, L11, L14).
ORACLE_PRICE_SCALE = 10**36
LIQUIDATION_CURSOR = 3 * 10**17
MAX_LIQUIDATION_INCENTIVE_FACTOR = 115 * 10**16
#: ``SharesMathLib.VIRTUAL_SHARES`` and ``VIRTUAL_ASSETS`` (``src/libraries/SharesMathLib.sol``).
VIRTUAL_SHARES = 10**6
VIRTUAL_ASSETS = 1
#: One basis point in wad.
BPS_IN_WAD = 10**14
BPS = 10_000

CLOSE_FACTOR_RULE = "Morpho Blue: no close factor, any amount up to the whole position (Morpho.sol liquidate L347-L417)"


def liquidation_incentive_factor(lltv: int) -> int:
    """LIF in wad, rounded as ``Morpho.sol`` L366-L369: ``min(1.15e18, WAD.wDivDown(WAD -
    LIQUIDATION_CURSOR.wMulDown(WAD - lltv)))``."""
    return min(MAX_LIQUIDATION_INCENTIVE_FACTOR, WAD * WAD // (WAD - LIQUIDATION_CURSOR * (WAD - lltv) // WAD))


def to_assets_up(shares: int, total_assets: int, total_shares: int) -> int:
    """``SharesMathLib.toAssetsUp``: shares to assets with virtual shares and assets, rounded up."""
    denominator = total_shares + VIRTUAL_SHARES
    return (shares * (total_assets + VIRTUAL_ASSETS) + denominator - 1) // denominator


def health_factor(collateral: int, borrowed: int, price: int, lltv: int) -> int:
    """``maxBorrow x 1e18 / borrowed`` (wad, rounded down) with ``maxBorrow`` as in ``_isHealthy``."""
    max_borrow = collateral * price // ORACLE_PRICE_SCALE * lltv // WAD
    return max_borrow * WAD // borrowed


@dataclass(frozen=True)
class MarketParams:
    """``struct MarketParams`` (``src/interfaces/IMorpho.sol`` L6-L12); addresses lower-case."""

    loan_token: str
    collateral_token: str
    oracle: str
    irm: str
    lltv: int

    def market_id(self) -> str:
        """``MarketParamsLib.id``: Keccak-256 of the five 32-byte words, 0x hex."""
        words = encode(["address", "address", "address", "address", "uint256"],
                       [self.loan_token, self.collateral_token, self.oracle, self.irm, self.lltv])
        return "0x" + keccak(words).hex()


class MorphoBlueAdapter:
    """Adapter for the ``morpho_blue`` family (protocol id ``morpho-blue``)."""

    family = "morpho_blue"

    def __init__(self) -> None:
        #: Market params by (chain id, Morpho address, market id): immutable, learned once per run.
        self._params: dict[tuple[int, str, str], MarketParams] = {}
        #: ERC-20 (symbol, decimals) by (chain id, token); symbol None when it does not decode.
        self._tokens: dict[tuple[int, str], tuple[str | None, int]] = {}

    def topics0(self, deployment: Deployment) -> tuple[str, ...]:
        return LIQUIDATE.topic0, CREATE_MARKET.topic0

    def decode_logs(self, logs: list[dict[str, Any]], deployment: Deployment) -> list[dict[str, Any]]:
        """One row per ``Liquidate`` log; ``CreateMarket`` logs give no row, their params are kept."""
        out = []
        for log in logs:
            try:
                topics = log.get("topics") if isinstance(log, dict) else None
                if topics and str(topics[0]).lower() == CREATE_MARKET.topic0:
                    self._learn_market(log, deployment)
                else:
                    out.append(self._decode_liquidation(log, deployment))
            except LogDecodeError as exc:
                out.append(error_record(log, str(exc)))
        return out

    def _learn_market(self, log: dict[str, Any], deployment: Deployment) -> None:
        identity = log_identity(log, deployment)
        values = CREATE_MARKET.decode(log["topics"], log["data"])
        loan, collateral, oracle, irm, lltv = values["marketParams"]
        params = MarketParams(loan.lower(), collateral.lower(), oracle.lower(), irm.lower(), lltv)
        if params.market_id() != values["id"]:
            raise LogDecodeError(
                f"CreateMarket params hash to {params.market_id()}, not to the logged id {values['id']}")
        self._params[(identity["chain_id"], identity["emitter"], values["id"])] = params

    def _decode_liquidation(self, log: dict[str, Any], deployment: Deployment) -> dict[str, Any]:
        row = log_identity(log, deployment)
        values = LIQUIDATE.decode(log["topics"], log["data"])
        params = self._params.get((row["chain_id"], row["emitter"], values["id"]))
        seized = str(values["seizedAssets"])
        row.update(
            market_id=values["id"],
            event=LIQUIDATE.name,
            borrower=values["borrower"],
            liquidator=values["caller"],
            debt_asset=params.loan_token if params else None,
            debt_repaid_raw=str(values["repaidAssets"]),
            repaid_shares_raw=str(values["repaidShares"]),
            collateral_asset=params.collateral_token if params else None,
            collateral_seized_raw=seized,
            collateral_token=params.collateral_token if params else None,
            collateral_token_seized_raw=seized,
            bad_debt_raw=str(values["badDebtAssets"]),
            bad_debt_shares_raw=str(values["badDebtShares"]),
            bad_debt_mechanism="supplier_socialized",
            event_args=log_args_json(LIQUIDATE, values),
        )
        return row

    async def enrich(self, rows: list[dict[str, Any]], deployment: Deployment, state: StateCaller) -> None:
        if rows:
            await _Enrichment(self, deployment, state, rows).run()


class _Enrichment(StateRounds):
    """The state reads for one batch of rows. Once a market's params are known (learned from
    ``CreateMarket`` or read before) one round of ``eth_call``s reads everything: market totals, the
    position, the oracle price, the loan token's USD feed, token metadata not cached yet, and the IRM's
    ``borrowRateView`` of the market totals read in the same call (:class:`~toolkit.protocols.base.Ref`).
    A market met for the first time takes a second round after ``idToMarketParams``."""

    def __init__(self, adapter: MorphoBlueAdapter, deployment: Deployment, state: StateCaller,
                 rows: list[dict[str, Any]]) -> None:
        self.adapter = adapter
        super().__init__(state, deployment, rows)
        self.usd_feeds = {token.lower(): feed.lower() for token, feed in deployment.params.get("usd_feeds", {}).items()}

    async def run(self) -> None:
        await self._round(self._first_round())
        self._keep_params()
        await self._round({key: call for key, call in self._dependent_calls().items() if key not in self.results})
        self._keep_tokens()
        self._fill(self.rows, self._state_columns)

    def _params_key(self, row: dict[str, Any]) -> tuple[int, str, str]:
        return self.chain_id, row["emitter"], row["market_id"]

    def _first_round(self) -> dict[Hashable, Call]:
        calls: dict[Hashable, Call] = {}
        for row in self.rows:
            block, morpho, market_id = row["block_number"] - 1, row["emitter"], row["market_id"]
            id_bytes = bytes.fromhex(market_id[2:])
            if self._params_key(row) not in self.adapter._params:
                calls[("params", morpho, market_id)] = Call(block, morpho, MORPHO.fn("idToMarketParams"), (id_bytes,))
            calls[("market", block, morpho, market_id)] = Call(block, morpho, MORPHO.fn("market"), (id_bytes,))
            calls[("position", block, morpho, market_id, row["borrower"])] = Call(
                block, morpho, MORPHO.fn("position"), (id_bytes, row["borrower"]))
        calls.update(self._dependent_calls())
        return calls

    def _keep_params(self) -> None:
        """Keep params read with ``idToMarketParams`` that hash to their id (a market not created at
        that block reads as zeros and does not)."""
        for key, value in self.results.items():
            if key[0] != "params" or isinstance(value, CallFailed):
                continue
            _, morpho, market_id = key
            params = MarketParams(*value)
            if params.market_id() == market_id:
                self.adapter._params[(self.chain_id, morpho, market_id)] = params
            else:
                self.results[key] = CallFailed(f"idToMarketParams({market_id}) on {morpho} does not hash to the id "
                                               "(market not created there at the state block)")

    def _params(self, row: dict[str, Any]) -> MarketParams:
        """The row's market params; else the failure of its ``idToMarketParams`` read is raised."""
        params = self.adapter._params.get(self._params_key(row))
        if params is None:
            raise self.results[("params", row["emitter"], row["market_id"])]
        return params

    def _dependent_calls(self) -> dict[Hashable, Call]:
        """The reads that need the market's params, for the rows whose params are known."""
        calls: dict[Hashable, Call] = {}
        for row in self.rows:
            params = self.adapter._params.get(self._params_key(row))
            if params is None:
                continue
            block = row["block_number"] - 1
            calls[("price", block, params.oracle)] = Call(block, params.oracle, ORACLE.fn("price"))
            for token in (params.loan_token, params.collateral_token):
                if (self.chain_id, token) not in self.adapter._tokens:
                    calls[("decimals", token)] = Call(block, token, ERC20.fn("decimals"))
                    calls[("symbol", token)] = Call(block, token, ERC20.fn("symbol"))
            feed = self.usd_feeds.get(params.loan_token)
            if feed is not None:
                calls[("usd", block, feed)] = Call(block, feed, USD_FEED.fn("latestAnswer"))
                calls[("usd_decimals", feed)] = Call(block, feed, USD_FEED.fn("decimals"))
            market = ("market", block, row["emitter"], row["market_id"])
            totals = self.results.get(market)  # read by an earlier round, else in the same call
            if int(params.irm, 16) != 0 and not isinstance(totals, CallFailed):
                # the rate the liquidation's interest accrual uses (for its state_check): of the totals read,
                # or of the six words of market(id) read in the same call
                calls[("borrow_rate", block, row["emitter"], row["market_id"])] = Call(
                    block, params.irm, IRM.fn("borrowRateView"),
                    ((params.loan_token, params.collateral_token, params.oracle, params.irm, params.lltv),
                     totals if totals is not None else tuple(Ref(market, word) for word in range(6))))
        return calls

    def _keep_tokens(self) -> None:
        for key, value in self.results.items():
            if key[0] == "decimals" and not isinstance(value, CallFailed):
                symbol = self.results[("symbol", key[1])]
                self.adapter._tokens[(self.chain_id, key[1])] = (
                    None if isinstance(symbol, CallFailed) else symbol[0], value[0])

    def _token(self, token: str) -> tuple[str | None, int]:
        """(symbol, decimals) of ``token``; else the failure of its ``decimals()`` read is raised."""
        found = self.adapter._tokens.get((self.chain_id, token))
        if found is None:
            raise self.results[("decimals", token)]
        return found

    def _loan_usd(self, loan_token: str, block: int) -> tuple[Fraction | None, int | None, int | None, str]:
        """(USD per whole loan token, feed answer, feed decimals, how) for the loan token at ``block``."""
        feed = self.usd_feeds.get(loan_token)
        if feed is None:
            return None, None, None, (f"USD: none, the registry names no USD feed for loan token {loan_token}; "
                                      "USD columns are null")
        answer, decimals = self.results[("usd", block, feed)], self.results[("usd_decimals", feed)]
        for value in (answer, decimals):
            if isinstance(value, CallFailed):
                return None, None, None, f"USD: none, {value}; USD columns are null"
        if answer[0] <= 0:
            return None, None, None, (f"USD: none, feed {feed} answered {answer[0]} at block {block}; "
                                      "USD columns are null")
        return (Fraction(answer[0], 10**decimals[0]), answer[0], decimals[0],
                f"USD: loan token x feed {feed} latestAnswer at block {block} (registry params.usd_feeds)")

    def _borrow_rate(self, row: dict[str, Any], params: MarketParams) -> dict[str, Any]:
        """The IRM's rate for the check's interest accrual (none with the zero IRM), or why it failed."""
        if int(params.irm, 16) == 0:
            return {"_check_borrow_rate": None}
        rate = self.results.get(("borrow_rate", row["block_number"] - 1, row["emitter"], row["market_id"]))
        if rate is None or isinstance(rate, CallFailed):
            return {"_check_borrow_rate_failed": str(rate or "not read")}
        return {"_check_borrow_rate": rate[0]}

    def _state_columns(self, row: dict[str, Any]) -> dict[str, Any]:
        block = row["block_number"] - 1
        params = self._params(row)
        loan_symbol, loan_decimals = self._token(params.loan_token)
        coll_symbol, coll_decimals = self._token(params.collateral_token)
        price = self._get(("price", block, params.oracle))[0]
        totals = self._get(("market", block, row["emitter"], row["market_id"]))
        position = self._get(("position", block, row["emitter"], row["market_id"], row["borrower"]))
        exponent = 36 + loan_decimals - coll_decimals
        if exponent < 0:
            raise CallFailed(f"token decimals {loan_decimals} (loan) and {coll_decimals} (collateral) are out of range")
        unit = 10**exponent
        loan_usd, usd_answer, usd_decimals, usd_how = self._loan_usd(params.loan_token, block)

        repaid, seized = int(row["debt_repaid_raw"]), int(row["collateral_seized_raw"])
        bad_debt = int(row["bad_debt_raw"])
        borrow_shares, collateral = position[1], position[2]
        borrowed = to_assets_up(borrow_shares, totals[2], totals[3])
        lif = liquidation_incentive_factor(params.lltv)
        lltv_bps = params.lltv // BPS_IN_WAD if params.lltv % BPS_IN_WAD == 0 else None
        # values in whole loan tokens: the collateral through the oracle price
        debt_value = Fraction(repaid, 10**loan_decimals)
        seized_value = Fraction(seized, 10**coll_decimals) * Fraction(price, unit)

        def usd(value: Fraction) -> float | None:
            return None if loan_usd is None else float(value * loan_usd)

        columns: dict[str, Any] = {
            "debt_asset": params.loan_token,
            "collateral_asset": params.collateral_token,
            "collateral_token": params.collateral_token,
            "state_block": block,
            "debt_symbol": loan_symbol,
            "debt_decimals": loan_decimals,
            "debt_repaid": float(debt_value),
            "collateral_symbol": coll_symbol,
            "collateral_decimals": coll_decimals,
            "collateral_seized": float(Fraction(seized, 10**coll_decimals)),
            "protocol_fee_raw": "0",
            "protocol_fee": 0.0,
            "price_currency": "loan_token",
            "price_unit_raw": str(unit),
            "debt_price_raw": str(unit),
            "collateral_price_raw": str(price),
            "debt_usd_price_raw": None if usd_answer is None else str(usd_answer),
            "debt_usd_decimals": usd_decimals,
            "debt_price_usd": usd(Fraction(1)),
            "collateral_price_usd": usd(Fraction(price, unit)),
            "price_source": (f"Morpho oracle {params.oracle} price() at block {block}, loan token per collateral "
                             f"token scaled by 1e36 (IOracle.sol); {usd_how}"),
            "ltv_bps": lltv_bps,
            "liquidation_threshold_bps": lltv_bps,
            "lltv_raw": str(params.lltv),
            "liquidation_bonus_bps": lif // BPS_IN_WAD,
            "liquidation_incentive_raw": str(lif),
            "protocol_fee_bps": 0,
            "close_factor_bps": BPS,
            "close_factor_rule": CLOSE_FACTOR_RULE,
            "debt_repaid_usd": usd(debt_value),
            "collateral_seized_usd": usd(seized_value),
            "protocol_fee_usd": 0.0,
            "liquidation_bonus_usd": usd(seized_value - debt_value),
            "liquidation_bonus_pct": float(100 * (seized_value - debt_value) / debt_value) if repaid else None,
            "bad_debt_usd": usd(Fraction(bad_debt, 10**loan_decimals)),
        }
        columns.update(_check_market=totals, _check_position=position, **self._borrow_rate(row, params))
        if borrowed == 0:
            columns["incomplete_reason"] = (f"borrower had no debt in market {row['market_id']} at block {block}: "
                                            "health factor and borrower totals unknown")
        else:
            hf = health_factor(collateral, borrowed, price, params.lltv)
            columns.update(
                health_factor_before_raw=str(hf),
                health_factor_before=float(Fraction(hf, WAD)),
                borrower_collateral_usd=usd(Fraction(collateral, 10**coll_decimals) * Fraction(price, unit)),
                borrower_debt_usd=usd(Fraction(borrowed, 10**loan_decimals)),
            )
        return columns


#: The adapter of the ``morpho_blue`` family (see :mod:`toolkit.protocols`).
ADAPTER = MorphoBlueAdapter
