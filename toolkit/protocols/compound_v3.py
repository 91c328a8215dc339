"""Compound v3 (Comet): an absorb (``AbsorbDebt`` + N x ``AbsorbCollateral`` in one transaction) to rows.

Sources (docs/sources/compound.md#comet-events-and-mechanics; compound-finance/comet ``contracts/Comet.sol``
``absorbInternal``, ``contracts/CometMainInterface.sol`` L46-58):

* For each account, ``absorb`` seizes **all** its collateral into the protocol's reserves and emits one
  ``AbsorbCollateral(absorber, borrower, asset, collateralAbsorbed, usdValue)`` per asset, then
  ``AbsorbDebt(absorber, borrower, basePaidOut, usdValue)``. ``usdValue`` is
  ``amount x price / scale`` with the market's 8-decimal prices (``PRICE_FEED_DECIMALS``): USD for the
  USDC/USDT/USDS markets, **ETH** for cWETHv3 and **wstETH** for cwstETHv3 (constant base feeds of 1e8),
  so values are labelled with the registry's ``price_currency`` and never called USD unless they are.
* The borrower is credited ``deltaValue = sum(mulFactor(usdValue_i, liquidationFactor_i))`` converted to
  base at the base price; the new balance is floored at 0 ("excess debt absorbed by reserves") and
  ``basePaidOut = newBalance - oldBalance``. When the credit exceeds the debt the rest becomes the
  borrower's supply balance, so ``basePaidOut`` is the base paid out to the account, debt plus any
  excess. The absorber receives no collateral (``liquidator`` is the absorber all the same); the
  protocol sells it later through ``buyCollateral``, so rows have ``is_auction = True`` (the two-phase
  liquidation of docs/sources/store.md#normalized-liquidation-record) without an ``auction_id``.

Rows: one per collateral leg (docs/sources/store.md#normalized-liquidation-record), keyed by the
``AbsorbCollateral`` log, with ``join_key = tx_hash:borrower``. ``basePaidOut`` and the ``AbsorbDebt`` ``usdValue``
are split over the legs in proportion to the legs' ``usdValue`` (largest remainder, ties to the earlier leg), so the
legs of one absorb add up exactly to the event; an absorb without collateral gives one row keyed by its
``AbsorbDebt`` log. An ``AbsorbCollateral`` without its ``AbsorbDebt`` in the chunk (whole blocks, so this means a
malformed transaction) gives a row with ``incomplete_reason`` and no debt.

Bad debt (docs/sources/compound.md#comet-bad-debt, own derivation from the code): per absorb,
``shortfall = max(0, AbsorbDebt.usdValue - sum(usdValue_i x liquidationFactor_i / 1e18))`` in price units;
non-zero only when the balance was floored at 0, and then taken from reserves
(``bad_debt_mechanism = reserves``). In base units it is ``basePaidOut - credit x baseScale / basePrice``
with the base price of the state block (exact for the constant-priced WETH and wstETH markets). Both
are split over the legs like the debt. Needs the liquidation factors, so it is filled by :meth:`enrich`.

``BuyCollateral`` is not turned into rows: a purchase draws on the pooled reserves of an asset and
cannot be attributed to one absorb, so it belongs in a table of its own (a later issue); its ABI entry
lets ``liqtk decode`` name the event.

State (``eth_call`` at ``block_number - 1``): ``baseToken``, ``baseScale``, ``baseTokenPriceFeed``,
``storeFrontPriceFactor``, ``getAssetInfoByAddress(asset)`` (factors 1e18-scaled with 4-decimal
precision, so ``liquidateCollateralFactor`` and ``borrowCollateralFactor`` are whole bps), ``getPrice``
of the base and collateral feeds, ERC-20 ``symbol``, and for ETH-quoted markets the chain's ETH/USD feed.
"""

from __future__ import annotations

from collections.abc import Hashable
from fractions import Fraction
from typing import Any

from toolkit.abi import load_abi
from toolkit.protocols.base import Call, CallFailed, StateCaller, StateRounds, read_calls
from toolkit.protocols.eth_usd import EthUsd, eth_usd_at, eth_usd_calls
from toolkit.protocols.event_args import joined, log_args_json
from toolkit.protocols.multi_event import DecodedLog, allocate, decode_events, mark_incomplete
from toolkit.protocols.registry import Deployment

