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
# # Penalties: what a DeFi liquidation cost, and what a venue would have done at the same prices
#
# For every stored liquidation: the borrower's penalty (liquidation bonus plus protocol fee) in USD and as a
# share of the debt repaid, of the collateral and of the equity, and the share of the position closed; next to
# it, the equivalent perpetual (long the collateral against the debt, notional = collateral value, margin =
# equity before the liquidation) run through each venue's engine: its liquidation price against the price at
# which the DeFi position became liquidatable, how much of the position the engine closes and what the trader
# loses (BitMEX: the remaining margin to the insurance fund; Binance: the clearance fee; Hyperliquid: none).
#
# With no parameters the notebook starts the local chain and compares the real Aave v3, Aave v2 and Morpho Blue
# liquidations of the demo scenarios (one Morpho liquidation leaves bad debt). Point `store_path` at your store
# to compare yours. Method and sources: `toolkit.compare.penalties`, `toolkit.compare.equivalent`.

# %% tags=["parameters"]
store_path = None  # a DuckDB store written by `liqtk pull` (with state reads); None builds one from the local chain
protocol = None  # e.g. "aave-v3" to compare one protocol only
venues = ["bitmex", "binance-usdm", "hyperliquid"]  # venue ids, or "venue:SYMBOL" for another contract's tiers
out_dir = None  # where the figures go (liqtk report: next to the report; None: out/figures of the checkout)

# %%
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from toolkit.compare import pair
from toolkit.compare.figures import save_figure, store_dataset
from toolkit.compare.reports import figure_dir

if store_path is None:
    from toolkit.devchain.sample import pull_sample
    from toolkit.devchain import Devchain

    store_path = Path(tempfile.mkdtemp()) / "liquidations.duckdb"
    with Devchain.start() as devchain:
        pull_sample(devchain, store_path)

liquidations, dataset = store_dataset(store_path, protocol=protocol)
paired = pair(liquidations, venues)
paired[["protocol", "collateral_symbol", "debt_symbol", "defi_parameter", "defi_native_value", "leverage",
        "health_factor_before", "defi_penalty_usd", "defi_penalty_pct_repaid", "defi_penalty_pct_equity",
        "defi_closed_share", "venue", "perp_maintenance_rate", "trigger_distance", "perp_action",
        "perp_closed_share", "perp_trader_loss_usd", "perp_loss_pct_equity", "loss_difference_usd"]]

# %% [markdown]
# `trigger_distance` is the venue's liquidation price over the DeFi trigger price (where the health factor was
# 1), minus one: negative means the venue liquidates later in a fall, because its maintenance margin is a few
# tenths of a percent where a lending market keeps `1 - LT` (15-25 %). A position already underwater at the
# DeFi prices (bad debt) cannot exist on a venue: it shows as `bankrupt at the DeFi prices`, its negative equity
# the insurance fund's or the ADL counterparties' loss.

# %%
compared = paired.dropna(subset=["venue"])
events = compared.drop_duplicates(["tx_hash", "log_index"])
labels = [f"{p}\n{c}/{d} #{i}" for i, (p, c, d) in
          enumerate(zip(events.protocol, events.collateral_symbol, events.debt_symbol), start=1)]
series = {"DeFi penalty": events.defi_penalty_usd.to_numpy()}
for venue in compared.venue.unique():
    series[f"{venue} trader loss"] = compared[compared.venue == venue].perp_trader_loss_usd.to_numpy()
fig, ax = plt.subplots(figsize=(8, 4.4))
width = 0.8 / len(series)
for k, (name, values) in enumerate(series.items()):
    ax.bar(np.arange(len(events)) + k * width, values, width, label=name)
ax.set_xticks(np.arange(len(events)) + 0.4 - width / 2, labels, fontsize=7)
ax.set_ylabel("USD taken from the borrower / trader")
ax.set_title("Liquidation penalty on chain vs loss on a venue (same position, same prices)")
ax.legend(fontsize=7)
figure = figure_dir(out_dir) / "03_penalties.png"
manifest = save_figure(fig, figure, dataset, source="liqtk pull (oracle prices and account data at the block "
                       f"before each liquidation); venue engines of toolkit.cex: {', '.join(venues)}")
print(figure, manifest.file_sha256)
