"""The replay's report: CSV tables, PNG charts, an HTML page and a manifest, written to one directory.

Files (``OUT/``):

* ``replay.duckdb``: the store the replay pulled into (written by :func:`toolkit.crash.run.replay`);
* ``liquidations.csv`` (+ ``.manifest.json``): every stored liquidation row, as ``liqtk export`` writes it;
* ``positions.csv``: one row per position and place (protocol or venue contract): who was liquidated where,
  at what price, how much of the position was closed, the penalty, and the loss left behind;
* ``timeline.csv``: one row per step and place: liquidations, volume and penalties in that step, the
  insurance fund after it (venues), and the step's prices;
* ``summary.csv``: one row per place: totals, bad debt (DeFi) next to insurance-fund drawdown and ADL (venues),
  ``losses_usd`` (the one loss figure ``liqtk replay`` prints: DeFi ``bad_debt_recorded_usd +
  debt_left_uncovered_usd``, venues ``shortfall_paid_by_fund_usd + adl_haircut_usd``, what the fund paid out and
  what ADL took from counterparties), and each venue's ledger (every party's gain, summing to zero);
* ``keeper.csv``: every liquidation transaction the keeper sent (step, position, protocol, block, hash);
* ``transfers.csv``: each stored liquidation against the ERC-20 transfers of its receipt (:func:`transfer_checks`:
  the collateral the liquidator received and the debt it paid equal what the event reports);
* ``events_<venue>.csv``, ``insurance_fund_<venue>.csv``: each engine's events and fund path
  (:func:`toolkit.cex.io.write_events`, :func:`toolkit.cex.io.write_fund_path`; columns in docs/cex.md);
* ``liquidations_over_time.png``, ``penalties.png``, ``losses.png``, each also as ``.svg`` and ``.pdf`` (+ a
  ``.manifest.json`` per file, captioned with the dataset's hash and as local-chain data:
  :func:`toolkit.compare.figures.save_figure`);
* ``report.html``: the page that shows them, one file to send (the charts embedded; its tables round amounts for
  display, the CSV files hold the exact values); ``manifest.json``: what was run and what was written.

Definitions (USD; DeFi values from the stored rows, each rounded once from exact integers by the adapters;
venue values exact ``Decimal``, booked to 1e-8 USD; derived prices and ratios rounded half-even to 1e-8):

* liquidations: DeFi, the liquidation events stored; venues, the liquidation orders (partial liquidations,
  market closes, takeovers), ADL not included;

* DeFi liquidation volume: collateral taken from the borrower (``collateral_seized_usd + protocol_fee_usd``);
  penalty: what the borrower paid above the debt repaid (``liquidation_bonus_usd + protocol_fee_usd``);
  trigger price: the collateral price at which the opening position's health factor is 1,
  ``(D - U x LT_USDC) / (q x LT)``; bad debt: recorded on chain (``bad_debt_usd``: Morpho's ``badDebtAssets``)
  and debt left without collateral at the end (Aave and Venus keep it on the account, ``none_recorded``),
  valued at the last step's prices.
* Venue liquidation volume: value of the positions closed by partial liquidations, market closes, the
  fund's fills and ADL; penalty, fund shortfall and ADL as in :class:`toolkit.crash.venues.PerpOutcome`;
  trigger price: the long's exact liquidation price when opened.

``manifest.json`` holds the arguments and seed, the event and window, the chain id, the replay's first and
last blocks with their hashes, the store's content hash, row count and block range (with hashes), every
venue's contract and era, package version and git commit, every file's SHA-256 and size, and
``data_sha256``: the SHA-256 of the sorted ``"<name> <sha256>"`` lines of the CSV files, identical for two runs
with the same arguments and seed (the PNG, HTML and manifests also carry creation times or renderer details,
so they are listed but not part of it).
"""

from __future__ import annotations

import csv
import hashlib
import html
import json
import os
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

import pandas as pd
from matplotlib.figure import Figure

import toolkit
from toolkit.cex.events import Deleverage, Fill, PartialLiquidation, Takeover
from toolkit.cex.io import write_events, write_fund_path
from toolkit.compare.display import data_uri, html_table
from toolkit.compare.figures import FORMATS, save_figure, store_dataset, utc_time_axis
from toolkit.compare.equivalent import SYMBOL
from toolkit.compare.penalties import decimal
from toolkit.crash.population import STABLE, THRESHOLDS, Borrower, perp_position
from toolkit.crash.run import ReplayResult, VenueRun
from toolkit.crash.venues import LENDER_SUFFIX, trader_penalty
from toolkit.devchain.assets import TOKENS_BY_SYMBOL
from toolkit.store.db import Store
from toolkit.store.export import export_liquidations
from toolkit.store.manifest import Manifest, file_sha256, utc_now
from toolkit.store.provenance import git_commit