COMET = load_abi("compound-v3/Comet.json")
ERC20 = load_abi("common/ERC20.json")

ABSORB_DEBT = COMET.event("AbsorbDebt")
ABSORB_COLLATERAL = COMET.event("AbsorbCollateral")

#: ``PRICE_FEED_DECIMALS`` (CometCore.sol): every Comet price and event value has 8 decimals.
PRICE_UNIT = 10**8
#: ``FACTOR_SCALE`` (CometCore.sol): collateral and liquidation factors are 1e18-scaled.
FACTOR_SCALE = 10**18
#: Factors keep 4 decimals (``descale = FACTOR_SCALE / 1e4``, Comet.sol), so 1 bps = 1e14.
FACTOR_PER_BPS = 10**14


class CometAdapter:
    """Adapter for the ``compound_v3`` family (protocol id ``compound-v3``)."""

    family = "compound_v3"

    def topics0(self, deployment: Deployment) -> tuple[str, ...]:
        return (ABSORB_COLLATERAL.topic0, ABSORB_DEBT.topic0)

    def decode_logs(self, logs: list[dict[str, Any]], deployment: Deployment) -> list[dict[str, Any]]:
        decoded, errors, failed = decode_events(logs, deployment, (ABSORB_COLLATERAL, ABSORB_DEBT))
        rows: list[dict[str, Any]] = []
        legs: dict[tuple[str, str, str], list[DecodedLog]] = {}
        for item in decoded:
            key = (item.identity["tx_hash"], item.identity["emitter"], item.values["borrower"])
            if item.event is ABSORB_COLLATERAL:
                legs.setdefault(key, []).append(item)
            else:
                rows.extend(self._absorb_rows(item, legs.pop(key, [])))
        for orphans in legs.values():
            for leg in orphans:
                row = self._leg_row(leg)
                row.update(incomplete_reason="AbsorbCollateral without the AbsorbDebt of its absorb in the "
                                             "transaction; debt and bad debt unknown")
                rows.append(row)
        mark_incomplete(rows, failed, "a leg of its absorb")
        rows.sort(key=lambda r: (r["block_number"], r["log_index"]))
        return errors + rows

    def _leg_row(self, leg: DecodedLog) -> dict[str, Any]:
        values = leg.values
        row = dict(leg.identity)
        row.update(
            market_id=row["emitter"],
            event=leg.event.name,
            borrower=values["borrower"],
            liquidator=values["absorber"],
            debt_asset=None,
            debt_repaid_raw=None,
            debt_repaid_value_raw=None,
            collateral_asset=values["asset"],
            collateral_seized_raw=str(values["collateralAbsorbed"]),
            collateral_seized_value_raw=str(values["usdValue"]),
            collateral_token=values["asset"],
            collateral_token_seized_raw=str(values["collateralAbsorbed"]),
            bad_debt_raw=None,
            bad_debt_mechanism="reserves",
            join_key=f"{row['tx_hash']}:{values['borrower']}",
            is_auction=True,
            auction_id=None,
            incomplete_reason=None,
            event_args=log_args_json(leg.event, values),
        )
        return row

    def _absorb_rows(self, debt: DecodedLog, legs: list[DecodedLog]) -> list[dict[str, Any]]:
        """The rows of one absorb: its legs with their shares of ``basePaidOut`` and ``usdValue``."""
        paid, value = debt.values["basePaidOut"], debt.values["usdValue"]
        if not legs:
            row = self._leg_row(DecodedLog(debt.identity, debt.event, {
                **debt.values, "asset": None, "collateralAbsorbed": 0, "usdValue": 0}))
            row.update(collateral_asset=None, collateral_token=None, debt_repaid_raw=str(paid),
                       debt_repaid_value_raw=str(value), event_args=log_args_json(debt.event, debt.values))
            return [row]
        weights = [leg.values["usdValue"] for leg in legs]
        rows = []
        for leg, paid_share, value_share in zip(legs, allocate(paid, weights), allocate(value, weights)):
            row = self._leg_row(leg)
            row.update(debt_repaid_raw=str(paid_share), debt_repaid_value_raw=str(value_share),
                       event_args=log_args_json(leg.event, leg.values,
                                                [joined(debt.event, debt.identity["log_index"], debt.values)]))
            rows.append(row)
        return rows

    async def enrich(self, rows: list[dict[str, Any]], deployment: Deployment, state: StateCaller) -> None:
        if rows:
            await _Enrichment(deployment, state, rows).run()


