"""Euler v2 (Euler Vault Kit): ``Liquidate`` joined with its ``DebtSocialized`` inside the transaction.

Sources: docs/sources/euler.md#liquidate-and-debtsocialized; euler-xyz/euler-vault-kit ``src/EVault/modules/
Liquidation.sol`` (``executeLiquidation``), ``src/EVault/shared/Events.sol`` L84-107,
``src/GenericFactory/GenericFactory.sol``.

* ``Liquidate(liquidator, violator, collateral, repayAssets, yieldBalance)`` is emitted by the
  **liability** vault. The liquidator takes over ``repayAssets`` of the violator's debt (in the vault's
  asset) instead of repaying it, and receives ``yieldBalance`` **shares of the collateral vault**
  ``collateral``: so ``collateral_token`` is that vault and ``collateral_token_seized_raw`` the shares;
  ``collateral_asset`` (the vault's ``asset()``) and ``collateral_seized_raw``
  (``convertToAssets(yieldBalance)``) are read at the state block by :meth:`enrich`, as is
  ``debt_asset`` (the liability vault's ``asset()``): the event names neither.
* When the violator has no collateral left and the vault socializes debt, the same vault emits
  ``DebtSocialized(violator, assets)`` just **before** ``Liquidate``: the remaining debt is removed and
  borne by the vault's depositors. ``bad_debt_raw`` is those ``assets`` (``0`` without the event),
  ``bad_debt_mechanism = supplier_socialized``. A ``DebtSocialized`` without the ``Liquidate`` of its
  account after it gives a row with ``incomplete_reason``.

Rows: one per ``Liquidate`` log, ``join_key = tx_hash:log_index`` of it.

Emitters: every vault of the EVK factory is a liability vault. A deployment lists its vaults
(role ``vaults``), or leaves the list empty to accept any emitter; then :meth:`enrich` checks
``GenericFactory.isProxy(emitter)`` (role ``factory``) and flags rows of other emitters incomplete.

State (``eth_call`` at ``block_number - 1``): vault ``asset``, ``oracle``, ``unitOfAccount``,
``LTVLiquidation(collateral)`` (1e4 scale, so bps), ``accountLiquidity(violator, true)`` (health =
collateral value at liquidation LTV / liability value), collateral vault ``asset`` and
``convertToAssets``, ERC-20 ``decimals``/``symbol``, and the vault oracle's (EulerRouter) ``getQuote`` of
the repaid debt and of the seized shares in the unit of account: the valuation the liquidation itself
uses. The unit of account ``0x…0348`` is USD (Chainlink denominations), 18 decimals by the Euler
oracles' convention for addresses without code; any other unit is a token, its decimals read.
"""

from __future__ import annotations

from collections.abc import Hashable
from fractions import Fraction
from typing import Any

from toolkit.abi import load_abi
from toolkit.protocols.base import Call, CallFailed, StateCaller, StateRounds, read_calls
from toolkit.protocols.event_args import joined, log_args_json
from toolkit.protocols.multi_event import DecodedLog, decode_events, mark_incomplete
from toolkit.protocols.registry import Deployment

EVAULT = load_abi("euler-v2/EVault.json")
FACTORY = load_abi("euler-v2/GenericFactory.json")
ROUTER = load_abi("euler-v2/EulerRouter.json")
ERC20 = load_abi("common/ERC20.json")

LIQUIDATE = EVAULT.event("Liquidate")
DEBT_SOCIALIZED = EVAULT.event("DebtSocialized")

#: Chainlink ``Denominations.USD``, the usual Euler unit of account (docs/sources/euler.md#euler-prices).
USD_UNIT_OF_ACCOUNT = "0x0000000000000000000000000000000000000348"
#: Decimals the Euler oracles give an address without code, such as USD.
USD_DECIMALS = 18
#: Health factors are wad (10^18 = 1.0).
WAD = 10**18


