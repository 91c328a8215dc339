"""Positions of Aave v2, Aave v3 (every version to 3.6) and Spark at a block, valued as ``Pool.getUserAccountData``.

Sources: npm ``@aave/core-v3@1.19.3`` (v3.0-3.1: ``GenericLogic.calculateUserAccountData``, ``EModeLogic``,
``UserConfiguration``, ``WadRayMath``, ``PercentageMath``), npm ``@aave-dao/aave-v3-origin@3.6.0`` (v3.6:
``GenericLogic``, ``TokenMath``, ``MathUtils.mulDivCeil``, ``ValidationLogic.getUserReserveLtv``,
``PoolInstance.POOL_REVISION = 10``), aave-dao/aave-v3-origin ``docs/3.5/Aave-v3.5-features.md`` (v3.5 rounding),
``@aave/protocol-v2@1.0.1`` (``GenericLogic``); docs/sources/positions.md#aave-account-data.

* Borrowers: ``Borrow`` logs of the Pool (``onBehalfOf``, indexed: topic 2; v2 and v3 differ in one field type,
  hence two topic0s). Touched accounts: every address in the logs of the Pool and its aTokens (supply, withdraw,
  repay, liquidation, collateral switch, e-mode change, aToken transfer).
* Composition, read for the touched accounts: ``getUserConfiguration`` (bit ``2 id`` borrowing, ``2 id + 1``
  using as collateral, ``id`` from ``getReserveData``), ``getUserEMode`` (v3), and per flagged reserve the aToken's
  and the variable-debt token's ``scaledBalanceOf`` and the stable-debt token's ``balanceOf`` (stable debt grows
  with time alone, so such accounts are read at every snapshot).
* Market state at the block: ``getReservesList``, ``getReserveData`` (configuration bitmap and token addresses),
  ``getReserveNormalizedIncome`` / ``getReserveNormalizedVariableDebt`` (the indexes ``balanceOf`` uses at the
  block), the oracle of the addresses provider and its ``getAssetPrice``, v3 ``BASE_CURRENCY_UNIT``; v2's
  ETH-quoted oracle is converted with the chain's ETH/USD feed (``deployments/chains.toml``).
* Which account math the pool runs at the block (:class:`AccountMath`), found by probes: v2 by the registry;
  v3 pools whose ``getEModeCategoryCollateralBitmap`` reverts are v3.0-3.1; otherwise ``POOL_REVISION`` decides:
  below 9 v3.2-3.4, 9 v3.5, 10 or more v3.6+ (3.6.0 has 10; the v3.7.0 release notes bump it from 10 to 11).
* E-mode. v3.0-3.1: the categories reserves belong to (configuration bits 168-175), ``getEModeCategoryData``
  and its price source's price; a reserve of the account's category takes the category's LTV, threshold and
  price (debt too). v3.2+: ``getEModeCategoryCollateralConfig`` of every category 1-255, and for the configured
  ones ``getEModeCategoryCollateralBitmap`` and (v3.6) ``getEModeCategoryLtvzeroBitmap``; a reserve whose id is
  set in the account's category's collateral bitmap takes its threshold and LTV (0 when in the ltvzero bitmap);
  no price sources.
* Values, as ``calculateUserAccountData`` of that math: collateral counted where the account uses the reserve
  as collateral and (before v3.6) the reserve's own threshold is not 0; collateral ``rayMul(scaled, income)``
  (v3.5+: rounded down), its value ``collateral x price / 10^decimals`` rounded down; debt ``rayMul(scaled,
  debt index) + stable`` (v3.5+: rounded up, no stable), its value ``price x debt / 10^decimals`` (v3.5+: rounded
  up). Health factor before v3.5: average threshold ``sum(value x LT) / total`` (integer division), ``HF =
  wadDiv(percentMul(total collateral, average), total debt)``; v3.5+: ``HF = wadDiv(sum(value x LT), total
  debt) / 10000``.
* Check: :meth:`AaveSnapshot.check` reads ``getUserAccountData`` of re-read accounts at the block; the snapshot
  compares it with the replicated totals and health factor (a difference is a warning and is stored with the
  snapshot's ``rules``). v3.2-3.4 are computed with the v3.0 rounding and health-factor formula and the v3.2
  bitmap e-mode, a reading not checked against their source here: the check is what vouches for them.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from toolkit.abi import load_abi
from toolkit.chain.logs import LogFilter
from toolkit.protocols.aave import ERC20, ORACLE_V3, POOL_V2, POOL_V3, PROVIDER_V2, PROVIDER_V3, WAD, \
    ReserveConfig, percent_mul
from toolkit.protocols.base import Call
from toolkit.protocols.eth_usd import eth_usd_at, eth_usd_calls
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


def ray_mul_floor(a: int, b: int) -> int:
    """v3.5+ ``WadRayMath.rayMulFloor`` (``TokenMath.getATokenBalance``): ``a x b / RAY`` rounded down."""
    return a * b // RAY


def ray_mul_ceil(a: int, b: int) -> int:
    """v3.5+ ``WadRayMath.rayMulCeil`` (``TokenMath.getVTokenBalance``): ``a x b / RAY`` rounded up."""
    return -(-a * b // RAY)


def wad_div(a: int, b: int) -> int:
    """``WadRayMath.wadDiv``: ``(a x WAD + b/2) / b``."""
    return (a * WAD + b // 2) // b


def _version(deployment: Deployment) -> int:
    return int(deployment.params["aave_version"])


#: Categories a v3.2+ pool can have (``uint8`` ids, 0 = none).
CATEGORIES = range(1, 256)


@dataclass(frozen=True)
class AccountMath:
    """The ``calculateUserAccountData`` a pool runs at a block (module docstring).

    :ivar name: ``Aave v2``, ``Aave v3.0-3.1``, ``Aave v3.2-3.4``, ``Aave v3.5`` or ``Aave v3.6+``.
    :ivar revision: ``POOL_REVISION`` when read (v3.2+ probes), else None.
    :ivar bitmap_emode: e-mode by the category's collateral bitmap (v3.2+).
    :ivar protocol_rounding: v3.5+ rounding (collateral down, debt up) and health factor from the sum.
    :ivar counts_zero_threshold: v3.6+: collateral of a reserve with threshold 0 counts in the total.
    """

    name: str
    revision: int | None = None
    bitmap_emode: bool = False
    protocol_rounding: bool = False
    counts_zero_threshold: bool = False

    @classmethod
    def of(cls, aave_version: int, bitmap_answers: bool, revision: int | None) -> AccountMath:
        """The math from the probes (module docstring)."""
        if aave_version < 3:
            return cls("Aave v2")
        if not bitmap_answers:
            return cls("Aave v3.0-3.1", revision)
        if revision is None or revision < 9:
            return cls("Aave v3.2-3.4", revision, True)
        if revision == 9:
            return cls("Aave v3.5", revision, True, True)
        return cls("Aave v3.6+", revision, True, True, True)

    @property
    def text(self) -> str:
        """One line for ``position_snapshots.rules``."""
        revision = "" if self.revision is None else f", POOL_REVISION {self.revision}"
        emode = ("e-mode by collateral bitmap" if self.bitmap_emode else
                 "e-mode by reserve category bits" if self.name != "Aave v2" else "no e-mode")
        rounding = ("collateral rounded down, debt up, HF = wadDiv(sum value x LT, debt) / 1e4"
                    if self.protocol_rounding else "half-up rayMul, HF = wadDiv(percentMul(collateral, avg LT), debt)")
        return f"{self.name}{revision}: {emode}; {rounding}"


@dataclass(frozen=True)
class EModeCategory:
    """One e-mode category at the block: LTV and threshold (bps); v3.0-3.1 price-source price (0: none);
    v3.2+ collateral and ltvzero bitmaps (bit = reserve id)."""

    ltv_bps: int
    lt_bps: int
    price: int = 0
    collateral_bitmap: int | None = None
    ltvzero_bitmap: int = 0


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
        first: dict[Hashable, Call] = {
            "reserves": Call(block, pool, positions.fn("getReservesList")),
            "provider": Call(block, pool, pool_abi.fn("ADDRESSES_PROVIDER" if v3 else "getAddressesProvider"))}
        if eth_quoted:
            first.update(eth_usd_calls(deployment, block))
        one = await read(state, first)
        reserves = [a.lower() for a in need(one, "reserves")[0]]
        provider = need(one, "provider")[0]
        second: dict[Hashable, Call] = {"oracle": Call(block, provider, (PROVIDER_V3 if v3 else PROVIDER_V2).fn(
            "getPriceOracle"))}
        for asset in reserves:
            second[("data", asset)] = Call(block, pool, pool_abi.fn("getReserveData"), (asset,))
            second[("income", asset)] = Call(block, pool, positions.fn("getReserveNormalizedIncome"), (asset,))
            second[("debt", asset)] = Call(block, pool, positions.fn("getReserveNormalizedVariableDebt"), (asset,))
            second[("symbol", asset)] = Call(block, asset, ERC20.fn("symbol"))
        two = await read(state, second)
        oracle = need(two, "oracle")[0]
        configs = {a: ReserveConfig.from_bitmap(need(two, ("data", a))[0][0][0], _version(deployment))
                   for a in reserves}
        third: dict[Hashable, Call] = {("price", a): Call(block, oracle, ORACLE_V3.fn("getAssetPrice"), (a,))
                                       for a in reserves}
        if v3:
            third["unit"] = Call(block, oracle, ORACLE_V3.fn("BASE_CURRENCY_UNIT"))
            third["bitmap"] = Call(block, pool, POOL_V3.fn("getEModeCategoryCollateralBitmap"), (1,))
            third["revision"] = Call(block, pool, POSITIONS_V3.fn("POOL_REVISION"))
        three = await read(state, third)
        revision = optional(three, "revision")
        math = AccountMath.of(_version(deployment), optional(three, "bitmap") is not None,
                              revision[0] if revision else None)
        emodes = (await _emodes_bitmap(state, pool, block) if math.bitmap_emode else
                  await _emodes_v30(state, pool, oracle, block, configs) if v3 else {})
        if v3:
            unit, currency, usd = need(three, "unit")[0], "USD", (1, 1)
        else:
            unit, currency = WAD, "ETH"
            rate = eth_usd_at(one, deployment, block)
            usd = (rate.answer, 10 ** rate.decimals) if rate.missing is None else (None, None)
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
        return MarketState(block, {pool: assets}, {"emodes": emodes, "oracle": oracle.lower(), "math": math},
                           rules=math.text)

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
        math: AccountMath = market.params["math"]
        emode: EModeCategory | None = market.params["emodes"].get(composition.emode_category) \
            if composition.emode_category else None
        total_collateral = total_debt = weighted_lt = 0
        rows = []
        for asset, holding in sorted(composition.holdings.items()):
            st = market.assets[pool][asset]
            ltv_bps, lt_bps, price = st.params["ltv_bps"], st.params["lt_bps"], st.price_raw
            if emode is not None and math.bitmap_emode:
                rid = st.params["id"]
                if emode.collateral_bitmap is not None and (emode.collateral_bitmap >> rid) & 1:
                    lt_bps = emode.lt_bps
                    ltv_bps = 0 if (emode.ltvzero_bitmap >> rid) & 1 else emode.ltv_bps
            elif emode is not None and st.params["emode"] == composition.emode_category:
                ltv_bps, lt_bps, price = emode.ltv_bps, emode.lt_bps, emode.price or st.price_raw
            unit = 10**st.decimals
            counted = holding.uses_as_collateral and (math.counts_zero_threshold or st.params["lt_bps"] != 0)
            balance, owed = (ray_mul_floor, ray_mul_ceil) if math.protocol_rounding else (ray_mul, ray_mul)
            collateral = balance(holding.collateral_balance, st.params["income"]) if counted else 0
            debt = (owed(holding.debt_balance, st.params["debt_index"]) if holding.debt_balance else 0) + (
                holding.stable_debt or 0)
            if counted:
                value = collateral * price // unit
                total_collateral += value
                weighted_lt += value * lt_bps
            total_debt += -(-price * debt // unit) if math.protocol_rounding else price * debt // unit
            if collateral or debt:
                rows.append(_row(composition, holding, st, counted, collateral, debt, price, lt_bps, ltv_bps))
        if total_debt == 0 or not rows:
            return []
        if math.protocol_rounding:
            health = wad_div(weighted_lt, total_debt) // 10_000
        else:
            average = weighted_lt // total_collateral if total_collateral else 0
            health = wad_div(percent_mul(total_collateral, average), total_debt)
        for row in rows:
            row.update(account_collateral_raw=str(total_collateral), account_debt_raw=str(total_debt),
                       health_factor_raw=str(health))
        return rows

    async def check(self, deployment: Deployment, state: Any, block: int,
                    keys: Sequence[Key]) -> dict[Key, tuple[int, int, int]]:
        """The pool's own ``getUserAccountData`` of ``keys`` at ``block``: (total collateral, total debt, health
        factor) in the units of ``account_collateral_raw``, ``account_debt_raw``, ``health_factor_raw``."""
        pool = deployment.address("pool")
        abi = POOL_V3 if _version(deployment) >= 3 else POOL_V2
        answers = await read(state, {key: Call(block, pool, abi.fn("getUserAccountData"), (key[1],)) for key in keys})
        return {key: (need(answers, key)[0], need(answers, key)[1], need(answers, key)[5]) for key in keys}


async def _emodes_v30(state: Any, pool: str, oracle: str, block: int,
                      configs: dict[str, ReserveConfig]) -> dict[int, EModeCategory]:
    """v3.0-3.1: the categories reserves belong to, with their price source's price."""
    categories = sorted({c.emode_category for c in configs.values() if c.emode_category})
    data = await read(state, {c: Call(block, pool, POOL_V3.fn("getEModeCategoryData"), (c,)) for c in categories})
    sources = {c: need(data, c)[0][3] for c in categories}
    prices = await read(state, {c: Call(block, oracle, ORACLE_V3.fn("getAssetPrice"), (source,))
                                for c, source in sources.items() if source.lower() != ZERO})
    return {c: EModeCategory(need(data, c)[0][0], need(data, c)[0][1], need(prices, c)[0] if c in prices else 0)
            for c in categories}


