"""Positions of Aave v2, Aave v3 (3.0-3.2 e-mode) and Spark at a block, valued as ``Pool.getUserAccountData``.

Sources: npm ``@aave/core-v3@1.19.3`` (``GenericLogic.calculateUserAccountData``, ``EModeLogic``,
``UserConfiguration``, ``WadRayMath``, ``PercentageMath``) and ``@aave/protocol-v2@1.0.1`` (``GenericLogic``); the
docs/sources/positions.md#aave-account-data.

* Borrowers: ``Borrow`` logs of the Pool (``onBehalfOf``, indexed: topic 2; v2 and v3 differ in one field type,
  hence two topic0s). Touched accounts: every address in the logs of the Pool and its aTokens (supply, withdraw,
  repay, liquidation, collateral switch, e-mode change, aToken transfer).
* Composition, read for the touched accounts: ``getUserConfiguration`` (bit ``2 id`` borrowing, ``2 id + 1``
  using as collateral, ``id`` from ``getReserveData``), ``getUserEMode`` (v3), and per flagged reserve the aToken's
  and the variable-debt token's ``scaledBalanceOf`` and the stable-debt token's ``balanceOf`` (stable debt grows
  with time alone, so such accounts are read at every snapshot).
* Market state at the block: ``getReservesList``, ``getReserveData`` (configuration bitmap and token addresses),
  ``getReserveNormalizedIncome`` / ``getReserveNormalizedVariableDebt`` (the indexes ``balanceOf`` uses at the
  block), the oracle of the addresses provider and its ``getAssetPrice``, v3 ``BASE_CURRENCY_UNIT`` and
  ``getEModeCategoryData`` of each category a reserve belongs to (bits 168-175) with its price source's price;
  v2's ETH-quoted oracle is converted with the chain's ETH/USD feed (``deployments/chains.toml``).
* Values, exactly as ``calculateUserAccountData``: collateral = ``rayMul(scaled, income)``, its base-currency value
  ``collateral x price / 10^decimals`` (integer division) counted where the account uses the reserve as collateral
  and its threshold is not 0; debt = ``rayMul(scaled, debt index) + stable``, valued ``price x debt /
  10^decimals``; in e-mode the category's LTV and threshold replace the reserve's for reserves of the category,
  and its price source's price replaces theirs when set; average threshold = ``sum(value x LT) / total``
  (integer division); ``HF = wadDiv(percentMul(total collateral, average threshold), total debt)``.

Aave v3.2+ e-modes (collateral and borrowable bitmaps) are not read here.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence
from typing import Any

from toolkit.abi import load_abi
from toolkit.chain.logs import LogFilter
from toolkit.protocols.aave import ERC20, ETH_USD_FEED, ORACLE_V3, POOL_V2, POOL_V3, PROVIDER_V2, PROVIDER_V3, WAD, \
    ReserveConfig
from toolkit.protocols.base import Call
from toolkit.protocols.registry import Deployment
from toolkit.snapshot.model import AssetState, Composition, Discovery, Holding, Key, MarketState, log_addresses
from toolkit.snapshot.reads import need, optional, read

POSITIONS_V3 = load_abi("aave-v3/PoolPositions.json")
POSITIONS_V2 = load_abi("aave-v2/LendingPoolPositions.json")
SCALED = load_abi("aave-v3/ScaledBalanceToken.json")
BORROW_TOPICS = (POSITIONS_V3.event("Borrow").topic0, POSITIONS_V2.event("Borrow").topic0)
RAY = 10**27
HALF_RAY = RAY // 2
BPS_TO_WAD = 10**14
ZERO = "0x" + "0" * 40


def ray_mul(a: int, b: int) -> int:
    """``WadRayMath.rayMul``: ``(a x b + RAY/2) / RAY``."""
    return (a * b + HALF_RAY) // RAY


def percent_mul(value: int, bps: int) -> int:
    """``PercentageMath.percentMul``: ``(value x bps + 5000) / 10000``."""
    return (value * bps + 5_000) // 10_000


def wad_div(a: int, b: int) -> int:
    """``WadRayMath.wadDiv``: ``(a x WAD + b/2) / b``."""
    return (a * WAD + b // 2) // b


def _version(deployment: Deployment) -> int:
    return int(deployment.params["aave_version"])


class AaveSnapshot:
    """The ``aave`` family of :class:`toolkit.snapshot.model.SnapshotFamily` (module docstring)."""

    def log_filter(self, deployment: Deployment, state: MarketState) -> LogFilter:
        pool = deployment.address("pool")
        tokens = sorted({a.params["a_token"] for a in state.assets[pool].values()})
        return LogFilter(addresses=(pool, *tokens))

    def scan(self, logs: Sequence[dict[str, Any]], deployment: Deployment, found: Discovery) -> None:
        pool = deployment.address("pool")
        for log in logs:
            found.touched.update((pool, account) for account in log_addresses(log))
            topics = log.get("topics") or []
            if str(log.get("address", "")).lower() == pool and topics and str(topics[0]).lower() in BORROW_TOPICS:
                found.borrowers.add((pool, "0x" + str(topics[2])[-40:].lower()))

    async def market_state(self, deployment: Deployment, state: Any, block: int, keys: Iterable[Key]) -> MarketState:
        pool, v3 = deployment.address("pool"), _version(deployment) >= 3
        pool_abi, positions = (POOL_V3, POSITIONS_V3) if v3 else (POOL_V2, POSITIONS_V2)
        eth_quoted = deployment.params.get("price_currency") == "ETH"
        feed = (deployment.chain.eth_usd_feed or "").lower()
        first: dict[Hashable, Call] = {
            "reserves": Call(block, pool, positions.fn("getReservesList")),
            "provider": Call(block, pool, pool_abi.fn("ADDRESSES_PROVIDER" if v3 else "getAddressesProvider"))}
        if eth_quoted and feed:
            first["eth_usd"] = Call(block, feed, ETH_USD_FEED.fn("latestAnswer"))
            first["eth_usd_decimals"] = Call(block, feed, ETH_USD_FEED.fn("decimals"))
        one = await read(state, first)
        reserves = [a.lower() for a in need(one, "reserves")[0]]
        provider = need(one, "provider")[0]
        second: dict[Hashable, Call] = {"oracle": Call(block, provider, (PROVIDER_V3 if v3 else PROVIDER_V2).fn(
            "getPriceOracle"))}
        for asset in reserves:
            second[("data", asset)] = Call(block, pool, positions.fn("getReserveData"), (asset,))
            second[("income", asset)] = Call(block, pool, positions.fn("getReserveNormalizedIncome"), (asset,))
            second[("debt", asset)] = Call(block, pool, positions.fn("getReserveNormalizedVariableDebt"), (asset,))
            second[("symbol", asset)] = Call(block, asset, ERC20.fn("symbol"))
        two = await read(state, second)
        oracle = need(two, "oracle")[0]
        configs = {a: ReserveConfig.from_bitmap(need(two, ("data", a))[0][0][0], _version(deployment))
                   for a in reserves}
        third: dict[Hashable, Call] = {("price", a): Call(block, oracle, ORACLE_V3.fn("getAssetPrice"), (a,))
                                       for a in reserves}
        categories = sorted({c.emode_category for c in configs.values() if c.emode_category}) if v3 else []
        if v3:
            third["unit"] = Call(block, oracle, ORACLE_V3.fn("BASE_CURRENCY_UNIT"))
        for category in categories:
            third[("emode", category)] = Call(block, pool, POOL_V3.fn("getEModeCategoryData"), (category,))
        three = await read(state, third)
        emodes: dict[int, tuple[int, int, int]] = {}
        fourth: dict[Hashable, Call] = {}
        for category in categories:
            ltv, lt, _, source, _ = need(three, ("emode", category))[0]
            emodes[category] = (ltv, lt, 0)
            if source.lower() != ZERO:
                fourth[("source", category)] = Call(block, oracle, ORACLE_V3.fn("getAssetPrice"), (source,))
        four = await read(state, fourth)
        for category in list(emodes):
            if ("source", category) in fourth:
                emodes[category] = (*emodes[category][:2], need(four, ("source", category))[0])
        if v3:
            unit, currency, usd = need(three, "unit")[0], "USD", (1, 1)
        else:
            unit, currency = WAD, "ETH"
            answer, decimals = optional(one, "eth_usd"), optional(one, "eth_usd_decimals")
            usd = (answer[0], 10 ** decimals[0]) if answer and decimals and answer[0] > 0 else (None, None)
        assets = {}
        for asset in reserves:
            data, config = need(two, ("data", asset))[0], configs[asset]
            a_token, stable, variable, rid = ((data[8], data[9], data[10], data[7]) if v3 else
                                              (data[7], data[8], data[9], data[11]))
            symbol = optional(two, ("symbol", asset))
            assets[asset] = AssetState(
                asset, symbol[0] if symbol else None, config.decimals, need(three, ("price", asset))[0], unit,
                currency, usd[0], usd[1], config.liquidation_threshold_bps * BPS_TO_WAD, config.ltv_bps * BPS_TO_WAD,
                {"id": rid, "a_token": a_token.lower(), "stable_debt": stable.lower(),
                 "variable_debt": variable.lower(),
                 "income": need(two, ("income", asset))[0], "debt_index": need(two, ("debt", asset))[0],
                 "emode": config.emode_category, "lt_bps": config.liquidation_threshold_bps, "ltv_bps": config.ltv_bps})
        return MarketState(block, {pool: assets}, {"emodes": emodes, "oracle": oracle.lower()})

    async def compositions(self, deployment: Deployment, state: Any, market: MarketState, keys: Sequence[Key],
                           found: Discovery, carried: dict[Key, Composition]) -> list[Composition]:
        pool, v3, block = deployment.address("pool"), _version(deployment) >= 3, market.block
        positions = POSITIONS_V3 if v3 else POSITIONS_V2
        first: dict[Hashable, Call] = {}
        for _, account in keys:
            first[("config", account)] = Call(block, pool, positions.fn("getUserConfiguration"), (account,))
            if v3:
                first[("emode", account)] = Call(block, pool, POOL_V3.fn("getUserEMode"), (account,))
        one = await read(state, first)
        by_id = {a.params["id"]: a for a in market.assets[pool].values()}
        second: dict[Hashable, Call] = {}
        flags: dict[str, dict[str, tuple[bool, bool]]] = {}
        for _, account in keys:
            bits = need(one, ("config", account))[0][0]
            mine = flags.setdefault(account, {})
            for rid, asset in by_id.items():
                borrowing, collateral = bool(bits >> (2 * rid) & 1), bool(bits >> (2 * rid + 1) & 1)
                if not (borrowing or collateral):
                    continue
                mine[asset.asset] = (collateral, borrowing)
                if collateral:
                    second[("a", account, asset.asset)] = Call(block, asset.params["a_token"], SCALED.fn(
                        "scaledBalanceOf"), (account,))
                if borrowing:
                    second[("v", account, asset.asset)] = Call(block, asset.params["variable_debt"], SCALED.fn(
                        "scaledBalanceOf"), (account,))
                    if asset.params["stable_debt"] != ZERO:
                        second[("s", account, asset.asset)] = Call(block, asset.params["stable_debt"],
                                                                   SCALED.fn("balanceOf"), (account,))
        two = await read(state, second)
        out = []
        for _, account in keys:
            composition = Composition(pool, account, block, emode_category=int(need(one, ("emode", account))[0])
                                      if v3 else 0)
            for asset, (collateral, borrowing) in flags[account].items():
                stable = need(two, ("s", account, asset))[0] if ("s", account, asset) in second else None
                composition.holdings[asset] = Holding(
                    asset, collateral, need(two, ("a", account, asset))[0] if collateral else 0,
                    need(two, ("v", account, asset))[0] if borrowing else 0, None, stable or None)
                composition.always_read |= bool(stable)
            out.append(composition)
        return out

    def rows(self, deployment: Deployment, market: MarketState, composition: Composition) -> list[dict[str, Any]]:
        pool = deployment.address("pool")
        emodes: dict[int, tuple[int, int, int]] = market.params["emodes"]
        category = composition.emode_category
        total_collateral = total_debt = weighted_lt = 0
        rows = []
        for asset, holding in sorted(composition.holdings.items()):
            st = market.assets[pool][asset]
            in_emode = category != 0 and st.params["emode"] == category and category in emodes
            ltv_bps, lt_bps, emode_price = emodes[category] if in_emode else (st.params["ltv_bps"],
                                                                               st.params["lt_bps"], 0)
            price = emode_price or st.price_raw
            unit = 10**st.decimals
            counted = holding.uses_as_collateral and lt_bps != 0
            collateral = ray_mul(holding.collateral_balance, st.params["income"]) if counted else 0
            debt = (ray_mul(holding.debt_balance, st.params["debt_index"]) if holding.debt_balance else 0) + (
                holding.stable_debt or 0)
            if counted:
                value = collateral * price // unit
                total_collateral += value
                weighted_lt += value * lt_bps
            total_debt += price * debt // unit
            if collateral or debt:
                rows.append(_row(composition, holding, st, counted, collateral, debt, price, lt_bps, ltv_bps))
        if total_debt == 0 or not rows:
            return []
        average = weighted_lt // total_collateral if total_collateral else 0
        health = wad_div(percent_mul(total_collateral, average), total_debt)
        for row in rows:
            row.update(account_collateral_raw=str(total_collateral), account_debt_raw=str(total_debt),
                       health_factor_raw=str(health))
        return rows


def _row(composition: Composition, holding: Holding, st: AssetState, counted: bool, collateral: int, debt: int,
         price: int, lt_bps: int, ltv_bps: int) -> dict[str, Any]:
    return {"market_id": composition.market_id, "account": composition.account, "asset": st.asset,
            "symbol": st.symbol, "decimals": st.decimals, "uses_as_collateral": counted,
            "collateral_balance_raw": str(holding.collateral_balance), "debt_balance_raw": str(holding.debt_balance),
            "debt_index_raw": None,
            "stable_debt_raw": None if holding.stable_debt is None else str(holding.stable_debt),
            "emode_category": composition.emode_category, "read_block": composition.read_block,
            "collateral_raw": str(collateral), "debt_raw": str(debt), "price_raw": str(price),
            "price_unit_raw": str(st.price_unit_raw), "price_currency": st.price_currency,
            "usd_per_currency_raw": None if st.usd_per_currency_raw is None else str(st.usd_per_currency_raw),
            "usd_per_currency_unit_raw": None if st.usd_per_currency_unit_raw is None else str(
                st.usd_per_currency_unit_raw),
            "liquidation_threshold_raw": str(lt_bps * BPS_TO_WAD), "ltv_raw": str(ltv_bps * BPS_TO_WAD)}


#: The family object :mod:`toolkit.snapshot.families` finds.
FAMILY = AaveSnapshot()
