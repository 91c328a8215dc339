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
from toolkit.store.db import Store
from toolkit.store.manifest import content_sha256
from toolkit.store.schema import LIQUIDATION_COLUMNS

store = Store(store_path, create=False)
dataset_hash = content_sha256(store.liquidations_table(), LIQUIDATION_COLUMNS)
labels = [f"{p}: {d} repaid, {c} seized" for p, d, c in zip(df.protocol, df.debt_symbol, df.collateral_symbol)]
fig, ax = plt.subplots(figsize=(7, 3.5))
ax.barh(labels, df.liquidation_bonus_usd, color="tab:red")
ax.set_xlabel("liquidation bonus paid by the borrower to the liquidator (USD, oracle prices)")
chains = ", ".join(str(c) for c in sorted(df.chain_id.unique()))
fig.text(0.01, -0.08, f"Data: liqtk pull, chain id {chains}, blocks {df.block_number.min()}-{df.block_number.max()}; "
         f"dataset sha256 {dataset_hash[:16]}…", fontsize=7)
fig.tight_layout()
