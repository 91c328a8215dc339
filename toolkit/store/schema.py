"""The store's tables and every column's type, unit and source: the single source of truth.

``docs/schema.md`` is generated from this module (``python -m toolkit.store.schema``) and a test
keeps the two in sync. The normalized liquidation record follows
docs/sources/store.md#normalized-liquidation-record: identity, accounts, amounts, prices, parameters in
force, bad debt.

Exactness rule: every on-chain integer (uint256 amounts, oracle answers, wad health factors) is
stored as its exact base-10 string in a ``*_raw`` column; a decimal-adjusted ``DOUBLE`` beside it is
for plotting and filtering only. USD values are computed from the exact integers with
:class:`fractions.Fraction` and rounded to ``DOUBLE`` once, at the end.
"""

from __future__ import annotations

import inspect
import sys

from toolkit.store import cex_schema, positions_schema
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

BLOCK_COLUMNS: tuple[Column, ...] = (
    _col("chain_id", "BIGINT", "-", "eth_chainId", "EIP-155 chain id."),
    _col("block_number", "BIGINT", "block", "eth_getBlockByNumber", "Block number."),
    _col("block_hash", "VARCHAR", "hash", "eth_getBlockByNumber", "Block hash seen when the block was stored."),
    _col("parent_hash", "VARCHAR", "hash", "eth_getBlockByNumber", "Parent block hash."),
    _col("block_timestamp", "TIMESTAMPTZ", "UTC", "eth_getBlockByNumber", "Block timestamp."),
)

CHECKPOINT_COLUMNS: tuple[Column, ...] = (
    _col("chain_id", "BIGINT", "-", "eth_chainId", "EIP-155 chain id."),
    _col("protocol", "VARCHAR", "-", "deployment registry", "Protocol id."),
    _col("deployment", "VARCHAR", "-", "deployment registry", "Deployment name."),
    _col("first_block", "BIGINT", "block", "pull arguments", "First block covered by the stored range."),
    _col("last_block", "BIGINT", "block", "pull", "Last block (inclusive) whose logs are all stored."),
    _col("last_block_hash", "VARCHAR", "hash", "eth_getBlockByNumber", "Hash of last_block when it was stored."),
    _col("run_id", "VARCHAR", "-", "runs.run_id", "Run that wrote this checkpoint."),
    _col("updated_at", "TIMESTAMPTZ", "UTC", "local clock", "When the checkpoint was written."),
)

RUN_COLUMNS: tuple[Column, ...] = (
    _col("run_id", "VARCHAR", "-", "generated", "Unique id of the run (UTC time + random suffix)."),
    _col("command", "VARCHAR", "-", "CLI / API", "What ran, e.g. `pull`."),
    _col("status", "VARCHAR", "-", "run", "`running`, `ok`, `nothing_new`, `partial`, `failed`, or `interrupted` (the process ended without finishing it)."),
    _col("started_at", "TIMESTAMPTZ", "UTC", "local clock", "Start time."),
    _col("finished_at", "TIMESTAMPTZ", "UTC", "local clock", "End time (null while running or after a crash)."),
    _col("chain_id", "BIGINT", "-", "eth_chainId", "Chain id reported by the node."),
    _col("protocol", "VARCHAR", "-", "arguments", "Protocol id."),
    _col("deployment", "VARCHAR", "-", "arguments", "Deployment name (comma-separated when a run pulls several)."),
    _col("from_block", "BIGINT", "block", "arguments / checkpoint", "First block of the requested range."),
    _col("to_block", "BIGINT", "block", "resolved bound", "Last block (inclusive) of the requested range."),
    _col("rows_added", "BIGINT", "rows", "store", "Liquidation rows inserted by this run."),
    _col("rpc_host", "VARCHAR", "-", "redacted RPC URL", "scheme://host:port of the node; path, query and credentials removed."),
    _col("node_client_version", "VARCHAR", "-", "web3_clientVersion", "Node software and version."),
    _col("package_version", "VARCHAR", "-", "toolkit.__version__", "liquidation-toolkit version."),
    _col("git_commit", "VARCHAR", "-", "git rev-parse HEAD", "Commit of the toolkit checkout, when available."),
    _col("args_json", "VARCHAR", "JSON", "arguments", "Arguments of the run, secrets redacted."),
    _col("report_json", "VARCHAR", "JSON", "run", "Run report: timings, chunks, requests, retries, faults, errors."),
    _col("error", "VARCHAR", "-", "run", "One-line error message when the run failed."),
)

