"""Aave v1: ``LiquidationCall`` of the v1 LendingPool to normalized rows, enriched at the block before.

Sources: aave/aave-protocol @ 1ff8418 ``contracts/lendingpool/LendingPoolLiquidationManager.sol``
(executed by ``LendingPool.liquidationCall`` through ``delegatecall``, so the logs come from the
LendingPool proxy), ``LendingPool.sol``, ``LendingPoolCore.sol``, ``misc/ChainlinkProxyPriceProvider.sol``;
fixtures/mainnet-logs/README.md.

* Event, its own layout (topic0 ``0x56864757…``, not the v2/v3 one): ``LiquidationCall(address indexed
  _collateral, address indexed _reserve, address indexed _user, uint256 _purchaseAmount,
  uint256 _liquidatedCollateralAmount, uint256 _accruedBorrowInterest, address _liquidator,
  bool _receiveAToken, uint256 _timestamp)``.

  - ``_reserve`` is the debt asset; ``_purchaseAmount`` the debt repaid (``actualAmountToLiquidate``,
    at most 50% of the borrow balance: ``LIQUIDATION_CLOSE_FACTOR_PERCENT = 50``), in its base units.
  - ``_liquidatedCollateralAmount`` is what the liquidator receives, bonus included
    (``maxCollateralToLiquidate``), in collateral base units.
  - ``_accruedBorrowInterest`` (``borrowBalanceIncrease``) is the interest added to the borrower's
    debt by this call; the normalized record has no column for it, so it is not stored.
  - ``_timestamp`` is ``block.timestamp``: it fills ``block_timestamp`` without a header read.
  - ``0xeeee…eeee`` is ether itself (``EthAddressLib.ethAddress()``): symbol ``ETH``, 18 decimals,
    price exactly ``1 ether`` in the v1 oracle (``ChainlinkProxyPriceProvider.getAssetPrice``).
* ``OriginationFeeLiquidated(_collateral, _reserve, _user, _feeLiquidated, _liquidatedCollateralForFee,
  _timestamp)``, emitted just before ``LiquidationCall`` in the same call when the borrower owed an
  origination fee: ``_liquidatedCollateralForFee`` more collateral leaves the borrower for the
  protocol's TokenDistributor. It is joined into the row as ``protocol_fee_raw`` by decode, which
  fills this state column because the amount is in a log. Without such a log in what was decoded the
  fee is unknown to decode (null); in a pull, which requests both events for whole blocks, its
  absence means there was no fee, and enrichment sets ``0``.

State is read at ``block_number - 1`` (see :mod:`toolkit.protocols.aave`):

* ``LendingPool.getReserveConfigurationData(collateral)``: ``ltv``, ``liquidationThreshold``,
  ``liquidationBonus`` in **percent** (105 = 5% bonus, ``calculateAvailableCollateralToLiquidate``
  multiplies by ``liquidationBonus / 100``); stored in bps (x 100).
* ``LendingPool.getUserAccountData(user)``: health factor (wad), collateral and debt in ETH wei.
* ``LendingPool.core()`` -> ``LendingPoolCore.getReserveDecimals(asset)``.
* ``LendingPool.addressesProvider()`` -> ``getPriceOracle()`` -> ``getAssetPrice(asset)``: ETH wei per
  whole token; converted to USD with the chain's ETH/USD feed (``deployments/chains.toml``) when that
  feed answers at the block. The Chainlink ETH/USD proxy did not exist during all of Aave v1's life:
  where it does not answer, the ETH-quoted columns are filled, the USD columns stay null and
  ``state_status`` says why.
* Left null, with reason: ``protocol_fee_bps`` (v1's fee is an unpaid origination fee, not a share
  of the bonus), ``emode_category`` is 0 (v1 has no e-mode), ``bad_debt_raw`` (v1 records none:
  ``none_recorded``).
"""

from __future__ import annotations

from collections.abc import Hashable
from fractions import Fraction
from typing import Any

