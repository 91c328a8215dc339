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
# # Quickstart: liquidations from a node into a DataFrame
#
# With no parameters this notebook starts the local chain (anvil with real Aave v3 and v2 from npm),
# runs the demo liquidations, pulls them into a temporary store and shows them. Point `store_path`
# at your own store (filled by `liqtk pull`) to explore that instead.

# %% tags=["parameters"]
store_path = None  # a DuckDB store written by `liqtk pull`; None builds one from the local chain
protocol = None  # e.g. "aave-v3" to show one protocol only
out_dir = None  # where the figures go (liqtk report: next to the report; None: out/figures of the checkout)

# %%
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt

import toolkit

if store_path is None:
    from toolkit.devchain import Devchain, run_demo_scenario

    store_path = Path(tempfile.mkdtemp()) / "liquidations.duckdb"
    with Devchain.start() as devchain:
        run_demo_scenario(devchain)
        for name in ("aave-v3", "aave-v2"):
            result = toolkit.pull("devchain", name, rpc=devchain.url, store=store_path)
            print(f"{name}: {result.status}, {result.rows_added} rows, up to block {result.to_block}")

# %%
df = toolkit.liquidations(store_path, protocol=protocol)
columns = ["protocol", "block_number", "tx_hash", "debt_symbol", "debt_repaid", "collateral_symbol",
           "collateral_seized", "protocol_fee", "health_factor_before", "debt_repaid_usd",
           "liquidation_bonus_usd", "liquidation_bonus_pct"]
df[columns]

# %% [markdown]
# Raw amounts are exact integer strings (`*_raw`); every row carries chain id, block hash,
# transaction hash and log index, so each number can be traced back to the chain.

# %%
df[["tx_hash", "log_index", "block_hash", "debt_repaid_raw", "collateral_seized_raw", "protocol_fee_raw"]]

# %%
from toolkit.compare.figures import save_figure, store_dataset
from toolkit.compare.reports import figure_dir

shown, dataset = store_dataset(store_path, protocol=protocol)
labels = [f"{p}: {d} repaid, {c} seized" for p, d, c in
          zip(shown.protocol, shown.debt_symbol, shown.collateral_symbol)]
fig, ax = plt.subplots(figsize=(7, 3.5), layout="constrained")
ax.barh(labels, shown.liquidation_bonus_usd, color="tab:red")
ax.set_xlabel("liquidation bonus paid by the borrower to the liquidator (USD, oracle prices)")
figure = figure_dir(out_dir) / "01_quickstart.png"
manifest = save_figure(fig, figure, dataset, source="liqtk pull (oracle prices at the block before each liquidation)")
print(figure, manifest.file_sha256)