SEGMENT_COLUMNS: tuple[Column, ...] = (
    _col("file", "VARCHAR", "-", "store",
         "Name of the Parquet file in the segment directory (`<store file>.segments/`)."),
    _col("chain_id", "BIGINT", "-", "eth_chainId", "EIP-155 chain id of the file's rows."),
    _col("protocol", "VARCHAR", "-", "deployment registry", "Protocol id of the file's rows."),
    _col("deployment", "VARCHAR", "-", "deployment registry", "Deployment name of the file's rows."),
    _col("first_block", "BIGINT", "block", "store", "Lowest block_number of the file's rows."),
    _col("last_block", "BIGINT", "block", "store", "Highest block_number of the file's rows."),
    _col("rows", "BIGINT", "rows", "store", "Number of rows in the file."),
    _col("bytes", "BIGINT", "bytes", "store", "Size of the file when it was written."),
    _col("sha256", "VARCHAR", "hex", "store",
         "SHA-256 of the file's bytes, recorded in the transaction that lists it; `liqtk verify` checks it."),
    _col("run_id", "VARCHAR", "-", "runs.run_id", "Run that wrote the file."),
    _col("created_at", "TIMESTAMPTZ", "UTC", "local clock", "When the file was listed."),
)

DISCOVERED_MARKET_COLUMNS: tuple[Column, ...] = (
    _col("chain_id", "BIGINT", "-", "eth_chainId", "EIP-155 chain id."),
    _col("protocol", "VARCHAR", "-", "deployment registry", "Protocol id."),
    _col("registry", "VARCHAR", "-", "deployment registry",
         "Name of the registry file entry (a template with `discovery`) whose registry contract listed the market."),
    _col("market", "VARCHAR", "address", "registry contract",
         "Lower-case address of the market's emitter: a cToken, an Aave Pool, a Maker auction contract, an EVK vault."),
    _col("name", "VARCHAR", "-", "params.pool_names or the provider's getMarketId()",
         "Deployment name the market is pulled under when it is a deployment of its own (Aave pools); null otherwise."),
    _col("found_block", "BIGINT", "block", "registry log or list call",
         "Block of the registry log that listed the market, or the pulled block at which the registry's list "
         "function named it."),
    _col("how", "VARCHAR", "-", "discovery", "How it was found, e.g. `MarketListed log 3 of tx 0x.. in block N`."),
    _col("details_json", "VARCHAR", "JSON", "registry contract",
         "What else the registry said (Aave: `addresses_provider`, `market_id`)."),
    _col("run_id", "VARCHAR", "-", "runs.run_id", "Run that found it."),
    _col("found_at", "TIMESTAMPTZ", "UTC", "local clock", "When it was stored."),
)

DISCOVERY_SCAN_COLUMNS: tuple[Column, ...] = (
    _col("chain_id", "BIGINT", "-", "eth_chainId", "EIP-155 chain id."),
    _col("protocol", "VARCHAR", "-", "deployment registry", "Protocol id."),
    _col("registry", "VARCHAR", "-", "deployment registry", "Name of the registry file entry (template)."),
    _col("scanned_to", "BIGINT", "block", "discovery",
         "Last block (inclusive) whose registry logs are all read; the next pull reads them from the block after."),
    _col("run_id", "VARCHAR", "-", "runs.run_id", "Run that read them."),
    _col("updated_at", "TIMESTAMPTZ", "UTC", "local clock", "When it was written."),
)