from toolkit.abi import LogDecodeError, load_abi
from toolkit.protocols.base import (Call, CallFailed, StateCaller, StateRounds, error_record, log_identity, log_int,
                                    read_calls)
from toolkit.protocols.event_args import joined, log_args_json, with_joined
from toolkit.protocols.eth_usd import eth_usd_at, eth_usd_calls
from toolkit.protocols.registry import Deployment

POOL = load_abi("aave-v1/LendingPool.json")
CORE = load_abi("aave-v1/LendingPoolCore.json")
PROVIDER = load_abi("aave-v1/LendingPoolAddressesProvider.json")
ORACLE = load_abi("aave-v1/PriceOracle.json")
ERC20 = load_abi("common/ERC20.json")

LIQUIDATION_CALL = POOL.event("LiquidationCall")
ORIGINATION_FEE_LIQUIDATED = POOL.event("OriginationFeeLiquidated")

#: ``EthAddressLib.ethAddress()``: the reserve address Aave v1 uses for ether.
ETH_ADDRESS = "0x" + "ee" * 20
#: ``LendingPoolLiquidationManager.LIQUIDATION_CLOSE_FACTOR_PERCENT`` in bps.
CLOSE_FACTOR_BPS = 5_000
WAD = 10**18


class AaveV1Adapter:
    """Adapter for the ``aave_v1`` family (protocol id ``aave-v1``)."""

    family = "aave_v1"

    def __init__(self) -> None:
        #: ERC-20 symbols by (chain id, token): read once per run.
        self._symbols: dict[tuple[int, str], str | None] = {}

    def symbol(self, chain_id: int, asset: str) -> str | None:
        """Symbol of ``asset`` read so far (``ETH`` for the ether pseudo-address)."""
        return "ETH" if asset == ETH_ADDRESS else self._symbols.get((chain_id, asset))

    def topics0(self, deployment: Deployment) -> tuple[str, ...]:
        return (LIQUIDATION_CALL.topic0, ORIGINATION_FEE_LIQUIDATED.topic0)

    def decode_logs(self, logs: list[dict[str, Any]], deployment: Deployment) -> list[dict[str, Any]]:
        """One row per ``LiquidationCall``, with the ``OriginationFeeLiquidated`` of the same call."""
        out: list[dict[str, Any]] = []
        fees: dict[tuple[str, str, str, str], tuple[dict[str, Any], dict[str, Any]]] = {}
        for log in logs:
            try:
                topic0 = str(log["topics"][0]).lower() if isinstance(log, dict) and log.get("topics") else None
                if topic0 == ORIGINATION_FEE_LIQUIDATED.topic0:
                    values = ORIGINATION_FEE_LIQUIDATED.decode(log["topics"], log["data"])
                    key = (str(log.get("transactionHash")).lower(), values["_collateral"], values["_reserve"],
                           values["_user"])
                    fees[key] = (log, values)
                    continue
                row = self.decode(log, deployment)
                fee = fees.pop((row["tx_hash"], row["collateral_asset"], row["debt_asset"], row["borrower"]), None)
                row["protocol_fee_raw"] = str(fee[1]["_liquidatedCollateralForFee"]) if fee else None
                if fee:
                    row["event_args"] = with_joined(row["event_args"], [
                        joined(ORIGINATION_FEE_LIQUIDATED, log_int(fee[0], "logIndex"), fee[1])])
                out.append(row)
            except LogDecodeError as exc:
                out.append(error_record(log, str(exc)))
        out.extend(error_record(log, "OriginationFeeLiquidated without the LiquidationCall of the same "
                                     "collateral, reserve and user in its transaction")
                   for log, _ in fees.values())
        return out

    def decode(self, log: dict[str, Any], deployment: Deployment) -> dict[str, Any]:
        """The row of one ``LiquidationCall`` log (``protocol_fee_raw`` is joined by :meth:`decode_logs`)."""
        row = log_identity(log, deployment)
        values = LIQUIDATION_CALL.decode(log["topics"], log["data"])
        row.update(
            market_id=deployment.address("pool"),
            event=LIQUIDATION_CALL.name,
            block_timestamp=values["_timestamp"],
            borrower=values["_user"],
            liquidator=values["_liquidator"],
            debt_asset=values["_reserve"],
            debt_repaid_raw=str(values["_purchaseAmount"]),
            collateral_asset=values["_collateral"],
            collateral_seized_raw=str(values["_liquidatedCollateralAmount"]),
            collateral_token=values["_collateral"],
            collateral_token_seized_raw=str(values["_liquidatedCollateralAmount"]),
            receive_a_token=values["_receiveAToken"],
            bad_debt_raw=None,
            bad_debt_mechanism="none_recorded",
            event_args=log_args_json(LIQUIDATION_CALL, values),
        )
        return row

    async def enrich(self, rows: list[dict[str, Any]], deployment: Deployment, state: StateCaller) -> None:
        if rows:
            await _Enrichment(self, deployment, state, rows).run()


