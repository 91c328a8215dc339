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
  :func:`toolkit.compare.figures.save_figure`), drawn without empty panels (:mod:`toolkit.crash.report_figures`),
  and ``figures.json``: the data of every panel;
* ``levels.png``, ``levels.csv``, ``venue_levels.csv``, ``level_accounts.csv``: the liquidation levels of the book
  the replay opened (its positions snapshots in the store), lending next to the venues;
* ``report.html``: the page that shows them, one file to send (the charts embedded; its tables round amounts for
  display, the CSV files hold the exact values), with what the model produced and did not
  (:func:`toolkit.crash.report_page.findings`); ``manifest.json``: what was run and what was written.

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
from toolkit.cex.events import Deleverage, Fill, PartialLiquidation, Takeover
from toolkit.cex.io import write_events, write_fund_path
from toolkit.compare.contracts import VenueContract
from toolkit.compare.figures import FORMATS, save_figure, store_dataset
from toolkit.compare.equivalent import SYMBOL
from toolkit.compare.penalties import decimal
from toolkit.crash.population import STABLE, THRESHOLDS, Borrower, perp_position
from toolkit.crash import report_page
from toolkit.crash.report_figures import Panel, figure_losses, figure_penalties, figure_timeline, level_panels
from toolkit.crash.run import ReplayResult, VenueRun
from toolkit.crash.venues import LENDER_SUFFIX, trader_penalty
from toolkit.devchain.assets import TOKENS_BY_SYMBOL
from toolkit.store.db import Store
from toolkit.store.export import export_liquidations
from toolkit.store.manifest import file_sha256

#: Rounding of derived prices and ratios written to the CSV files (amounts booked by the engines are exact).
QUANTUM = Decimal("1e-8")
ZERO = Decimal(0)


_d = report_page.plain


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


# -- tables -------------------------------------------------------------------------------------------------


def trigger_price(borrower: Borrower) -> Fraction:
    """The collateral price at which the opening position's health factor is 1 (module docstring)."""
    if borrower.thresholds is not None:
        lt, stable_lt = borrower.thresholds
    else:
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


def base_value(spec: Any) -> Decimal:
    """Entry value of a linear position spec (contracts x entry price; the synthetic contract is one token)."""
    return Decimal(spec.size) * Decimal(spec.entry_price)


def _perp_rows(result: ReplayResult, run: VenueRun) -> list[dict[str, Any]]:
    rows = []
    equivalent = run.population.equivalent
    note = "" if equivalent.era_in_force else (f"era {equivalent.era.name} applied before it was in force "
                                               "(counterfactual)")
    specs = {a.account_id: a.positions[0] for a in run.population.accounts}
    for b in result.borrowers:
        base = _opening(result, b, run.place, "perp")
        spec = specs.get(b.position_id)
        if spec is not None and spec.isolated_margin is None:  # the leverage mix: margin = entry value / leverage
            base.update(leverage=_q(spec.leverage), notional_usd=_q(base_value(spec)),
                        margin_usd=_q(base_value(spec) / spec.leverage), note=f"opened at {spec.entry_price:f} at "
                        f"{_time(run.path.times[0])}")
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
            "adl_haircut_usd": _d(run.outcomes[b.position_id + LENDER_SUFFIX].haircut),
            "note": "; ".join(n for n in (note, base.get("note", "")) if n),
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
    ticks = {run.place: _venue_ticks(run) for run in result.venues}
    funds = {run.place: dict(run.result.fund_path) for run in result.venues}
    starts = {run.place: run.result.initial_fund for run in result.venues}  # before a population's entry
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
                         "insurance_fund_usd": _d(funds[place].get(step.time, starts[place])), **prices})
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
        place, summary = run.place, run.result.summary()
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
    return run.place.replace(":", "_").replace("/", "_").replace(" ", "_")


def _file_entries(out: Path, names: Sequence[str]) -> list[dict[str, Any]]:
    return [{"name": name, "sha256": file_sha256(out / name), "bytes": (out / name).stat().st_size}
            for name in sorted(names)]


