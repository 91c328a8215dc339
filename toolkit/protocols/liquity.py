"""Liquity v1 (LUSD) and v2 (BOLD): per-trove liquidation events joined to their aggregate ``Liquidation``.

One module for both versions (registry ``params.liquity_version``); protocol ids ``liquity-v1`` and
``liquity-v2`` (every v2 branch TroveManager of both mainnet deployments is one deployment).
Sources: docs/sources/liquity.md#v1-events, docs/sources/liquity.md#v2-events; liquity/dev
``TroveManager.sol``; liquity/bold ``contracts/src/TroveManager.sol`` and ``Interfaces/ITroveEvents.sol``.

Events (all from the TroveManager, in this order inside a liquidating transaction):

* v1: ``TroveLiquidated(borrower, debt, coll, operation)`` per trove (operation 1 normal mode, 2 recovery
  mode), ``LTermsUpdated(L_ETH, L_LUSDDebt)`` when any debt was redistributed, then
  ``Liquidation(liquidatedDebt, liquidatedColl, collGasCompensation, LUSDGasCompensation)``.
* v2: ``TroveOperation(troveId, operation = 5 (liquidate), ..., debtChange = -entireDebt, ...,
  collChange = -entireColl)`` per trove, then ``Liquidation(debtOffsetBySP, debtRedistributed, ...,
  price)``. ``TroveOperation`` logs of other operations are not liquidations and are skipped.

Rows: one per liquidated trove (its event's log index), ``join_key = tx_hash:log_index`` of the
``Liquidation`` event that closes the group. ``debt_repaid_raw`` is the trove's whole debt and
``collateral_seized_raw`` the collateral the event reports (v1 recovery mode at 110% <= ICR < TCR:
the capped amount sent to the Stability Pool, the rest is the owner's surplus). The debt is cleared by
the Stability Pool (offset) and, when the pool is short, **redistributed** to the other troves with the
matching collateral: the protocol's auto-deleveraging. ``bad_debt_raw`` is that redistributed debt,
``bad_debt_mechanism = redistribution``. The events do not name the caller, so ``liquidator`` is null.

Per-trove split between offset and redistribution: troves are processed in order and each is offset
by ``min(debt, Stability Pool left)`` (``_getOffsetAndRedistributionVals``).

* v2: exact from the events: the pool left for offsets is the ``Liquidation`` event's
  ``debtOffsetBySP`` (equal to what the pool held when anything was redistributed), checked by
  ``sum(debt) == debtOffsetBySP + debtRedistributed``.
* v1: without ``LTermsUpdated`` nothing was redistributed (bad debt 0, from the events). With it, the
  split uses ``StabilityPool.getTotalLUSDDeposits()`` at the state block, and recovery-mode troves at
  ICR <= 100% are wholly redistributed (ICR at the price below): exact unless earlier transactions of the
  block moved the pool; a split that redistributes nothing is flagged incomplete.

Prices (USD, 18 decimals): the collateral price is the v2 ``Liquidation`` event's ``price`` (the one the
transaction used, so ``collateral_price_raw`` is filled at decode time) or, in v1, what
``PriceFeed.fetchPrice()`` returns at the state block, evaluated with ``eth_call``: the TroveManager's
liquidations price troves with ``fetchPrice()``, which reads the oracle inside the transaction and stores
``lastGoodPrice`` only when it updates, so ``lastGoodPrice()`` at the block can be stale; ``fetchPrice`` is
not a view function, but ``eth_call`` runs it without a transaction and keeps nothing
(docs/sources/liquity.md#v1-fetchprice). The protocol values its own stablecoin at 1 USD (ICR = coll x price / debt), so
``debt_price_raw`` is 1e18 by that convention. v1 normal-mode rows get ``health_factor_before = ICR / MCR``
(``TroveManager.MCR()``); recovery-mode rows do not, as their event may report a capped collateral.
"""

from __future__ import annotations

from collections.abc import Hashable
from fractions import Fraction
from typing import Any

from toolkit.abi import LogDecodeError, load_abi
from toolkit.protocols.base import Call, CallFailed, StateCaller, StateRounds, error_record, read_calls
from toolkit.protocols.event_args import joined, log_args_json
from toolkit.protocols.multi_event import DecodedLog, decode_events, mark_incomplete
from toolkit.protocols.registry import Deployment

TROVE_MANAGER_V1 = load_abi("liquity/TroveManagerV1.json")
TROVE_MANAGER_V2 = load_abi("liquity/TroveManagerV2.json")
STABILITY_POOL_V1 = load_abi("liquity/StabilityPoolV1.json")
PRICE_FEED = load_abi("liquity/PriceFeed.json")
ERC20 = load_abi("common/ERC20.json")