class EulerV2Adapter:
    """Adapter for the ``euler_v2`` family (protocol id ``euler-v2``)."""

    family = "euler_v2"

    def topics0(self, deployment: Deployment) -> tuple[str, ...]:
        return (DEBT_SOCIALIZED.topic0, LIQUIDATE.topic0)

    def decode_logs(self, logs: list[dict[str, Any]], deployment: Deployment) -> list[dict[str, Any]]:
        decoded, errors, failed = decode_events(logs, deployment, (DEBT_SOCIALIZED, LIQUIDATE))
        rows: list[dict[str, Any]] = []
        socialized: dict[tuple[str, str, str], DecodedLog] = {}
        for item in decoded:
            if item.event is DEBT_SOCIALIZED:
                socialized[(item.identity["tx_hash"], item.identity["emitter"], item.values["account"])] = item
                continue
            debt = socialized.pop((item.identity["tx_hash"], item.identity["emitter"], item.values["violator"]), None)
            values = item.values
            row = _row(item, join_key=f"{item.identity['tx_hash']}:{item.identity['log_index']}")
            row.update(
                event=LIQUIDATE.name,
                borrower=values["violator"],
                liquidator=values["liquidator"],
                debt_repaid_raw=str(values["repayAssets"]),
                collateral_token=values["collateral"],
                collateral_token_seized_raw=str(values["yieldBalance"]),
                bad_debt_raw=str(debt.values["assets"]) if debt else "0",
                event_args=log_args_json(LIQUIDATE, values, [joined(
                    DEBT_SOCIALIZED, debt.identity["log_index"], debt.values)] if debt else []),
            )
            rows.append(row)
        for item in socialized.values():
            row = _row(item, join_key=f"{item.identity['tx_hash']}:{item.identity['log_index']}")
            row.update(event=DEBT_SOCIALIZED.name, borrower=item.values["account"],
                       bad_debt_raw=str(item.values["assets"]), event_args=log_args_json(DEBT_SOCIALIZED, item.values),
                       incomplete_reason="DebtSocialized without the Liquidate of its account after it in the "
                                         "transaction; debt repaid and collateral unknown")
            rows.append(row)
        mark_incomplete(rows, failed, "its DebtSocialized")
        rows.sort(key=lambda r: (r["block_number"], r["log_index"]))
        return errors + rows

    async def enrich(self, rows: list[dict[str, Any]], deployment: Deployment, state: StateCaller) -> None:
        for row in rows:
            if row["event"] != LIQUIDATE.name:
                row["state_status"] = "unavailable: DebtSocialized without its Liquidate"
        complete = [row for row in rows if row["event"] == LIQUIDATE.name]
        if complete:
            await _Enrichment(deployment, state, complete).run()


def _row(item: DecodedLog, join_key: str) -> dict[str, Any]:
    row = dict(item.identity)
    row.update(market_id=row["emitter"], borrower=None, liquidator=None, debt_asset=None, debt_repaid_raw=None,
               collateral_asset=None, collateral_seized_raw=None, collateral_token=None,
               collateral_token_seized_raw=None, bad_debt_mechanism="supplier_socialized", join_key=join_key,
               auction_id=None, incomplete_reason=None)
    return row


