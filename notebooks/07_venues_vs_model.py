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
# # Venues against the model: real funding, real liquidation orders, real hours
#
# The venue engines of `toolkit.cex` are models built from published formulas (`docs/sources/venues.md`). This
# notebook puts what exchanges actually published next to them:
#
# 1. **funding**: a fetched funding-rate history next to the rate the engine's formula gives for the same
#    premium (`toolkit.cex.funding.funding_rate` with the profile's interest rate, clamp and cap);
# 2. **liquidation orders**: each recorded liquidation order next to the engine's bankruptcy and liquidation
#    prices for that symbol and bracket, and what can and cannot be inferred from one order;
# 3. **hours**: real liquidation volume per hour on the venue next to the DeFi liquidations the store holds for the
#    same hours.
#
# With no parameters it builds a small store from recorded real exchange data (`fixtures/venues/`: Hyperliquid's
# BTC funding history of 2023-05-12 to 2023-07-17, two Binance USD-M `forceOrder` messages of 2024-04-27), parsed
# by ccxt exactly as `liqtk cex fetch` / `liqtk cex record` parse them. Point `store_path` at a store where you ran
# `liqtk cex fetch --what funding` and `liqtk cex record` (and `liqtk pull` for the DeFi side).

# %% tags=["parameters"]
store_path = None  # a store with cex_* tables (liqtk cex fetch / record); None builds one from fixtures/venues
funding_venue = "hyperliquid"  # venue of the funding comparison
funding_symbol = "BTC/USDC:USDC"  # ccxt symbol of the funding comparison
liquidation_venue = "binance-usdm"  # venue of the recorded liquidation orders
out_dir = None  # where the figure goes (None: a new temporary directory)

# %%
import json
import tempfile
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd

from toolkit.cex import load_venue
from toolkit.cex.funding import funding_rate
from toolkit.cex.liquidation import price_levels
from toolkit.cex.tiers import tier_for_size
from toolkit.compare.contracts import venue_era
from toolkit.devchain.anvil import repo_root
from toolkit.store import cex_store
from toolkit.store.db import Store

VENUES = repo_root() / "fixtures" / "venues"

if store_path is None:
    import ccxt.pro

    from toolkit.cex.collect.rows import funding_rows, liquidation_rows, message_text

    store_path = Path(tempfile.mkdtemp()) / "venues.duckdb"
    now = datetime.now(UTC)
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    import ccxt.async_support

    history = json.loads((VENUES / "hyperliquid-funding-history-BTC-2023-07-17.json").read_text())

    async def fetched_history() -> list:
        """ccxt's own fetch_funding_rate_history, its HTTP answer replaced by the recorded one."""
        exchange = ccxt.async_support.hyperliquid()
        exchange.number = str  # the collectors' exact-text mode
        exchange.set_markets({"BTC/USDC:USDC": {
            "id": "0", "symbol": "BTC/USDC:USDC", "base": "BTC", "quote": "USDC", "settle": "USDC", "baseId": "BTC",
            "quoteId": "USDC", "settleId": "USDC", "baseName": "BTC", "type": "swap", "spot": False, "swap": True,
            "future": False, "option": False, "contract": True, "linear": True, "inverse": False, "contractSize": 1,
            "active": True, "precision": {}, "limits": {}}})

        async def recorded_answer(params: dict, context: dict | None = None) -> list:
            return history

        exchange.publicPostInfo = recorded_answer
        try:
            return await exchange.fetch_funding_rate_history("BTC/USDC:USDC", since=history[0]["time"])
        finally:
            await exchange.close()

    with ThreadPoolExecutor(1) as pool:  # a loop of its own: the notebook's kernel already runs one
        rates = pool.submit(asyncio.run, fetched_history()).result()
    binance = ccxt.pro.binanceusdm()
    binance.number = str
    binance.set_markets({})
    orders = json.loads((VENUES / "binance-usdm-forceOrder-ws-2024-04-27.json").read_text())
    with Store(store_path).writer() as writer, cex_store.transaction(writer) as con:
        cex_store.insert(con, "cex_funding_rates", funding_rows("hyperliquid", "hyperliquid", rates, "fixtures"))
        for message in orders:
            order = message["data"]["o"]
            parsed = binance.parse_ws_liquidation(order, binance.safe_market(order["s"], None, "", "contract"))
            cex_store.insert(con, "cex_liquidations", liquidation_rows(
                "binance-usdm", "binanceusdm", [parsed], message_text(message), now, "fixtures"))
