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
# # ADL versus bad-debt socialization
#
# DeFi protocols record the debt a liquidation could not cover and say who absorbs it: a buffer (Aave's
# deficit, Comet's reserves, Maker's surplus buffer) or the other users (Morpho and Euler suppliers, Liquity
# troves). A BitMEX-style venue absorbs it in its insurance fund and, when the fund cannot, auto-deleverages
# profitable opposite positions. This notebook puts the bad debt recorded on chain for a set of liquidations next
# to what each venue's engine does on a real crash path (`fixtures/prices`, 2020-03-12 by default) with a
# population derived from the same positions: insurance-fund drawdown, ADL volume, counterparties and the
# haircut they take.
#
# With no parameters it starts the local chain and uses the real Aave v3, Aave v2 and Morpho Blue liquidations
# of the demo scenarios (the Morpho one realizes bad debt). Point `store_path` (and `from_block` / `to_block`) at
# your store for a window of yours. Method and sources: `toolkit.compare.bad_debt`.

# %% tags=["parameters"]
store_path = None  # a DuckDB store written by `liqtk pull` (with state reads); None builds one from the local chain
from_block = None  # first block of the window (inclusive); None: from the first stored liquidation
to_block = None  # last block of the window (inclusive); None: to the last stored liquidation
prices_file = None  # a price-bar CSV (fixtures/prices format); None: Binance BTCUSDT hourly around 2020-03-12
steps_per_bar = [1, 12]  # ticks per bar: 1 = the bars as they are (gaps), 12 = five-minute straight-line ticks
venues = ["bitmex", "binance-usdm", "hyperliquid"]
insurance_fund = 0  # starting insurance fund of every venue (settlement currency)
out_dir = None  # where the figures go (liqtk report: next to the report; None: out/figures of the checkout)

# %%
import tempfile
from decimal import Decimal
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd

from toolkit.compare import adl_vs_bad_debt, bar_path
from toolkit.compare.figures import save_figure, store_dataset, utc_time_axis
from toolkit.compare.reports import figure_dir
from toolkit.devchain.anvil import repo_root

if store_path is None:
    from toolkit.devchain.sample import pull_sample
    from toolkit.devchain import Devchain

    store_path = Path(tempfile.mkdtemp()) / "liquidations.duckdb"
    with Devchain.start() as devchain:
        pull_sample(devchain, store_path)
prices_file = prices_file or repo_root() / "fixtures" / "prices" / "binance_spot_BTCUSDT_1h_2020-03-12_window.csv"

liquidations, dataset = store_dataset(store_path, from_block=from_block, to_block=to_block)
runs = {}
for steps in steps_per_bar:
    path = bar_path(prices_file, steps_per_bar=steps)
    runs[steps] = (path, adl_vs_bad_debt(liquidations, path, venues, insurance_fund=Decimal(insurance_fund)))
comparison = runs[steps_per_bar[0]][1]
comparison.defi

# %% [markdown]
# On chain: `buffer_drawdown_usd` is bad debt a buffer took, `socialized_usd` bad debt spread over other users,
# `unrecorded_rows` liquidations of protocols that do not record bad debt at all (it stays on the account).
# Below, the same positions on each venue, for each tick density of the path: with hourly bars every crash move
# gaps past the bankruptcy prices (shortfalls, ADL); with ticks in between the engines liquidate in time.

# %%
columns = ["name", "venue_symbol", "venue_era", "positions", "liquidations", "liquidated_value_usd", "bad_debt_rows",
           "buffer_drawdown_usd", "insurance_fund_paid_usd", "adl_orders", "adl_volume_usd", "adl_counterparties",
           "socialized_usd"]
pd.concat([result.perp[columns].assign(ticks_per_bar=steps) for steps, (_, result) in runs.items()],
          ignore_index=True)

# %%
fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4), gridspec_kw={"width_ratios": [3, 2]}, layout="constrained")
path, result = runs[steps_per_bar[0]]
(marks,) = path.marks.values()
left.plot(path.times, [float(m) for m in marks], color="0.3", linewidth=1)
left.set_ylabel("BTC price (path)")
left.set_title(Path(prices_file).name, fontsize=7)
utc_time_axis(left)
left.tick_params(axis="x", labelsize=7)
defi = result.defi.fillna({"buffer_drawdown_usd": 0, "socialized_usd": 0})
recorded = result.defi["buffer_drawdown_usd"].notna()
names = [*[n if r else f"{n} (not recorded)" for n, r in zip(defi["name"], recorded)],
         *[f"{n}\n({s} tick/bar)" for s, (_, r) in runs.items() for n in r.perp["name"]]]
buffers = [*defi["buffer_drawdown_usd"], *[v for _, (_, r) in runs.items() for v in r.perp["buffer_drawdown_usd"]]]
social = [*defi["socialized_usd"], *[v for _, (_, r) in runs.items() for v in r.perp["socialized_usd"]]]
right.barh(names, buffers, color="tab:blue", label="buffer / insurance fund")
right.barh(names, social, left=buffers, color="tab:orange", label="socialized / ADL haircut")
right.tick_params(axis="y", labelsize=6.5)
right.set_xlabel("loss absorbed (USD)")
right.legend(fontsize=7)
figure = figure_dir(out_dir) / "04_adl_vs_bad_debt.png"
manifest = save_figure(fig, figure, dataset, source=f"liqtk pull (bad_debt_* columns); engine runs of toolkit.cex "
                       f"on {Path(prices_file).name}, {', '.join(venues)}, insurance fund {insurance_fund}")
print(figure, manifest.file_sha256)
