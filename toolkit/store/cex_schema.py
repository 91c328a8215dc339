"""The store's tables of real exchange data (``liqtk cex fetch`` / ``liqtk cex record``), added in schema version 4.

Rows follow ccxt's unified structures (docs/sources/venues.md#ccxt-unified-structures) plus the venue, with the
exchange's raw answer kept beside them. Exactness rule, as for the chain data: numbers are stored as the exact
decimal text ccxt parsed from the exchange's answer (ccxt's ``number = str`` mode: the digits the exchange sent),
never through a float; a ``DOUBLE`` beside a price or amount is for plotting and filtering only.

Run provenance of the collectors lives in ``cex_runs`` and ``cex_gaps`` (not in ``runs``: a recorder runs for hours
beside scheduled pulls, which mark any ``runs`` row still ``running`` as interrupted).
"""

from __future__ import annotations

from toolkit.store.schema_columns import Column, col

_CCXT = "ccxt unified structure"
_TEXT = "exact decimal text"

_IDENTITY: tuple[Column, ...] = (
    col("venue", "VARCHAR", "-", "arguments", "Venue profile id (`binance-usdm`, `bybit`, `okx`, `bitmex`, "
        "`hyperliquid`, `dydx-v4`): the same ids as `liqtk cex --venue`."),
    col("exchange", "VARCHAR", "-", "ccxt", "ccxt exchange id the data was read with (`binanceusdm`, `bybit`, ...)."),
    col("symbol", "VARCHAR", "-", _CCXT, "ccxt unified symbol (`BTC/USDT:USDT`), or the venue's id when ccxt had "
        "no market for it."),
    col("venue_symbol", "VARCHAR", "-", "toolkit.cex.tier_tables.venue_symbol",
        "The venue's own id of the instrument (`BTCUSDT`, `XBTUSD`, `BTC`), the symbol of the venue profiles."),
)

LIQUIDATION_COLUMNS: tuple[Column, ...] = (
    *_IDENTITY,
    col("timestamp", "TIMESTAMPTZ", "UTC", _CCXT, "Time of the liquidation order as the exchange reports it."),
    col("side", "VARCHAR", "-", _CCXT, "Side of the liquidation order (`buy`: a short was liquidated; `sell`: a "
        "long), as ccxt gives it."),
    col("price", "VARCHAR", "quote currency", _CCXT + ", " + _TEXT,
        "Price of the order (Binance: its average fill price `ap`)."),
    col("contracts", "VARCHAR", "contracts", _CCXT + ", " + _TEXT,
        "Contracts of the order as ccxt reads them (Binance: the last filled quantity `l`)."),
    col("contract_size", "VARCHAR", "base units", _CCXT + ", " + _TEXT, "Base units per contract (null when ccxt "
        "has no market for the symbol)."),
    col("base_value", "VARCHAR", "base currency", _CCXT + ", " + _TEXT, "contracts x contract size."),
    col("quote_value", "VARCHAR", "quote currency", _CCXT + ", " + _TEXT, "base value x price."),
    col("price_value", "DOUBLE", "quote currency", "price", "price as a double, for plotting only."),
    col("quote_value_usd", "DOUBLE", "USD", "quote_value or price x contracts x contract size",
        "Value of the order in its quote currency taken as USD (USDT and USDC at par), for plotting only."),
    col("info_json", "VARCHAR", "JSON", "exchange", "The liquidation as the exchange sent it (ccxt `info`)."),
    col("raw_message", "VARCHAR", "JSON", "exchange", "The whole websocket message or HTTP answer it came in."),
    col("message_sha256", "VARCHAR", "hex", "raw_message", "SHA-256 of raw_message; with item the row's key (a "
        "message received twice is stored once)."),
    col("item", "INTEGER", "-", "collector", "Position of the liquidation in its message (a message can carry "
        "several), from 0."),
    col("received_at", "TIMESTAMPTZ", "UTC", "local clock", "When the collector received it."),
    col("run_id", "VARCHAR", "-", "cex_runs.run_id", "Run that stored it."),
)