async def _emodes_bitmap(state: Any, pool: str, block: int) -> dict[int, EModeCategory]:
    """v3.2+: every configured category (threshold not 0) with its bitmaps."""
    configs = await read(state, {c: Call(block, pool, POOL_V3.fn("getEModeCategoryCollateralConfig"), (c,))
                                 for c in CATEGORIES})
    used = [c for c in CATEGORIES if need(configs, c)[0][1]]
    bitmaps: dict[Hashable, Call] = {}
    for c in used:
        bitmaps[("collateral", c)] = Call(block, pool, POOL_V3.fn("getEModeCategoryCollateralBitmap"), (c,))
        bitmaps[("ltvzero", c)] = Call(block, pool, POSITIONS_V3.fn("getEModeCategoryLtvzeroBitmap"), (c,))
    answers = await read(state, bitmaps)
    out = {}
    for c in used:
        ltvzero = optional(answers, ("ltvzero", c))
        out[c] = EModeCategory(need(configs, c)[0][0], need(configs, c)[0][1], 0,
                               need(answers, ("collateral", c))[0], ltvzero[0] if ltvzero else 0)
    return out


def _row(composition: Composition, holding: Holding, st: AssetState, counted: bool, collateral: int, debt: int,
         price: int, lt_bps: int, ltv_bps: int) -> dict[str, Any]:
    return {"market_id": composition.market_id, "account": composition.account, "asset": st.asset,
            "symbol": st.symbol, "decimals": st.decimals, "uses_as_collateral": counted,
            "collateral_balance_raw": str(holding.collateral_balance), "debt_balance_raw": str(holding.debt_balance),
            "debt_index_raw": None,
            "stable_debt_raw": None if holding.stable_debt is None else str(holding.stable_debt),
            "emode_category": composition.emode_category, "read_block": composition.read_block,
            "collateral_raw": str(collateral), "debt_raw": str(debt), **st.price_columns(price),
            "liquidation_threshold_raw": str(lt_bps * BPS_TO_WAD), "ltv_raw": str(ltv_bps * BPS_TO_WAD)}


#: The family object :mod:`toolkit.snapshot.families` finds.
FAMILY = AaveSnapshot()
