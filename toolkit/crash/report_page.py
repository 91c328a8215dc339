"""The replay report's manifest, its plain statements of what the model produced, and its HTML page.

Findings (:func:`findings`): one sentence per mechanism the 2025-10-10 crash was known for, each saying where the
replay produced it and, as plainly, where it did not: liquidations on the lending protocols and on each venue
place (``no liquidations on X``), insurance-fund drawdown, ADL, and bad debt. They are in ``manifest.json``
(``findings``) and at the top of ``report.html``.
"""

from __future__ import annotations

import html
import json
from collections.abc import Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import pandas as pd

from toolkit._version import __version__
from toolkit.compare.display import data_uri, html_table
from toolkit.crash.run import ReplayResult, VenueRun
from toolkit.store.manifest import Manifest, utc_now
from toolkit.store.provenance import git_commit


def _time(moment: Any) -> str:
    return "" if moment is None else moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _usd(value: Any) -> Decimal:
    return Decimal(str(value)) if value not in ("", None) else Decimal(0)


def plain(value: Decimal) -> str:
    """An exact decimal as plain text without trailing zeros (``148.622253``, ``0``)."""
    text = f"{value:f}"
    return (text.rstrip("0").rstrip(".") if "." in text else text) or "0"


def _list(items: Sequence[str]) -> str:
    return ", ".join(items)


def tiers_note(run: VenueRun) -> str:
    """Where a venue's tiers come from (:mod:`toolkit.crash.venues`)."""
    return (f"{run.place}: rules of {run.contract.venue}, tiers of {run.contract.symbol} era "
            f"{run.population.equivalent.era.name} on a COLLATERAL/USD contract")


def findings(summary: pd.DataFrame) -> list[str]:
    """The module docstring's statements, from ``summary.csv``."""
    out = []
    for kind, who in (("defi", "Lending protocols (real contract code)"), ("perp", "Venue engines")):
        rows = summary[summary["kind"] == kind]
        if rows.empty:
            continue
        hit = [f"{r.place} ({r.liquidations} liquidations of {r.liquidated_positions} positions)"
               for r in rows.itertuples() if int(r.liquidations)]
        quiet = [str(r.place) for r in rows.itertuples() if not int(r.liquidations)]
        text = f"{who}: " + (_list(hit) if hit else "no liquidation")
        out.append(text + (f"; no liquidations on {_list(quiet)}." if quiet and hit else "."))
    venues = summary[summary["kind"] == "perp"]
    if not venues.empty:
        drawn = [f"{r.place} ({_usd(r.insurance_fund_drawdown_usd):,.2f} USD, {r.shortfalls} shortfalls)"
                 for r in venues.itertuples() if _usd(r.insurance_fund_drawdown_usd) > 0]
        clean = [str(r.place) for r in venues.itertuples()
                 if _usd(r.insurance_fund_drawdown_usd) == 0 and not int(r.shortfalls or 0)]
        covered = [str(r.place) for r in venues.itertuples()
                   if _usd(r.insurance_fund_drawdown_usd) == 0 and int(r.shortfalls or 0)]
        out.append("Insurance fund: " + (f"drawn down on {_list(drawn)}" if drawn else "never drawn down")
                   + (f"; not drawn down on {_list(clean)}, where no liquidation closed beyond its bankruptcy price"
                      if clean else "")
                   + (f"; not drawn down on {_list(covered)}, whose shortfalls its gains covered" if covered else "")
                   + ".")
        adl = [f"{r.place} ({r.adl_orders} orders, {_usd(r.adl_volume_usd):,.2f} USD)" for r in venues.itertuples()
               if int(r.adl_orders)]
        none = [str(r.place) for r in venues.itertuples() if not int(r.adl_orders)]
        out.append("ADL: " + (f"on {_list(adl)}" if adl else "none on any venue: the insurance funds covered every "
                              "shortfall") + (f"; none on {_list(none)}." if adl and none else "."))
    lending = summary[summary["kind"] == "defi"]
    if not lending.empty:
        bad = [f"{r.place} ({_usd(r.bad_debt_recorded_usd) + _usd(r.debt_left_uncovered_usd):,.2f} USD)"
               for r in lending.itertuples() if _usd(r.bad_debt_recorded_usd) + _usd(r.debt_left_uncovered_usd) > 0]
        out.append("Bad debt on the lending protocols: " + (_list(bad) if bad else "none: every liquidated position "
                                                            "kept enough collateral") + ".")
    out.append("Not modelled: short positions on the venues are only the lenders' 1x counterparties, so no short is "
               "liquidated in a fall; a venue's own order book, and Binance's collateral depegs of that day.")
    return out


