"""``liqtk levels`` / :func:`toolkit.compare.levels`: liquidation levels of positions snapshots, lending next to the
venues, with one citable chart.

* Lending (:mod:`toolkit.compare.lending_levels`): each collateral asset falling alone, and all non-stable assets
  together, in 1 % steps to ``max_move`` (default 60 %), per protocol/deployment and in total.
* Venues (:mod:`toolkit.compare.venue_levels`), for the main asset (the collateral with the largest value, or
  ``asset``): the same positions as perpetuals on each venue contract (``venues``: profile ids, ``venue:SYMBOL``;
  without a symbol the venue's perpetual of the asset, :func:`toolkit.compare.contracts.asset_contract`), and a
  population with the book's exposure spread over a leverage distribution (``leverage_distribution``; default
  :data:`toolkit.compare.venue_levels.DEFAULT_LEVERAGE_DISTRIBUTION`).
* A price path (``path``, e.g. a crash's closes) adds its largest fall from the first price to the chart. When the
  snapshot is more than ``max_age`` away from the path's first time, a warning says both dates: the positions of
  that day may have been others.

Chart (:meth:`LevelReport.figure`): cumulative liquidatable collateral (USD at the snapshot's prices) against the
price move, lending solid (one line per protocol and their total; the all-non-stable scenario's total in grey), venues
dashed (same positions) and dotted (leverage distribution); saved with :func:`toolkit.compare.figures.save_figure`
(caption and manifest of the snapshot rows, :func:`toolkit.store.positions.snapshot_dataset`).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, timedelta
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from toolkit.cex import PricePath
from toolkit.cex.venues import venue_id
from toolkit.compare.contracts import VenueContract, asset_contract
from toolkit.compare.figures import save_figure
from toolkit.compare.lending_levels import ALL_NON_STABLE, MAX_MOVE, STABLES, Levels, accounts_from_snapshot
from toolkit.compare.lending_levels import levels as lending_levels
from toolkit.compare.venue_levels import DEFAULT_LEVERAGE_DISTRIBUTION, LeverageBucket, venue_levels
from toolkit.errors import UserInputError
from toolkit.store import positions as stored
from toolkit.store.db import Store
from toolkit.store.manifest import Manifest

if TYPE_CHECKING:
    from matplotlib.figure import Figure

#: Venues of a default level report (``binance-usdm`` is Binance USD-M futures).
DEFAULT_LEVEL_VENUES: tuple[str, ...] = ("bitmex", "binance-usdm", "hyperliquid")
#: Largest distance between a snapshot and a price path's first time before :func:`levels` warns.
MAX_AGE = timedelta(days=7)
_LENDING_COLOURS = ("#1f77b4", "#17becf", "#2ca02c", "#9467bd", "#8c564b", "#e377c2")
_VENUE_COLOURS = ("#d62728", "#ff7f0e", "#bcbd22", "#7f7f7f")


class SnapshotTooOld(UserWarning):
    """A snapshot far from the date of the price path its levels are shown with."""


@dataclass
class LevelReport:
    """Lending levels, venue levels, the snapshots they come from and their dataset manifest."""

    lending: Levels
    venues: pd.DataFrame
    asset: str
    snapshots: list[stored.SnapshotRecord]
    dataset: Manifest
    excluded: dict[str, dict[str, str]] = field(default_factory=dict)
    path_fall: float | None = None
    path_label: str | None = None
    warnings: list[str] = field(default_factory=list)

    def figure(self) -> Figure:
        """The chart of the module docstring."""
        from matplotlib.figure import Figure

        fig = Figure(figsize=(12, 6))
        ax = fig.subplots()
        fig.subplots_adjust(right=0.68)
        table = self.lending.table
        single = table[table["scenario"] == self.asset]
        for i, (place, rows) in enumerate(single[single["place"] != "all"].groupby("place", sort=True)):
            ax.plot(-rows["move_pct"], rows["collateral_usd"], "-", color=_LENDING_COLOURS[i % 6], label=place)
        total = single[single["place"] == "all"]
        ax.plot(-total["move_pct"], total["collateral_usd"], "-", color="black", linewidth=2,
                label=f"lending total ({self.asset} falls alone)")
        together = table[(table["scenario"] == ALL_NON_STABLE) & (table["place"] == "all")]
        if not together.empty and together["moved_assets"].iloc[0] != self.asset:
            ax.plot(-together["move_pct"], together["collateral_usd"], "-", color="0.6", linewidth=2,
                    label="lending total (all non-stable assets fall)")
        for i, (place, rows) in enumerate(self.venues.groupby("place", sort=False)):
            colour = _VENUE_COLOURS[i % len(_VENUE_COLOURS)]
            for population, style in (("same positions", "--"), ("leverage distribution", ":")):
                mine = rows[rows["population"] == population]
                ax.plot(-mine["move_pct"], mine["collateral_usd"], style, color=colour, label=f"{place} ({population})")
        if self.path_fall is not None:
            ax.axvline(-100 * self.path_fall, color="0.3", linewidth=1, linestyle="-.")
            ax.annotate(f"{self.path_label or 'price path'}: largest fall {100 * self.path_fall:.1f} %",
                        (-100 * self.path_fall, 0), xytext=(-3, 5), textcoords="offset points", fontsize=7,
                        rotation=90, va="bottom", ha="right")
        ax.set_xlabel(f"{self.asset} price move (%)")
        ax.set_ylabel("liquidatable collateral, cumulative (USD at the snapshot's prices)")
        ax.set_xlim(-self.lending.max_move, 0)
        ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
        blocks = ", ".join(f"{s.protocol}/{s.deployment} block {s.block_number}" for s in self.snapshots)
        fig.suptitle(f"Liquidation levels: lending (solid) vs venues (dashed) for the same exposure\n{blocks}",
                     fontsize=9)
        return fig

    def save(self, out: str | Path, *, source: str | None = None) -> dict[str, Path]:
        """Write ``levels.csv`` (lending), ``venue_levels.csv``, ``level_accounts.csv`` and ``levels.png`` with its
        manifest into ``out``; returns the paths."""
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        paths = {"levels": out / "levels.csv", "venues": out / "venue_levels.csv",
                 "accounts": out / "level_accounts.csv", "figure": out / "levels.png"}
        self.lending.table.to_csv(paths["levels"], index=False, lineterminator="\n")
        self.venues.to_csv(paths["venues"], index=False, lineterminator="\n")
        self.lending.accounts.to_csv(paths["accounts"], index=False, lineterminator="\n")
        save_figure(self.figure(), paths["figure"], self.dataset, noun="position row",
                    source=source or "liqtk positions snapshots; levels of toolkit.compare.level_report")
        return paths


def latest_snapshots(store: Store, *, chain: int | None = None, protocol: str | None = None,
                     market: str | None = None, block: int | None = None) -> list[stored.SnapshotRecord]:
    """The complete snapshot at ``block`` (else the latest) of every deployment matching the filters (``chain``: a
    chain id)."""
    chosen: dict[tuple[int, str, str], stored.SnapshotRecord] = {}
    for record in stored.snapshots(store, chain_id=chain, protocol=protocol, deployment=market):
        if block is None or record.block_number == block:
            chosen[(record.chain_id, record.protocol, record.deployment)] = record
    if not chosen:
        where = ", ".join(f"{k} {v}" for k, v in (("chain id", chain), ("protocol", protocol),
                                                   ("market", market), ("block", block)) if v is not None)
        raise UserInputError(f"no complete positions snapshot in {store.path}{' for ' + where if where else ''}; "
                             "take one with `liqtk positions`")
    return list(chosen.values())


def _fall(path: PricePath) -> float:
    """The largest fall of the path's (first) series below its first price, as a share."""
    series = next(iter(path.marks.values()))
    return float(max(Decimal(0), 1 - min(series) / series[0]))