FUNDING_COLUMNS: tuple[Column, ...] = (
    *_IDENTITY,
    col("timestamp", "TIMESTAMPTZ", "UTC", _CCXT, "Funding time."),
    col("funding_rate", "VARCHAR", "fraction per interval", _CCXT + ", " + _TEXT, "Rate paid at that time "
        "(positive: longs pay)."),
    col("funding_rate_value", "DOUBLE", "fraction per interval", "funding_rate", "As a double, for plotting only."),
    col("info_json", "VARCHAR", "JSON", "exchange", "The row as the exchange sent it."),
    col("run_id", "VARCHAR", "-", "cex_runs.run_id", "Run that stored it."),
)

OPEN_INTEREST_COLUMNS: tuple[Column, ...] = (
    *_IDENTITY,
    col("timestamp", "TIMESTAMPTZ", "UTC", _CCXT, "Time of the observation."),
    col("open_interest_amount", "VARCHAR", "contracts or base units", _CCXT + ", " + _TEXT,
        "Open interest as ccxt gives it (`openInterestAmount`)."),
    col("open_interest_value", "VARCHAR", "quote currency", _CCXT + ", " + _TEXT, "Its value (`openInterestValue`)."),
    col("info_json", "VARCHAR", "JSON", "exchange", "The row as the exchange sent it."),
    col("run_id", "VARCHAR", "-", "cex_runs.run_id", "Run that stored it."),
)

LEVERAGE_TIER_COLUMNS: tuple[Column, ...] = (
    *_IDENTITY,
    col("fetched_at", "TIMESTAMPTZ", "UTC", "local clock", "When the table was fetched: the era's valid_from."),
    col("tier", "INTEGER", "-", _CCXT, "Tier number, from 1."),
    col("min_notional", "VARCHAR", "settlement currency or contracts", _CCXT + ", " + _TEXT, "Lower bound."),
    col("max_notional", "VARCHAR", "settlement currency or contracts", _CCXT + ", " + _TEXT, "Upper bound."),
    col("maintenance_margin_rate", "VARCHAR", "fraction", _CCXT + ", " + _TEXT, "Maintenance margin rate."),
    col("max_leverage", "VARCHAR", "x", _CCXT + ", " + _TEXT, "Highest leverage of the tier."),
    col("currency", "VARCHAR", "-", _CCXT, "Currency of the bounds."),
    col("contract_size", "VARCHAR", "base units", "ccxt market", "Base units per contract of the instrument."),
    col("tick_size", "VARCHAR", "quote currency", "ccxt market", "Price increment of the instrument."),
    col("lot_size", "VARCHAR", "contracts", "ccxt market", "Quantity increment of the instrument."),
    col("kind", "VARCHAR", "-", "ccxt market", "`linear` or `inverse`."),
    col("info_json", "VARCHAR", "JSON", "exchange", "The tier as the exchange sent it."),
    col("run_id", "VARCHAR", "-", "cex_runs.run_id", "Run that stored it."),
)

