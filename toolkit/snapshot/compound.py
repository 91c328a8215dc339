"""Positions of Compound v2 and Venus at a block, valued as ``Comptroller.getAccountLiquidity``.

Sources: ``compound-finance/compound-protocol`` (``CToken.sol`` ``borrowFresh``, ``repayBorrowFresh``,
``borrowBalanceStoredInternal``, ``accrueInterest``; ``Comptroller.sol`` ``getHypotheticalAccountLiquidityInternal``)
and npm ``@venusprotocol/venus-protocol@9.2.0`` (``VToken.sol``, ``ComptrollerLens.sol``), which the devchain
deploys; docs/sources/positions.md#compound-account-liquidity.

* Borrowers: ``Borrow(borrower, borrowAmount, accountBorrows, totalBorrows)`` logs of the cTokens (nothing
  indexed). Touched accounts: every address in the logs of the cTokens and the Comptroller (``Transfer`` of
  cTokens, ``Borrow``, ``RepayBorrow``, ``MarketEntered``/``MarketExited``, ...).
* Borrow principal: ``borrowFresh`` and ``repayBorrowFresh`` set ``accountBorrows[borrower] = (principal,
  borrowIndex)`` and emit the new principal (``accountBorrows`` of ``Borrow`` / ``RepayBorrow``); ``borrowIndex``
  changes only in ``accrueInterest``, at most once per block and always before a borrow or repay of that block,
  and ``AccrueInterest`` logs it. So each account's last principal and its index come from the events
  (``debt_balance_raw``, ``debt_index_raw``); an index the logs do not show is read with ``borrowIndex()`` at that
  block. The debt at the snapshot block is ``principal x borrowIndex / index`` with the stored ``borrowIndex``
  there (``borrowBalanceStored``), checked against ``getAccountSnapshot``; where they differ, the snapshot's value
  is kept with the block's index.
* Composition, read for the touched accounts: ``getAssetsIn`` and each market's ``getAccountSnapshot`` (vTokens).
* Market state: per listed cToken (registry ``contracts.ctokens``) the underlying, ``exchangeRateStored``,
  ``borrowIndex``, ``Comptroller.markets`` (collateral factor) and the oracle's ``getUnderlyingPrice`` (USD x
  1e(36 - decimals); an ETH-quoted oracle, told by ``params.quote_probe``, is converted with the chain's
  ETH/USD feed).
* Values, as ``getHypotheticalAccountLiquidityInternal``: ``tokensToDenom = CF x exchangeRate x price`` (each
  product truncated to 1e18), collateral ``+= tokensToDenom x vTokens / 1e18``, debt ``+= price x borrow / 1e18``;
  ``HF = collateral x 1e18 / debt`` (rounded down). Venus adds minted VAI to the debt; it is not read here.

The ``asset`` of a row is the cToken (two markets may share an underlying); ``symbol`` and ``decimals`` are the
underlying's and amounts are in underlying base units.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence
from typing import Any

from eth_hash.auto import keccak

from toolkit.abi import load_abi
from toolkit.chain.logs import LogFilter
from toolkit.protocols.base import Call
from toolkit.protocols.compound_v2 import COMPTROLLER, CTOKEN, ERC20, MANTISSA, NATIVE_ASSET, PRICE_ORACLE, \
    mul_truncate
from toolkit.protocols.eth_usd import eth_usd_at, eth_usd_calls
from toolkit.protocols.registry import Deployment
from toolkit.snapshot.model import AssetState, Composition, Discovery, Holding, Key, MarketState, log_addresses
from toolkit.snapshot.reads import need, optional, read

POSITIONS = load_abi("compound-v2/CTokenPositions.json")
BORROW = POSITIONS.event("Borrow")
REPAY = POSITIONS.event("RepayBorrow")
ACCRUE = POSITIONS.event("AccrueInterest")
#: ``AccrueInterest(uint interestAccumulated, uint borrowIndex, uint totalBorrows)`` of the first cTokens (2019):
#: the index is its second word instead of the third.
ACCRUE_V1 = "0x" + keccak(b"AccrueInterest(uint256,uint256,uint256)").hex()


def _word(data: str, index: int) -> int:
    return int(data[2 + 64 * index:2 + 64 * (index + 1)], 16)


class CompoundSnapshot:
    """The ``compound_v2`` family of :class:`toolkit.snapshot.model.SnapshotFamily` (module docstring)."""

    def log_filter(self, deployment: Deployment, state: MarketState) -> LogFilter:
        return LogFilter(addresses=(deployment.address("comptroller"), *listed_ctokens(deployment)))

    def scan(self, logs: Sequence[dict[str, Any]], deployment: Deployment, found: Discovery) -> None:
        comptroller = deployment.address("comptroller")
        indexes: dict[str, tuple[int, int]] = found.extra.setdefault("accrued", {})
        for log in logs:
            found.touched.update((comptroller, account) for account in log_addresses(log))
            topics, data = log.get("topics") or [], str(log.get("data") or "0x")
            if not topics:
                continue
            topic, emitter, block = str(topics[0]).lower(), str(log["address"]).lower(), int(log["blockNumber"], 16)
            if topic == ACCRUE.topic0:
                indexes[emitter] = (block, _word(data, 2))
            elif topic == ACCRUE_V1:
                indexes[emitter] = (block, _word(data, 1))
            elif topic in (BORROW.topic0, REPAY.topic0):
                borrower = "0x" + data[2 + 64 * (topic == REPAY.topic0):][24:64].lower()
                principal = _word(data, 2 if topic == BORROW.topic0 else 3)
                seen = indexes.get(emitter)
                index = seen[1] if seen and seen[0] == block else None
                found.extra[("principal", emitter, borrower)] = (principal, index, block)
                if topic == BORROW.topic0:
                    found.borrowers.add((comptroller, borrower))

    async def market_state(self, deployment: Deployment, state: Any, block: int, keys: Iterable[Key]) -> MarketState:
        comptroller, ctokens = deployment.address("comptroller"), listed_ctokens(deployment)
        natives = {m.lower() for m in deployment.params.get("native_markets", [])}
        first: dict[Hashable, Call] = {"oracle": Call(block, comptroller, COMPTROLLER.fn("oracle"))}
        for ctoken in ctokens:
            if ctoken not in natives:
                first[("underlying", ctoken)] = Call(block, ctoken, CTOKEN.fn("underlying"))
            first[("rate", ctoken)] = Call(block, ctoken, CTOKEN.fn("exchangeRateStored"))
            first[("index", ctoken)] = Call(block, ctoken, POSITIONS.fn("borrowIndex"))
            first[("markets", ctoken)] = Call(block, comptroller, COMPTROLLER.fn("markets"), (ctoken,))
        one = await read(state, first)
        oracle = need(one, "oracle")[0]
        underlyings = {c: NATIVE_ASSET if c in natives else need(one, ("underlying", c))[0].lower() for c in ctokens}
        second: dict[Hashable, Call] = {}
        for ctoken, asset in underlyings.items():
            second[("price", ctoken)] = Call(block, oracle, PRICE_ORACLE.fn("getUnderlyingPrice"), (ctoken,))
            if asset != NATIVE_ASSET:
                second[("decimals", asset)] = Call(block, asset, ERC20.fn("decimals"))
                second[("symbol", asset)] = Call(block, asset, ERC20.fn("symbol"))
        probe = deployment.params.get("quote_probe")
        if probe and deployment.chain.eth_usd_feed:
            second[("price", probe["market"].lower())] = Call(block, oracle, PRICE_ORACLE.fn("getUnderlyingPrice"),
                                                             (probe["market"].lower(),))
            second.update(eth_usd_calls(deployment, block))
        two = await read(state, second)
        currency, usd = "USD", (1, 1)
        if probe and optional(two, ("price", probe["market"].lower())) == (MANTISSA,):
            currency, rate = probe["currency"], eth_usd_at(two, deployment, block)
            usd = ((rate.answer, 10 ** rate.decimals) if currency == "ETH" and rate.missing is None
                   else (None, None))
        assets = {}
        for ctoken, asset in underlyings.items():
            native = asset == NATIVE_ASSET
            decimals = 18 if native else need(two, ("decimals", asset))[0]
            symbol = deployment.params.get("native_symbol") if native else (optional(two, ("symbol", asset)) or
                                                                             (None,))[0]
            factor = need(one, ("markets", ctoken))[1]
            assets[ctoken] = AssetState(ctoken, symbol, decimals, need(two, ("price", ctoken))[0],
                                        10 ** (36 - decimals), currency, usd[0], usd[1], factor, factor,
                                        {"underlying": asset, "rate": need(one, ("rate", ctoken))[0],
                                         "index": need(one, ("index", ctoken))[0]})
        return MarketState(block, {comptroller: assets}, {"oracle": oracle.lower()},
                           rules="Comptroller getHypotheticalAccountLiquidityInternal: vTokens x exchangeRateStored, "
                                 "principal x borrowIndex / interestIndex, prices of the Comptroller's oracle")

    async def compositions(self, deployment: Deployment, state: Any, market: MarketState, keys: Sequence[Key],
                           found: Discovery, carried: dict[Key, Composition]) -> list[Composition]:
        comptroller, block = deployment.address("comptroller"), market.block
        one = await read(state, {("in", a): Call(block, comptroller, COMPTROLLER.fn("getAssetsIn"), (a,))
                                 for _, a in keys})
        entered = {a: [c.lower() for c in need(one, ("in", a))[0]] for _, a in keys}
        second: dict[Hashable, Call] = {}
        for account, ctokens in entered.items():
            for ctoken in ctokens:
                second[("snap", account, ctoken)] = Call(block, ctoken, CTOKEN.fn("getAccountSnapshot"), (account,))
        missing = {(key[1], value[2]) for key, value in found.extra.items()
                   if isinstance(key, tuple) and key[0] == "principal" and value[1] is None}
        for ctoken, at in missing:
            second[("index_at", ctoken, at)] = Call(at, ctoken, POSITIONS.fn("borrowIndex"))
        two = await read(state, second)
        out = []
        for key in keys:
            account = key[1]
            composition = Composition(comptroller, account, block)
            for ctoken in entered[account]:
                st = market.assets[comptroller].get(ctoken)
                if st is None:
                    continue
                error, vtokens, borrowed, _ = need(two, ("snap", account, ctoken))
                principal, index = self._principal(found, carried.get(key), two, ctoken, account)
                if principal is None or principal * st.params["index"] // index != borrowed:
                    principal, index = borrowed, st.params["index"]
                composition.holdings[ctoken] = Holding(ctoken, True, vtokens, principal, index, None)
            out.append(composition)
        return out

    @staticmethod
    def _principal(found: Discovery, carried: Composition | None, results: dict[Hashable, Any], ctoken: str,
                   account: str) -> tuple[int | None, int]:
        """The account's principal in ``ctoken`` and the index it was set at: from the events of the scan, else
        from the carried composition; ``(None, 1)`` when neither knows it."""
        event = found.extra.get(("principal", ctoken, account))
        if event is not None:
            principal, index, at = event
            if index is None:
                answer = optional(results, ("index_at", ctoken, at))
                index = answer[0] if answer else None
            if index:
                return principal, index
        if carried is not None and ctoken in carried.holdings and carried.holdings[ctoken].debt_index:
            holding = carried.holdings[ctoken]
            return holding.debt_balance, int(holding.debt_index or 1)
        return None, 1

    def rows(self, deployment: Deployment, market: MarketState, composition: Composition) -> list[dict[str, Any]]:
        comptroller = deployment.address("comptroller")
        collateral_sum = debt_sum = 0
        rows = []
        for ctoken, holding in sorted(composition.holdings.items()):
            st = market.assets[comptroller][ctoken]
            rate, price = st.params["rate"], st.price_raw
            borrowed = holding.debt_balance * st.params["index"] // holding.debt_index if holding.debt_index else 0
            denom = mul_truncate(mul_truncate(st.threshold_raw, rate), price)
            collateral_sum += mul_truncate(denom, holding.collateral_balance)
            debt_sum += mul_truncate(price, borrowed)
            underlying = mul_truncate(rate, holding.collateral_balance)
            if underlying or borrowed:
                rows.append({
                    "market_id": comptroller, "account": composition.account, "asset": ctoken, "symbol": st.symbol,
                    "decimals": st.decimals, "uses_as_collateral": st.threshold_raw > 0,
                    "collateral_balance_raw": str(holding.collateral_balance),
                    "debt_balance_raw": str(holding.debt_balance),
                    "debt_index_raw": None if holding.debt_index is None else str(holding.debt_index),
                    "stable_debt_raw": None, "emode_category": 0, "read_block": composition.read_block,
                    "collateral_raw": str(underlying), "debt_raw": str(borrowed), **st.price_columns(),
                    "liquidation_threshold_raw": str(st.threshold_raw), "ltv_raw": str(st.ltv_raw)})
        if debt_sum == 0 and not any(int(r["debt_raw"]) for r in rows):
            return []
        health = collateral_sum * MANTISSA // debt_sum if debt_sum else None
        for row in rows:
            row.update(account_collateral_raw=str(collateral_sum), account_debt_raw=str(debt_sum),
                       health_factor_raw=None if health is None else str(health))
        return rows


def listed_ctokens(deployment: Deployment) -> list[str]:
    """The deployment's cTokens (``contracts.ctokens``, one address or a list), lower case, sorted."""
    value = deployment.contracts["ctokens"]
    return sorted(a.lower() for a in ([value] if isinstance(value, str) else value))


#: The family object :mod:`toolkit.snapshot.families` finds.
FAMILY = CompoundSnapshot()