def _age_warning(snapshots: Sequence[stored.SnapshotRecord], path: PricePath, max_age: timedelta) -> list[str]:
    """One message per snapshot date more than ``max_age`` away from the path's first time (both dates said)."""
    start = path.times[0] if path.times[0].tzinfo else path.times[0].replace(tzinfo=UTC)
    dates: dict[str, list[str]] = {}
    for record in snapshots:
        taken = record.block_timestamp if record.block_timestamp.tzinfo else record.block_timestamp.replace(tzinfo=UTC)
        if abs(start - taken) > max_age:
            dates.setdefault(f"{taken:%Y-%m-%d %H:%M}", []).append(f"{record.protocol}/{record.deployment}")
    return [f"the positions snapshot of {', '.join(names)} is of {date} UTC but the price path starts "
            f"{start:%Y-%m-%d %H:%M} UTC: the positions on the path's date may have been others"
            for date, names in dates.items()]


def levels(store: str | Path | Store, *, chain: int | str | None = None, protocol: str | None = None,
           market: str | None = None, block: int | None = None, asset: str | None = None,
           venues: Sequence[str | VenueContract] = DEFAULT_LEVEL_VENUES, max_move: int = MAX_MOVE,
           leverage_distribution: Sequence[LeverageBucket] = DEFAULT_LEVERAGE_DISTRIBUTION,
           stables: frozenset[str] = STABLES, path: PricePath | None = None, path_label: str | None = None,
           max_age: timedelta = MAX_AGE) -> LevelReport:
    """The level report of the latest complete snapshot (or the one at ``block``) of every deployment of ``store``
    matching the filters (``chain``: a name or chain id; module docstring)."""
    from toolkit.settings import chain_id_of

    opened = store if isinstance(store, Store) else Store(Path(store).expanduser(), create=False)
    records = latest_snapshots(opened, chain=None if chain is None else chain_id_of(chain), protocol=protocol,
                               market=market, block=block)
    rows, dataset = stored.snapshot_dataset(opened, [r.snapshot_id for r in records])
    accounts = accounts_from_snapshot(rows)
    if not accounts:
        raise UserInputError("the snapshots hold no open position; nothing to level")
    lending = lending_levels(accounts, max_move=max_move, stables=stables)
    assets = [s for s in lending.table["scenario"].unique() if s != ALL_NON_STABLE]
    main = asset or (assets[0] if assets else None)
    if main is None or main not in assets:
        raise UserInputError(f"--asset: {asset!r} is not a collateral asset of the snapshots; choose one of "
                             f"{', '.join(assets)}")
    moment = max(r.block_timestamp for r in records)
    underlying = "BTC" if "BTC" in main.upper() else "ETH" if "ETH" in main.upper() else main.upper()
    contracts = [v if isinstance(v, VenueContract) else VenueContract.of(
        f"{venue_id(str(v).partition(':')[0], 'venues')}:{str(v).partition(':')[2]}") if ":" in str(v)
        else asset_contract(venue_id(str(v), "venues"), underlying, moment) for v in venues]
    venue_table, excluded = venue_levels(accounts, main, contracts, moment=moment, max_move=max_move,
                                         distribution=leverage_distribution)
    report = LevelReport(lending, venue_table, main, records, dataset, excluded)
    if path is not None:
        report.path_fall, report.path_label = _fall(path), path_label
        report.warnings = _age_warning(records, path, max_age)
        for message in report.warnings:
            warnings.warn(message, SnapshotTooOld, stacklevel=2)
    return report
