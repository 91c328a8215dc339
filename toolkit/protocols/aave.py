"""Aave v2, Aave v3 and Spark: ``LiquidationCall`` logs to normalized rows, enriched at the block before.

Sources (shared/reference/defi-protocols.md §1-§2 and the npm packages the devchain deploys):

* Event: ``LiquidationCall(address indexed collateralAsset, address indexed debtAsset,
  address indexed user, uint256 debtToCover, uint256 liquidatedCollateralAmount, address liquidator,
  bool receiveAToken)``, one topic0 for v2, v3 and every fork, emitted by the Pool proxy
  (aave/protocol-v2 ``ILendingPool.sol`` L139-147; @aave/core-v3 ``IPool.sol``).
* ``liquidatedCollateralAmount`` is what the liquidator receives. In v3 it **excludes** the
  liquidation protocol fee, which goes to the treasury as a separate aToken transfer
  (@aave/core-v3 1.19.3 ``LiquidationLogic.sol`` ``_calculateAvailableCollateralToLiquidate``);
  v2 has no protocol fee (``LendingPoolCollateralManager.sol``).
* Reserve parameters come from the configuration bitmap ``Pool.getConfiguration(asset)``, which
  exists since deployment (unlike the data provider, whose address changed over time):
  bits 0-15 LTV, 16-31 liquidation threshold, 32-47 liquidation bonus (bps including 100%),
  48-55 decimals, 152-167 liquidation protocol fee (v3), 168-175 e-mode category (v3)
  (@aave/core-v3 ``ReserveConfiguration.sol`` L34-51; v2 uses the same bits 0-55).
* E-mode (v3): when the borrower is in an e-mode category and the collateral belongs to it, the
  category's threshold and bonus replace the reserve's, and a non-zero category ``priceSource``
  replaces the assets as price keys (``LiquidationLogic._getConfigurationData`` L398-430).
* Prices: ``AaveOracle.getAssetPrice`` of the oracle registered in the addresses provider at the
  block. v3 answers in ``BASE_CURRENCY_UNIT`` (read, not assumed); the v2 Ethereum oracle answers
  in ETH wei, converted with the chain's ETH/USD feed (``deployments/chains.toml``), said in ``price_source``.
* Close factor: 50% in v2 (``LIQUIDATION_CLOSE_FACTOR_PERCENT = 5000``); v3.0-3.2: 50%, or 100%
  when the health factor is at or below 0.95 (``LiquidationLogic.sol`` L54-68, L375).

* Bad debt (v3.3+): when a liquidation leaves the borrower without collateral, the Pool burns the
  remaining debt of every borrowed reserve, adds it to ``reserve.deficit`` and emits
  ``DeficitCreated(address indexed user, address indexed debtAsset, uint256 amountCreated)`` (debt
  token base units) for each, *before* the ``LiquidationCall`` of the same call (aave-dao/aave-v3-origin
  ``LiquidationLogic.sol`` ``_burnDebtTokens``, ``_burnBadDebt``; defi-protocols.md §2). The
  ``LiquidationCall`` row of that user takes ``bad_debt_raw`` = the amount created for its own debt
  asset, ``bad_debt_mechanism`` = ``deficit``; a deficit in another reserve of the same user gets its
  own ``DeficitCreated`` row with the liquidation's ``join_key`` (``debt_repaid_raw`` and
  ``collateral_seized_raw`` ``0``: the event repays and seizes nothing); a ``DeficitCreated`` without a
  ``LiquidationCall`` of its user in the transaction gets a row with ``incomplete_reason``.
* Whether the Pool ran v3.3+ logic at a block: the upgrade blocks of the registered pools have no
  source here, so it is detected at runtime as defi-protocols.md §2 suggests: ``Pool.getReserveDeficit``
  (v3.3+ only) answers at ``state_block`` -> a liquidation without ``DeficitCreated`` recorded no bad
  debt (``bad_debt_raw`` ``0``, mechanism ``deficit``); it reverts -> v2 or v3.0-3.2, which record
  none (``none_recorded``, ``bad_debt_raw`` null). Decode alone cannot tell, so it says
  ``none_recorded`` for those rows. An upgrade inside the liquidation's own block would be missed.

State is read at the point :mod:`toolkit.protocols.enrichment` gives (right before the transaction, or at
the start of its block; ``state_block`` = ``block_number - 1``), in one round: the oracle comes from the
addresses provider and its prices from the oracle within the same ``eth_call`` (``Ref``). The row's
``state_check`` (:mod:`toolkit.protocols.checks.aave`) recomputes the collateral seized from that state;
for it the borrower's aToken balance of the collateral is read too (``getReserveData(collateral)``
``aTokenAddress``, then ``balanceOf``). ETH/USD: :mod:`toolkit.protocols.eth_usd`.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from toolkit.abi import LogDecodeError, load_abi
from toolkit.protocols.base import (Call, CallFailed, PerLogAdapter, Ref, StateCaller, StateRounds, error_record,
                                    log_identity)
from toolkit.protocols.eth_usd import eth_usd_at, eth_usd_calls
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

#: PercentageMath: 100.00% in bps (@aave/core-v3 ``PercentageMath.sol``).
PERCENTAGE_FACTOR = 10_000
#: v3 ``CLOSE_FACTOR_HF_THRESHOLD`` (wad): at or below it the whole debt may be repaid.
CLOSE_FACTOR_HF_THRESHOLD = 95 * 10**16
WAD = 10**18
#: Word of ``getReserveData``'s answer holding the aToken address: v2 (False) 7, v3 (True) 8
#: (``DataTypes.ReserveData`` of @aave/protocol-v2 1.0.1 and @aave/core-v3 1.19.3).
A_TOKEN_WORD = {False: 7, True: 8}


def percent_mul(value: int, bps: int) -> int:
    """``PercentageMath.percentMul``: value x bps / 10000, rounded half up."""
    return (value * bps + PERCENTAGE_FACTOR // 2) // PERCENTAGE_FACTOR


def percent_div(value: int, bps: int) -> int:
    """``PercentageMath.percentDiv``: value x 10000 / bps, rounded half up."""
    return (value * PERCENTAGE_FACTOR + bps // 2) // bps


def protocol_fee_of(total_collateral: int, bonus_bps: int, fee_bps: int) -> int:
    """Protocol fee taken from ``total_collateral`` seized (LiquidationLogic L515-522):
    ``percentMul(total - percentDiv(total, bonus), fee)``."""
    return percent_mul(total_collateral - percent_div(total_collateral, bonus_bps), fee_bps)


def protocol_fee_from_event(received: int, bonus_bps: int, fee_bps: int, total_hint: int | None = None) -> int:
    """The v3 protocol fee, given what the liquidator received (the event amount).

    The contract seizes ``total`` and emits ``received = total - fee(total)``. ``total_hint`` is the
    contract's own computation of ``total`` from prices and the debt repaid; it is used when it
    reproduces ``received`` exactly. Otherwise (the seizure was capped by the borrower's balance, or
    prices moved within the block) ``total`` is recovered from ``received`` alone by the fixed-point
    iteration ``total = received + fee(total)``, which converges in a few steps because the fee is a
    small fraction of the total; where two totals one unit apart both fit, the smaller is taken
    (the fee is then uncertain by one base unit).
    """
    if fee_bps == 0:
        return 0
    if total_hint is not None and total_hint - protocol_fee_of(total_hint, bonus_bps, fee_bps) == received:
        return protocol_fee_of(total_hint, bonus_bps, fee_bps)
    total = received
    for _ in range(64):
        following = received + protocol_fee_of(total, bonus_bps, fee_bps)
        if following == total:
            break
        total = following
    for candidate in (total - 1, total, total + 1):
        if candidate - protocol_fee_of(candidate, bonus_bps, fee_bps) == received:
            return protocol_fee_of(candidate, bonus_bps, fee_bps)
    return protocol_fee_of(total, bonus_bps, fee_bps)


@dataclass(frozen=True)
class ReserveConfig:
    """Fields of the reserve configuration bitmap (units in the module docstring)."""

    ltv_bps: int
    liquidation_threshold_bps: int
    liquidation_bonus_bps: int
    decimals: int
    protocol_fee_bps: int
    emode_category: int

    @classmethod
    def from_bitmap(cls, data: int, aave_version: int) -> "ReserveConfig":
        def bits(start: int, width: int) -> int:
            return (data >> start) & ((1 << width) - 1)

        v3 = aave_version >= 3
        return cls(bits(0, 16), bits(16, 16), bits(32, 16), bits(48, 8),
                   bits(152, 16) if v3 else 0, bits(168, 8) if v3 else 0)


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
                    row.update(bad_debt_raw=str(item[1]["amountCreated"]), bad_debt_mechanism="deficit")
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
            await _Enrichment(self, deployment, state, rows).run()


class _Enrichment(StateRounds):
    """The state reads for one batch of rows in one round of ``eth_call``s: configuration, account data,
    e-mode, symbols, the v3.3 deficit probe, the borrower's collateral balance, ETH/USD, and through
    :class:`~toolkit.protocols.base.Ref` s the oracle (from the addresses provider) and its prices (of the
    debt, the collateral and the e-mode price source), so the reader contract answers a batch in one call.
    ``DeficitCreated`` rows only need their debt asset's configuration and price."""

    def __init__(self, adapter: AaveAdapter, deployment: Deployment, state: StateCaller,
                 rows: list[dict[str, Any]]) -> None:
        self.adapter = adapter
        super().__init__(state, deployment, rows)
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
            provider: str | Ref = known_provider or Ref(("provider", block))
            calls[("oracle", block)] = Call(block, provider, provider_abi.fn("getPriceOracle"))
            oracle = Ref(("oracle", block))
            for asset in _assets(row):
                calls[("config", block, asset)] = Call(block, self.pool, self.pool_abi.fn("getConfiguration"), (asset,))
                calls[("price", block, asset)] = Call(block, oracle, oracle_abi.fn("getAssetPrice"), (asset,))
                if (self.chain_id, asset) not in self.adapter._symbols:
                    calls[("symbol", asset)] = Call(block, asset, ERC20.fn("symbol"))
            if self.version >= 3:
                calls[("base_unit", block)] = Call(block, oracle, ORACLE_V3.fn("BASE_CURRENCY_UNIT"))
            if row["event"] != LIQUIDATION_CALL.name:
                continue
            if self.version >= 3 and row["bad_debt_mechanism"] != "deficit":
                calls[("deficit", block, row["debt_asset"])] = Call(
                    block, self.pool, POOL_V3.fn("getReserveDeficit"), (row["debt_asset"],))
            calls[("account", block, user)] = Call(block, self.pool, self.pool_abi.fn("getUserAccountData"), (user,))
            collateral = row["collateral_asset"]
            calls[("reserve", block, collateral)] = Call(block, self.pool, self.pool_abi.fn("getReserveData"),
                                                         (collateral,))
            calls[("balance", block, collateral, user)] = Call(
                block, Ref(("reserve", block, collateral), A_TOKEN_WORD[self.version >= 3]), ERC20.fn("balanceOf"),
                (user,))
            if self.version >= 3:
                calls[("emode", block, user)] = Call(block, self.pool, POOL_V3.fn("getUserEMode"), (user,))
                calls[("emode_category", block, user)] = Call(
                    block, self.pool, POOL_V3.fn("getEModeCategoryData"), (Ref(("emode", block, user)),))
                # word 4 of the answer: the category's priceSource (offset word, ltv, threshold, bonus, source)
                calls[("emode_price", block, user)] = Call(
                    block, oracle, oracle_abi.fn("getAssetPrice"), (Ref(("emode_category", block, user), 4),))
            if self.eth_quoted:
                calls.update(eth_usd_calls(self.deployment, block))
        return calls

    def _keep_constants(self) -> None:
        """Symbols and the addresses provider (an immutable of the Pool) are read once per run."""
        for key, value in self.results.items():
            if key[0] == "symbol":
                self.adapter._symbols[(self.chain_id, key[1])] = None if isinstance(value, CallFailed) else value[0]
            elif key[0] == "provider" and not isinstance(value, CallFailed):
                self.adapter._providers[(self.chain_id, self.pool)] = value[0]

    def _emode(self, row: dict[str, Any]) -> tuple[int, tuple[Any, ...] | None]:
        """The borrower's e-mode category id and its data (None when not in e-mode or v2)."""
        if self.version < 3:
            return 0, None
        block = row["block_number"] - 1
        category = self._get(("emode", block, row["borrower"]))[0]
        if category == 0:
            return 0, None
        return category, self._get(("emode_category", block, row["borrower"]))[0]

    def _prices(self, row: dict[str, Any]) -> tuple[int, int, bool]:
        """(debt price, collateral price, whether an e-mode price source replaced an asset's) per
        ``LiquidationLogic._getConfigurationData``: a non-zero category ``priceSource`` prices the debt,
        and the collateral when it belongs to the category."""
        block = row["block_number"] - 1
        debt_price = self._get(("price", block, row["debt_asset"]))[0]
        coll_price = self._get(("price", block, row["collateral_asset"]))[0]
        category, data = self._emode(row)
        if data is None or int(data[3], 16) == 0:
            return debt_price, coll_price, False
        source_price = self._get(("emode_price", block, row["borrower"]))[0]
        coll_cfg = ReserveConfig.from_bitmap(self._get(("config", block, row["collateral_asset"]))[0][0],
                                             self.version)
        return source_price, (source_price if coll_cfg.emode_category == category else coll_price), True

    def _state_columns(self, row: dict[str, Any]) -> dict[str, Any]:
        block = row["block_number"] - 1
        debt_cfg = ReserveConfig.from_bitmap(self._get(("config", block, row["debt_asset"]))[0][0], self.version)
        coll_cfg = ReserveConfig.from_bitmap(self._get(("config", block, row["collateral_asset"]))[0][0], self.version)
        if debt_cfg.decimals == 0 and debt_cfg.liquidation_bonus_bps == 0:
            raise CallFailed(f"{row['debt_asset']} is not a reserve of {self.pool} at block {block}")
        category, category_data = self._emode(row)
        threshold, bonus = coll_cfg.liquidation_threshold_bps, coll_cfg.liquidation_bonus_bps
        if category_data is not None and coll_cfg.emode_category == category:
            threshold, bonus = category_data[1], category_data[2]
        debt_price, coll_price, by_emode = self._prices(row)
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
        if by_emode:
            price_source += f"; e-mode {category} price source"

        def usd(value: Fraction | int | None) -> float | None:
            return None if value is None or usd_per_unit is None else float(value * usd_per_unit)

        debt_raw, received = int(row["debt_repaid_raw"]), int(row["collateral_seized_raw"])
        total_hint = percent_mul(
            (debt_price * debt_raw * 10**coll_cfg.decimals) // (coll_price * 10**debt_cfg.decimals), bonus
        ) if coll_price else None
        fee_raw = protocol_fee_from_event(received, bonus, coll_cfg.protocol_fee_bps, total_hint)
        debt_value = Fraction(debt_raw, 10**debt_cfg.decimals) * debt_price  # in oracle units
        coll_value = Fraction(received, 10**coll_cfg.decimals) * coll_price
        bonus_value = coll_value - debt_value
        if self.version >= 3:
            close_factor = PERCENTAGE_FACTOR if health_factor <= CLOSE_FACTOR_HF_THRESHOLD else PERCENTAGE_FACTOR // 2
            rule = ("Aave v3.0-3.2: 50%, 100% when health factor <= 0.95 "
                    "(@aave/core-v3 LiquidationLogic.sol L54-68)")
        else:
            close_factor = PERCENTAGE_FACTOR // 2
            rule = "Aave v2: 50% (LendingPoolCollateralManager.sol LIQUIDATION_CLOSE_FACTOR_PERCENT)"
        symbols = self.adapter._symbols
        balance = self.results.get(("balance", block, row["collateral_asset"], row["borrower"]))
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
            "emode_category": category,
            "close_factor_bps": close_factor,
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
            "_check_collateral_balance": None if balance is None or isinstance(balance, CallFailed) else balance[0],
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
            **self._bad_debt(row, block, cfg.decimals, price, lambda value: None if value is None else
                             float(Fraction(value) / unit)),
        }


def _assets(row: dict[str, Any]) -> tuple[str, ...]:
    """The reserves a row names: (debt, collateral), or (debt,) for a ``DeficitCreated`` row."""
    return (row["debt_asset"],) if row["event"] == DEFICIT_CREATED.name else (row["debt_asset"], row["collateral_asset"])


#: The adapter of the ``aave`` family (see :mod:`toolkit.protocols`).
ADAPTER = AaveAdapter
