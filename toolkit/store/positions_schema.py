"""The store's tables of positions snapshots (``liqtk positions``, :mod:`toolkit.snapshot`), added in schema version 4.

Amounts are exact decimal text in the protocol's own units (docs/sources/positions.md); a ``DOUBLE`` beside them is
for plotting and filtering only.
"""

from __future__ import annotations

from toolkit.store.schema_columns import Column, col

#: ``liqtk positions`` (:mod:`toolkit.snapshot`): one row per snapshot, account, market and asset held.
POSITION_COLUMNS: tuple[Column, ...] = (
    col("snapshot_id", "VARCHAR", "-", "snapshot", "`chain_id:protocol:deployment:block_number`."),
    col("chain_id", "BIGINT", "-", "eth_chainId", "EIP-155 chain id of the node read."),
    col("protocol", "VARCHAR", "-", "deployment registry", "Protocol id."),
    col("deployment", "VARCHAR", "-", "deployment registry", "Deployment name."),
    col("block_number", "BIGINT", "block", "arguments", "Block whose post-state the snapshot describes."),
    col("block_hash", "VARCHAR", "hash", "eth_getBlockByNumber", "Hash of block_number when read."),
    col("block_timestamp", "TIMESTAMPTZ", "UTC", "eth_getBlockByNumber", "Timestamp of block_number."),
    col("market_id", "VARCHAR", "-", "deployment registry / event log",
        "Market of the position: the Aave Pool, the Compound v2 Comptroller, the Morpho Blue market id."),
    col("account", "VARCHAR", "address", "borrow events", "Borrower (lower-case)."),
    col("asset", "VARCHAR", "address", "protocol views", "Underlying token of the holding (lower-case)."),
    col("symbol", "VARCHAR", "-", "ERC-20 symbol()", "Symbol of the asset."),
    col("decimals", "INTEGER", "-", "ERC-20 decimals() / reserve configuration", "Decimals of the asset."),
    col("uses_as_collateral", "BOOLEAN", "-", "Aave getUserConfiguration / Comptroller getAssetsIn / Morpho",
        "Whether the protocol counts the holding as collateral."),
    col("collateral_balance_raw", "VARCHAR", "protocol units", "scaledBalanceOf / getAccountSnapshot / position",
        "The account's collateral in the protocol's own units, which change only with its events: Aave scaled "
        "aToken balance, Compound vTokens, Morpho collateral."),
    col("debt_balance_raw", "VARCHAR", "protocol units", "scaledBalanceOf / Borrow, RepayBorrow events / position",
        "Debt in the protocol's own units: Aave scaled variable debt, Compound borrow principal, Morpho borrow shares."),
    col("debt_index_raw", "VARCHAR", "wad", "AccrueInterest event / borrowIndex()",
        "Compound v2: the market's borrowIndex when the principal was set (interestIndex); null otherwise."),
    col("stable_debt_raw", "VARCHAR", "asset base units", "StableDebtToken.balanceOf at block_number",
        "Aave stable-rate debt (read at every snapshot); null when none."),
    col("emode_category", "INTEGER", "-", "Pool.getUserEMode", "Aave v3 e-mode category of the account (0 = none)."),
    col("read_block", "BIGINT", "block", "snapshot",
        "Block at which the account's composition was read; older than block_number when carried from an earlier "
        "snapshot because the account had no event since."),
    col("collateral_raw", "VARCHAR", "asset base units", "derived, as the protocol computes it at block_number",
        "Collateral in the asset (Aave rayMul(scaled, normalized income); Compound vTokens x exchangeRateStored / "
        "1e18; Morpho collateral); `0` when the holding is debt only."),
    col("debt_raw", "VARCHAR", "asset base units", "derived, as the protocol computes it at block_number",
        "Debt in the asset (Aave rayMul(scaled, normalized variable debt) + stable; Compound principal x borrowIndex "
        "/ interestIndex; Morpho toAssetsUp(shares) over the stored totals)."),
    col("price_raw", "VARCHAR", "price_currency / price_unit_raw", "protocol oracle at block_number",
        "Oracle price of one whole token as the protocol uses it (Aave: the e-mode price source when it applies)."),
    col("price_unit_raw", "VARCHAR", "-", "BASE_CURRENCY_UNIT, 1e18, 10^(36 - decimals), 10^(36 + loan - collateral decimals)",
        "price_raw of one whole unit of price_currency."),
    col("price_currency", "VARCHAR", "-", "deployment registry", "`USD`, `ETH`, or the Morpho loan token's symbol."),
    col("usd_per_currency_raw", "VARCHAR", "USD / usd_per_currency_unit_raw", "ETH/USD or loan-token USD feed",
        "USD value of one price_currency unit (`1` for USD); null when the registry names no feed."),
    col("usd_per_currency_unit_raw", "VARCHAR", "-", "feed decimals()", "One USD in usd_per_currency_raw units."),
    col("price_usd", "DOUBLE", "USD", "price_raw / price_unit_raw x usd_per_currency", "USD per whole token."),
    col("collateral_usd", "DOUBLE", "USD", "collateral_raw x price_usd", "Value of the collateral."),
    col("debt_usd", "DOUBLE", "USD", "debt_raw x price_usd", "Value of the debt."),
    col("liquidation_threshold_raw", "VARCHAR", "wad (10^18 = 100%)", "reserve / e-mode configuration, collateral "
        "factor, LLTV", "Liquidation threshold in force for this holding as collateral."),
    col("ltv_raw", "VARCHAR", "wad (10^18 = 100%)", "reserve / e-mode configuration, collateral factor, LLTV",
        "Borrow limit of this holding as collateral."),
    col("account_collateral_raw", "VARCHAR", "protocol value units", "derived as the protocol's account view",
        "Aave totalCollateralBase; Compound sum of collateral x collateral factor (sumCollateral); Morpho max borrow."),
    col("account_debt_raw", "VARCHAR", "protocol value units", "derived as the protocol's account view",
        "Aave totalDebtBase; Compound sumBorrowPlusEffects; Morpho borrowed assets."),
    col("health_factor_raw", "VARCHAR", "wad (10^18 = 1.0)", "derived as Aave getUserAccountData, Compound "
        "getAccountLiquidity, Morpho _isHealthy", "Account health factor; liquidatable below 1e18."),
    col("health_factor", "DOUBLE", "-", "health_factor_raw / 1e18", "Health factor."),
    col("run_id", "VARCHAR", "-", "runs.run_id", "Run that wrote the row."),
)