class _Enrichment(StateRounds):
    """State reads in two rounds of batched ``eth_call``: (1) vault configuration, factory check, account
    liquidity, share conversion; (2) token decimals and symbols, oracle quotes."""

    def __init__(self, deployment: Deployment, state: StateCaller, rows: list[dict[str, Any]]) -> None:
        super().__init__(state, deployment, rows)
        self.factory = deployment.address("factory") if "factory" in deployment.contracts else None

    async def run(self) -> None:
        first: dict[Hashable, Call] = {}
        for row in self.rows:
            block, vault, collateral = row["block_number"] - 1, row["emitter"], row["collateral_token"]
            if self.factory is not None:
                first[("is_proxy", block, vault)] = Call(block, self.factory, FACTORY.fn("isProxy"), (vault,))
            for name in ("asset", "oracle", "unitOfAccount"):
                first[(name, block, vault)] = Call(block, vault, EVAULT.fn(name))
            first[("asset", block, collateral)] = Call(block, collateral, EVAULT.fn("asset"))
            first[("ltv", block, vault, collateral)] = Call(block, vault, EVAULT.fn("LTVLiquidation"), (collateral,))
            first[("liquidity", block, vault, row["borrower"])] = Call(
                block, vault, EVAULT.fn("accountLiquidity"), (row["borrower"], True))
            shares = int(row["collateral_token_seized_raw"])
            first[("assets", block, collateral, shares)] = Call(block, collateral, EVAULT.fn("convertToAssets"), (shares,))
        self.results.update(await read_calls(self.state, first))
        second: dict[Hashable, Call] = {}
        for row in self.rows:
            block, vault, collateral = row["block_number"] - 1, row["emitter"], row["collateral_token"]
            try:
                debt_asset, coll_asset = self._get(("asset", block, vault))[0], self._get(("asset", block, collateral))[0]
                oracle, unit = self._get(("oracle", block, vault))[0], self._get(("unitOfAccount", block, vault))[0]
            except CallFailed:
                continue
            for token in (debt_asset, coll_asset) + (() if unit == USD_UNIT_OF_ACCOUNT else (unit,)):
                second[("decimals", token)] = Call(block, token, ERC20.fn("decimals"))
                second[("symbol", token)] = Call(block, token, ERC20.fn("symbol"))
            repay, shares = int(row["debt_repaid_raw"]), int(row["collateral_token_seized_raw"])
            second[("quote", block, oracle, repay, debt_asset, unit)] = Call(
                block, oracle, ROUTER.fn("getQuote"), (repay, debt_asset, unit))
            second[("quote", block, oracle, shares, collateral, unit)] = Call(
                block, oracle, ROUTER.fn("getQuote"), (shares, collateral, unit))
        self.results.update(await read_calls(self.state, second))
        for row in self.rows:
            try:
                self._fill(row)
            except CallFailed as failure:
                row["state_status"] = f"unavailable: {failure}"

    def _symbol(self, token: str) -> str | None:
        value = self.results.get(("symbol", token))
        return None if value is None or isinstance(value, CallFailed) else value[0]

    def _fill(self, row: dict[str, Any]) -> None:
        block, vault, collateral = row["block_number"] - 1, row["emitter"], row["collateral_token"]
        if self.factory is not None and not self._get(("is_proxy", block, vault))[0]:
            row.update(state_block=block, state_status=f"unavailable: {vault} is not a vault of the EVK factory "
                                                       f"{self.factory} at block {block}",
                       incomplete_reason="emitter is not a vault of the Euler vault factory: not an Euler v2 liquidation")
            return
        debt_asset, coll_asset = self._get(("asset", block, vault))[0], self._get(("asset", block, collateral))[0]
        oracle, unit = self._get(("oracle", block, vault))[0], self._get(("unitOfAccount", block, vault))[0]
        debt_decimals, coll_decimals = self._get(("decimals", debt_asset))[0], self._get(("decimals", coll_asset))[0]
        usd = unit == USD_UNIT_OF_ACCOUNT
        unit_decimals = USD_DECIMALS if usd else self._get(("decimals", unit))[0]
        repay, shares = int(row["debt_repaid_raw"]), int(row["collateral_token_seized_raw"])
        seized = self._get(("assets", block, collateral, shares))[0]
        repay_value = self._get(("quote", block, oracle, repay, debt_asset, unit))[0]
        yield_value = self._get(("quote", block, oracle, shares, collateral, unit))[0]
        collateral_value, liability_value = self._get(("liquidity", block, vault, row["borrower"]))
        bad = None if row["bad_debt_raw"] is None else int(row["bad_debt_raw"])
        per_unit = Fraction(1, 10**unit_decimals)
        debt_usd, coll_usd = Fraction(repay_value) * per_unit, Fraction(yield_value) * per_unit
        debt_price = Fraction(repay_value * 10**debt_decimals, repay) * per_unit if repay else None
        coll_price = Fraction(yield_value * 10**coll_decimals, seized) * per_unit if seized else None
        health = collateral_value * WAD // liability_value if liability_value else None
        row.update(
            state_block=block,
            debt_asset=debt_asset,
            debt_symbol=self._symbol(debt_asset),
            debt_decimals=debt_decimals,
            debt_repaid=float(Fraction(repay, 10**debt_decimals)),
            collateral_asset=coll_asset,
            collateral_symbol=self._symbol(coll_asset),
            collateral_decimals=coll_decimals,
            collateral_seized_raw=str(seized),
            collateral_seized=float(Fraction(seized, 10**coll_decimals)),
            collateral_conversion=f"convertToAssets({shares}) of collateral vault {collateral} at block {block}",
            price_currency="USD" if usd else unit,
            price_unit_raw=str(10**unit_decimals),
            debt_price_usd=float(debt_price) if usd and debt_price is not None else None,
            collateral_price_usd=float(coll_price) if usd and coll_price is not None else None,
            price_source=(f"EulerRouter {oracle} getQuote of the repaid assets and of the seized shares in unit of "
                          f"account {unit} at block {block}; token prices derived from those quotes"),
            liquidation_threshold_bps=self._get(("ltv", block, vault, collateral))[0],
            health_factor_before_raw=None if health is None else str(health),
            health_factor_before=None if health is None else float(Fraction(health, WAD)),
            debt_repaid_usd=float(debt_usd) if usd else None,
            collateral_seized_usd=float(coll_usd) if usd else None,
            liquidation_bonus_usd=float(coll_usd - debt_usd) if usd else None,
            liquidation_bonus_pct=float(100 * (yield_value - repay_value) / Fraction(repay_value)) if repay_value else None,
            bad_debt_usd=(float(Fraction(bad * repay_value, repay) * per_unit)
                          if usd and repay and bad is not None else None),
            state_status="ok",
        )


#: The adapter of the ``euler_v2`` family (see :mod:`toolkit.protocols`).
ADAPTER = EulerV2Adapter
