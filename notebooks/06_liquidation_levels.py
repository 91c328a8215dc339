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
# # Liquidation levels: how much becomes liquidatable as a price falls, on lending protocols and on venues
#
# A positions snapshot (`liqtk positions`) holds every open borrow position of a deployment at a block: each
# account's collateral and debt per asset, prices, thresholds, e-mode and health factor, exactly as the protocol
# computes them. From it, for each collateral asset falling alone in 1 % steps to -60 % (and for all non-stable
# assets falling together), the collateral and debt that become liquidatable, exactly from each position's
# composition. Next to it the venues: the same positions as perpetuals at their own leverage, and the same
# exposure held with a realistic leverage distribution (`docs/sources/leverage.md`).
#
# With no parameters the notebook starts the local chain, opens a book of positions on real Aave v3, Aave v2,
# Venus and Morpho Blue and snapshots it. Point `store_path` at a store holding snapshots, or `rpc` at your node
# (with `chain`, `protocols`, `block`) to snapshot it first. Method and sources: `toolkit.compare.lending_levels`,
# `toolkit.compare.venue_levels`, `toolkit.snapshot`.

# %% tags=["parameters"]
store_path = None  # a store with positions snapshots (`liqtk positions`); None: a new one
rpc = None  # a node to snapshot first (None and no store_path: the local chain)
chain = "ethereum"  # registry chain of `rpc`
protocols = ["aave-v3"]  # protocols to snapshot from `rpc`
block = "finalized"  # block of the snapshots taken from `rpc`
asset = None  # collateral symbol the venues and the chart follow (None: the largest collateral)
venues = ["bitmex", "binance-usdm", "hyperliquid"]
event = "2025-10-10"  # a crash whose largest fall is marked (None: none)
out_dir = None  # where the CSV files, the figure and its manifest go (None: a new temporary directory)

# %%
import tempfile
from decimal import Decimal
from pathlib import Path

import toolkit
from toolkit.compare import levels

out = Path(out_dir or tempfile.mkdtemp())
if store_path is None:
    store_path = out / "positions.duckdb"
    if rpc is None:
        from toolkit.crash.driver import OracleDriver
        from toolkit.crash.population import PopulationSpec, build_population
        from toolkit.crash.positions import open_positions
        from toolkit.devchain import Devchain

        chain, protocols, block = "devchain", ["aave-v3", "aave-v2", "venus", "morpho-blue"], "latest"
        with Devchain.start() as devchain:
            OracleDriver(devchain).move({"ETH": Decimal(3000), "BTC": Decimal(60000)})
            open_positions(devchain, build_population(PopulationSpec(borrowers=24), "WETH", Decimal(3000), seed=6))
            devchain.mine(3)
            for protocol in protocols:
                toolkit.positions(chain, protocol, rpc=devchain.url, store=store_path, block=block)
    else:
        for protocol in protocols:
            toolkit.positions(chain, protocol, rpc=rpc, store=store_path, block=block)

# %% [markdown]
# The snapshot: one row per account, market and asset (amounts exact in `*_raw`, USD values beside them).

# %%
path = label = None
if event is not None:
    from toolkit.crash.events import crash_event, load_paths

    path, label = load_paths(crash_event(event))["ETH"], f"{event} ETH"
report = levels(store_path, asset=asset, venues=venues, path=path, path_label=label)
report.lending.accounts[report.lending.accounts["scenario"] == report.asset].head(10)

# %% [markdown]
# Cumulative collateral liquidatable (at the snapshot's prices) every 10 % of fall: lending per protocol and in
# total, then each venue with the same positions and with the leverage distribution.

# %%
lending = report.lending.table
steps = list(range(0, report.lending.max_move + 1, 10))
table = lending[(lending["scenario"] == report.asset) & lending["move_pct"].isin(steps)]
venue = report.venues[report.venues["move_pct"].isin(steps)]
(table.pivot(index="place", columns="move_pct", values="collateral_usd").round(0),
 venue.pivot_table(index=["place", "population"], columns="move_pct", values="collateral_usd").round(0))

# %%
paths = report.save(out)
print(report.warnings or "snapshot close to the price path's date")
print(paths["figure"])
report.figure()