store = Store(store_path, create=False)
funding = cex_store.read(store, "cex_funding_rates", "venue = ? AND symbol = ?", [funding_venue, funding_symbol])
liquidations = cex_store.read(store, "cex_liquidations", "venue = ?", [liquidation_venue])
len(funding), len(liquidations)

# %% [markdown]
# ## 1. Funding: fetched against the engine's formula
#
# The engine's rate for a funding interval is `F = P + clamp(I - P, -c, c)`, capped where the venue caps it, with
# the profile's interest `I` and clamp `c` (Hyperliquid: per hour, `I` = 0.00125 %, `c` = 0.00625 %, one eighth of
# the 8-hour values). Hyperliquid's history carries the premium `P` of each interval, so the formula can be
# evaluated on the venue's own premium. What this shows: whether the profile's parameters are the ones in force
# for the period. What it cannot show: how the venue computed the premium itself (sampling, impact prices).

# %%
profile = load_venue(funding_venue)
era, era_in_force = venue_era(profile, funding_symbol, funding["timestamp"].min().to_pydatetime())
cap = profile.funding_cap(era)
rules = profile.rules
premiums = [Decimal(json.loads(i).get("premium", "0")) for i in funding["info_json"]]
funding["engine_rate"] = [float(funding_rate(p, rules.funding_interest_rate, rules.funding_interest_clamp, cap))
                          for p in premiums]
funding["fetched_rate"] = funding["funding_rate"].map(lambda t: float(Decimal(t)))
steps = funding["timestamp"].diff().dropna()
interval_hours = steps.median().total_seconds() / 3600 if len(steps) else float("nan")
funding["fetched_minus_premium"] = funding["fetched_rate"] - [float(p) for p in premiums]
summary = pd.DataFrame({
    "fetched interval (h, median)": [interval_hours],
    "profile interval (h)": [rules.funding_interval.total_seconds() / 3600],
    "fetched - premium (distinct values)": [sorted(funding["fetched_minus_premium"].round(10).unique())[:5]],
    "profile era": [era.name + ("" if era_in_force else " (applied before it was in force)")],
    "profile interest I": [float(rules.funding_interest_rate)], "profile clamp c": [float(rules.funding_interest_clamp)],
    "mean |fetched - engine|": [float((funding["fetched_rate"] - funding["engine_rate"]).abs().mean())],
})
summary.T

# %% [markdown]
# Read the table before the chart: when the fetched interval differs from the profile's (Hyperliquid paid every 8
# hours in 2023, the profile models today's hourly payments) the engine's rate is the wrong size for that period,
# and `fetched - premium` shows the clamp the venue applied then (a constant difference means the clamp was
# binding on every interval). The profile is dated; the data say which era it fits.

# %%
fig, (top, bottom) = plt.subplots(2, 1, figsize=(9, 5.5), sharex=True)
top.plot(funding["timestamp"], funding["fetched_rate"] * 100, label="fetched", linewidth=1)
top.plot(funding["timestamp"], funding["engine_rate"] * 100, label="engine formula on the fetched premium",
         linewidth=1)
top.set_ylabel("rate per interval (%)")
top.legend(fontsize=8)
top.set_title(f"{funding_venue} {funding_symbol} funding, UTC", fontsize=9)
bottom.plot(funding["timestamp"], funding["fetched_minus_premium"] * 100, color="0.3", linewidth=1)
bottom.set_ylabel("fetched - premium (%)")
bottom.tick_params(axis="x", rotation=30, labelsize=7)
figure_dir = Path(out_dir or tempfile.mkdtemp())
fig.tight_layout()
fig.savefig(figure_dir / "07_funding.png", dpi=110)