STORE_META_COLUMNS: tuple[Column, ...] = (
    _col("schema_version", "INTEGER", "-", "SCHEMA_VERSION", "Version of the column contract the store follows."),
    _col("created_at", "TIMESTAMPTZ", "UTC", "local clock", "When the store was created."),
    _col("package_version", "VARCHAR", "-", "toolkit.__version__", "liquidation-toolkit version that created it."),
)

#: Version of the store's contract; a store with another version is refused, not migrated silently.
#: Version 3 keeps the liquidation rows in Parquet segment files (:mod:`toolkit.store.segments`); version 4
#: records each file's SHA-256 (``segments.sha256``) and adds columns and tables (``event_args``, the discovered
#: markets, the state position and check columns, the tables of exchange data of :mod:`toolkit.store.cex_schema`
#: and the positions snapshots of :mod:`toolkit.store.positions_schema`). ``liqtk upgrade`` upgrades earlier
#: versions (:mod:`toolkit.store.upgrade`).
SCHEMA_VERSION: int = 4

TABLES: dict[str, tuple[Column, ...]] = {
    "liquidations": LIQUIDATION_COLUMNS,
    "segments": SEGMENT_COLUMNS,
    "blocks": BLOCK_COLUMNS,
    "checkpoints": CHECKPOINT_COLUMNS,
    "runs": RUN_COLUMNS,
    "discovered_markets": DISCOVERED_MARKET_COLUMNS,
    "discovery_scans": DISCOVERY_SCAN_COLUMNS,
    "store_meta": STORE_META_COLUMNS,
    **cex_schema.TABLES,
    **positions_schema.TABLES,
}

#: Tables that are views: ``liquidations`` reads the segment files listed in ``segments``.
VIEWS: tuple[str, ...] = ("liquidations",)
#: The tables of :data:`TABLES` that DuckDB stores (:func:`create_table_sql`).
STORED_TABLES: tuple[str, ...] = tuple(table for table in TABLES if table not in VIEWS)

PRIMARY_KEYS: dict[str, tuple[str, ...]] = {
    "liquidations": ("chain_id", "tx_hash", "log_index"),
    "segments": ("file",),
    "blocks": ("chain_id", "block_number"),
    "checkpoints": ("chain_id", "protocol", "deployment"),
    "runs": ("run_id",),
    "discovered_markets": ("chain_id", "protocol", "registry", "market"),
    "discovery_scans": ("chain_id", "protocol", "registry"),
    "store_meta": ("schema_version",),
    **cex_schema.PRIMARY_KEYS,
    **positions_schema.PRIMARY_KEYS,
}

#: What each table holds (the headings of docs/schema.md).
TABLE_DESCRIPTIONS: dict[str, str] = {
    "liquidations": "One row per liquidation event: the normalized record "
                    "(docs/sources/store.md#normalized-liquidation-record). A view over "
                    "the Parquet files listed in `segments`; the key is kept by the writer.",
    "segments": "The Parquet files in `<store file>.segments/` that hold the liquidations, one per commit of one "
                "deployment; listed in the same transaction as the chunk's blocks and checkpoint.",
    "blocks": "Headers of the blocks the rows and checkpoints refer to; used to detect reorgs.",
    "checkpoints": "How far each deployment has been pulled; written in the same transaction as its rows.",
    "runs": "One row per run of the toolkit that wrote to the store (provenance for exports).",
    "discovered_markets": "Markets the protocols' registry contracts listed (`toolkit.protocols.discovery`): every "
                          "emitter a pull read beyond the registry file, with the block and the way it was found; "
                          "`liqtk decode` reads them to attribute logs without a node.",
    "discovery_scans": "How far each registry's listing logs have been read (the next pull reads on from there).",
    "store_meta": "One row: the schema version and when and by which version the store was created.",
    **cex_schema.TABLE_DESCRIPTIONS,
    **positions_schema.TABLE_DESCRIPTIONS,
}