LIQUIDATION_V1 = TROVE_MANAGER_V1.event("Liquidation")
TROVE_LIQUIDATED = TROVE_MANAGER_V1.event("TroveLiquidated")
L_TERMS_UPDATED = TROVE_MANAGER_V1.event("LTermsUpdated")
LIQUIDATION_V2 = TROVE_MANAGER_V2.event("Liquidation")
TROVE_OPERATION = TROVE_MANAGER_V2.event("TroveOperation")

#: ``ITroveEvents.Operation.liquidate`` (liquity/bold, enum order openTrove=0 ... liquidate=5).
OP_LIQUIDATE = 5
#: v1 ``TroveManagerOperation.liquidateInRecoveryMode`` (liquity/dev TroveManager.sol enum).
OP_V1_RECOVERY_MODE = 2
#: ``DECIMAL_PRECISION``: prices, collateral ratios and amounts have 18 decimals.
WAD = 10**18
#: v1 collateral is native ETH: the conventional 0xEeee... placeholder (as Aave v1's ETH reserve).
NATIVE_ETH = "0xeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee"


class LiquityAdapter:
    """Adapter for the ``liquity`` family (protocol ids ``liquity-v1``, ``liquity-v2``)."""

    family = "liquity"

    def __init__(self) -> None:
        #: v1 ``TroveLiquidated`` operation by (tx hash, log index) of the rows decoded in this run: the split
        #: of recovery-mode troves depends on it and no column holds it.
        self._operations: dict[tuple[str, int], int] = {}

    def topics0(self, deployment: Deployment) -> tuple[str, ...]:
        if _version(deployment) == 1:
            return (TROVE_LIQUIDATED.topic0, L_TERMS_UPDATED.topic0, LIQUIDATION_V1.topic0)
        return (TROVE_OPERATION.topic0, LIQUIDATION_V2.topic0)

    def decode_logs(self, logs: list[dict[str, Any]], deployment: Deployment) -> list[dict[str, Any]]:
        v1 = _version(deployment) == 1
        events = (TROVE_LIQUIDATED, L_TERMS_UPDATED, LIQUIDATION_V1) if v1 else (TROVE_OPERATION, LIQUIDATION_V2)
        decoded, errors, failed = decode_events(logs, deployment, events)
        rows: list[dict[str, Any]] = []
        troves: dict[tuple[str, str], list[DecodedLog]] = {}
        redistributed: dict[tuple[str, str], DecodedLog] = {}  # LTermsUpdated (v1) of the transaction
        for item in decoded:
            key = (item.identity["tx_hash"], item.identity["emitter"])
            if item.event is L_TERMS_UPDATED:
                redistributed[key] = item
            elif item.event in (LIQUIDATION_V1, LIQUIDATION_V2):
                group = troves.pop(key, [])
                if not group:
                    errors.append(error_record(_log_ref(item), f"{item.event.name} event without the per-trove "
                                                                "liquidation events before it in the transaction"))
                    continue
                rows.extend(self._group_rows(group, item, redistributed.pop(key, None), deployment))
            elif item.event is TROVE_LIQUIDATED or item.values["_operation"] == OP_LIQUIDATE:
                try:
                    troves.setdefault(key, []).append(_checked_trove(item))
                    if item.event is TROVE_LIQUIDATED:
                        self._operations[(key[0], item.identity["log_index"])] = item.values["_operation"]
                except LogDecodeError as exc:
                    errors.append(error_record(_log_ref(item), str(exc)))
                    failed.add(item.identity["tx_hash"])
        for (tx_hash, _), group in troves.items():
            for trove in group:
                row = self._trove_row(trove, deployment, join_key=tx_hash)
                row["incomplete_reason"] = ("per-trove liquidation event without the Liquidation event that "
                                            "closes it in the transaction; split and bad debt unknown")
                rows.append(row)
        mark_incomplete(rows, failed, "a trove of its liquidation")
        rows.sort(key=lambda r: (r["block_number"], r["log_index"]))
        return errors + rows

    def _trove_row(self, trove: DecodedLog, deployment: Deployment, join_key: str) -> dict[str, Any]:
        values = trove.values
        v1 = trove.event is TROVE_LIQUIDATED
        debt = values["_debt"] if v1 else -values["_debtChangeFromOperation"]
        coll = values["_coll"] if v1 else -values["_collChangeFromOperation"]
        collateral = NATIVE_ETH if v1 else str(deployment.params["collateral_token"]).lower()
        row = dict(trove.identity)
        row.update(
            market_id=row["emitter"],
            event=trove.event.name,
            borrower=values["_borrower"] if v1 else str(values["_troveId"]),
            liquidator=None,
            debt_asset=str(deployment.params["debt_token"]).lower(),
            debt_repaid_raw=str(debt),
            collateral_asset=collateral,
            collateral_seized_raw=str(coll),
            collateral_token=collateral,
            collateral_token_seized_raw=str(coll),
            bad_debt_raw=None,
            bad_debt_mechanism="redistribution",
            join_key=join_key,
            auction_id=None,
            incomplete_reason=None,
            event_args=log_args_json(trove.event, values),
        )
        return row

    def _group_rows(self, group: list[DecodedLog], liquidation: DecodedLog, terms: DecodedLog | None,
                    deployment: Deployment) -> list[dict[str, Any]]:
        """Rows of the troves closed by one ``Liquidation`` event (and ``terms``, the v1 ``LTermsUpdated`` of a
        redistribution, if any), with the split where the events give it."""
        join_key = f"{liquidation.identity['tx_hash']}:{liquidation.identity['log_index']}"
        redistributed = terms is not None
        others = [joined(item.event, item.identity["log_index"], item.values) for item in (terms, liquidation) if item]
        rows = [self._trove_row(trove, deployment, join_key) for trove in group]
        for row, trove in zip(rows, group):
            row["event_args"] = log_args_json(trove.event, trove.values, others)
        total = sum(int(row["debt_repaid_raw"]) for row in rows)
        values = liquidation.values
        if liquidation.event is LIQUIDATION_V1:
            expected = values["_liquidatedDebt"]
            for row in rows:
                row["bad_debt_raw"] = None if redistributed else "0"
        else:
            expected = values["_debtOffsetBySP"] + values["_debtRedistributed"]
            pool = values["_debtOffsetBySP"]
            for row in rows:
                offset = min(int(row["debt_repaid_raw"]), pool)
                pool -= offset
                row.update(bad_debt_raw=str(int(row["debt_repaid_raw"]) - offset),
                           collateral_price_raw=str(values["_price"]))
        if total != expected:
            for row in rows:
                row.update(bad_debt_raw=None, incomplete_reason=(
                    f"the troves' debts add up to {total}, the {liquidation.event.name} event says {expected}"))
        return rows

    async def enrich(self, rows: list[dict[str, Any]], deployment: Deployment, state: StateCaller) -> None:
        if rows:
            await _Enrichment(deployment, state, rows, self._operations).run()


