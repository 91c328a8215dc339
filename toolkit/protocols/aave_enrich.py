"""State columns of Aave v2/v3 rows: reads at the block before, then the rules of the pool at that block.

Three dependent rounds of batched ``eth_call``s at ``state_block = block_number - 1``:

1. per row: ``getConfiguration`` of the debt and collateral reserves, ``getUserAccountData`` and (v3)
   ``getUserEMode`` of the borrower, the ERC-20 symbols, the addresses provider, (v3) the v3.3 probe
   ``getReserveDeficit(debt asset)``, and the ETH/USD feed for ETH-quoted oracles;
2. the oracle (``getPriceOracle`` of the provider); for a borrower in an e-mode category its data
   (``getEModeCategoryData``, and the v3.2+ getters ``getEModeCategoryCollateralConfig`` /
   ``getEModeCategoryCollateralBitmap``, whose answering is the v3.2 probe) and ``getReserveData`` of the
   collateral (its reserve id); for v3.3+ ``getReserveData`` of both reserves (aToken, variable debt token);
3. prices (``getAssetPrice`` of the oracle keys), ``BASE_CURRENCY_UNIT`` and, for v3.3+, the borrower's
   aToken and variable-debt balances in the two reserves.

Then :mod:`toolkit.protocols.aave_rules` decides the e-mode and close factor from those values, and
:mod:`toolkit.protocols.aave_fees` the protocol fee. ``DeficitCreated`` rows only need their debt asset's
configuration and price. Reading at the block before is exact unless earlier transactions of the same
block moved the position or the oracle (and interest of one block is not included).
"""

from __future__ import annotations

from collections.abc import Hashable
from fractions import Fraction
from typing import TYPE_CHECKING, Any

from toolkit.protocols import aave_rules as rules
from toolkit.protocols.aave import (DEFICIT_CREATED, ERC20, ETH_USD_FEED, LIQUIDATION_CALL, ORACLE_V2, ORACLE_V3,
                                    POOL_V2, POOL_V3, PROVIDER_V2, PROVIDER_V3)
from toolkit.protocols.aave_fees import PERCENTAGE_FACTOR, protocol_fee_from_event, seized_with_bonus
from toolkit.protocols.aave_rules import EModeApplied, PoolRules, ReserveConfig
from toolkit.protocols.base import Call, CallFailed, StateCaller, StateRounds
from toolkit.protocols.registry import Deployment

if TYPE_CHECKING:
    from toolkit.protocols.aave import AaveAdapter

WAD = 10**18


