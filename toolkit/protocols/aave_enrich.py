"""State columns of Aave v2/v3 rows: reads at the row's state point, then the rules of the pool there.

One round of ``eth_call`` s at the row's point (:mod:`toolkit.protocols.enrichment`: right before the
transaction, or at the start of its block), the dependent reads through
:class:`~toolkit.protocols.base.Ref` s within the same call (the reader contract, :mod:`toolkit.chain.reader`):

* per row: ``getConfiguration`` of the debt and collateral reserves, ``getUserAccountData`` and (v3)
  ``getUserEMode`` of the borrower, the ERC-20 symbols not cached yet, (v3) the v3.3 probe
  ``getReserveDeficit(debt asset)``, and the ETH/USD feed for ETH-quoted oracles (:mod:`toolkit.protocols.eth_usd`);
* the oracle (``getPriceOracle`` of the addresses provider, itself read once per run), its prices of the two
  assets and (v3) ``BASE_CURRENCY_UNIT``;
* (v3) the borrower's category data: ``getEModeCategoryData`` (v3.0-3.1, and its price source's price), the
  v3.2+ getters ``getEModeCategoryCollateralConfig`` / ``getEModeCategoryCollateralBitmap`` (whose answering
  is the v3.2 probe), of the category ``getUserEMode`` answers in the same call;
* ``getReserveData`` of the two reserves and the borrower's balances of their aToken (collateral) and
  variable debt token (debt): the v3.3 close factor needs both, the ``state_check`` the collateral balance.

Then :mod:`toolkit.protocols.aave_rules` decides the e-mode and close factor from those values, and
:mod:`toolkit.protocols.aave_fees` the protocol fee. ``DeficitCreated`` rows only need their debt asset's
configuration and price.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from fractions import Fraction
from typing import TYPE_CHECKING, Any

from toolkit.protocols import aave_rules as rules
from toolkit.protocols.aave import (DEFICIT_CREATED, ERC20, LIQUIDATION_CALL, ORACLE_V2, ORACLE_V3, POOL_V2, POOL_V3,
                                    PROVIDER_V2, PROVIDER_V3)
from toolkit.protocols.aave_fees import PERCENTAGE_FACTOR, protocol_fee_from_event, seized_with_bonus
from toolkit.protocols.aave_rules import EModeApplied, PoolRules, ReserveConfig
from toolkit.protocols.base import Call, CallFailed, Ref, StateCaller, StateRounds
from toolkit.protocols.eth_usd import eth_usd_at, eth_usd_calls
from toolkit.protocols.registry import Deployment

if TYPE_CHECKING:
    from toolkit.protocols.aave import AaveAdapter

WAD = 10**18
#: Word of ``getReserveData``'s answer holding the token the borrower's balance is read from, by (v3, role):
#: the aToken (collateral) and the variable debt token (debt); ``DataTypes.ReserveData`` of @aave/protocol-v2
#: 1.0.1 and ``ReserveData``/``ReserveDataLegacy`` of v3 (docs/sources/aave.md#liquidation-collateral).
_TOKEN_WORDS = {(True, "collateral"): 8, (True, "debt"): 10, (False, "collateral"): 7, (False, "debt"): 9}


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
        await self._round(self._calls())
        self._keep_constants()
        for row in self.rows:
            try:
                is_deficit = row["event"] == DEFICIT_CREATED.name
                columns = self._deficit_columns(row) if is_deficit else self._state_columns(row)
                status = columns.pop("state_status", None)
                row.update(columns, state_status=status or "ok")
            except CallFailed as failure:
                row["state_status"] = f"unavailable: {failure}"

    # -- reads ----------------------------------------------------------------------------------

    def _calls(self) -> dict[Hashable, Call]:
        calls: dict[Hashable, Call] = {}
        provider_fn = self.pool_abi.fn("ADDRESSES_PROVIDER" if self.version >= 3 else "getAddressesProvider")
        provider_abi = PROVIDER_V3 if self.version >= 3 else PROVIDER_V2
        oracle_abi = ORACLE_V3 if self.version >= 3 else ORACLE_V2
        known_provider = self.adapter._providers.get((self.chain_id, self.pool))
        for row in self.rows:
            block, user = row["block_number"] - 1, row["borrower"]
            if known_provider is None:  # read at each block of the first batch: a Ref stays within its block
                calls[("provider", block)] = Call(block, self.pool, provider_fn)
            calls[("oracle", block)] = Call(block, known_provider or Ref(("provider", block)),
                                            provider_abi.fn("getPriceOracle"))
            oracle = Ref(("oracle", block))
            for asset in _assets(row):
                calls[("config", block, asset)] = Call(block, self.pool, self.pool_abi.fn("getConfiguration"), (asset,))
                calls[("price", block, asset)] = Call(block, oracle, oracle_abi.fn("getAssetPrice"), (asset,))
                if (self.chain_id, asset) not in self.adapter._symbols:
                    calls[("symbol", asset)] = Call(block, asset, ERC20.fn("symbol"))
            if self.version >= 3:
                calls[("base_unit", block)] = Call(block, oracle, ORACLE_V3.fn("BASE_CURRENCY_UNIT"))
            if self.eth_quoted:
                calls.update(eth_usd_calls(self.deployment, block))
            if row["event"] != LIQUIDATION_CALL.name:
                continue
            calls[("account", block, user)] = Call(block, self.pool, self.pool_abi.fn("getUserAccountData"), (user,))
            for role, asset in (("collateral", row["collateral_asset"]), ("debt", row["debt_asset"])):
                calls[("reserve", block, asset)] = Call(block, self.pool, self.pool_abi.fn("getReserveData"), (asset,))
                word = _TOKEN_WORDS[(self.version >= 3, role)]
                calls[("balance", block, role, asset, user)] = Call(
                    block, Ref(("reserve", block, asset), word), ERC20.fn("balanceOf"), (user,))
            if self.version < 3:
                continue
            calls[("deficit", block, row["debt_asset"])] = Call(
                block, self.pool, POOL_V3.fn("getReserveDeficit"), (row["debt_asset"],))
            calls[("emode", block, user)] = Call(block, self.pool, POOL_V3.fn("getUserEMode"), (user,))
            category = Ref(("emode", block, user))
            for fn in ("getEModeCategoryData", "getEModeCategoryCollateralConfig", "getEModeCategoryCollateralBitmap"):
                calls[(fn, block, user)] = Call(block, self.pool, POOL_V3.fn(fn), (category,))
            # word 4 of getEModeCategoryData: the category's priceSource (offset word, ltv, threshold, bonus, source)
            calls[("emode_price", block, user)] = Call(
                block, oracle, oracle_abi.fn("getAssetPrice"), (Ref(("getEModeCategoryData", block, user), 4),))
        return calls

    def _keep_constants(self) -> None:
        """Symbols and the addresses provider (an immutable of the Pool) are read once per run."""
        for key, value in self.results.items():
            if key[0] == "symbol":
                self.adapter._symbols[(self.chain_id, key[1])] = None if isinstance(value, CallFailed) else value[0]
            elif key[0] == "provider" and not isinstance(value, CallFailed):
                self.adapter._providers[(self.chain_id, self.pool)] = value[0]

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
        if category and category[0] and ("getEModeCategoryCollateralBitmap", block, row["borrower"]) in self.results:
            bitmap = self._answer(("getEModeCategoryCollateralBitmap", block, row["borrower"])) is not None
        return PoolRules(self.version, deficit=deficit, emode_bitmap=bitmap)

    def _emode(self, row: dict[str, Any], collateral: ReserveConfig) -> tuple[int, EModeApplied]:
        """The borrower's e-mode category and what applies to the collateral."""
        if self.version < 3:
            return 0, rules.no_emode(collateral)
        block = row["block_number"] - 1
        category = self._get(("emode", block, row["borrower"]))[0]
        if category == 0:
            return 0, rules.no_emode(collateral)
        user = row["borrower"]
        if self._rules(row).bitmap_emode:
            config = self._get(("getEModeCategoryCollateralConfig", block, user))[0]
            bitmap = self._get(("getEModeCategoryCollateralBitmap", block, user))[0]
            reserve_id = self._get(("reserve", block, row["collateral_asset"]))[0][7]
            return category, rules.emode_v32(category, collateral, reserve_id, bitmap, config[1], config[2])
        data = self._get(("getEModeCategoryData", block, user))[0]
        return category, rules.emode_v30(category, collateral, data[1], data[2], data[3])

    def _price(self, row: dict[str, Any], source: str) -> int:
        """The oracle price of ``source``: one of the row's assets, or its e-mode category's price source."""
        block = row["block_number"] - 1
        if source in (row["debt_asset"], row["collateral_asset"]):
            return self._get(("price", block, source))[0]
        return self._get(("emode_price", block, row["borrower"]))[0]

    def _close_factor(self, row: dict[str, Any], pool_rules: PoolRules, health_factor: int, total_debt_base: int,
                      debt: ReserveConfig, coll: ReserveConfig, debt_price: int, coll_price: int,
                      unit: int) -> rules.CloseFactor:
        """The close factor; for v3.3+ from the borrower's balances in the two reserves. When those could
        not be read, the rest of the row stands and the close factor is null, the rule saying why."""
        position = None
        if pool_rules.deficit:
            block, user = row["block_number"] - 1, row["borrower"]
            try:
                position = rules.Position(
                    reserve_debt_raw=self._get(("balance", block, "debt", row["debt_asset"], user))[0],
                    reserve_collateral_raw=self._get(("balance", block, "collateral", row["collateral_asset"],
                                                      user))[0],
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
        debt_price, coll_price = self._price(row, debt_source), self._price(row, coll_source)
        oracle = self._get(("oracle", block))[0]
        account = self._get(("account", block, row["borrower"]))
        health_factor = account[5]

        eth_usd = None
        if self.eth_quoted:
            unit = 10**18
            eth_usd = eth_usd_at(self.results, self.deployment, block)
            usd_per_unit = None if eth_usd.usd_per_eth is None else eth_usd.usd_per_eth / unit
            price_source = f"AaveOracle {oracle} getAssetPrice in ETH (1e18) at block {block}{eth_usd.source()}"
        else:
            unit = self._get(("base_unit", block))[0]
            usd_per_unit = Fraction(1, unit)
            price_source = f"AaveOracle {oracle} getAssetPrice in USD (unit {unit}) at block {block}"
        if (debt_source, coll_source) != (row["debt_asset"], row["collateral_asset"]):
            price_source += f"; e-mode {category} price source"

        def usd(value: Fraction | int | None) -> float | None:
            return None if value is None or usd_per_unit is None else float(value * usd_per_unit)

        debt_raw, received = int(row["debt_repaid_raw"]), int(row["collateral_seized_raw"])
        total_hint = seized_with_bonus(debt_raw, debt_price, debt_cfg.decimals, coll_price, coll_cfg.decimals, bonus)
        fee_raw = protocol_fee_from_event(received, bonus, coll_cfg.protocol_fee_bps, total_hint)
        debt_value = Fraction(debt_raw, 10**debt_cfg.decimals) * debt_price  # in oracle units
        coll_value = Fraction(received, 10**coll_cfg.decimals) * coll_price
        bonus_value = coll_value - debt_value
        factor = self._close_factor(row, pool_rules, health_factor, account[1], debt_cfg, coll_cfg,
                                    debt_price, coll_price, unit)
        rule = factor.rule if self.version < 3 else f"{factor.rule}; {applied.rule}"
        symbols = self.adapter._symbols
        balance = self._answer(("balance", block, "collateral", row["collateral_asset"], row["borrower"]))
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
            **(eth_usd.columns() if eth_usd is not None else {"eth_usd_price_raw": None, "eth_usd_decimals": None}),
            "debt_price_usd": usd(debt_price),
            "collateral_price_usd": usd(coll_price),
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
            "borrower_collateral_usd": usd(account[0]),
            "borrower_debt_usd": usd(account[1]),
            "debt_repaid_usd": usd(debt_value),
            "collateral_seized_usd": usd(coll_value),
            "protocol_fee_usd": usd(Fraction(fee_raw, 10**coll_cfg.decimals) * coll_price),
            "liquidation_bonus_usd": usd(bonus_value),
            "liquidation_bonus_pct": float(100 * bonus_value / debt_value) if debt_value else None,
            **self._bad_debt(row, block, debt_cfg.decimals, debt_price, usd),
            "state_status": eth_usd.partial_status() if eth_usd is not None else None,
            "_check_aave_version": self.version,
            "_check_collateral_balance": None if balance is None else balance[0],
        }

    def _bad_debt(self, row: dict[str, Any], block: int, decimals: int, price: int,
                  usd: Callable[[Fraction | int | None], float | None]) -> dict[str, Any]:
        """Bad-debt columns: the joined ``DeficitCreated``, or ``0`` when the deficit probe shows v3.3+."""
        columns: dict[str, Any] = {}
        probe = self.results.get(("deficit", block, row["debt_asset"]))
        if row["bad_debt_raw"] is None and probe is not None and not isinstance(probe, CallFailed):
            columns = {"bad_debt_raw": "0", "bad_debt_mechanism": "deficit"}
        raw = columns.get("bad_debt_raw", row["bad_debt_raw"])
        columns["bad_debt_usd"] = None if raw is None else usd(Fraction(int(raw), 10**decimals) * price)
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
            **self._bad_debt(row, block, cfg.decimals, price,
                             lambda value: None if value is None else float(Fraction(value) / unit)),
        }


def _assets(row: dict[str, Any]) -> tuple[str, ...]:
    """The reserves a row names: (debt, collateral), or (debt,) for a ``DeficitCreated`` row."""
    return (row["debt_asset"],) if row["event"] == DEFICIT_CREATED.name else (row["debt_asset"], row["collateral_asset"])


__all__ = ["PERCENTAGE_FACTOR", "AaveEnrichment"]
