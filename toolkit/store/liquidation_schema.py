"""The columns of the ``liquidations`` table: the normalized liquidation record
(docs/sources/store.md#normalized-liquidation-record): identity, accounts, amounts, prices, parameters in force,
bad debt. Part of the store's contract in :mod:`toolkit.store.schema` (which re-exports the names and generates
docs/schema.md); kept apart like :mod:`toolkit.store.cex_schema` and :mod:`toolkit.store.positions_schema`.
"""

from __future__ import annotations

from toolkit.store.schema_columns import Column
from toolkit.store.schema_columns import col as _col

_EVENT = "event log"
_RAW = "exact base-10 integer string"

LIQUIDATION_COLUMNS: tuple[Column, ...] = (
    # identity
    _col("chain_id", "BIGINT", "-", "eth_chainId", "EIP-155 chain id of the node the row was read from."),
    _col("protocol", "VARCHAR", "-", "deployment registry", "Protocol id, e.g. `aave-v3`, `aave-v2`, `spark`."),
    _col("deployment", "VARCHAR", "-", "deployment registry",
         "Deployment (market) name within the protocol, e.g. `core`, `devchain`, `custom`."),
    _col("emitter", "VARCHAR", "address", _EVENT, "Lower-case address of the contract that emitted the log."),
    _col("market_id", "VARCHAR", "-", "deployment registry",
         "Market the liquidation belongs to (Aave: the Pool/LendingPool proxy address; Morpho Blue: the "
         "bytes32 market id, 0x hex)."),
    _col("block_number", "BIGINT", "block", _EVENT, "Block that contains the liquidation transaction."),
    _col("block_hash", "VARCHAR", "hash", _EVENT, "Hash of that block; rows are repaired when it changes (reorg)."),
    _col("block_timestamp", "TIMESTAMPTZ", "UTC", "eth_getBlockByNumber", "Block timestamp."),
    _col("tx_hash", "VARCHAR", "hash", _EVENT, "Transaction hash. Key: (chain_id, tx_hash, log_index)."),
    _col("tx_index", "INTEGER", "-", _EVENT, "Position of the transaction in its block."),
    _col("log_index", "INTEGER", "-", _EVENT, "Position of the log in its block."),
    _col("event", "VARCHAR", "-", _EVENT, "Event name, e.g. `LiquidationCall`."),
    _col("event_args", "VARCHAR", "JSON", _EVENT + " (every argument, exact)",
         "Every argument of the event as the log carries it, a JSON object in declaration order: integers as "
         "exact base-10 strings, addresses and bytes32 as lower-case 0x hex, booleans as true/false; logs joined "
         "into the row (Maker `Kick`, Comet `AbsorbDebt`, Liquity `Liquidation`, Euler `DebtSocialized`, ...) "
         "under `joined`. See docs/schema.md, 'Event arguments'."),
    # accounts
    _col("borrower", "VARCHAR", "address", _EVENT,
         "Account whose position was liquidated (Aave `user`; Liquity v2: the `troveId`, a uint256 as base-10 "
         "string; Euler v2: the violating EVC sub-account)."),
    _col("liquidator", "VARCHAR", "address", _EVENT,
         "Account that repaid the debt and received the collateral (Comet: the absorber, which neither pays "
         "nor receives collateral; Euler v2: takes over the debt; null for Liquity, whose events do not name "
         "the caller)."),
    # amounts
    _col("debt_asset", "VARCHAR", "address", _EVENT,
         "Token repaid (Aave `debtAsset`; Morpho Blue: the market's loan token, from `CreateMarket` in the "
         "pulled logs, else from `idToMarketParams` at state_block and null without state reads)."),
    _col("debt_symbol", "VARCHAR", "-", "ERC-20 symbol() at state_block", "Symbol of the debt token.", True),
    _col("debt_decimals", "INTEGER", "-", "reserve configuration bits 48-55 at state_block",
         "Decimals of the debt token.", True),
    _col("debt_repaid_raw", "VARCHAR", "debt token base units", _EVENT + f" ({_RAW})",
         "Debt repaid by the liquidator (Aave `debtToCover`, the actual amount after the close factor)."),
    _col("debt_repaid", "DOUBLE", "debt token", "debt_repaid_raw / 10^debt_decimals", "Decimal-adjusted debt repaid.", True),
    _col("repaid_shares_raw", "VARCHAR", "borrow shares", _EVENT + f" ({_RAW})",
         "Borrow shares burned by the repayment (Morpho Blue `repaidShares`); null for protocols without shares."),
    _col("collateral_asset", "VARCHAR", "address", _EVENT,
         "Token seized (Aave `collateralAsset`; Morpho Blue: the market's collateral token, found like debt_asset)."),
    _col("collateral_symbol", "VARCHAR", "-", "ERC-20 symbol() at state_block", "Symbol of the collateral token.", True),
    _col("collateral_decimals", "INTEGER", "-", "reserve configuration bits 48-55 at state_block",
         "Decimals of the collateral token.", True),
    _col("collateral_seized_raw", "VARCHAR", "collateral token base units", _EVENT + f" ({_RAW})",
         "Collateral received by the liquidator (Aave `liquidatedCollateralAmount`; in Aave v3 it excludes the "
         "protocol fee, in v2 there is no fee)."),
    _col("collateral_seized", "DOUBLE", "collateral token", "collateral_seized_raw / 10^collateral_decimals",
         "Decimal-adjusted collateral received by the liquidator.", True),
    _col("protocol_fee_raw", "VARCHAR", "collateral token base units", "derived: LiquidationLogic fee formula",
         "Collateral sent to the treasury on top of collateral_seized_raw (Aave v3 liquidation protocol fee; "
         "`0` for Aave v2). See docs/schema.md, 'Protocol fee'.", True),
    _col("protocol_fee", "DOUBLE", "collateral token", "protocol_fee_raw / 10^collateral_decimals",
         "Decimal-adjusted protocol fee.", True),
    _col("collateral_token", "VARCHAR", "address", _EVENT,
         "Token the event reports as seized: the underlying (Aave), a cToken (Compound v2), vault shares "
         "(Euler v2); equals collateral_asset when the event names the underlying."),
    _col("collateral_token_seized_raw", "VARCHAR", "collateral_token base units", _EVENT + f" ({_RAW})",
         "Seized amount exactly as the event reports it, before any conversion to the underlying."),
    _col("debt_repaid_value_raw", "VARCHAR", "price_currency / price_unit_raw", _EVENT + f" ({_RAW})",
         "Value of debt_repaid_raw as the liquidation event itself reports it, priced by the protocol inside the "
         "transaction (Comet: this row's share of AbsorbDebt `usdValue`, 8 decimals of the market's quote "
         "currency); null when the event reports no value."),
    _col("collateral_seized_value_raw", "VARCHAR", "price_currency / price_unit_raw", _EVENT + f" ({_RAW})",
         "Value of collateral_seized_raw as the liquidation event reports it (Comet AbsorbCollateral `usdValue`, "
         "before the liquidation factor); null when the event reports no value."),
    _col("collateral_conversion", "VARCHAR", "-", "adapter",
         "How collateral_token units were converted to collateral_asset units (e.g. cToken exchange rate at "
         "state_block); null when no conversion was needed.", True),
    _col("collateral_exchange_rate_raw", "VARCHAR", "collateral_asset base units per collateral_token base unit x 10^18",
         "Compound v2: collateral cToken exchangeRateStored at state_block accrued to block_number",
         "Exchange rate that converted collateral_token_seized_raw to collateral_asset units, exact; null when "
         "no conversion was needed. See docs/schema.md, 'Compound v2 and Venus'.", True),
    _col("receive_a_token", "BOOLEAN", "-", _EVENT, "True when the liquidator took aTokens instead of the underlying."),
    # state at the block before
    _col("state_block", "BIGINT", "block", "block_number - 1",
         "Block whose post-state the reads start from: with state_position `before_tx` the earlier "
         "transactions of the liquidation's block are applied on top of it, with `block_start` it is the state "
         "read.", True),
    _col("price_currency", "VARCHAR", "-", "deployment registry",
         "Currency of the protocol oracle's answers: `USD` (Aave v3, Spark), `ETH` (Aave v2 Ethereum) or "
         "`loan_token` (Morpho Blue: the market's loan token, debt_asset).", True),
    _col("price_unit_raw", "VARCHAR", "-",
         "AaveOracle.BASE_CURRENCY_UNIT(), 10^18 for ETH-quoted oracles, 10^(36 + debt_decimals - "
         "collateral_decimals) for Morpho Blue (IOracle.sol)",
         "One unit of price_currency in oracle answer units; null when it differs per token (Compound v2: "
         "10^(36 - token decimals)).", True),
    _col("debt_price_raw", "VARCHAR", "price_currency / price_unit_raw", "AaveOracle.getAssetPrice(debt_asset)",
         "Oracle price of one whole debt token (Morpho Blue: equal to price_unit_raw, the loan token in itself).",
         True),
    _col("collateral_price_raw", "VARCHAR", "price_currency / price_unit_raw",
         "AaveOracle.getAssetPrice(collateral_asset); Morpho Blue: IOracle(oracle).price()",
         "Oracle price of one whole collateral token.", True),
    _col("eth_usd_price_raw", "VARCHAR", "USD / 10^eth_usd_decimals", "Chainlink-style ETH/USD feed latestAnswer()",
         "ETH/USD used to convert ETH-quoted prices to USD; null when price_currency is USD.", True),
    _col("eth_usd_decimals", "INTEGER", "-", "feed decimals()", "Decimals of eth_usd_price_raw.", True),
    _col("debt_usd_price_raw", "VARCHAR", "USD / 10^debt_usd_decimals",
         "Chainlink-style feed latestAnswer() named for debt_asset by the registry (params.usd_feeds)",
         "USD price of one whole debt token, used when the protocol oracle does not quote in USD (Morpho "
         "Blue); null when price_currency is USD or ETH, or when the registry names no feed.", True),
    _col("debt_usd_decimals", "INTEGER", "-", "feed decimals()", "Decimals of debt_usd_price_raw.", True),
    _col("debt_price_usd", "DOUBLE", "USD", "debt_price_raw (x eth_usd) / price_unit_raw", "Debt token price.", True),
    _col("collateral_price_usd", "DOUBLE", "USD", "collateral_price_raw (x eth_usd) / price_unit_raw",
         "Collateral token price.", True),
    _col("price_source", "VARCHAR", "-", "adapter",
         "Which contracts and calls the prices came from, including any currency conversion.", True),
    _col("ltv_bps", "INTEGER", "bps (10000 = 100%)", "Pool.getConfiguration(collateral) bits 0-15",
         "Loan-to-value of the collateral reserve.", True),
    _col("liquidation_threshold_bps", "INTEGER", "bps", "getConfiguration bits 16-31 or e-mode category",
         "Liquidation threshold in force for the collateral (Morpho Blue: lltv_raw in bps, null when not a "
         "whole number of bps).", True),
    _col("lltv_raw", "VARCHAR", "wad (10^18 = 100%)", "Morpho Blue market params `lltv`",
         "Liquidation loan-to-value of the market, exact; null for other protocols.", True),
    _col("collateral_factor_raw", "VARCHAR", "wad (10^18 = 100%)", "Compound v2 Comptroller.markets(collateral cToken)",
         "Collateral factor of the collateral market, exact (Compound v2 and Venus: it is both ltv_bps and "
         "liquidation_threshold_bps, null there when not a whole number of bps); null for other protocols.", True),
    _col("liquidation_bonus_bps", "INTEGER", "bps, includes 100%", "getConfiguration bits 32-47 or e-mode category",
         "Liquidation bonus in force (10500 = 5% bonus; Morpho Blue: liquidation_incentive_raw rounded down "
         "to bps).", True),
    _col("liquidation_incentive_raw", "VARCHAR", "wad, includes 100%",
         "Morpho Blue: derived from lltv_raw; Compound v2: Comptroller.liquidationIncentiveMantissa()",
         "Liquidation incentive factor exactly as Morpho.sol computes it: min(1.15, 1 / (1 - 0.3 x (1 - LLTV))) "
         "in wad with its rounding; Compound v2 and Venus: the Comptroller's incentive; null for other protocols.",
         True),
    _col("liquidation_factor_raw", "VARCHAR", "wad (10^18 = 100%)",
         "Comet getAssetInfoByAddress(collateral).liquidationFactor at state_block",
         "Share of the absorbed collateral's value credited to the borrower; the rest (the liquidation penalty) "
         "stays with the protocol. Null for other protocols.", True),
    _col("store_front_price_factor_raw", "VARCHAR", "wad (10^18 = 100%)", "Comet storeFrontPriceFactor() at state_block",
         "Share of the liquidation penalty passed on as discount to buyers of absorbed collateral "
         "(discount = storeFrontPriceFactor x (1 - liquidationFactor)). Null for other protocols.", True),
    _col("min_collateral_ratio_raw", "VARCHAR", "wad (10^18 = 100%)", "Liquity TroveManager.MCR() at state_block",
         "Collateral ratio (collateral value / debt) below which the position is liquidatable. Null for other "
         "protocols.", True),
    _col("protocol_fee_bps", "INTEGER", "bps of the bonus", "getConfiguration bits 152-167 (Aave v3)",
         "Share of the liquidation bonus sent to the treasury; 0 for Aave v2.", True),
    _col("emode_category", "INTEGER", "-",
         "Pool.getUserEMode(borrower) and the category's collateral membership at state_block",
         "E-mode category whose liquidation threshold and bonus apply to this liquidation's collateral; 0 when the "
         "reserve's own apply (no e-mode, or a borrower's category that does not hold the collateral). Aave "
         "v3.0-3.1: the collateral reserve's configuration bits 168-175 equal the borrower's category; v3.2+: the "
         "collateral's reserve id is set in the category's collateralBitmap (docs/sources/aave.md#aave-v32-emode).",
         True),
    _col("close_factor_bps", "INTEGER", "bps of the debt",
         "the pool's liquidation rules at state_block (Aave: toolkit.protocols.aave_rules)",
         "Largest share of the borrower's debt in debt_asset that this liquidation could repay (Aave v3.3+: 100 % "
         "below the dust threshold or at HF <= 0.95, else 50 % of the whole position's debt expressed as a share "
         "of this reserve's debt, to the nearest bp).", True),
    _col("close_factor_rule", "VARCHAR", "-", "adapter",
         "The rules applied, with their source: for Aave the pool version detected at state_block by the view "
         "functions it answers (v3.3+: getReserveDeficit; v3.2: getEModeCategoryCollateralBitmap), the close factor "
         "and why, then the e-mode rule (docs/sources/aave.md#aave-pool-version).", True),
    _col("health_factor_before_raw", "VARCHAR", "wad (10^18 = 1.0)",
         "Pool.getUserAccountData(borrower) at state_block; Morpho Blue: position and market at state_block",
         "Borrower's health factor before the liquidation (Morpho Blue: largest debt the collateral allows at "
         "LLTV / debt, the terms of `Morpho._isHealthy`).", True),
    _col("health_factor_before", "DOUBLE", "-", "health_factor_before_raw / 10^18", "Health factor before.", True),
    _col("borrower_collateral_usd", "DOUBLE", "USD", "getUserAccountData totalCollateral at state_block",
         "Borrower's total collateral value before the liquidation.", True),
    _col("borrower_debt_usd", "DOUBLE", "USD", "getUserAccountData totalDebt at state_block",
         "Borrower's total debt value before the liquidation.", True),
    # derived values
    _col("debt_repaid_usd", "DOUBLE", "USD", "debt_repaid_raw x debt price", "Value of the debt repaid.", True),
    _col("collateral_seized_usd", "DOUBLE", "USD", "collateral_seized_raw x collateral price",
         "Value of the collateral received by the liquidator.", True),
    _col("protocol_fee_usd", "DOUBLE", "USD", "protocol_fee_raw x collateral price", "Value of the protocol fee.", True),
    _col("liquidation_bonus_usd", "DOUBLE", "USD", "collateral_seized_usd - debt_repaid_usd",
         "What the liquidator received above the debt it repaid, at oracle prices.", True),
    _col("liquidation_bonus_pct", "DOUBLE", "% of debt_repaid_usd", "100 x liquidation_bonus_usd / debt_repaid_usd",
         "Liquidation bonus as a percentage of the debt repaid.", True),
    _col("bad_debt_raw", "VARCHAR", "debt token base units", "protocol bad-debt event or `0`",
         "Debt left without collateral and recorded on chain by this liquidation (Aave v3.3 DeficitCreated; "
         "Morpho Blue `badDebtAssets`; Euler v2 `DebtSocialized`; Comet: the part of the absorbed debt not "
         "covered by the collateral credit, taken from reserves, derived from the events and the liquidation "
         "factors, so null without state reads; Liquity: the debt redistributed to the other troves, which "
         "receive the matching collateral too).",),
    _col("bad_debt_shares_raw", "VARCHAR", "borrow shares", _EVENT + f" ({_RAW})",
         "Borrow shares written off with bad_debt_raw (Morpho Blue `badDebtShares`); null for other protocols."),
    _col("bad_debt_usd", "DOUBLE", "USD", "bad_debt_raw x debt price", "Value of bad_debt_raw.", True),
    _col("bad_debt_mechanism", "VARCHAR", "-", "docs/sources/store.md#bad-debt-mechanisms",
         "How the protocol records bad debt: `deficit`, `reserves`, `supplier_socialized`, `redistribution`, "
         "`surplus_buffer`, or `none_recorded` (Aave v2 and v3.0-3.2 keep it on the account)."),
    _col("join_key", "VARCHAR", "-", "adapter",
         "Key shared by all rows and events of one liquidation: `tx_hash:log_index` for single-event "
         "liquidations, the transaction and borrower for Comet absorbs, `clipper:auction id` for Maker auctions, "
         "`tx_hash:log_index` of the aggregate `Liquidation` event for Liquity, `tx_hash:log_index` of "
         "`Liquidate` for Euler v2 (with its `DebtSocialized`)."),
    _col("is_auction", "BOOLEAN", "-", "adapter",
         "True when the collateral is sold later by auction (Maker) rather than handed to the liquidator."),
    _col("auction_id", "VARCHAR", "-", _EVENT, "Auction id within its auction contract (Maker `id`); null otherwise."),
    _col("incomplete_reason", "VARCHAR", "-", "adapter",
         "Why the row is known to be incomplete (e.g. an auction `Take` whose `Kick` lies outside the pulled "
         "range); null when complete."),
    _col("state_status", "VARCHAR", "-", "adapter",
         "`ok` when state columns were read, `skipped` with --no-state or in `liqtk decode`, `partial: ...` when "
         "some were not (the reason; e.g. no ETH/USD answer: USD columns null), else the reason."),
    _col("state_position", "VARCHAR", "-", "pull (--state)",
         "Where the state columns were read: `before_tx` (right before the liquidation's transaction, after the "
         "earlier transactions of its block: debug_traceTransaction prestate as an eth_call state override) or "
         "`block_start` (state_block's post-state). See docs/schema.md, 'State position and check'.", True),
    _col("state_fallback_reason", "VARCHAR", "-", "pull",
         "Why the row was read at `block_start` although `before_tx` was asked (node without "
         "debug_traceTransaction or state overrides, or this transaction's trace failed twice); null otherwise.",
         True),
    _col("state_check", "VARCHAR", "-", "toolkit.protocols.checks",
         "`exact` when the protocol's own computation redone from the state read gives the event's values (and "
         "the position was liquidatable where the protocol requires it), `mismatch` when it does not, "
         "`unchecked` when the event does not carry enough or the state was not read.", True),
    _col("state_check_recomputed_raw", "VARCHAR", "see state_check_detail", "toolkit.protocols.checks",
         "The value the check recomputed (exact integer; Aave: liquidatedCollateralAmount, Compound v2: "
         "seizeTokens, Morpho Blue: seizedAssets or repaidShares, Comet: AbsorbCollateral usdValue).", True),
    _col("state_check_event_raw", "VARCHAR", "see state_check_detail", _EVENT + f" ({_RAW})",
         "The event's value it was compared with.", True),
    _col("state_check_detail", "VARCHAR", "-", "toolkit.protocols.checks",
         "What was recomputed from which state values, and on `mismatch` or `unchecked` why.", True),
)
