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
# # Thresholds: protocols' liquidation parameters next to venues' maintenance tiers
#
# For each lending market: the native threshold read on chain at a block (Aave liquidation threshold, LTV,
# bonus), the maximum leverage it allows and the price fall to liquidation at that leverage and at 2x, 3x, 5x,
# 10x, 20x; for each venue: the maintenance margin of its base tier at the same date, its maximum leverage and
# the same adverse moves from the engine's own liquidation-price solver. Then how the parameters changed over
# the block range (reads at sampled blocks, bisected to the exact block).
#
# With no parameters the notebook starts the local chain (real Aave v3 and v2), runs the demo liquidations,
# plays one governance change (WETH's liquidation threshold on Aave v3) and reads everything from that node.
# Point `store_path` and `rpc` at your store and node (`chain`, `protocols`) to read mainnet instead.
# Method and sources: `toolkit.compare.thresholds`, `toolkit.compare.leverage`.

# %% tags=["parameters"]
store_path = None  # a DuckDB store written by `liqtk pull`; None builds one from the local chain
rpc = None  # JSON-RPC URL of the chain's node for the on-chain reads (None: the local chain, or no chain reads)
chain = "devchain"  # registry chain name of store_path / rpc
protocols = ["aave-v3", "aave-v2"]  # protocols with an on-chain reader (Aave family)
block = None  # block of the reads (None: finalized)
history_blocks = 200  # length of the parameter history, in blocks up to the read block
history_step = 10  # blocks between two samples of the history (changes are then bisected to their block)
venues = ["bitmex", "binance-usdm", "bybit", "okx", "dydx-v4", "hyperliquid"]
out_dir = None  # where the figures go (liqtk report: next to the report; None: out/figures of the checkout)

# %%
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd

from toolkit.compare import LEVERAGE_GRID, read_protocol_thresholds, threshold_history, thresholds
from toolkit.compare.figures import save_figure, store_dataset
from toolkit.compare.reports import figure_dir


def chain_reads(url, store):
    """Parameters of the stored liquidations' collateral assets at the block, and their history before it."""
    records, history = [], []
    for protocol in protocols:
        found = read_protocol_thresholds(chain, protocol, block=block, rpc=url, store=store)
        at = found[0].block_number
        history.append(threshold_history(chain, protocol, from_block=max(0, at - history_blocks), to_block=at,
                                         step=history_step, rpc=url, store=store))
        records += found
    return records, pd.concat(history, ignore_index=True)


if store_path is None:
    from toolkit.devchain.sample import pull_sample
    from toolkit.devchain import Devchain, aave_v3

    store_path = Path(tempfile.mkdtemp()) / "liquidations.duckdb"
    with Devchain.start() as devchain:
        # Governance on the local chain: Aave v3 WETH liquidation threshold 83% -> 84%, LTV and bonus kept.
        weth = devchain.v3.reserve("WETH").underlying
        configurator = devchain.chain.at(aave_v3.POOL_CONFIGURATOR, devchain.v3.addresses()["poolConfigurator"])
        params = aave_v3.RESERVE_PARAMS["WETH"]
        devchain.mine(10)
        devchain.chain.transact(configurator.functions.configureReserveAsCollateral(
            weth, params.ltv, 8400, params.liquidation_bonus))
        pull_sample(devchain, store_path, morpho=False)
        records, history = chain_reads(devchain.url, store_path)
else:
    records, history = chain_reads(rpc, store_path) if rpc else ([], pd.DataFrame())

liquidations, dataset = store_dataset(store_path, chain_id=None)
as_of = liquidations.block_timestamp.max().to_pydatetime() if len(liquidations) else None
table = thresholds(records, venues, as_of=as_of)
table[["side", "name", "symbol", "era", "parameter", "native_value", "native_unit", "maintenance_share",
       "max_leverage", "adverse_move_at_max_leverage", *[f"adverse_move_{x}x" for x in LEVERAGE_GRID]]]

# %% [markdown]
# `maintenance_share` is the equity left per unit of exposure when liquidation starts: `1 - LT` for a lending
# position, the tier's maintenance margin rate for a perpetual. Lending positions cannot be opened above
# `1 / (1 - LTV)` (empty cells); venues allow far more leverage but liquidate much closer to the bankruptcy
# price. The history below shows each parameter in force at the start of the range and every change, located
# to its exact block.

# %%
history

# %%
lending = table[table.side == "lending"]
perp = table[table.side == "perp"]
fig, ax = plt.subplots(figsize=(7.5, 4.2))
grid = list(LEVERAGE_GRID)
for _, row in lending.iterrows():
    ax.plot(grid, [row[f"adverse_move_{x}x"] * 100 for x in grid], marker="o",
            label=f"{row['name']} {row['symbol']} (LT {int(row['native_value']) / 100:g}%)")
for _, row in perp.iterrows():
    ax.plot(grid, [row[f"adverse_move_{x}x"] * 100 for x in grid], linestyle="--", marker=".",
            label=f"{row['name']} {row['symbol']} (MM {float(row['native_value']) * 100:g}%)")
ax.set_xscale("log")
ax.minorticks_off()
ax.set_xticks(grid, [f"{x}x" for x in grid])
ax.set_xlabel("leverage (exposure / own capital)")
ax.set_ylabel("price fall to liquidation (%)")
ax.set_title("Adverse move to liquidation: lending markets vs perpetual venues")
ax.legend(fontsize=6.5, ncol=2)
figure = figure_dir(out_dir) / "02_thresholds.png"
read_at = f"{chain} block {records[0].block_number}" if records else "stored liquidations"
manifest = save_figure(fig, figure, dataset, source=f"Aave reserve configurations read at {read_at}; "
                       f"toolkit.cex venue profiles at {as_of:%Y-%m-%d}")
print(figure, manifest.file_sha256)