class _Enrichment(StateRounds):
    """Three dependent rounds of batched ``eth_call``s: (1) pool, configuration, account data,
    symbols, ETH/USD; (2) core decimals and oracle address; (3) prices."""

    def __init__(self, adapter: AaveV1Adapter, deployment: Deployment, state: StateCaller,
                 rows: list[dict[str, Any]]) -> None:
        self.adapter = adapter
        super().__init__(state, deployment, rows)
        self.pool = deployment.address("pool")

    async def run(self) -> None:
        for make in (self._first_round, self._second_round, self._third_round):
            calls = make()
            if calls:
                self.results.update(await read_calls(self.state, calls))
        for row in self.rows:
            try:
                row.update(self._state_columns(row))
            except CallFailed as failure:
                row["state_status"] = f"unavailable: {failure}"

    def _first_round(self) -> dict[Hashable, Call]:
        calls: dict[Hashable, Call] = {}
        for row in self.rows:
            block = row["block_number"] - 1
            calls[("core", block)] = Call(block, self.pool, POOL.fn("core"))
            calls[("provider", block)] = Call(block, self.pool, POOL.fn("addressesProvider"))
            calls[("config", block, row["collateral_asset"])] = Call(
                block, self.pool, POOL.fn("getReserveConfigurationData"), (row["collateral_asset"],))
            calls[("account", block, row["borrower"])] = Call(
                block, self.pool, POOL.fn("getUserAccountData"), (row["borrower"],))
            for asset in (row["debt_asset"], row["collateral_asset"]):
                if asset != ETH_ADDRESS and (self.chain_id, asset) not in self.adapter._symbols:
                    calls[("symbol", asset)] = Call(block, asset, ERC20.fn("symbol"))
            calls.update(eth_usd_calls(self.deployment, block))
        return calls

    def _second_round(self) -> dict[Hashable, Call]:
        for key, value in self.results.items():
            if key[0] == "symbol":
                self.adapter._symbols[(self.chain_id, key[1])] = None if isinstance(value, CallFailed) else value[0]
        calls: dict[Hashable, Call] = {}
        for row in self.rows:
            block = row["block_number"] - 1
            core, provider = self.results[("core", block)], self.results[("provider", block)]
            if not isinstance(provider, CallFailed):
                calls[("oracle", block)] = Call(block, provider[0], PROVIDER.fn("getPriceOracle"))
            if not isinstance(core, CallFailed):
                for asset in (row["debt_asset"], row["collateral_asset"]):
                    calls[("decimals", block, asset)] = Call(block, core[0], CORE.fn("getReserveDecimals"), (asset,))
        return calls

    def _third_round(self) -> dict[Hashable, Call]:
        calls: dict[Hashable, Call] = {}
        for row in self.rows:
            block = row["block_number"] - 1
            oracle = self.results.get(("oracle", block))
            if oracle is None or isinstance(oracle, CallFailed):
                continue
            for asset in (row["debt_asset"], row["collateral_asset"]):
                calls[("price", block, asset)] = Call(block, oracle[0], ORACLE.fn("getAssetPrice"), (asset,))
        return calls

    def _state_columns(self, row: dict[str, Any]) -> dict[str, Any]:
        block = row["block_number"] - 1
        debt, collateral = row["debt_asset"], row["collateral_asset"]
        ltv, threshold, bonus = self._get(("config", block, collateral))[:3]
        account = self._get(("account", block, row["borrower"]))
        debt_decimals = self._get(("decimals", block, debt))[0]
        coll_decimals = self._get(("decimals", block, collateral))[0]
        debt_price = self._get(("price", block, debt))[0]
        coll_price = self._get(("price", block, collateral))[0]
        oracle = self._get(("oracle", block))[0]
        debt_raw, coll_raw = int(row["debt_repaid_raw"]), int(row["collateral_seized_raw"])
        fee_raw = int(row["protocol_fee_raw"] or 0)  # no OriginationFeeLiquidated in the pulled blocks: no fee
        health_factor = account[7]
        columns: dict[str, Any] = {
            "state_block": block,
            "debt_symbol": self.adapter.symbol(self.chain_id, debt),
            "debt_decimals": debt_decimals,
            "debt_repaid": float(Fraction(debt_raw, 10**debt_decimals)),
            "collateral_symbol": self.adapter.symbol(self.chain_id, collateral),
            "collateral_decimals": coll_decimals,
            "collateral_seized": float(Fraction(coll_raw, 10**coll_decimals)),
            "protocol_fee_raw": str(fee_raw),
            "protocol_fee": float(Fraction(fee_raw, 10**coll_decimals)),
            "price_currency": "ETH",
            "price_unit_raw": str(WAD),
            "debt_price_raw": str(debt_price),
            "collateral_price_raw": str(coll_price),
            "ltv_bps": ltv * 100,
            "liquidation_threshold_bps": threshold * 100,
            "liquidation_bonus_bps": bonus * 100,
            "emode_category": 0,
            "close_factor_bps": CLOSE_FACTOR_BPS,
            "close_factor_rule": ("Aave v1: 50% of the borrow balance "
                                  "(LendingPoolLiquidationManager.sol LIQUIDATION_CLOSE_FACTOR_PERCENT)"),
            "health_factor_before_raw": str(health_factor),
            "health_factor_before": float(Fraction(health_factor, WAD)),
        }
        eth_usd = eth_usd_at(self.results, self.deployment, block)
        usd_per_wei = None if eth_usd.usd_per_eth is None else eth_usd.usd_per_eth / WAD
        debt_eth = Fraction(debt_raw, 10**debt_decimals) * debt_price
        coll_eth = Fraction(coll_raw, 10**coll_decimals) * coll_price

        def usd(value: Fraction | int) -> float | None:
            return None if usd_per_wei is None else float(value * usd_per_wei)

        columns.update(
            **eth_usd.columns(),
            debt_price_usd=usd(debt_price),
            collateral_price_usd=usd(coll_price),
            price_source=f"Aave v1 oracle {oracle} getAssetPrice in ETH (1e18) at block {block}{eth_usd.source()}",
            borrower_collateral_usd=usd(account[1]),
            borrower_debt_usd=usd(account[2]),
            debt_repaid_usd=usd(debt_eth),
            collateral_seized_usd=usd(coll_eth),
            protocol_fee_usd=usd(Fraction(fee_raw, 10**coll_decimals) * coll_price),
            liquidation_bonus_usd=usd(coll_eth - debt_eth),
            liquidation_bonus_pct=float(100 * (coll_eth - debt_eth) / debt_eth) if debt_eth else None,
            state_status=eth_usd.partial_status() or "ok",
        )
        return columns


#: The adapter of the ``aave_v1`` family (see :mod:`toolkit.protocols`).
ADAPTER = AaveV1Adapter