class AaveEnrichment(StateRounds):
    """The state reads and state columns of one batch of rows (see the module docstring)."""

    def __init__(self, adapter: AaveAdapter, deployment: Deployment, state: StateCaller,
                 rows: list[dict[str, Any]]) -> None:
        super().__init__(state, deployment, rows)
        self.adapter = adapter
        self.version = int(deployment.params["aave_version"])
        self.pool = deployment.address("pool")
        self.pool_abi = POOL_V3 if self.version >= 3 else POOL_V2
        self.eth_quoted = deployment.params.get("price_currency") == "ETH"

    async def run(self) -> None:
        await self._round(self._first_round())
        await self._round(self._second_round())
        await self._round(self._third_round())
        for row in self.rows:
            try:
                is_deficit = row["event"] == DEFICIT_CREATED.name
                row.update(self._deficit_columns(row) if is_deficit else self._state_columns(row))
                row["state_status"] = "ok"
            except CallFailed as failure:
                row["state_status"] = f"unavailable: {failure}"

    # -- reads ----------------------------------------------------------------------------------

    def _first_round(self) -> dict[Hashable, Call]:
        calls: dict[Hashable, Call] = {}
        provider_fn = self.pool_abi.fn("ADDRESSES_PROVIDER" if self.version >= 3 else "getAddressesProvider")
        for row in self.rows:
            block = row["block_number"] - 1
            for asset in _assets(row):
                calls[("config", block, asset)] = Call(block, self.pool, self.pool_abi.fn("getConfiguration"), (asset,))
                if (self.chain_id, asset) not in self.adapter._symbols:
                    calls[("symbol", asset)] = Call(block, asset, ERC20.fn("symbol"))
            if self.version >= 3 and row["event"] == LIQUIDATION_CALL.name:
                calls[("deficit", block, row["debt_asset"])] = Call(
                    block, self.pool, POOL_V3.fn("getReserveDeficit"), (row["debt_asset"],))
            user = row["borrower"]
            calls[("account", block, user)] = Call(block, self.pool, self.pool_abi.fn("getUserAccountData"), (user,))
            if self.version >= 3:
                calls[("emode", block, user)] = Call(block, self.pool, POOL_V3.fn("getUserEMode"), (user,))
            if (self.chain_id, self.pool) not in self.adapter._providers:
                calls[("provider",)] = Call(block, self.pool, provider_fn)
            if self.eth_quoted:
                feed = self.deployment.chain.eth_usd_feed
                calls[("eth_usd", block)] = Call(block, feed, ETH_USD_FEED.fn("latestAnswer"))
                calls[("eth_usd_decimals",)] = Call(block, feed, ETH_USD_FEED.fn("decimals"))
        return calls

    def _second_round(self) -> dict[Hashable, Call]:
        for key, value in list(self.results.items()):
            if key[0] == "symbol":
                self.adapter._symbols[(self.chain_id, key[1])] = None if isinstance(value, CallFailed) else value[0]
            elif key[0] == "provider" and not isinstance(value, CallFailed):
                self.adapter._providers[(self.chain_id, self.pool)] = value[0]
        provider = self.adapter._providers.get((self.chain_id, self.pool))
        provider_abi = PROVIDER_V3 if self.version >= 3 else PROVIDER_V2
        calls: dict[Hashable, Call] = {}
        for row in self.rows:
            block = row["block_number"] - 1
            if provider is not None:
                calls[("oracle", block)] = Call(block, provider, provider_abi.fn("getPriceOracle"))
            if self.version < 3 or row["event"] != LIQUIDATION_CALL.name:
                continue
            category = self._answer(("emode", block, row["borrower"]))
            if category:
                for fn in ("getEModeCategoryData", "getEModeCategoryCollateralConfig", "getEModeCategoryCollateralBitmap"):
                    calls[(fn, block, category[0])] = Call(block, self.pool, POOL_V3.fn(fn), (category[0],))
                calls[("reserve", block, row["collateral_asset"])] = Call(
                    block, self.pool, POOL_V3.fn("getReserveData"), (row["collateral_asset"],))
            if self._rules(row).deficit:
                for asset in _assets(row):
                    calls[("reserve", block, asset)] = Call(block, self.pool, POOL_V3.fn("getReserveData"), (asset,))
        return calls

    def _third_round(self) -> dict[Hashable, Call]:
        oracle_abi = ORACLE_V3 if self.version >= 3 else ORACLE_V2
        calls: dict[Hashable, Call] = {}
        for row in self.rows:
            block = row["block_number"] - 1
            is_liquidation = row["event"] == LIQUIDATION_CALL.name
            if is_liquidation and self._rules(row).deficit:
                self._balance_calls(calls, row, block)
            oracle = self.results.get(("oracle", block))
            if oracle is None or isinstance(oracle, CallFailed):
                continue
            try:
                sources = self._price_keys(row) if is_liquidation else _assets(row)
            except CallFailed:
                continue
            for source in sources:
                calls[("price", block, source)] = Call(block, oracle[0], oracle_abi.fn("getAssetPrice"), (source,))
            if self.version >= 3:
                calls[("base_unit", block)] = Call(block, oracle[0], ORACLE_V3.fn("BASE_CURRENCY_UNIT"))
        return calls

    def _balance_calls(self, calls: dict[Hashable, Call], row: dict[str, Any], block: int) -> None:
        """v3.3+: the borrower's aToken balance of the collateral and variable debt of the debt asset."""
        user = row["borrower"]
        collateral = self._answer(("reserve", block, row["collateral_asset"]))
        debt = self._answer(("reserve", block, row["debt_asset"]))
        if collateral is not None:
            calls[("balance", block, collateral[0][8].lower(), user)] = Call(
                block, collateral[0][8].lower(), ERC20.fn("balanceOf"), (user,))
        if debt is not None:
            calls[("balance", block, debt[0][10].lower(), user)] = Call(
                block, debt[0][10].lower(), ERC20.fn("balanceOf"), (user,))

    def _answer(self, key: Hashable) -> tuple[Any, ...] | None:
        value = self.results.get(key)
        return None if value is None or isinstance(value, CallFailed) else value

    # -- rules ----------------------------------------------------------------------------------

    def _rules(self, row: dict[str, Any]) -> PoolRules:
        """The pool's rules at the row's state block, from the probes read so far."""
        if self.version < 3:
            return PoolRules(self.version)
        block = row["block_number"] - 1
        deficit = row["bad_debt_mechanism"] == "deficit" or self._answer(("deficit", block, row["debt_asset"])) is not None
        category = self._answer(("emode", block, row["borrower"]))
        bitmap = None
        if category and category[0] and ("getEModeCategoryCollateralBitmap", block, category[0]) in self.results:
            bitmap = self._answer(("getEModeCategoryCollateralBitmap", block, category[0])) is not None
        return PoolRules(self.version, deficit=deficit, emode_bitmap=bitmap)

    def _emode(self, row: dict[str, Any], collateral: ReserveConfig) -> tuple[int, EModeApplied]:
        """The borrower's e-mode category and what applies to the collateral."""
        if self.version < 3:
            return 0, rules.no_emode(collateral)
        block = row["block_number"] - 1
        category = self._get(("emode", block, row["borrower"]))[0]
        if category == 0:
            return 0, rules.no_emode(collateral)
        if self._rules(row).bitmap_emode:
            config = self._get(("getEModeCategoryCollateralConfig", block, category))[0]
            bitmap = self._get(("getEModeCategoryCollateralBitmap", block, category))[0]
            reserve_id = self._get(("reserve", block, row["collateral_asset"]))[0][7]
            return category, rules.emode_v32(category, collateral, reserve_id, bitmap, config[1], config[2])
        data = self._get(("getEModeCategoryData", block, category))[0]
        return category, rules.emode_v30(category, collateral, data[1], data[2], data[3])

    def _price_keys(self, row: dict[str, Any]) -> tuple[str, str]:
        """Oracle keys for (debt, collateral) of a liquidation row."""
        block = row["block_number"] - 1
        collateral = ReserveConfig.from_bitmap(self._get(("config", block, row["collateral_asset"]))[0][0], self.version)
        category, applied = self._emode(row, collateral)
        return rules.price_keys_v30(applied, category, row["debt_asset"], row["collateral_asset"])

    def _close_factor(self, row: dict[str, Any], pool_rules: PoolRules, health_factor: int, total_debt_base: int,
                      debt: ReserveConfig, coll: ReserveConfig, debt_price: int, coll_price: int,
                      unit: int) -> rules.CloseFactor:
        """The close factor; for v3.3+ from the borrower's balances in the two reserves. When those could
        not be read, the rest of the row stands and the close factor is null, the rule saying why."""
        position = None
        if pool_rules.deficit:
            block, user = row["block_number"] - 1, row["borrower"]
            try:
                a_token = self._get(("reserve", block, row["collateral_asset"]))[0][8].lower()
                debt_token = self._get(("reserve", block, row["debt_asset"]))[0][10].lower()
                position = rules.Position(
                    reserve_debt_raw=self._get(("balance", block, debt_token, user))[0],
                    reserve_collateral_raw=self._get(("balance", block, a_token, user))[0],
                    total_debt_base=total_debt_base, debt_price=debt_price, collateral_price=coll_price,
                    debt_decimals=debt.decimals, collateral_decimals=coll.decimals)
            except CallFailed as failure:
                return rules.CloseFactor(None, None, f"{pool_rules.label}: close factor not decided ({failure})")
        return rules.close_factor(pool_rules, health_factor, position, unit)

    # -- columns --------------------------------------------------------------------------------

    def _state_columns(self, row: dict[str, Any]) -> dict[str, Any]:
        block = row["block_number"] - 1
        debt_cfg = ReserveConfig.from_bitmap(self._get(("config", block, row["debt_asset"]))[0][0], self.version)
        coll_cfg = ReserveConfig.from_bitmap(self._get(("config", block, row["collateral_asset"]))[0][0], self.version)
        if debt_cfg.decimals == 0 and debt_cfg.liquidation_bonus_bps == 0:
            raise CallFailed(f"{row['debt_asset']} is not a reserve of {self.pool} at block {block}")
        pool_rules = self._rules(row)
        category, applied = self._emode(row, coll_cfg)
        threshold, bonus = applied.liquidation_threshold_bps, applied.liquidation_bonus_bps
        debt_source, coll_source = rules.price_keys_v30(applied, category, row["debt_asset"], row["collateral_asset"])
        debt_price = self._get(("price", block, debt_source))[0]
        coll_price = self._get(("price", block, coll_source))[0]
        oracle = self._get(("oracle", block))[0]
        account = self._get(("account", block, row["borrower"]))
        health_factor = account[5]

        if self.eth_quoted:
            unit = 10**18
            eth_usd = self._get(("eth_usd", block))[0]
            eth_usd_decimals = self._get(("eth_usd_decimals",))[0]
            usd_per_unit = Fraction(eth_usd, unit * 10**eth_usd_decimals)
            feed = self.deployment.chain.eth_usd_feed.lower()
            price_source = (f"AaveOracle {oracle} getAssetPrice in ETH (1e18) at block {block}, "
                            f"x ETH/USD feed {feed} latestAnswer")
        else:
            unit = self._get(("base_unit", block))[0]
            eth_usd, eth_usd_decimals = None, None
            usd_per_unit = Fraction(1, unit)
            price_source = f"AaveOracle {oracle} getAssetPrice in USD (unit {unit}) at block {block}"
        if (debt_source, coll_source) != (row["debt_asset"], row["collateral_asset"]):
            price_source += f"; e-mode {category} price source"

        debt_raw, received = int(row["debt_repaid_raw"]), int(row["collateral_seized_raw"])
        total_hint = seized_with_bonus(debt_raw, debt_price, debt_cfg.decimals, coll_price, coll_cfg.decimals, bonus)
        fee_raw = protocol_fee_from_event(received, bonus, coll_cfg.protocol_fee_bps, total_hint)
        debt_price_usd = debt_price * usd_per_unit
        coll_price_usd = coll_price * usd_per_unit
        debt_usd = Fraction(debt_raw, 10**debt_cfg.decimals) * debt_price_usd
        coll_usd = Fraction(received, 10**coll_cfg.decimals) * coll_price_usd
        bonus_usd = coll_usd - debt_usd
        factor = self._close_factor(row, pool_rules, health_factor, account[1], debt_cfg, coll_cfg,
                                    debt_price, coll_price, unit)
        rule = factor.rule if self.version < 3 else f"{factor.rule}; {applied.rule}"
        symbols = self.adapter._symbols
        return {
            "state_block": block,
            "debt_symbol": symbols.get((self.chain_id, row["debt_asset"])),
            "debt_decimals": debt_cfg.decimals,
            "debt_repaid": float(Fraction(debt_raw, 10**debt_cfg.decimals)),
            "collateral_symbol": symbols.get((self.chain_id, row["collateral_asset"])),
            "collateral_decimals": coll_cfg.decimals,
            "collateral_seized": float(Fraction(received, 10**coll_cfg.decimals)),
            "protocol_fee_raw": str(fee_raw),
            "protocol_fee": float(Fraction(fee_raw, 10**coll_cfg.decimals)),
            "price_currency": "ETH" if self.eth_quoted else "USD",
            "price_unit_raw": str(unit),
            "debt_price_raw": str(debt_price),
            "collateral_price_raw": str(coll_price),
            "eth_usd_price_raw": None if eth_usd is None else str(eth_usd),
            "eth_usd_decimals": eth_usd_decimals,
            "debt_price_usd": float(debt_price_usd),
            "collateral_price_usd": float(coll_price_usd),
            "price_source": price_source,
            "ltv_bps": coll_cfg.ltv_bps,
            "liquidation_threshold_bps": threshold,
            "liquidation_bonus_bps": bonus,
            "protocol_fee_bps": coll_cfg.protocol_fee_bps,
            "emode_category": applied.category,
            "close_factor_bps": factor.bps,
            "close_factor_rule": rule,
            "health_factor_before_raw": str(health_factor),
            "health_factor_before": float(Fraction(health_factor, WAD)),
            "borrower_collateral_usd": float(account[0] * usd_per_unit),
            "borrower_debt_usd": float(account[1] * usd_per_unit),
            "debt_repaid_usd": float(debt_usd),
            "collateral_seized_usd": float(coll_usd),
            "protocol_fee_usd": float(Fraction(fee_raw, 10**coll_cfg.decimals) * coll_price_usd),
            "liquidation_bonus_usd": float(bonus_usd),
            "liquidation_bonus_pct": float(100 * bonus_usd / debt_usd) if debt_usd else None,
            **self._bad_debt(row, block, debt_cfg.decimals, debt_price_usd),
        }

    def _bad_debt(self, row: dict[str, Any], block: int, decimals: int, price_usd: Fraction) -> dict[str, Any]:
        """Bad-debt columns: the joined ``DeficitCreated``, or ``0`` when the deficit probe shows v3.3+."""
        columns: dict[str, Any] = {}
        probe = self.results.get(("deficit", block, row["debt_asset"]))
        if row["bad_debt_raw"] is None and probe is not None and not isinstance(probe, CallFailed):
            columns = {"bad_debt_raw": "0", "bad_debt_mechanism": "deficit"}
        raw = columns.get("bad_debt_raw", row["bad_debt_raw"])
        columns["bad_debt_usd"] = None if raw is None else float(Fraction(int(raw), 10**decimals) * price_usd)
        return columns

    def _deficit_columns(self, row: dict[str, Any]) -> dict[str, Any]:
        """State columns of a ``DeficitCreated`` row (v3.3+, so a USD-quoted oracle)."""
        block = row["block_number"] - 1
        cfg = ReserveConfig.from_bitmap(self._get(("config", block, row["debt_asset"]))[0][0], self.version)
        price = self._get(("price", block, row["debt_asset"]))[0]
        unit = self._get(("base_unit", block))[0]
        oracle = self._get(("oracle", block))[0]
        return {
            "state_block": block,
            "debt_symbol": self.adapter._symbols.get((self.chain_id, row["debt_asset"])),
            "debt_decimals": cfg.decimals,
            "debt_repaid": 0.0,
            "price_currency": "USD",
            "price_unit_raw": str(unit),
            "debt_price_raw": str(price),
            "debt_price_usd": float(Fraction(price, unit)),
            "price_source": f"AaveOracle {oracle} getAssetPrice in USD (unit {unit}) at block {block}",
            **self._bad_debt(row, block, cfg.decimals, Fraction(price, unit)),
        }


def _assets(row: dict[str, Any]) -> tuple[str, ...]:
    """The reserves a row names: (debt, collateral), or (debt,) for a ``DeficitCreated`` row."""
    return (row["debt_asset"],) if row["event"] == DEFICIT_CREATED.name else (row["debt_asset"], row["collateral_asset"])


__all__ = ["PERCENTAGE_FACTOR", "AaveEnrichment"]