#: One row per positions snapshot (``liqtk positions``).
POSITION_SNAPSHOT_COLUMNS: tuple[Column, ...] = (
    col("snapshot_id", "VARCHAR", "-", "snapshot", "`chain_id:protocol:deployment:block_number`."),
    col("chain_id", "BIGINT", "-", "eth_chainId", "EIP-155 chain id."),
    col("protocol", "VARCHAR", "-", "deployment registry", "Protocol id."),
    col("deployment", "VARCHAR", "-", "deployment registry", "Deployment name."),
    col("block_number", "BIGINT", "block", "arguments", "Snapshot block."),
    col("block_hash", "VARCHAR", "hash", "eth_getBlockByNumber", "Hash of the snapshot block when read."),
    col("block_timestamp", "TIMESTAMPTZ", "UTC", "eth_getBlockByNumber", "Timestamp of the snapshot block."),
    col("base_snapshot_id", "VARCHAR", "-", "store", "Earlier complete snapshot the unchanged accounts were carried "
        "from; null for a full snapshot."),
    col("scanned_from_block", "BIGINT", "block", "snapshot", "First block whose events were read for accounts."),
    col("accounts_read", "BIGINT", "accounts", "snapshot", "Accounts whose composition was read at the block."),
    col("accounts_carried", "BIGINT", "accounts", "snapshot", "Accounts carried from the base snapshot."),
    col("accounts_done", "BIGINT", "accounts", "snapshot", "Accounts processed so far (a resumed snapshot skips them)."),
    col("positions", "BIGINT", "accounts", "snapshot", "Accounts with debt stored (rows grouped by account)."),
    col("status", "VARCHAR", "-", "snapshot", "`partial` while being written, `complete` when done."),
    col("rules", "VARCHAR", "-", "protocol probes at block_number",
        "How the values were computed (e.g. the Aave version's account math found by probes) and how many re-read "
        "accounts were checked against the protocol's own account view, with any that differ."),
    col("run_id", "VARCHAR", "-", "runs.run_id", "Run that wrote the snapshot."),
    col("updated_at", "TIMESTAMPTZ", "UTC", "local clock", "When the row was last written."),
)


TABLES: dict[str, tuple[Column, ...]] = {
    "positions": POSITION_COLUMNS,
    "position_snapshots": POSITION_SNAPSHOT_COLUMNS,
}

PRIMARY_KEYS: dict[str, tuple[str, ...]] = {
    "positions": ("snapshot_id", "market_id", "account", "asset"),
    "position_snapshots": ("snapshot_id",),
}

TABLE_DESCRIPTIONS: dict[str, str] = {
    "positions": "Open borrow positions at a block (`liqtk positions`): one row per snapshot, account, market and "
                 "asset, amounts exact and computed as the protocol computes them; accounts without debt are absent.",
    "position_snapshots": "One row per positions snapshot: block, base snapshot of an incremental one, progress.",
}