def _version(deployment: Deployment) -> int:
    version = int(deployment.params["liquity_version"])
    if version not in (1, 2):
        raise ValueError(f"{deployment.protocol}/{deployment.name}: liquity_version must be 1 or 2, not {version}")
    return version


def _log_ref(item: DecodedLog) -> dict[str, Any]:
    """What :func:`error_record` needs of a decoded log."""
    return {"transactionHash": item.identity["tx_hash"], "logIndex": item.identity["log_index"]}


def _checked_trove(item: DecodedLog) -> DecodedLog:
    """A per-trove event whose amounts can be a liquidation's (v2 changes are negative, v1 operation 1-2)."""
    values = item.values
    if item.event is TROVE_LIQUIDATED:
        if values["_operation"] not in (1, OP_V1_RECOVERY_MODE):
            raise LogDecodeError(f"TroveLiquidated operation {values['_operation']} is not a liquidation (1 or 2)")
    elif values["_debtChangeFromOperation"] > 0 or values["_collChangeFromOperation"] > 0:
        raise LogDecodeError("TroveOperation liquidate with a positive debt or collateral change")
    return item


class _Enrichment(StateRounds):
    """State reads at ``block_number - 1`` in one round: symbols and decimals; v1 also the price, MCR and,
    for transactions that redistributed, the Stability Pool deposits."""

    def __init__(self, deployment: Deployment, state: StateCaller, rows: list[dict[str, Any]],
                 operations: dict[tuple[str, int], int]) -> None:
        super().__init__(state, deployment, rows)
        self.operations = operations
        self.v1 = _version(deployment) == 1
        self.trove_manager = deployment.address(deployment.emitter_roles[0])

    async def run(self) -> None:
        calls: dict[Hashable, Call] = {}
        for row in self.rows:
            block = row["block_number"] - 1
            for token in {row["debt_asset"], row["collateral_asset"]} - {NATIVE_ETH}:
                calls[("symbol", token)] = Call(block, token, ERC20.fn("symbol"))
                calls[("decimals", token)] = Call(block, token, ERC20.fn("decimals"))
            if self.v1:
                calls[("price", block)] = Call(block, self.deployment.address("price_feed"), PRICE_FEED.fn("fetchPrice"))
                calls[("mcr", block)] = Call(block, self.trove_manager, TROVE_MANAGER_V1.fn("MCR"))
                if row["bad_debt_raw"] is None and row["incomplete_reason"] is None:
                    calls[("pool", block)] = Call(block, self.deployment.address("stability_pool"),
                                                  STABILITY_POOL_V1.fn("getTotalLUSDDeposits"))
        self.results.update(await read_calls(self.state, calls))
        for join_key in dict.fromkeys(row["join_key"] for row in self.rows):
            group = [row for row in self.rows if row["join_key"] == join_key]
            try:
                if self.v1 and group[0]["bad_debt_raw"] is None and group[0]["incomplete_reason"] is None:
                    self._split_v1(group)
                for row in group:
                    self._fill(row)
            except CallFailed as failure:
                for row in group:
                    row["state_status"] = f"unavailable: {failure}"

    def _token(self, token: str) -> tuple[str | None, int]:
        """Symbol (None when unreadable) and decimals of a token; native ETH is ``ETH``, 18."""
        if token == NATIVE_ETH:
            return "ETH", 18
        symbol = self.results.get(("symbol", token))
        return (None if symbol is None or isinstance(symbol, CallFailed) else symbol[0]), self._get(("decimals", token))[0]

    def _split_v1(self, group: list[dict[str, Any]]) -> None:
        """The v1 offset/redistribution split of a transaction that redistributed (see the module docstring)."""
        block = group[0]["block_number"] - 1
        pool = self._get(("pool", block))[0]
        price = self._get(("price", block))[0]
        shares = []
        for row in group:
            debt, coll = int(row["debt_repaid_raw"]), int(row["collateral_seized_raw"])
            operation = self.operations.get((row["tx_hash"], row["log_index"]))
            if coll * price <= debt * WAD and operation is None:
                shares = []
                reason = "recovery-mode operation of an underwater trove unknown (row not decoded in this run)"
                break
            offset = 0 if coll * price <= debt * WAD and operation == OP_V1_RECOVERY_MODE else min(debt, pool)
            pool -= offset
            shares.append(debt - offset)
        else:
            reason = (f"LTermsUpdated shows a redistribution, but the Stability Pool deposits at block {block} cover "
                      "every trove (the pool changed earlier in the block); split unknown")
        if sum(shares) == 0:
            for row in group:
                row["incomplete_reason"] = reason
            return
        for row, share in zip(group, shares):
            row["bad_debt_raw"] = str(share)

    def _fill(self, row: dict[str, Any]) -> None:
        block = row["block_number"] - 1
        debt_symbol, debt_decimals = self._token(row["debt_asset"])
        coll_symbol, coll_decimals = self._token(row["collateral_asset"])
        debt, coll = int(row["debt_repaid_raw"]), int(row["collateral_seized_raw"])
        health = None
        if self.v1:
            price = self._get(("price", block))[0]
            mcr = self._get(("mcr", block))[0]
            if self.operations.get((row["tx_hash"], row["log_index"])) == 1 and debt:
                health = coll * price * WAD // (debt * mcr)
            source = (f"Liquity v1 PriceFeed {self.deployment.address('price_feed')} fetchPrice() evaluated with eth_call "
                      f"at block {block}")
        else:
            price = int(row["collateral_price_raw"])
            mcr = None
            source = f"Liquity v2 Liquidation event price (TroveManager {self.trove_manager}, used by the transaction)"
        debt_usd = Fraction(debt, WAD)
        coll_usd = Fraction(coll * price, WAD * 10**coll_decimals)
        bad = row["bad_debt_raw"]
        row.update(
            state_block=block,
            debt_symbol=debt_symbol,
            debt_decimals=debt_decimals,
            debt_repaid=float(Fraction(debt, 10**debt_decimals)),
            collateral_symbol=coll_symbol,
            collateral_decimals=coll_decimals,
            collateral_seized=float(Fraction(coll, 10**coll_decimals)),
            price_currency="USD",
            price_unit_raw=str(WAD),
            debt_price_raw=str(WAD),
            collateral_price_raw=str(price),
            debt_price_usd=1.0,
            collateral_price_usd=float(Fraction(price, WAD)),
            price_source=source + "; LUSD/BOLD valued at 1 USD by the protocol's own convention",
            min_collateral_ratio_raw=None if mcr is None else str(mcr),
            health_factor_before_raw=None if health is None else str(health),
            health_factor_before=None if health is None else float(Fraction(health, WAD)),
            close_factor_bps=10_000,
            close_factor_rule="Liquity liquidates the whole trove (TroveManager._liquidate*)",
            debt_repaid_usd=float(debt_usd),
            collateral_seized_usd=float(coll_usd),
            liquidation_bonus_usd=float(coll_usd - debt_usd),
            liquidation_bonus_pct=float(100 * (coll_usd - debt_usd) / debt_usd) if debt else None,
            bad_debt_usd=None if bad is None else float(Fraction(int(bad), WAD)),
            state_status="ok",
        )


#: The adapter of the ``liquity`` family (see :mod:`toolkit.protocols`).
ADAPTER = LiquityAdapter