def manifest(result: ReplayResult, dataset: Manifest, entries: Sequence[Mapping[str, Any]], data_sha256: str,
             summary: pd.DataFrame) -> dict[str, Any]:
    """The report's ``manifest.json`` (module docstring of :mod:`toolkit.crash.report`)."""
    start, end = result.steps[0].time, result.steps[-1].time
    minutes = result.event.minutes
    files = {asset: f"fixtures/prices/{name}" for asset, name in result.event.files.items()}
    if minutes is not None and result.event.resolution(result.config.resolution) == "minute":
        files = {asset: f"fixtures/prices/{name}" for asset, name in minutes.files.items()}
    return {
        "name": "crash-replay", "created_at": utc_now(), "command": "liqtk replay",
        "arguments": result.config.to_json(), "seed": result.config.seed,
        "event": {"id": result.event.id, "title": result.event.title, "source": result.event.source,
                  "notes": result.event.notes, "files": files},
        "asset": result.asset, "window": {"start": _time(start), "end": _time(end), "steps": len(result.steps)},
        "chain": {"chain_id": result.chain_id, **result.blocks},
        "store": {"file": result.store_path.name, "content_sha256": dataset.content_sha256,
                  "row_count": dataset.row_count, "block_ranges": dataset.block_ranges,
                  "schema_version": dataset.schema_version, "positions_snapshots": result.snapshots},
        "keeper": {"liquidations": len(result.actions), "reverted": len(result.failures)},
        "insurance_fund_start_usd": plain(result.insurance_fund),
        "venues": [{"place": run.place, "contract": str(run.contract), "population": run.population.name,
                    "era": run.population.equivalent.era.name,
                    "era_in_force": run.population.equivalent.era_in_force, "tiers_from": tiers_note(run),
                    "excluded_positions": len(run.population.excluded),
                    "ledger_residual_usd": plain(run.ledger["residual"])} for run in result.venues],
        "fork": result.fork,
        "findings": findings(summary),
        "package_version": __version__, "git_commit": git_commit(),
        "data_sha256": data_sha256, "files": list(entries),
    }


def _table_html(frame: pd.DataFrame) -> str:
    return html_table(frame)


def _figure_html(out: Path, name: str, alt: str) -> str:
    """A chart embedded in the page (a ``data:`` URI of the PNG), with the names of its files beside the page."""
    stem = Path(name).stem
    return (f'<figure><img src="{data_uri(out / name)}" alt="{html.escape(alt)}"><figcaption>{html.escape(name)}; '
            f"also {stem}.svg and {stem}.pdf for print</figcaption></figure>")