#: Explanations that column descriptions point to ("See docs/schema.md, '<title>'"), as Markdown.
NOTES: dict[str, str] = {
    "State position and check": (
        "`liqtk pull --state before-tx` (the default) reads each liquidation's state right before its "
        "transaction: the first transaction of a block reads state_block's post-state as is; any other is traced "
        "once (`debug_traceTransaction` with the `prestateTracer`) and its pre-state (balances, nonces, storage "
        "slots it touched) is applied as a per-slot `stateDiff` override on top of state_block. Views run in the "
        "liquidation block's context (number and timestamp, eth_call's block override) when the node takes it. "
        "`--state block` reads the block start once per block for all its rows. A node without "
        "`debug_traceTransaction` or state overrides, or a trace that failed twice, gives `block_start` rows with "
        "state_fallback_reason. Then `state_check` redoes the protocol's own computation from the state read: "
        "Aave the collateral seized for debtToCover (prices, decimals, bonus, protocol fee, capped by the "
        "borrower's balance) and health factor below 1; Compound v2/Venus `liquidateCalculateSeizeTokens`; "
        "Morpho Blue seizedAssets/repaidShares after interest accrual; Comet each AbsorbCollateral usdValue. "
        "Code: `toolkit/protocols/enrichment.py`, `toolkit/protocols/checks/`."
    ),
    "Compound v2 and Venus": (
        "`LiquidateBorrow` reports `seizeTokens` in cTokens of `cTokenCollateral` (collateral_token, "
        "collateral_token_seized_raw). They are converted with the exchange rate the seize used: the collateral "
        "cToken's `exchangeRateStored` at state_block with `accrueInterest` replayed to block_number "
        "(collateral_exchange_rate_raw). From Compound 2.9 a `protocolSeizeShareMantissa` share of the cTokens "
        "goes to reserves: protocol_fee_raw = rate x those cTokens / 1e18, collateral_seized_raw = rate x the "
        "liquidator's cTokens / 1e18. Prices are `getUnderlyingPrice` answers, price x 10^(36 - token decimals) "
        "(price_unit_raw null); health_factor_before is the Comptroller's collateral-factor-weighted collateral "
        "over debt; the collateral factor fills ltv_bps, liquidation_threshold_bps and collateral_factor_raw. "
        "Details and sources: `toolkit/protocols/compound_v2.py`."
    ),
    "Event arguments": (
        "`event_args` keeps what the normalized columns leave out, exactly: e.g. Aave v1 "
        "`accruedBorrowInterest`, Maker `Bite.art` (normalised debt, wad) and `Bite.tab` in rad (debt_repaid_raw "
        "holds it in DAI wad, rounded down), Morpho `repaidShares`. Keys are the ABI input names of the row's "
        "event (`event`); integers are strings so that no JSON reader rounds them. A row built from several logs "
        "lists the others under `joined` as `{\"event\", \"log_index\", \"args\"}`. Query it with DuckDB's JSON "
        "functions, e.g. `SELECT event_args->>'$.tab' FROM liquidations WHERE event = 'Bite'`. Written by "
        "`toolkit/protocols/event_args.py`."
    ),
    "Protocol fee": (
        "Aave v3 sends part of the liquidation bonus to the treasury. The `LiquidationCall` event's "
        "`liquidatedCollateralAmount` is what the liquidator received, *after* the fee "
        "(`LiquidationLogic._calculateAvailableCollateralToLiquidate`, `collateralAmount -= "
        "liquidationProtocolFee`); the borrower lost `collateral_seized_raw + protocol_fee_raw`. With "
        "`total` the collateral seized from the borrower, `bonus` = liquidation_bonus_bps and `fee` = "
        "protocol_fee_bps, the contract computes `fee(total) = percentMul(total - percentDiv(total, bonus), "
        "fee)` and emits `total - fee(total)`; `protocol_fee_raw` recovers `fee(total)` from the event amount "
        "(`toolkit.protocols.aave_fees.protocol_fee_from_event`). Aave v2 has no protocol fee: `0`."
    ),
}