#: Rounding of derived prices and ratios written to the CSV files (amounts booked by the engines are exact).
QUANTUM = Decimal("1e-8")
#: Colours of the places in the charts: protocols blue-green, venues warm.
_COLOURS = {"aave-v3": "#1f77b4", "aave-v2": "#17becf", "venus": "#2ca02c", "morpho-blue": "#9467bd"}
_VENUE_COLOURS = ("#d62728", "#ff7f0e", "#8c564b", "#e377c2", "#bcbd22", "#7f7f7f")
ZERO = Decimal(0)


def _d(value: Decimal) -> str:
    """An exact decimal as plain text without trailing zeros (``148.622253``, ``0``)."""
    text = f"{value:f}"
    return (text.rstrip("0").rstrip(".") if "." in text else text) or "0"


def _q(value: Decimal | Fraction | None) -> str:
    """A derived value as text, rounded half-even to :data:`QUANTUM` (empty for none)."""
    if value is None:
        return ""
    number = Decimal(value.numerator) / Decimal(value.denominator) if isinstance(value, Fraction) else value
    return _d(number.quantize(QUANTUM, ROUND_HALF_EVEN))


def _sum(values: Iterable[Any]) -> Decimal:
    """Sum of stored DOUBLEs as Decimals of their shortest representation (nulls skipped)."""
    return sum((d for d in (decimal(v) for v in values) if d is not None), ZERO)


def _time(moment: datetime | None) -> str:
    return "" if moment is None else moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _venue_colour(result: ReplayResult, place: str) -> str:
    names = [str(run.contract) for run in result.venues]
    return _VENUE_COLOURS[names.index(place) % len(_VENUE_COLOURS)]


def _colour(result: ReplayResult, place: str) -> str:
    return _COLOURS.get(place) or _venue_colour(result, place)


# -- tables -------------------------------------------------------------------------------------------------


def trigger_price(borrower: Borrower) -> Fraction:
    """The collateral price at which the opening position's health factor is 1 (module docstring)."""
    (_, lt), (_, stable_lt) = THRESHOLDS[borrower.protocol][borrower.collateral_symbol], THRESHOLDS[
        borrower.protocol].get(STABLE, (Fraction(0), Fraction(0)))
    qty = Fraction(borrower.collateral_raw, 10 ** TOKENS_BY_SYMBOL[borrower.collateral_symbol].decimals)
    scale = 10 ** TOKENS_BY_SYMBOL[STABLE].decimals
    return (Fraction(borrower.debt_raw, scale) - Fraction(borrower.stable_raw, scale) * stable_lt) / (qty * lt)


def _opening(result: ReplayResult, b: Borrower, place: str, kind: str) -> dict[str, Any]:
    """The columns of a position that do not depend on the place: identity and the position as opened."""
    perp = perp_position(b, result.path.marks[next(iter(result.path.marks))][0])
    return {"position": b.position_id, "borrower": b.address.lower(), "protocol": b.protocol, "place": place,
            "kind": kind, "collateral_symbol": b.collateral_symbol, "collateral_tokens": _d(perp.qty),
            "stable_collateral_usd": _d(perp.collateral_usd - perp.notional), "debt_usd": _d(perp.debt_usd),
            "health_factor_open": _q(b.health_factor), "leverage": _q(perp.leverage),
            "notional_usd": _d(perp.notional), "margin_usd": _d(perp.margin)}


