"""Positions of Morpho Blue at a block, valued with the terms of ``Morpho._isHealthy``.

Sources: npm ``@morpho-org/morpho-blue@1.0.0`` ``src/`` (``Morpho.sol`` ``borrow`` L235-L266, ``_isHealthy``
L527-L540, ``libraries/EventsLib.sol`` ``Borrow`` L69-L76, ``SharesMathLib.sol``);
docs/sources/positions.md#morpho-positions.

* Borrowers: ``Borrow(Id indexed id, address caller, address indexed onBehalf, address indexed receiver, ...)``:
  the position ``(id, onBehalf)``. Touched positions: every log of Morpho whose first indexed topic is a market
  id, with the addresses it names.
* Composition: ``position(id, account)`` (supply shares, borrow shares, collateral), which only the account's
  own transactions change.
* Market state, for the markets of the positions: ``idToMarketParams`` (loan and collateral tokens, oracle,
  LLTV), ``market(id)`` (stored totals: interest accrued since ``lastUpdate`` is not in them, as in the
  liquidation adapter and the keeper), the oracle's ``price()`` (loan base units per collateral base unit x 1e36),
  tokens' ``decimals``/``symbol``, and the loan token's USD feed named by the registry (``params.usd_feeds``).
* Values: borrowed = ``toAssetsUp(borrowShares, totalBorrowAssets, totalBorrowShares)``, max borrow =
  ``collateral x price / 1e36 x LLTV / 1e18`` (both rounded down), ``HF = maxBorrow x 1e18 / borrowed`` (rounded
  down), below 1e18 exactly when ``_isHealthy`` is false. Prices are in loan tokens: collateral ``price /
  10^(36 + loan decimals - collateral decimals)``, the loan token 1.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence
from typing import Any

from toolkit.abi import load_abi
from toolkit.chain.logs import LogFilter
from toolkit.protocols.base import Call
from toolkit.protocols.morpho_blue import ERC20, MORPHO, ORACLE, ORACLE_PRICE_SCALE, USD_FEED, WAD, to_assets_up
from toolkit.protocols.registry import Deployment
from toolkit.snapshot.model import AssetState, Composition, Discovery, Holding, Key, MarketState, log_addresses
from toolkit.snapshot.reads import need, optional, read

POSITIONS = load_abi("morpho-blue/MorphoPositions.json")
BORROW = POSITIONS.event("Borrow")


class MorphoSnapshot:
    """The ``morpho_blue`` family of :class:`toolkit.snapshot.model.SnapshotFamily` (module docstring)."""

    def log_filter(self, deployment: Deployment, state: MarketState) -> LogFilter:
        return LogFilter(addresses=(deployment.address("morpho"),))

    def scan(self, logs: Sequence[dict[str, Any]], deployment: Deployment, found: Discovery) -> None:
        for log in logs:
            topics = [str(t).lower() for t in log.get("topics") or []]
            if len(topics) < 2:
                continue
            market = topics[1]
            found.touched.update((market, account) for account in log_addresses(log, first_topic=2))
            if topics[0] == BORROW.topic0 and len(topics) > 2:
                found.borrowers.add((market, "0x" + topics[2][-40:]))

    async def market_state(self, deployment: Deployment, state: Any, block: int, keys: Iterable[Key]) -> MarketState:
        morpho = deployment.address("morpho")
        markets = sorted({market for market, _ in keys})
        one = await read(state, {(name, m): Call(block, morpho, MORPHO.fn(name), (bytes.fromhex(m[2:]),))
                                 for m in markets for name in ("idToMarketParams", "market")})
        feeds = {token.lower(): feed.lower() for token, feed in deployment.params.get("usd_feeds", {}).items()}
        second: dict[Hashable, Call] = {}
        params = {}
        for m in markets:
            loan, collateral, oracle, _, lltv = need(one, ("idToMarketParams", m))
            params[m] = (loan.lower(), collateral.lower(), oracle.lower(), lltv)
            second[("price", m)] = Call(block, oracle, ORACLE.fn("price"))
            for token in (loan.lower(), collateral.lower()):
                second[("decimals", token)] = Call(block, token, ERC20.fn("decimals"))
                second[("symbol", token)] = Call(block, token, ERC20.fn("symbol"))
            if loan.lower() in feeds:
                second[("usd", loan.lower())] = Call(block, feeds[loan.lower()], USD_FEED.fn("latestAnswer"))
                second[("usd_decimals", loan.lower())] = Call(block, feeds[loan.lower()], USD_FEED.fn("decimals"))
        two = await read(state, second)
        assets: dict[str, dict[str, AssetState]] = {}
        totals = {}
        for m, (loan, collateral, oracle, lltv) in params.items():
            answer, decimals = optional(two, ("usd", loan)), optional(two, ("usd_decimals", loan))
            usd = (answer[0], 10 ** decimals[0]) if answer and decimals and answer[0] > 0 else (None, None)
            loan_decimals, coll_decimals = need(two, ("decimals", loan))[0], need(two, ("decimals", collateral))[0]
            symbol = (optional(two, ("symbol", loan)) or (loan,))[0]
            assets[m] = {
                collateral: AssetState(collateral, (optional(two, ("symbol", collateral)) or (None,))[0], coll_decimals,
                                       need(two, ("price", m))[0], 10 ** (36 + loan_decimals - coll_decimals), symbol,
                                       usd[0], usd[1], lltv, lltv, {"oracle": oracle}),
                loan: AssetState(loan, symbol, loan_decimals, 1, 1, symbol, usd[0], usd[1], 0, 0, {})}
            _, _, total_assets, total_shares, _, _ = need(one, ("market", m))
            totals[m] = (total_assets, total_shares, loan, collateral, lltv)
        return MarketState(block, assets, {"totals": totals},
                           rules="Morpho Blue _isHealthy: borrow shares toAssetsUp over the stored totals, "
                                 "collateral x oracle price / 1e36 x LLTV")

    async def compositions(self, deployment: Deployment, state: Any, market: MarketState, keys: Sequence[Key],
                           found: Discovery, carried: dict[Key, Composition]) -> list[Composition]:
        morpho, block = deployment.address("morpho"), market.block
        one = await read(state, {key: Call(block, morpho, MORPHO.fn("position"), (bytes.fromhex(key[0][2:]), key[1]))
                                 for key in keys})
        out = []
        for key in keys:
            _, shares, collateral = need(one, key)
            _, _, loan, collateral_token, _ = market.params["totals"][key[0]]
            composition = Composition(key[0], key[1], block)
            composition.holdings[collateral_token] = Holding(collateral_token, True, collateral, 0)
            composition.holdings[loan] = Holding(loan, False, 0, shares)
            out.append(composition)
        return out

    def rows(self, deployment: Deployment, market: MarketState, composition: Composition) -> list[dict[str, Any]]:
        total_assets, total_shares, loan, collateral_token, lltv = market.params["totals"][composition.market_id]
        assets = market.assets[composition.market_id]
        shares = composition.holdings[loan].debt_balance
        collateral = composition.holdings[collateral_token].collateral_balance
        borrowed = to_assets_up(shares, total_assets, total_shares)
        if borrowed == 0:
            return []
        max_borrow = collateral * assets[collateral_token].price_raw // ORACLE_PRICE_SCALE * lltv // WAD
        rows = []
        for token, amount, debt in ((collateral_token, collateral, 0), (loan, 0, borrowed)):
            st, holding = assets[token], composition.holdings[token]
            if not (amount or debt):
                continue
            rows.append({
                "market_id": composition.market_id, "account": composition.account, "asset": token,
                "symbol": st.symbol, "decimals": st.decimals, "uses_as_collateral": holding.uses_as_collateral,
                "collateral_balance_raw": str(holding.collateral_balance),
                "debt_balance_raw": str(holding.debt_balance),
                "debt_index_raw": None, "stable_debt_raw": None, "emode_category": 0,
                "read_block": composition.read_block, "collateral_raw": str(amount), "debt_raw": str(debt),
                **st.price_columns(), "liquidation_threshold_raw": str(st.threshold_raw), "ltv_raw": str(st.ltv_raw),
                "account_collateral_raw": str(max_borrow), "account_debt_raw": str(borrowed),
                "health_factor_raw": str(max_borrow * WAD // borrowed)})
        return rows


#: The family object :mod:`toolkit.snapshot.families` finds.
FAMILY = MorphoSnapshot()