#: Canonical row order of liquidations, used for exports and content hashes.
LIQUIDATION_ORDER: tuple[str, ...] = ("chain_id", "block_number", "log_index", "tx_hash")

#: Columns filled without any state read (what ``liqtk decode`` outputs; the rest are null there).
DECODE_COLUMNS: tuple[str, ...] = tuple(c.name for c in LIQUIDATION_COLUMNS if not c.needs_state)


def create_table_sql(table: str) -> str:
    """``CREATE TABLE IF NOT EXISTS`` statement for one of :data:`TABLES` that is not a view."""
    if table in VIEWS:
        raise ValueError(f"{table} is a view, not a table")
    columns = ",\n  ".join(f"{c.name} {c.sql_type}" for c in TABLES[table])
    key = ", ".join(PRIMARY_KEYS[table])
    return f"CREATE TABLE IF NOT EXISTS {table} (\n  {columns},\n  PRIMARY KEY ({key})\n)"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _markdown_table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header),
            *("| " + " | ".join(_cell(value) for value in row) + " |" for row in rows)]


def markdown() -> str:
    """docs/schema.md: every table with its columns, keys and canonical order, the exactness rules,
    the notes column descriptions point to, and the definition of the export content hash."""
    from toolkit.store.manifest import content_sha256  # the hash is defined where it is computed

    exactness = " ".join(__doc__.split("Exactness rule: ", 1)[1].replace("``", "`").replace(":class:", "").split())
    lines = [
        "# Store schema",
        "",
        "<!-- Generated by `python -m toolkit.store.schema > docs/schema.md`; do not edit by hand. -->",
        "",
        f"Schema version **{SCHEMA_VERSION}**. The store is a DuckDB file (`liqtk --store PATH`, default "
        "`$LIQTK_HOME/liquidations.duckdb` or the user data directory) and, beside it, the directory of its "
        "liquidation rows, `<store file>.segments/` (Parquet files; copy or move both together). DuckDB alone "
        "reads it (`duckdb.connect(PATH)`); after a move, through `toolkit.Store` until the next pull. Columns "
        "marked *state* need `eth_call` reads and are null in `liqtk decode` and with `--no-state`.",
        "",
        "## Exactness rules",
        "",
        exactness[0].upper() + exactness[1:],
        "",
    ]
    for table, columns in TABLES.items():
        key = "Key" if table in VIEWS else "Primary key"
        lines += [f"## `{table}`", "", TABLE_DESCRIPTIONS[table], "",
                  f"{key}: " + ", ".join(f"`{name}`" for name in PRIMARY_KEYS[table]) + ".", ""]
        with_state = any(c.needs_state for c in columns)
        header = ("column", "type", "unit", "source") + (("state",) if with_state else ()) + ("description",)
        lines += _markdown_table(header, [
            (f"`{c.name}`", c.sql_type, c.unit, c.source) + (("state" if c.needs_state else "",) if with_state else ())
            + (c.description,) for c in columns])
        lines.append("")
    lines += [
        "## Canonical order",
        "",
        "Liquidations are read, exported and hashed in the order "
        + ", ".join(f"`{name}`" for name in LIQUIDATION_ORDER) + ".",
        "",
    ]
    for title, text in NOTES.items():
        lines += [f"## {title}", "", text, ""]
    definition = inspect.cleandoc(content_sha256.__doc__ or "").split("\n\n", 1)[1].replace("``", "`")
    lines += ["## Content hash of an export", "",
              "`content_sha256` in an export's manifest identifies the rows, whatever the file format.", "",
              definition, ""]
    return "\n".join(lines)


def main() -> None:
    """Print docs/schema.md."""
    sys.stdout.write(markdown())


if __name__ == "__main__":
    main()