def _defi_rows(result: ReplayResult, stored: pd.DataFrame) -> list[dict[str, Any]]:
    rows = []
    by_borrower = {address: group for address, group in stored.groupby(stored["borrower"].str.lower())}
    for b in result.borrowers:
        mine = by_borrower.get(b.address.lower(), stored.iloc[0:0])
        mine = mine[mine["protocol"] == b.protocol]
        first = mine.iloc[0] if len(mine) else None
        repaid = _sum(mine["debt_repaid_usd"])
        rows.append({
            **_opening(result, b, b.protocol, "defi"), "trigger_price": _q(trigger_price(b)),
            "liquidated": bool(len(mine)), "liquidations": len(mine),
            "first_time": "" if first is None else _time(result.step_of_block(int(first["block_number"])).time),
            "first_price": "" if first is None else _d(decimal(first["collateral_price_usd"]) or ZERO),
            "actions": ", ".join(f"{name} x{count}" for name, count in mine["event"].value_counts(sort=False).items()),
            "closed_share": _q(repaid / Decimal(b.debt_raw).scaleb(-6)),
            "penalty_usd": _d(_sum(mine["liquidation_bonus_usd"]) + _sum(mine["protocol_fee_usd"])),
            "bad_debt_recorded_usd": _d(_sum(mine["bad_debt_usd"])),
            "debt_left_uncovered_usd": _q(result.final_states[b.index].shortfall_usd),
        })
    return rows


def _perp_rows(result: ReplayResult, run: VenueRun) -> list[dict[str, Any]]:
    rows = []
    equivalent = run.population.equivalent
    note = "" if equivalent.era_in_force else (f"era {equivalent.era.name} applied before it was in force "
                                               "(counterfactual)")
    for b in result.borrowers:
        base = _opening(result, b, str(run.contract), "perp")
        if b.position_id in run.population.excluded:
            rows.append({**base, "liquidated": False, "liquidations": 0,
                         "note": run.population.excluded[b.position_id]})
            continue
        quote, outcome = run.quotes[b.position_id], run.outcomes[b.position_id]
        rows.append({
            **base, "trigger_price": _q(quote.liquidation_price), "maintenance_rate": _q(quote.maintenance_rate),
            "liquidated": outcome.first_time is not None, "liquidations": outcome.count,
            "first_time": _time(outcome.first_time), "first_price": _q(outcome.first_mark),
            "actions": ", ".join(outcome.actions),
            "closed_share": _q(outcome.closed_qty / Decimal(base["collateral_tokens"])),
            "penalty_usd": _d(outcome.penalty), "fund_paid_usd": _d(outcome.fund_paid),
            "adl_value_usd": _d(outcome.adl_value),
            "adl_haircut_usd": _d(run.outcomes[b.position_id + LENDER_SUFFIX].haircut), "note": note,
        })
    return rows


POSITION_COLUMNS = ("position", "borrower", "protocol", "place", "kind", "collateral_symbol", "collateral_tokens",
                    "stable_collateral_usd", "debt_usd", "health_factor_open", "leverage", "notional_usd",
                    "margin_usd", "trigger_price", "maintenance_rate", "liquidated", "liquidations", "first_time",
                    "first_price", "actions", "closed_share", "penalty_usd", "bad_debt_recorded_usd",
                    "debt_left_uncovered_usd", "fund_paid_usd", "adl_value_usd", "adl_haircut_usd", "note")


def position_table(result: ReplayResult, stored: pd.DataFrame) -> pd.DataFrame:
    """``positions.csv``: one row per position and place (module docstring); the lenders' ADL haircut is on
    the row of the position they funded."""
    rows = _defi_rows(result, stored)
    for run in result.venues:
        rows.extend(_perp_rows(result, run))
    return pd.DataFrame([{c: row.get(c, "") for c in POSITION_COLUMNS} for row in rows], columns=list(POSITION_COLUMNS))


