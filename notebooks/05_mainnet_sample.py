# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Mainnet sample: real Ethereum liquidation logs, decoded and compared
#
# `fixtures/mainnet-logs` holds ten real mainnet liquidation logs (Maker `Bite` of 2020-03-13, Compound v2
# `LiquidateBorrow`, Aave v1 and v2 `LiquidationCall`) with their sources. This notebook decodes them without a
# node, checks the decoded amounts against values published independently (rotki and mev-inspect-js tests,
# `cross_checks.csv`), makes the rows a citable dataset, puts them on the 2020-03-12 crash path, and pairs them
# with the venues' engines. Decoded logs carry no state (prices, parameters, health factors need `eth_call` at
# the block before each liquidation, i.e. an archive node): with `store_path` pointing at a store pulled with
# state for these blocks, the pairing shows every number; without it, each row says what is missing. A log that
# does not decode becomes an error record and the others go on.

# %% tags=["parameters"]
logs_file = None  # raw logs (eth_getLogs array, JSON lines or receipts); None: fixtures/mainnet-logs
checks_file = None  # cross-checks CSV; None: fixtures/mainnet-logs/cross_checks.csv (set "" to skip)
store_path = None  # a store with these liquidations pulled with state reads, for the full pairing
prices_file = None  # price bars for the timeline; None: Binance BTCUSDT hourly around 2020-03-12
venues = ["bitmex", "binance-usdm", "hyperliquid"]
out_dir = None  # where the figures go (liqtk report: next to the report; None: out/figures of the checkout)

# %%
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd

from toolkit.compare import bar_path, pair
from toolkit.compare.figures import rows_dataset, save_figure, store_dataset, utc_time_axis
from toolkit.compare.reports import figure_dir
from toolkit.decode import decode_logs
from toolkit.devchain.anvil import repo_root

fixtures = repo_root() / "fixtures"
logs_file = logs_file or fixtures / "mainnet-logs" / "raw_liquidation_logs.jsonl"
checks_file = fixtures / "mainnet-logs" / "cross_checks.csv" if checks_file is None else checks_file
prices_file = prices_file or fixtures / "prices" / "binance_spot_BTCUSDT_1h_2020-03-12_window.csv"

text = Path(logs_file).read_text(encoding="utf-8")
decoded = list(decode_logs(text, chain="ethereum"))
# Compound's cTokens are found by pulls (its Comptroller lists them): without a store that has them, the Compound v2
# logs are decoded by naming the protocol
named = [r for r in decode_logs(text, chain="ethereum", protocol="compound-v2") if "error" not in r]
decoded = [r for r in decoded if "error" not in r or "LiquidateBorrow" not in r["error"]] + named
errors = pd.DataFrame([r for r in decoded if "error" in r], columns=["input", "tx_hash", "log_index", "error"])
rows, dataset = rows_dataset([r for r in decoded if "error" not in r], name=Path(logs_file).stem)
print(f"{len(rows)} rows decoded, {len(errors)} error records; dataset sha256 {dataset.content_sha256}")
rows[["protocol", "event", "block_number", "block_timestamp", "tx_hash", "log_index", "debt_asset",
      "debt_repaid_raw", "collateral_token", "collateral_token_seized_raw", "bad_debt_mechanism"]]

# %%
errors

# %% [markdown]
# ## Decoded amounts against independently published values
#
# Each cross-check names a raw event field and the value a third-party test suite published for it; the
# decoded row must carry the same integer.

# %%
FIELDS = {"repayAmount": "debt_repaid_raw", "debtToCover": "debt_repaid_raw",  # event field -> decoded column
          "seizeTokens": "collateral_token_seized_raw", "liquidatedCollateralAmount": "collateral_token_seized_raw",
          "ink": "collateral_token_seized_raw"}
checks = pd.read_csv(checks_file, dtype=str) if checks_file else pd.DataFrame(
    columns=["tx_hash", "log_index", "event", "field", "value_from_raw_log", "expected_value", "expected_source"])
keyed = rows.assign(log_index=rows.log_index.astype(str)).set_index(["tx_hash", "log_index"])
checks["decoded"] = [keyed.loc[(t, i), FIELDS[f]] if (t, i) in keyed.index and f in FIELDS else None
                     for t, i, f in zip(checks.tx_hash, checks.log_index, checks.field)]
checks["agrees"] = checks.decoded == checks.value_from_raw_log
assert checks.agrees.all(), checks[~checks.agrees]
checks[["event", "field", "value_from_raw_log", "decoded", "agrees", "expected_value", "expected_source"]]

# %% [markdown]
# ## The 2020-03-12 crash: liquidations on the price path
#
# Timestamps come from the logs (`blockTimestamp`, or Etherscan's `timeStamp`); rows without one are left off
# the chart.

# %%
path = bar_path(prices_file)
(marks,) = path.marks.values()
start, end = path.times[0], path.times[-1]
timed = rows.dropna(subset=["block_timestamp"])
inside = timed[(timed.block_timestamp >= start) & (timed.block_timestamp <= end)]
fig, ax = plt.subplots(figsize=(8, 3.8), layout="constrained")
ax.plot(path.times, [float(m) for m in marks], color="0.3", linewidth=1, label=Path(prices_file).name)
for k, (_, row) in enumerate(inside.iterrows()):
    ax.axvline(row.block_timestamp, color="tab:red", linewidth=0.8)
    ax.annotate(f"{row.protocol} {row.event} block {row.block_number}", (row.block_timestamp, float(max(marks))),
                xytext=(4, -12 * (k + 1)), textcoords="offset points", fontsize=6.5, color="tab:red")
utc_time_axis(ax)
ax.tick_params(axis="x", labelsize=7)
ax.set_ylabel("BTC price (USDT)")
ax.set_title(f"{len(inside)} of {len(rows)} mainnet sample liquidations fall in the 2020-03-12 window")
ax.legend(fontsize=7, loc="lower left")
figure = figure_dir(out_dir) / "05_mainnet_sample.png"
manifest = save_figure(fig, figure, dataset, source=f"liqtk decode of {Path(logs_file).name} (no node); prices "
                       f"{Path(prices_file).name}")
print(figure, manifest.file_sha256)

# %% [markdown]
# ## Paired with the venues
#
# Without state columns there is no position to compare: every row says so in `note`. With `store_path` set to
# a store holding these liquidations with state, the same call pairs each with the venues' engines.

# %%
if store_path is not None:
    rows, dataset = store_dataset(store_path)
paired = pair(rows, venues)
paired[[c for c in ["protocol", "event", "block_number", "tx_hash", "defi_parameter", "defi_native_value",
                    "defi_penalty_usd", "venue", "trigger_distance", "perp_trader_loss_usd", "note"]
        if c in paired]]