RUN_COLUMNS: tuple[Column, ...] = (
    col("run_id", "VARCHAR", "-", "generated", "Unique id of the run (UTC time + random suffix)."),
    col("command", "VARCHAR", "-", "CLI / API", "`cex fetch` or `cex record`."),
    col("status", "VARCHAR", "-", "run", "`running`, `ok`, `partial`, `failed`, or `interrupted` (its process "
        "ended without finishing it; found by the next run)."),
    col("venue", "VARCHAR", "-", "arguments", "Venue profile id."),
    col("exchange", "VARCHAR", "-", "ccxt", "ccxt exchange id."),
    col("symbols", "VARCHAR", "-", "arguments", "Comma-separated ccxt symbols (empty: every symbol the stream "
        "carries)."),
    col("what", "VARCHAR", "-", "arguments", "What was collected: `liquidations`, `funding`, `open-interest`, "
        "`tiers` (comma-separated)."),
    col("started_at", "TIMESTAMPTZ", "UTC", "local clock", "Start."),
    col("finished_at", "TIMESTAMPTZ", "UTC", "local clock", "Stop (null while running or after a kill)."),
    col("last_flush_at", "TIMESTAMPTZ", "UTC", "local clock", "Last time rows were written (record)."),
    col("messages", "BIGINT", "messages", "collector", "Websocket messages (record) or HTTP answers (fetch) read."),
    col("rows_added", "BIGINT", "rows", "store", "Rows stored by the run."),
    col("reconnects", "INTEGER", "-", "collector", "Times the stream was reconnected."),
    col("gaps", "INTEGER", "-", "collector", "Times the stream was down (rows in cex_gaps)."),
    col("package_version", "VARCHAR", "-", "toolkit.__version__", "liquidation-toolkit version."),
    col("ccxt_version", "VARCHAR", "-", "ccxt.__version__", "ccxt version."),
    col("api_host", "VARCHAR", "-", "ccxt urls", "scheme://host of the API the run talked to."),
    col("args_json", "VARCHAR", "JSON", "arguments", "Arguments of the run (no keys: they are never stored)."),
    col("error", "VARCHAR", "-", "run", "One-line error when the run failed or stopped early."),
)

GAP_COLUMNS: tuple[Column, ...] = (
    col("run_id", "VARCHAR", "-", "cex_runs.run_id", "Recording run."),
    col("number", "INTEGER", "-", "collector", "Gap number within the run, from 1."),
    col("started_at", "TIMESTAMPTZ", "UTC", "local clock", "When the connection was found lost (the last moment "
        "messages could still arrive)."),
    col("ended_at", "TIMESTAMPTZ", "UTC", "local clock", "When the stream was subscribed again (null: the run "
        "ended during the gap)."),
    col("reason", "VARCHAR", "-", "collector", "What ended the connection (ccxt's error, one line)."),
)

TABLES: dict[str, tuple[Column, ...]] = {
    "cex_liquidations": LIQUIDATION_COLUMNS,
    "cex_funding_rates": FUNDING_COLUMNS,
    "cex_open_interest": OPEN_INTEREST_COLUMNS,
    "cex_leverage_tiers": LEVERAGE_TIER_COLUMNS,
    "cex_runs": RUN_COLUMNS,
    "cex_gaps": GAP_COLUMNS,
}

PRIMARY_KEYS: dict[str, tuple[str, ...]] = {
    "cex_liquidations": ("venue", "message_sha256", "item"),
    "cex_funding_rates": ("venue", "symbol", "timestamp"),
    "cex_open_interest": ("venue", "symbol", "timestamp"),
    "cex_leverage_tiers": ("venue", "symbol", "fetched_at", "tier"),
    "cex_runs": ("run_id",),
    "cex_gaps": ("run_id", "number"),
}

TABLE_DESCRIPTIONS: dict[str, str] = {
    "cex_liquidations": "Liquidation orders an exchange published (`liqtk cex record` from its websocket stream, "
                        "`liqtk cex fetch --what liquidations` where it serves a history), one row per order: "
                        "ccxt's Liquidation structure plus venue, with the raw message.",
    "cex_funding_rates": "Funding-rate history fetched from an exchange (`liqtk cex fetch --what funding`).",
    "cex_open_interest": "Open-interest history fetched from an exchange (`liqtk cex fetch --what open-interest`).",
    "cex_leverage_tiers": "Leverage-tier tables fetched from an exchange (`liqtk cex fetch --what tiers`); each "
                          "fetch is a venue era dated by fetched_at (`liqtk cex liquidation-price --store`).",
    "cex_runs": "One row per `liqtk cex fetch` / `liqtk cex record` run: what, where, how much, how it ended.",
    "cex_gaps": "Intervals in which a recording's stream was disconnected: liquidations then were not received.",
}