def _venue_ticks(run: VenueRun) -> dict[datetime, dict[str, Decimal]]:
    """Per tick: liquidation orders (partial, market close, takeover), volume closed (partial and market fills,
    the fund's fills, ADL) and the traders' penalties (:func:`toolkit.crash.venues.trader_penalty`)."""
    instrument = run.population.profile.instrument(SYMBOL).instrument
    ticks: dict[datetime, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    for event in run.result.events:
        if isinstance(event, PartialLiquidation | Takeover) or (isinstance(event, Fill) and event.owner == "trader"):
            ticks[event.time]["liquidations"] += 1
            ticks[event.time]["penalty_usd"] += trader_penalty(event, instrument)
        if isinstance(event, PartialLiquidation | Fill | Deleverage):
            ticks[event.time]["volume_usd"] += event.value
    return ticks


def timeline_table(result: ReplayResult, stored: pd.DataFrame) -> pd.DataFrame:
    """``timeline.csv``: one row per step and place (module docstring)."""
    steps = stored["block_number"].map(lambda n: result.step_of_block(int(n)).index) if len(stored) else []
    stored = stored.assign(step=steps)
    places = list(dict.fromkeys(b.protocol for b in result.borrowers))
    rows = []
    ticks = {str(run.contract): _venue_ticks(run) for run in result.venues}
    funds = {str(run.contract): dict(run.result.fund_path) for run in result.venues}
    for step in result.steps:
        prices = {f"price_{asset}": _d(price) for asset, price in step.prices.items()}
        here = stored[stored["step"] == step.index]
        for protocol in places:
            mine = here[here["protocol"] == protocol]
            rows.append({"step": step.index, "time": _time(step.time), "place": protocol, "kind": "defi",
                         "liquidations": len(mine),
                         "volume_usd": _d(_sum(mine["collateral_seized_usd"]) + _sum(mine["protocol_fee_usd"])),
                         "penalty_usd": _d(_sum(mine["liquidation_bonus_usd"]) + _sum(mine["protocol_fee_usd"])),
                         "insurance_fund_usd": "", **prices})
        for place, tick in ticks.items():
            values = tick.get(step.time, {})
            rows.append({"step": step.index, "time": _time(step.time), "place": place, "kind": "perp",
                         "liquidations": int(values.get("liquidations", 0)),
                         "volume_usd": _d(values.get("volume_usd", ZERO)),
                         "penalty_usd": _d(values.get("penalty_usd", ZERO)),
                         "insurance_fund_usd": _d(funds[place][step.time]), **prices})
    return pd.DataFrame(rows)


def summary_table(result: ReplayResult, stored: pd.DataFrame, positions: pd.DataFrame) -> pd.DataFrame:
    """``summary.csv``: one row per place (module docstring)."""
    rows = []
    for protocol in dict.fromkeys(b.protocol for b in result.borrowers):
        mine = stored[stored["protocol"] == protocol]
        own = positions[positions["place"] == protocol]
        rows.append({
            "place": protocol, "kind": "defi", "contract_note": "", "positions": len(own),
            "liquidated_positions": int(own["liquidated"].sum()), "liquidations": len(mine),
            "volume_usd": _d(_sum(mine["collateral_seized_usd"]) + _sum(mine["protocol_fee_usd"])),
            "penalty_usd": _d(_sum(mine["liquidation_bonus_usd"]) + _sum(mine["protocol_fee_usd"])),
            "bad_debt_recorded_usd": _d(recorded := _sum(mine["bad_debt_usd"])),
            "debt_left_uncovered_usd": _d(left := sum((Decimal(v) for v in own["debt_left_uncovered_usd"]), ZERO)),
            "losses_usd": _d(recorded + left),
            "bad_debt_mechanism": ", ".join(sorted(set(mine["bad_debt_mechanism"].dropna()))),
        })
    for run in result.venues:
        place, summary = str(run.contract), run.result.summary()
        own = positions[positions["place"] == place]
        equivalent = run.population.equivalent
        haircut = sum((o.haircut for o in run.outcomes.values()), ZERO)
        rows.append({
            "place": place, "kind": "perp",
            "contract_note": f"era {equivalent.era.name}" + ("" if equivalent.era_in_force else " (counterfactual)"),
            "positions": len(own) - len(run.population.excluded),
            "liquidated_positions": int(own["liquidated"].sum()),
            "liquidations": summary["liquidations"] + summary["partial_liquidations"],
            "partial_liquidations": summary["partial_liquidations"], "volume_usd": _d(summary["liquidation_volume"]),
            "penalty_usd": _d(sum((o.penalty for o in run.outcomes.values()), ZERO)),
            "insurance_fund_start_usd": _d(summary["insurance_fund_start"]),
            "insurance_fund_min_usd": _d(summary["insurance_fund_min"]),
            "insurance_fund_end_usd": _d(summary["insurance_fund_end"]),
            "insurance_fund_drawdown_usd": _d(summary["insurance_fund_start"] - summary["insurance_fund_min"]),
            "shortfalls": summary["shortfalls"], "shortfall_paid_by_fund_usd": _d(summary["shortfall_paid_by_fund"]),
            "insurance_fund_uncovered_usd": _d(summary["insurance_fund_uncovered"]),
            "adl_orders": summary["adl_orders"], "adl_volume_usd": _d(summary["adl_volume"]),
            "adl_haircut_usd": _d(haircut), "losses_usd": _d(summary["shortfall_paid_by_fund"] + haircut),
            "funding_payments": summary["funding_payments"],
            **{f"ledger_{party}_usd": _d(amount) for party, amount in run.ledger.items()},
        })
    columns = list(dict.fromkeys(key for row in rows for key in row))
    return pd.DataFrame([{c: row.get(c, "") for c in columns} for row in rows], columns=columns, dtype=object)


# -- figures ------------------------------------------------------------------------------------------------


def _floats(values: Iterable[str]) -> list[float]:
    return [float(v) if v != "" else 0.0 for v in values]


def figure_timeline(result: ReplayResult, timeline: pd.DataFrame) -> Figure:
    """Price path, liquidations per step and liquidated volume per step, one line per place."""
    fig = Figure(figsize=(11, 8.5))
    price_ax, count_ax, volume_ax = fig.subplots(3, 1, sharex=True)
    times = [s.time for s in result.steps]
    price_ax.plot(times, [float(s.prices[result.asset]) for s in result.steps], color="black")
    price_ax.set_ylabel(f"{result.asset} close (USD)")
    for place, group in timeline.groupby("place", sort=False):
        colour = _colour(result, str(place))
        style = "-" if (group["kind"] == "defi").all() else "--"
        count_ax.step(times, group["liquidations"].astype(int).tolist(), where="mid", linestyle=style,
                      color=colour, label=str(place))
        volume_ax.step(times, _floats(group["volume_usd"]), where="mid", linestyle=style, color=colour,
                       label=str(place))
    count_ax.set_ylabel("liquidations per step")
    volume_ax.set_ylabel("liquidated volume (USD)")
    count_ax.legend(loc="upper left", fontsize=8, ncol=2)
    utc_time_axis(volume_ax)
    fig.suptitle(f"{result.event.title}: {len(result.borrowers)} positions, lending protocols (solid) and venues "
                 f"(dashed) on the same {result.asset} path")
    return fig


def figure_penalties(result: ReplayResult, summary: pd.DataFrame, positions: pd.DataFrame) -> Figure:
    """Penalties paid by borrowers (DeFi) and traders (venues): total USD and % of the liquidated positions'
    opening collateral."""
    fig = Figure(figsize=(11, 5.5))
    total_ax, share_ax = fig.subplots(1, 2)
    places = summary["place"].tolist()
    totals = _floats(summary["penalty_usd"])
    shares = []
    for place in places:
        own = positions[(positions["place"] == place) & positions["liquidated"].astype(bool)]
        exposure = sum((Decimal(n) + Decimal(s) for n, s in zip(own["notional_usd"], own["stable_collateral_usd"])),
                       ZERO)
        penalty = sum((Decimal(p) for p in own["penalty_usd"] if p != ""), ZERO)
        shares.append(float(100 * penalty / exposure) if exposure else 0.0)
    colours = [_colour(result, p) for p in places]
    total_ax.bar(places, totals, color=colours)
    total_ax.set_ylabel("penalty paid (USD)")
    share_ax.bar(places, shares, color=colours)
    share_ax.set_ylabel("% of the liquidated positions' collateral")
    for ax in (total_ax, share_ax):
        ax.tick_params(axis="x", rotation=30, labelsize=8)
    fig.suptitle("Penalties: borrowers (liquidation bonus + protocol fee) vs traders (fees + equity taken over)")
    fig.subplots_adjust(bottom=0.3, wspace=0.3)
    return fig


def figure_losses(result: ReplayResult, summary: pd.DataFrame) -> Figure:
    """Bad debt (DeFi) next to insurance-fund drawdown and ADL (venues), and each venue's fund over time."""
    fig = Figure(figsize=(11, 5.5))
    bars_ax, fund_ax = fig.subplots(1, 2)
    places = summary["place"].tolist()
    series = {"bad debt recorded (socialized to suppliers)": "bad_debt_recorded_usd",
              "debt left without collateral": "debt_left_uncovered_usd",
              "shortfall paid by the insurance fund": "shortfall_paid_by_fund_usd",
              "ADL haircut of counterparties": "adl_haircut_usd"}
    width = 0.2
    for k, (label, column) in enumerate(series.items()):
        bars_ax.bar([i + (k - 1.5) * width for i in range(len(places))], _floats(summary[column]), width, label=label)
    bars_ax.set_xticks(range(len(places)), places, rotation=30, fontsize=8)
    bars_ax.set_ylabel("USD")
    bars_ax.legend(fontsize=7, loc="upper left")
    for run in result.venues:
        times, balances = zip(*run.result.fund_path, strict=True)
        fund_ax.plot(times, [float(b) for b in balances], color=_venue_colour(result, str(run.contract)),
                     label=str(run.contract))
    fund_ax.set_ylabel("insurance fund (USD)")
    fund_ax.legend(fontsize=8)
    utc_time_axis(fund_ax)
    fund_ax.tick_params(axis="x", labelsize=8)
    fig.suptitle("Losses left by the crash: bad debt on chain vs insurance fund and ADL on the venues")
    fig.subplots_adjust(bottom=0.3, wspace=0.3)
    return fig


# -- writing ------------------------------------------------------------------------------------------------


def _write_csv(frame: pd.DataFrame, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    frame.to_csv(tmp, index=False, quoting=csv.QUOTE_MINIMAL, lineterminator="\n")
    os.replace(tmp, path)


TRANSFER_COLUMNS = ("tx_hash", "log_index", "protocol", "position", "collateral_token", "collateral_token_seized_raw",
                    "received_raw", "debt_asset", "debt_repaid_raw", "paid_raw", "matches")


def transfer_checks(result: ReplayResult, stored: pd.DataFrame) -> pd.DataFrame:
    """``transfers.csv``: each stored liquidation next to the ERC-20 transfers of its transaction's receipt:
    the collateral token the liquidator received (``collateral_token`` to ``liquidator``) against the seizure the
    event reports (``collateral_token_seized_raw``), and the debt token the liquidator paid against
    ``debt_repaid_raw``. ``matches`` is true when both are equal to the base unit."""
    by_tx = {a.tx_hash.lower(): a for a in result.actions}
    positions = {b.index: b.position_id for b in result.borrowers}
    rows = []
    for row in stored.itertuples():
        action = by_tx.get(str(row.tx_hash).lower())
        transfers = action.transfers if action is not None else ()
        liquidator, token = str(row.liquidator).lower(), str(row.collateral_token).lower()
        debt = str(row.debt_asset).lower()
        received = sum(x.amount for x in transfers if x.token == token and x.recipient == liquidator)
        paid = sum(x.amount for x in transfers if x.token == debt and x.sender == liquidator)
        rows.append({"tx_hash": row.tx_hash, "log_index": row.log_index, "protocol": row.protocol,
                     "position": positions[action.index] if action is not None else "",
                     "collateral_token": token, "collateral_token_seized_raw": row.collateral_token_seized_raw,
                     "received_raw": str(received), "debt_asset": debt, "debt_repaid_raw": row.debt_repaid_raw,
                     "paid_raw": str(paid), "matches": action is not None and str(received) ==
                     str(row.collateral_token_seized_raw) and str(paid) == str(row.debt_repaid_raw)})
    return pd.DataFrame(rows, columns=list(TRANSFER_COLUMNS))


def _keeper_table(result: ReplayResult) -> pd.DataFrame:
    by_index = {b.index: b for b in result.borrowers}
    rows = [{"step": a.step, "time": _time(result.steps[a.step].time), "position": by_index[a.index].position_id,
             "protocol": a.protocol, "collateral_symbol": a.collateral_symbol, "block_number": a.block_number,
             "tx_hash": a.tx_hash, "status": "mined", "reason": ""} for a in result.actions]
    rows += [{"step": f.step, "time": _time(result.steps[f.step].time), "position": by_index[f.index].position_id,
              "protocol": f.protocol, "collateral_symbol": "", "block_number": "", "tx_hash": "",
              "status": "reverted", "reason": f.reason} for f in result.failures]
    return pd.DataFrame(rows, columns=["step", "time", "position", "protocol", "collateral_symbol", "block_number",
                                       "tx_hash", "status", "reason"])


def _prices_table(result: ReplayResult) -> pd.DataFrame:
    return pd.DataFrame([{"step": s.index, "time": _time(s.time), "first_block": s.first_block,
                          "last_block": s.last_block, **{f"price_{a}": _d(p) for a, p in s.prices.items()}}
                         for s in result.steps])


def _venue_slug(run: VenueRun) -> str:
    return str(run.contract).replace(":", "_").replace("/", "_")


def _file_entries(out: Path, names: Sequence[str]) -> list[dict[str, Any]]:
    return [{"name": name, "sha256": file_sha256(out / name), "bytes": (out / name).stat().st_size}
            for name in sorted(names)]


def data_sha256(entries: Sequence[Mapping[str, Any]]) -> str:
    """SHA-256 of the sorted ``"<name> <sha256>"`` lines of the CSV entries (module docstring)."""
    lines = sorted(f"{e['name']} {e['sha256']}\n" for e in entries if str(e["name"]).endswith(".csv"))
    return hashlib.sha256("".join(lines).encode()).hexdigest()


def write_report(result: ReplayResult, out: Path) -> dict[str, Any]:
    """Write every file of the module docstring to ``out``; returns the manifest (also ``manifest.json``)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    store = Store(result.store_path, create=False)
    stored, dataset = store_dataset(store, name="crash-replay liquidations")
    export_liquidations(store, out / "liquidations.csv", "csv", name="crash-replay liquidations")
    positions = position_table(result, stored)
    timeline = timeline_table(result, stored)
    summary = summary_table(result, stored, positions)
    transfers = transfer_checks(result, stored)
    tables = {"positions.csv": positions, "timeline.csv": timeline, "summary.csv": summary,
              "keeper.csv": _keeper_table(result), "transfers.csv": transfers, "prices.csv": _prices_table(result)}
    for name, frame in tables.items():
        _write_csv(frame, out / name)
    written = ["liquidations.csv", *tables]
    for run in result.venues:
        slug = _venue_slug(run)
        write_events(run.result.events, out / f"events_{slug}.csv")
        write_fund_path(run.result.fund_path, out / f"insurance_fund_{slug}.csv")
        written += [f"events_{slug}.csv", f"insurance_fund_{slug}.csv"]
    source = (f"liqtk replay of {result.event.id} ({result.asset}), seed {result.config.seed}: real Aave v3/v2, Venus "
              f"and Morpho Blue on a local chain, venue engines of toolkit.cex")
    figures = {"liquidations_over_time.png": figure_timeline(result, timeline),
               "penalties.png": figure_penalties(result, summary, positions),
               "losses.png": figure_losses(result, summary)}
    for name, fig in figures.items():
        save_figure(fig, out / name, dataset, source=source)
    entries = _file_entries(out, written)
    manifest = _manifest(result, dataset, entries)
    manifest["keeper"]["stored_rows"] = len(stored)
    manifest["keeper"]["transfer_mismatches"] = int((~transfers["matches"].astype(bool)).sum())
    (out / "report.html").write_text(_html(result, manifest, summary, positions, out), encoding="utf-8")
    drawn = [str(Path(name).with_suffix(f".{fmt}")) for name in figures for fmt in FORMATS]
    files = _file_entries(out, [*written, *drawn, *(f"{n}.manifest.json" for n in drawn),
                                "liquidations.csv.manifest.json", "report.html"])
    manifest["files"] = files
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return manifest


def _tiers_note(run: VenueRun) -> str:
    """Where a venue's tiers come from (:mod:`toolkit.crash.venues`)."""
    return (f"{run.contract}: rules of {run.contract.venue}, tiers of {run.contract.symbol} era "
            f"{run.population.equivalent.era.name} on a COLLATERAL/USD contract")


def _manifest(result: ReplayResult, dataset: Manifest, entries: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    start, end = result.steps[0].time, result.steps[-1].time
    return {
        "name": "crash-replay", "created_at": utc_now(), "command": "liqtk replay",
        "arguments": result.config.to_json(), "seed": result.config.seed,
        "event": {"id": result.event.id, "title": result.event.title, "source": result.event.source,
                  "notes": result.event.notes,
                  "files": {asset: f"fixtures/prices/{name}" for asset, name in result.event.files.items()}},
        "asset": result.asset, "window": {"start": _time(start), "end": _time(end), "steps": len(result.steps)},
        "chain": {"chain_id": result.chain_id, **result.blocks},
        "store": {"file": result.store_path.name, "content_sha256": dataset.content_sha256,
                  "row_count": dataset.row_count, "block_ranges": dataset.block_ranges,
                  "schema_version": dataset.schema_version},
        "keeper": {"liquidations": len(result.actions), "reverted": len(result.failures)},
        "insurance_fund_start_usd": _d(result.insurance_fund),
        "venues": [{"contract": str(run.contract), "era": run.population.equivalent.era.name,
                    "era_in_force": run.population.equivalent.era_in_force,
                    "tiers_from": _tiers_note(run),
                    "excluded_positions": len(run.population.excluded),
                    "ledger_residual_usd": _d(run.ledger["residual"])} for run in result.venues],
        "package_version": toolkit.__version__, "git_commit": git_commit(),
        "data_sha256": data_sha256(entries), "files": list(entries),
    }


def _table_html(frame: pd.DataFrame) -> str:
    return html_table(frame)


def _figure_html(out: Path, name: str, alt: str) -> str:
    """A chart embedded in the page (a ``data:`` URI of the PNG), with the names of its files beside the page."""
    stem = Path(name).stem
    return (f'<figure><img src="{data_uri(out / name)}" alt="{html.escape(alt)}"><figcaption>{html.escape(name)}; '
            f"also {stem}.svg and {stem}.pdf for print</figcaption></figure>")


def _html(result: ReplayResult, manifest: Mapping[str, Any], summary: pd.DataFrame, positions: pd.DataFrame,
          out: Path) -> str:
    """The report page: facts, the three charts (embedded), the summary and the per-position table."""
    first_price = positions.pivot_table(index="position", columns="place", values="first_price", aggfunc="first",
                                        sort=False).reindex(columns=list(dict.fromkeys(positions["place"])))
    trigger = positions.pivot_table(index="position", columns="place", values="trigger_price", aggfunc="first",
                                    sort=False).reindex(columns=list(dict.fromkeys(positions["place"])))
    who = first_price.where(first_price != "", "—").fillna("—")
    notes = [_tiers_note(run) + ("" if run.population.equivalent.era_in_force else
             f" (a counterfactual for {result.event.id}: the era starts later)") for run in result.venues]
    chain, store = manifest["chain"], manifest["store"]
    facts = [
        ("event", f"{result.event.title} ({result.event.id}); {result.event.notes}"),
        ("path", f"{result.asset} hourly closes {manifest['window']['start']} .. {manifest['window']['end']} "
                 f"({len(result.steps)} steps), {result.event.source}"),
        ("population", f"{len(result.borrowers)} positions, seed {result.config.seed}; arguments "
                       f"{json.dumps(result.config.to_json())}"),
        ("chain", f"chain id {chain['chain_id']}, blocks {chain['first_block']} ({chain['first_block_hash']}) .. "
                  f"{chain['last_block']} ({chain['last_block_hash']})"),
        ("store", f"{store['row_count']} liquidations, content sha256 {store['content_sha256']}"),
        ("keeper", f"{len(result.actions)} liquidation transactions, {len(result.failures)} reverted; stored rows "
                   f"whose receipt transfers differ from the event: {manifest['keeper']['transfer_mismatches']}"),
        ("venues", "; ".join(notes)),
        ("insurance fund", f"{result.insurance_fund} USD at the start of every venue"),
        ("data sha256", manifest["data_sha256"]),
        ("software", f"liquidation-toolkit {manifest['package_version']}, commit {manifest['git_commit'] or 'n/a'}"),
    ]
    rows = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>" for k, v in facts)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Crash replay {html.escape(result.event.id)}</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:1200px}} table{{border-collapse:collapse;font-size:12px}}
td,th{{padding:2px 6px;border-bottom:1px solid #ddd;text-align:left}} img{{max-width:100%}} figure{{margin:0}} figcaption{{font-size:11px;color:#555}} table.data td{{text-align:right;font-variant-numeric:tabular-nums}}</style></head><body>
<h1>Crash replay: {html.escape(result.event.title)}, {html.escape(result.asset)}</h1>
<p>The same borrowers, as real positions on Aave v3, Aave v2, Venus (the Compound v2 design) and Morpho Blue on a
local chain, and as the equivalent perpetual longs on each venue, driven by the same real prices. A keeper
liquidated every liquidatable position at each step; the events were pulled with the mainnet adapters.</p>
<table>{rows}</table>
<h2>Liquidations and volume over time</h2>{_figure_html(out, "liquidations_over_time.png", "liquidations over time")}
<h2>Penalties paid by borrowers and traders</h2>{_figure_html(out, "penalties.png", "penalties")}
<h2>Bad debt vs insurance fund and ADL</h2>{_figure_html(out, "losses.png", "losses")}
<h2>Summary per place</h2>{_table_html(summary)}
<h2>First liquidation price per position and place (— : not liquidated)</h2>{_table_html(who.reset_index())}
<h2>Trigger price per position and place (health factor 1 / engine liquidation price)</h2>
{_table_html(trigger.reset_index())}
<p>Every number is in the CSV files next to this page (<code>positions.csv</code>, <code>timeline.csv</code>,
<code>summary.csv</code>, <code>liquidations.csv</code>, engine events); <code>manifest.json</code> lists them with
their SHA-256.</p>
</body></html>
"""