class _Enrichment(StateRounds):
    """State reads for one batch of rows in two rounds of batched ``eth_call``: (1) market constants,
    asset infos, ETH/USD; (2) prices of the feeds found and token symbols."""

    def __init__(self, deployment: Deployment, state: StateCaller, rows: list[dict[str, Any]]) -> None:
        super().__init__(state, deployment, rows)
        self.comet = deployment.address(deployment.emitter_roles[0])
        self.currency = str(deployment.params["price_currency"])

    async def run(self) -> None:
        first: dict[Hashable, Call] = {}
        for row in self.rows:
            block = row["block_number"] - 1
            for name in ("baseToken", "baseScale", "baseTokenPriceFeed", "storeFrontPriceFactor"):
                first[(name, block)] = Call(block, self.comet, COMET.fn(name))
            if row["collateral_asset"] is not None:
                first[("asset", block, row["collateral_asset"])] = Call(
                    block, self.comet, COMET.fn("getAssetInfoByAddress"), (row["collateral_asset"],))
            if self.currency == "ETH":
                first.update(eth_usd_calls(self.deployment, block))
        self.results.update(await read_calls(self.state, first))
        second: dict[Hashable, Call] = {}
        for key, value in list(self.results.items()):
            if isinstance(value, CallFailed):
                continue
            block = key[1] if len(key) > 1 else None
            if key[0] == "baseTokenPriceFeed":
                second[("price", block, value[0])] = Call(block, self.comet, COMET.fn("getPrice"), (value[0],))
            elif key[0] == "asset":
                second[("price", block, value[0][2])] = Call(block, self.comet, COMET.fn("getPrice"), (value[0][2],))
                second[("symbol", value[0][1])] = Call(block, value[0][1], ERC20.fn("symbol"))
            elif key[0] == "baseToken":
                second[("symbol", value[0])] = Call(block, value[0], ERC20.fn("symbol"))
        self.results.update(await read_calls(self.state, second))
        for join_key in dict.fromkeys(row["join_key"] for row in self.rows):
            group = [row for row in self.rows if row["join_key"] == join_key]
            try:
                self._fill(group)
            except CallFailed as failure:
                for row in group:
                    row["state_status"] = f"unavailable: {failure}"

    def _currency(self, block: int, base_token: str) -> tuple[str | None, Fraction | None, str, EthUsd | None]:
        """The quote currency (None when unknown), USD per price unit (None when not convertible), the
        price source text, and the ETH/USD read for an ETH-quoted market (:mod:`toolkit.protocols.eth_usd`)."""
        source = (f"Comet {self.comet} getPrice(feed) at block {block}, {PRICE_UNIT} = 1 {self.currency}; "
                  "values from the events' usdValue (the contract's own valuation in the transaction)")
        if base_token != str(self.deployment.params["base_token"]).lower():
            return None, None, (f"Comet {self.comet} getPrice(feed) at block {block}; baseToken() {base_token} is "
                                f"not the registry's base token {self.deployment.params['base_token']}, so the "
                                "quote currency is unknown"), None
        if self.currency == "USD":
            return self.currency, Fraction(1, PRICE_UNIT), source, None
        if self.currency == "ETH":
            eth_usd = eth_usd_at(self.results, self.deployment, block)
            rate = None if eth_usd.usd_per_eth is None else eth_usd.usd_per_eth / PRICE_UNIT
            return self.currency, rate, source + eth_usd.source(), eth_usd
        return self.currency, None, f"{source}; no USD conversion for a {self.currency}-quoted market", None

    def _fill(self, group: list[dict[str, Any]]) -> None:
        """State columns of the rows of one absorb, and its bad debt."""
        block = group[0]["block_number"] - 1
        base_token = self._get(("baseToken", block))[0]
        base_scale = self._get(("baseScale", block))[0]
        base_price = self._get(("price", block, self._get(("baseTokenPriceFeed", block))[0]))[0]
        store_front = self._get(("storeFrontPriceFactor", block))[0]
        currency, usd_per_unit, price_source, eth_usd = self._currency(block, base_token)
        infos = [None if row["collateral_asset"] is None else self._get(("asset", block, row["collateral_asset"]))[0]
                 for row in group]

        def usd(value: int | Fraction | None) -> float | None:
            return None if value is None or usd_per_unit is None else float(value * usd_per_unit)

        complete = all(row["debt_repaid_raw"] is not None and row["incomplete_reason"] is None for row in group)
        shortfall_legs: list[int | None] = [None] * len(group)
        bad_debt_legs: list[int | None] = [None] * len(group)
        if complete:
            credit = sum(int(row["collateral_seized_value_raw"]) * info[6] // FACTOR_SCALE
                         for row, info in zip(group, infos) if info is not None)
            shortfall = max(0, sum(int(row["debt_repaid_value_raw"]) for row in group) - credit)
            paid = sum(int(row["debt_repaid_raw"]) for row in group)
            bad_debt = max(0, paid - credit * base_scale // base_price) if shortfall else 0
            weights = [int(row["collateral_seized_value_raw"]) for row in group]
            shortfall_legs = list(allocate(shortfall, weights))
            bad_debt_legs = list(allocate(bad_debt, weights))
        base_decimals = len(str(base_scale)) - 1
        base_symbol = self.results.get(("symbol", base_token))
        for row, info, shortfall_leg, bad_debt_leg in zip(group, infos, shortfall_legs, bad_debt_legs):
            debt_raw = None if row["debt_repaid_raw"] is None else int(row["debt_repaid_raw"])
            debt_value = None if row["debt_repaid_value_raw"] is None else int(row["debt_repaid_value_raw"])
            row.update(
                debt_asset=base_token,
                debt_symbol=None if base_symbol is None or isinstance(base_symbol, CallFailed) else base_symbol[0],
                debt_decimals=base_decimals,
                debt_repaid=None if debt_raw is None else float(Fraction(debt_raw, base_scale)),
                state_block=block,
                price_currency=currency,
                price_unit_raw=str(PRICE_UNIT),
                debt_price_raw=str(base_price),
                **(eth_usd.columns() if eth_usd is not None else {"eth_usd_price_raw": None, "eth_usd_decimals": None}),
                debt_price_usd=usd(base_price),
                price_source=price_source,
                store_front_price_factor_raw=str(store_front),
                close_factor_bps=10_000,
                close_factor_rule="Comet absorb takes all collateral and the whole debt (Comet.sol absorbInternal)",
                debt_repaid_usd=usd(debt_value),
                bad_debt_raw=None if bad_debt_leg is None else str(bad_debt_leg),
                bad_debt_usd=usd(shortfall_leg),
                collateral_seized_usd=usd(int(row["collateral_seized_value_raw"])),
                state_status=(eth_usd.partial_status() if eth_usd is not None else None) or "ok",
            )
            if info is not None:
                scale, symbol = info[3], self.results.get(("symbol", info[1]))
                coll_price = self._get(("price", block, info[2]))[0]
                row.update(
                    collateral_symbol=None if symbol is None or isinstance(symbol, CallFailed) else symbol[0],
                    collateral_decimals=len(str(scale)) - 1,
                    collateral_seized=float(Fraction(int(row["collateral_seized_raw"]), scale)),
                    collateral_price_raw=str(coll_price),
                    collateral_price_usd=usd(coll_price),
                    ltv_bps=info[4] // FACTOR_PER_BPS,
                    liquidation_threshold_bps=info[5] // FACTOR_PER_BPS,
                    liquidation_factor_raw=str(info[6]),
                )


#: The adapter of the ``compound_v3`` family (see :mod:`toolkit.protocols`).
ADAPTER = CometAdapter