def data_sha256(entries: Sequence[Mapping[str, Any]]) -> str:
    """SHA-256 of the sorted ``"<name> <sha256>"`` lines of the CSV entries (module docstring)."""
    lines = sorted(f"{e['name']} {e['sha256']}\n" for e in entries if str(e["name"]).endswith(".csv"))
    return hashlib.sha256("".join(lines).encode()).hexdigest()


def _level_contract(contract: VenueContract) -> str:
    """The contract the levels use for a replayed one: itself, or for a quanto (its tiers are valued in another
    currency, which the levels do not price) the venue's default linear contract of the asset
    (:func:`toolkit.compare.contracts.asset_contract`)."""
    from toolkit.cex import load_venue
    from toolkit.cex.instruments import Kind

    kind = load_venue(contract.venue).instrument(contract.symbol).instrument.kind
    return contract.venue if kind is Kind.QUANTO else str(contract)


def _levels(result: ReplayResult, out: Path, source: str) -> tuple[list[str], list[Panel]]:
    """``levels.csv``, ``venue_levels.csv``, ``level_accounts.csv`` and ``levels.png`` of the book the replay opened
    (its positions snapshots), with the path's largest fall marked; their file names and panels."""
    import warnings

    from toolkit.compare.level_report import SnapshotTooOld, levels

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SnapshotTooOld)  # the book is opened at the path's first time
        report = levels(result.store_path, venues=[_level_contract(c) for c in dict.fromkeys(r.contract for r in result.venues)],
                        block=int(result.snapshots[0].rsplit(":", 1)[1]), path=result.path,
                        path_label=f"{result.event.id} {result.asset} path")
    paths = report.save(out, source=source + "; levels of the opened book")
    return [p.name for p in paths.values()], level_panels(report)


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
    where = (f"a fork of {result.fork['url_host']} at block {result.fork['block']}" if result.fork else
             "a local chain")
    source = (f"liqtk replay of {result.event.id} ({result.asset}), seed {result.config.seed}: real lending protocols "
              f"on {where}, venue engines of toolkit.cex")
    drawn = {"liquidations_over_time.png": figure_timeline(result, timeline),
             "penalties.png": figure_penalties(result, summary, positions),
             "losses.png": figure_losses(result, summary)}
    panels: list[Panel] = []
    for name, (fig, figure_panels) in drawn.items():
        save_figure(fig, out / name, dataset, source=source)
        panels += figure_panels
    level_files, level_data = _levels(result, out, source) if result.snapshots else ([], [])
    panels += level_data
    (out / "figures.json").write_text(json.dumps([p.as_json() for p in panels], indent=1) + "\n", encoding="utf-8")
    written += [name for name in level_files if name.endswith(".csv")]
    figures = [*drawn, *(name for name in level_files if name.endswith(".png"))]
    entries = _file_entries(out, written)
    manifest = report_page.manifest(result, dataset, entries, data_sha256(entries), summary)
    manifest["keeper"]["stored_rows"] = len(stored)
    manifest["keeper"]["transfer_mismatches"] = int((~transfers["matches"].astype(bool)).sum())
    titles = {"liquidations_over_time.png": "Liquidations and volume over time",
              "penalties.png": "Penalties paid by borrowers and traders",
              "losses.png": "Bad debt vs insurance fund and ADL",
              "levels.png": "Liquidation levels of the opened book: lending vs venues"}
    (out / "report.html").write_text(report_page.page(result, manifest, summary, positions,
                                                      [(name, titles[name]) for name in figures], out),
                                     encoding="utf-8")
    drawn_files = [str(Path(name).with_suffix(f".{fmt}")) for name in figures for fmt in FORMATS]
    files = _file_entries(out, [*written, *drawn_files, *(f"{n}.manifest.json" for n in drawn_files),
                                "liquidations.csv.manifest.json", "report.html", "figures.json"])
    manifest["files"] = files
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return manifest
