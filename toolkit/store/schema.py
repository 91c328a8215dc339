"""The store's tables and every column's type, unit and source: the single source of truth.

``docs/schema.md`` is generated from this module (``python -m toolkit.store.schema``) and a test
keeps the two in sync. The columns of the normalized liquidation record are defined in
:mod:`toolkit.store.liquidation_schema` (docs/sources/store.md#normalized-liquidation-record), those of
the exchange data and positions snapshots in :mod:`toolkit.store.cex_schema` and
:mod:`toolkit.store.positions_schema`; this module joins them and keeps every name importable.

Exactness rule: every on-chain integer (uint256 amounts, oracle answers, wad health factors) is
stored as its exact base-10 string in a ``*_raw`` column; a decimal-adjusted ``DOUBLE`` beside it is
for plotting and filtering only. USD values are computed from the exact integers with
:class:`fractions.Fraction` and rounded to ``DOUBLE`` once, at the end.
"""

from __future__ import annotations

import inspect
import sys

from toolkit.store import cex_schema, positions_schema
from toolkit.store.liquidation_schema import LIQUIDATION_COLUMNS
from toolkit.store.schema_columns import Column
from toolkit.store.schema_columns import col as _col

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