def page(result: ReplayResult, manifest: Mapping[str, Any], summary: pd.DataFrame, positions: pd.DataFrame,
         figures: Sequence[tuple[str, str]], out: Path) -> str:
    """The report page: findings, facts, the charts (``(file, title)`` in ``out``, embedded), the summary and the
    per-position tables."""
    places = list(dict.fromkeys(positions["place"]))
    first_price = positions.pivot_table(index="position", columns="place", values="first_price", aggfunc="first",
                                        sort=False).reindex(columns=places)
    trigger = positions.pivot_table(index="position", columns="place", values="trigger_price", aggfunc="first",
                                    sort=False).reindex(columns=places)
    who = first_price.where(first_price != "", "—").fillna("—")
    notes = [tiers_note(run) + ("" if run.population.equivalent.era_in_force else
             f" (a counterfactual for {result.event.id}: the era starts later)") for run in result.venues]
    chain, store, window = manifest["chain"], manifest["store"], manifest["window"]
    resolution = result.event.resolution(result.config.resolution)
    path = ("1-minute closes through the cascade, hourly before and after" if resolution == "minute"
            else "hourly closes")
    facts = [
        ("event", f"{result.event.title} ({result.event.id}); {result.event.notes}"),
        ("path", f"{result.asset} {path}, {window['start']} .. {window['end']} ({len(result.steps)} steps): "
                 f"{', '.join(manifest['event']['files'].values())}"),
        ("population", f"{len(result.borrowers)} positions, seed {result.config.seed}; arguments "
                       f"{json.dumps(result.config.to_json())}"),
        ("chain", f"chain id {chain['chain_id']}, blocks {chain['first_block']} ({chain['first_block_hash']}) .. "
                  f"{chain['last_block']} ({chain['last_block_hash']})"
                  + ("" if result.fork else "; block timestamps are the path's times")),
        ("store", f"{store['row_count']} liquidations, content sha256 {store['content_sha256']}; positions snapshots "
                  f"{', '.join(store['positions_snapshots'])}"),
        ("keeper", f"{len(result.actions)} liquidation transactions, {len(result.failures)} reverted; stored rows "
                   f"whose receipt transfers differ from the event: {manifest['keeper']['transfer_mismatches']}"),
        *([("fork", f"fork of {result.fork['url_host']} at block {result.fork['block']} "
                    f"({result.fork['block_hash']}, {result.fork['block_timestamp']}): "
                    f"{', '.join(result.fork['protocols'])}; {result.fork['kept_positions']} positions kept "
                    "(collateral in the replayed asset and stable coins, stable-coin debt); prices are the fork's "
                    "moved by the path; block timestamps follow the fork block")] if result.fork else []),
        ("venues", "; ".join(notes)),
        ("insurance fund", f"{result.insurance_fund} USD at the start of every venue"),
        ("data sha256", manifest["data_sha256"]),
        ("software", f"liquidation-toolkit {manifest['package_version']}, commit {manifest['git_commit'] or 'n/a'}"),
    ]
    rows = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>" for k, v in facts)
    found = "".join(f"<li>{html.escape(line)}</li>" for line in manifest["findings"])
    charts = "".join(f"<h2>{html.escape(title)}</h2>{_figure_html(out, name, title)}" for name, title in figures)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Crash replay {html.escape(result.event.id)}</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:1200px}} table{{border-collapse:collapse;font-size:12px}}
td,th{{padding:2px 6px;border-bottom:1px solid #ddd;text-align:left}} img{{max-width:100%}} figure{{margin:0}}
figcaption{{font-size:11px;color:#555}} table.data td{{text-align:right;font-variant-numeric:tabular-nums}}</style>
</head><body>
<h1>Crash replay: {html.escape(result.event.title)}, {html.escape(result.asset)}</h1>
<p>The same borrowers, as real positions on {"the fork's lending protocols" if result.fork else
"Aave v3, Aave v2, Venus (the Compound v2 design) and Morpho Blue on a local chain"}, and as perpetual longs on each
venue (the same equity, and the same sizes at a realistic leverage mix), driven by the same real prices. A keeper
liquidated every liquidatable position at each step; the events were pulled with the mainnet adapters.</p>
<h2>What the model produced</h2><ul>{found}</ul>
<table>{rows}</table>
{charts}
<h2>Summary per place</h2>{_table_html(summary)}
<h2>First liquidation price per position and place (— : not liquidated)</h2>{_table_html(who.reset_index())}
<h2>Trigger price per position and place (health factor 1 / engine liquidation price)</h2>
{_table_html(trigger.reset_index())}
<p>Every number is in the CSV files next to this page (<code>positions.csv</code>, <code>timeline.csv</code>,
<code>summary.csv</code>, <code>liquidations.csv</code>, engine events, <code>levels.csv</code>); the data of every
chart panel is in <code>figures.json</code>; <code>manifest.json</code> lists them with their SHA-256.</p>
</body></html>
"""
