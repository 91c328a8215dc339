"""Aave v2, Aave v3 and Spark: ``LiquidationCall`` logs to normalized rows, enriched at the block before.

Sources (docs/sources/aave.md):

* Event: ``LiquidationCall(address indexed collateralAsset, address indexed debtAsset,
  address indexed user, uint256 debtToCover, uint256 liquidatedCollateralAmount, address liquidator,
  bool receiveAToken)``, one topic0 for v2, v3 and every fork, emitted by the Pool proxy
  (docs/sources/aave.md#aave-liquidationcall).
* ``liquidatedCollateralAmount`` is what the liquidator receives. In v3 it **excludes** the
  liquidation protocol fee, which goes to the treasury as a separate aToken transfer
  (:mod:`toolkit.protocols.aave_fees`); v2 has no protocol fee.
* Reserve parameters come from the configuration bitmap ``Pool.getConfiguration(asset)``, which
  exists since deployment (unlike the data provider, whose address changed over time)
  (:class:`~toolkit.protocols.aave_rules.ReserveConfig`).
* The rules of the pool **at the liquidation's block** -- v3.0-3.1 e-mode by the reserve's category bits
  and the category price source, v3.2+ e-mode by the category's ``collateralBitmap``, the v3.3+ close factor
  and deficit -- are found by the view functions the pool answers there
  (:mod:`toolkit.protocols.aave_rules`); the state reads are :mod:`toolkit.protocols.aave_enrich`.
* Prices: ``AaveOracle.getAssetPrice`` of the oracle registered in the addresses provider at the
  block. v3 answers in ``BASE_CURRENCY_UNIT`` (read, not assumed); the v2 Ethereum oracle answers
  in ETH wei, converted with the chain's ETH/USD feed (``deployments/chains.toml``), said in ``price_source``.

* Bad debt (v3.3+): when a liquidation leaves the borrower without collateral, the Pool burns the
  remaining debt of every borrowed reserve, adds it to ``reserve.deficit`` and emits
  ``DeficitCreated(address indexed user, address indexed debtAsset, uint256 amountCreated)`` (debt
  token base units) for each, *before* the ``LiquidationCall`` of the same call
  (docs/sources/aave.md#aave-v33-deficit). The
  ``LiquidationCall`` row of that user takes ``bad_debt_raw`` = the amount created for its own debt
  asset, ``bad_debt_mechanism`` = ``deficit``; a deficit in another reserve of the same user gets its
  own ``DeficitCreated`` row with the liquidation's ``join_key`` (``debt_repaid_raw`` and
  ``collateral_seized_raw`` ``0``: the event repays and seizes nothing); a ``DeficitCreated`` without a
  ``LiquidationCall`` of its user in the transaction gets a row with ``incomplete_reason``.
* Whether the Pool ran v3.3+ logic at a block is detected at runtime: ``Pool.getReserveDeficit``
  (v3.3+ only) answers at ``state_block`` -> a liquidation without ``DeficitCreated`` recorded no bad
  debt (``bad_debt_raw`` ``0``, mechanism ``deficit``); it reverts -> v2 or v3.0-3.2, which record
  none (``none_recorded``, ``bad_debt_raw`` null). Decode alone cannot tell, so it says
  ``none_recorded`` for those rows. An upgrade inside the liquidation's own block would be missed.

State is read where :mod:`toolkit.protocols.enrichment` says: right before the liquidation's transaction (its
pre-state on ``state_block`` = ``block_number - 1``), or at the start of its block; each row's ``state_check``
(:mod:`toolkit.protocols.checks.aave`) recomputes the collateral seized from that state.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from toolkit.abi import LogDecodeError, load_abi
from toolkit.protocols.aave_fees import (PERCENTAGE_FACTOR, percent_div, percent_mul, protocol_fee_from_event,
                                         protocol_fee_of)
from toolkit.protocols.aave_rules import CLOSE_FACTOR_HF_THRESHOLD, WAD, ReserveConfig
from toolkit.protocols.base import PerLogAdapter, StateCaller, error_record, log_identity, log_int
from toolkit.protocols.eth_usd import FEED as ETH_USD_FEED  # re-exported, one load of the ABI
from toolkit.protocols.event_args import joined, log_args_json, with_joined
from toolkit.protocols.registry import Deployment

POOL_V3 = load_abi("aave-v3/Pool.json")
POOL_V2 = load_abi("aave-v2/LendingPool.json")
PROVIDER_V3 = load_abi("aave-v3/PoolAddressesProvider.json")
PROVIDER_V2 = load_abi("aave-v2/LendingPoolAddressesProvider.json")
ORACLE_V3 = load_abi("aave-v3/AaveOracle.json")
ORACLE_V2 = load_abi("aave-v2/AaveOracle.json")
ERC20 = load_abi("common/ERC20.json")

#: The event; v2 and v3 share its signature and topic0.
LIQUIDATION_CALL = POOL_V3.event("LiquidationCall")
#: Aave v3.3+ bad debt written off by a liquidation (one per debt reserve of the user).
DEFICIT_CREATED = POOL_V3.event("DeficitCreated")

#: Names other modules import from here (the percentage math, the fee and the configuration bitmap live in
#: :mod:`toolkit.protocols.aave_fees` and :mod:`toolkit.protocols.aave_rules`).
__all__ = ["ADAPTER", "CLOSE_FACTOR_HF_THRESHOLD", "DEFICIT_CREATED", "ERC20", "ETH_USD_FEED", "LIQUIDATION_CALL",
           "ORACLE_V2", "ORACLE_V3", "PERCENTAGE_FACTOR", "POOL_V2", "POOL_V3", "PROVIDER_V2", "PROVIDER_V3", "WAD",
           "AaveAdapter", "ReserveConfig", "percent_div", "percent_mul", "protocol_fee_from_event", "protocol_fee_of"]


class AaveAdapter(PerLogAdapter):
    """Adapter for the ``aave`` family (protocol ids ``aave-v2``, ``aave-v3``, ``spark``)."""

    family = "aave"
    event = LIQUIDATION_CALL

    def __init__(self) -> None:
        #: ERC-20 symbols by (chain id, token): read once per run.
        self._symbols: dict[tuple[int, str], str | None] = {}
        #: Addresses provider by pool: an immutable of the Pool implementation.
        self._providers: dict[tuple[int, str], str] = {}

    def topics0(self, deployment: Deployment) -> tuple[str, ...]:
        if int(deployment.params["aave_version"]) >= 3:
            return (LIQUIDATION_CALL.topic0, DEFICIT_CREATED.topic0)
        return (LIQUIDATION_CALL.topic0,)

    def decode_logs(self, logs: list[dict[str, Any]], deployment: Deployment) -> list[dict[str, Any]]:
        """:meth:`decode` for every ``LiquidationCall``, with the ``DeficitCreated`` logs of the same
        transaction joined (see the module docstring); rows come out in log order."""
        rows = self.column_rows(logs, deployment)
        if rows is not None:
            return rows
        out: list[dict[str, Any]] = []
        pending: list[tuple[dict[str, Any], dict[str, Any]]] = []  # DeficitCreated of the current transaction
        for log in logs:
            if pending and (not isinstance(log, dict) or log.get("transactionHash") != pending[0][0]["transactionHash"]):
                out.extend(self._deficit_row(*item, deployment, None) for item in pending)
                pending = []
            try:
                topics = log.get("topics") if isinstance(log, dict) else None
                if topics and str(topics[0]).lower() == DEFICIT_CREATED.topic0:
                    log_identity(log, deployment)
                    pending.append((log, DEFICIT_CREATED.decode(topics, log["data"])))
                    continue
                row = self.decode(log, deployment)
            except LogDecodeError as exc:
                out.append(error_record(log, str(exc)))
                continue
            for item in [item for item in pending if item[1]["user"] == row["borrower"]]:
                pending.remove(item)
                if item[1]["debtAsset"] == row["debt_asset"]:
                    row.update(bad_debt_raw=str(item[1]["amountCreated"]), bad_debt_mechanism="deficit",
                               event_args=with_joined(row["event_args"], [
                                   joined(DEFICIT_CREATED, log_int(item[0], "logIndex"), item[1])]))
                else:
                    out.append(self._deficit_row(*item, deployment, row["join_key"]))
            out.append(row)
        out.extend(self._deficit_row(*item, deployment, None) for item in pending)
        return out

    def _deficit_row(self, log: dict[str, Any], values: dict[str, Any], deployment: Deployment,
                     join_key: str | None) -> dict[str, Any]:
        """The row of a ``DeficitCreated`` in another reserve than the liquidated debt asset (with the
        liquidation's ``join_key``), or without a ``LiquidationCall`` of its user (``incomplete_reason``)."""
        row = log_identity(log, deployment)
        row.update(
            market_id=deployment.address("pool"),
            event=DEFICIT_CREATED.name,
            borrower=values["user"],
            debt_asset=values["debtAsset"],
            debt_repaid_raw="0",
            collateral_seized_raw="0",
            collateral_token_seized_raw="0",
            bad_debt_raw=str(values["amountCreated"]),
            bad_debt_mechanism="deficit",
            join_key=join_key or row["join_key"],
            incomplete_reason=None if join_key else (
                "DeficitCreated without a LiquidationCall of the same user in its transaction"),
            event_args=log_args_json(DEFICIT_CREATED, values),
        )
        return row

    def liquidation_fields(self, values: dict[str, Any], identity: dict[str, Any], deployment: Deployment,
                           constant: Callable[[Any], Any]) -> dict[str, Any]:
        seized = values["liquidatedCollateralAmount"]
        return {
            "market_id": constant(deployment.address("pool")),
            "event": constant(LIQUIDATION_CALL.name),
            "borrower": values["user"],
            "liquidator": values["liquidator"],
            "debt_asset": values["debtAsset"],
            "debt_repaid_raw": values["debtToCover"],
            "collateral_asset": values["collateralAsset"],
            "collateral_seized_raw": seized,
            "receive_a_token": values["receiveAToken"],
            "bad_debt_raw": constant(None),
            "bad_debt_mechanism": constant("none_recorded"),
            "collateral_token": values["collateralAsset"],
            "collateral_token_seized_raw": seized,
        }

    async def enrich(self, rows: list[dict[str, Any]], deployment: Deployment, state: StateCaller) -> None:
        if rows:
            from toolkit.protocols.aave_enrich import AaveEnrichment  # it imports this module's ABIs

            await AaveEnrichment(self, deployment, state, rows).run()


#: The adapter of the ``aave`` family (see :mod:`toolkit.protocols`).
ADAPTER = AaveAdapter