# %% [markdown]
# ## 2. Recorded liquidation orders against the engine's prices
#
# A Binance `forceOrder` message gives the order's side, quantity, limit price `p` and average fill `ap`. For a
# position Binance liquidates, the liquidation order is sent at the position's **bankruptcy price** (the limit),
# so `p` is the bankruptcy price and the difference to `ap` is what the fill left for the insurance fund. What the
# message does not give: the position's entry price, its leverage, its margin mode and the mark price that
# triggered it. So the engine cannot be checked on one order; what it can say is, for each leverage the bracket
# allows, which entry price goes with that bankruptcy price, and the engine's own bankruptcy (it must give `p`
# back) and liquidation (trigger) prices for that position, with the bracket of the order's notional
# (`toolkit.cex.liquidation.price_levels`). Isolated margin, no other positions (cross margin moves both prices).

# %%
binance = load_venue(liquidation_venue)
rows = []
for order in liquidations.itertuples():
    info = json.loads(order.info_json)
    side = -1 if order.side == "buy" else 1  # a buy order closes a short
    limit, fill, qty = Decimal(info["p"]), Decimal(order.price), Decimal(info["q"])
    symbol = order.venue_symbol
    try:
        instrument = binance.instrument(symbol)
    except Exception:
        rows.append({"symbol": symbol, "note": "no bracket table for this symbol in the profile"})
        continue
    era_here, in_force = venue_era(binance, symbol, order.timestamp.to_pydatetime())
    tier = tier_for_size(era_here.tiers, limit * qty) or era_here.tiers[-1]
    for leverage in sorted({Decimal(1), Decimal(5), Decimal(10), Decimal(20), tier.max_leverage}):
        if leverage > tier.max_leverage or 1 - side / leverage <= 0:
            continue  # a 1x long cannot go bankrupt: no entry price goes with a positive bankruptcy price
        entry = limit / (1 - side / leverage)  # from B = E (1 - side / L): isolated, margin = entry value / L
        contract = instrument.instrument
        value = contract.value(qty, entry)
        levels = price_levels(contract, binance.rules.margin, era_here.tiers, binance.rules.price_rounding, side, qty,
                              value, contract.money(value / leverage), Decimal(0))
        rows.append({"symbol": symbol, "side closed": "short" if side < 0 else "long", "qty": str(qty),
                     "bankruptcy p": str(limit), "fill ap": str(fill),
                     "era": era_here.name + ("" if in_force else " (later table)"), "bracket": tier.number,
                     "leverage": str(leverage), "implied entry": round(float(entry), 7),
                     "engine bankruptcy": float(levels.bankruptcy_exact), "engine liquidation": float(
                         levels.liquidation_exact) if levels.liquidation_exact else None,
                     "fund's part (p - ap) x qty": float(side * (fill - limit) * qty)})
pd.DataFrame(rows)

# %% [markdown]
# Reading it: every row is a possible position; the real one is one of them (or between them), and nothing in the
# message says which. The fill `ap` better than `p` is the insurance fund's gain on that order, which the engine
# books the same way (`fill_surplus`). The era column shows which bracket table was applied; "(later table)" marks
# an order older than the profile's first table for its symbol (the 2024-04-27 orders meet the 2024-10-24
# brackets): the brackets may have been different that day.

# %% [markdown]
# ## 3. Liquidations per hour: the venue next to DeFi
#
# Real liquidation volume per hour (the orders' quote value, USDT and USDC at par) next to the DeFi liquidations
# of the same hours in the same store (`liquidations` view, collateral seized + protocol fee, USD). A store built
# only from the venue fixtures has no DeFi rows for these hours: the table says so.

# %%
venue_hours = (liquidations.assign(hour=liquidations["timestamp"].dt.floor("h"))
               .groupby("hour").agg(venue_orders=("price", "size"), venue_volume_usd=("quote_value_usd", "sum")))
with store.reader() as con:
    defi = con.execute("SELECT block_timestamp, collateral_seized_usd, protocol_fee_usd FROM liquidations").df()
if len(defi):
    defi["hour"] = defi["block_timestamp"].dt.floor("h")
    defi_hours = defi.groupby("hour").agg(defi_liquidations=("collateral_seized_usd", "size"),
                                          defi_volume_usd=("collateral_seized_usd", "sum"))
else:
    defi_hours = pd.DataFrame(columns=["defi_liquidations", "defi_volume_usd"])
hours = venue_hours.join(defi_hours, how="outer").fillna(0)
if not len(defi):
    print("no DeFi liquidations in this store: run `liqtk pull` into it for the same hours")
hours
