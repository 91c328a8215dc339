"""The replay report's charts, drawn from its tables, and the data of every panel (``figures.json``).

Rule: no empty panel. A series (a place's line or bar) is drawn only when it holds a non-zero value; the places left
out are named in the panel's note ("no liquidations on bitmex:ETHUSDT, ..."), printed on the panel. A panel with
nothing to draw shows only its note, as text, with no axes. :class:`Panel` records, for each panel, what was drawn
(label -> values) and its notes; ``figures.json`` holds them, so a reader (and the tests) can check that every
drawn panel has data.

Charts:

* ``liquidations_over_time.png``: the asset's path; liquidations per step; liquidated volume per step (lending
  solid, venues dashed for the same-equity population and dotted for the leverage mix);
* ``penalties.png``: penalties paid per place, USD and % of the liquidated positions' collateral;
* ``losses.png``: bad debt (lending) next to the insurance fund's shortfall and ADL haircuts (venues), and each
  venue's insurance fund over time;
* ``levels.png``: the liquidation levels of the opened book (:func:`toolkit.compare.levels` on the replay's
  positions snapshots), lending solid and venues dashed, with the path's largest fall marked.
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import pandas as pd
from matplotlib.figure import Figure

from toolkit.compare.figures import utc_time_axis

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from toolkit.crash.run import ReplayResult

#: Colours of the places: protocols blue-green, venues warm (by contract; both populations of a contract share it).
PROTOCOL_COLOURS = {"aave-v3": "#1f77b4", "aave-v2": "#17becf", "venus": "#2ca02c", "morpho-blue": "#9467bd"}
VENUE_COLOURS = ("#d62728", "#ff7f0e", "#8c564b", "#e377c2", "#bcbd22", "#7f7f7f")


@dataclass
class Panel:
    """One panel of one figure: what it drew (label -> values) and its notes."""

    figure: str
    panel: str
    series: dict[str, list[float]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def drawn(self) -> bool:
        """Whether the panel has axes with data (else it shows its notes only)."""
        return bool(self.series)

    def as_json(self) -> dict[str, Any]:
        return {**asdict(self), "drawn": self.drawn}


def _floats(values: Iterable[Any]) -> list[float]:
    return [float(v) if v not in ("", None) else 0.0 for v in values]


def nonzero(values: Sequence[float]) -> bool:
    return any(v != 0 for v in values)


def note_only(ax: Axes, panel: Panel, title: str) -> None:
    """Turn ``ax`` into the panel's notes as text (nothing to draw)."""
    ax.set_axis_off()
    ax.text(0.5, 0.5, "\n".join([title, *(textwrap.fill(n, 60) for n in panel.notes)]), ha="center", va="center",
            fontsize=9, transform=ax.transAxes)


def _note(ax: Axes, panel: Panel, width: int = 120) -> None:
    """The panel's notes as its title, wrapped to ``width`` characters."""
    if panel.notes:
        ax.set_title("\n".join(textwrap.fill(note, width) for note in panel.notes), fontsize=7, color="0.3")


def no_liquidations(places: Sequence[str], what: str = "no liquidations") -> list[str]:
    return [f"{what} on {', '.join(places)}"] if places else []


class Styles:
    """Colour and line style of each place of a replay."""

    def __init__(self, result: ReplayResult) -> None:
        contracts = list(dict.fromkeys(str(run.contract) for run in result.venues))
        self._runs = {run.place: run for run in result.venues}
        self._contracts = contracts

    def colour(self, place: str) -> str:
        run = self._runs.get(place)
        if run is None:
            return PROTOCOL_COLOURS.get(place, "black")
        return VENUE_COLOURS[self._contracts.index(str(run.contract)) % len(VENUE_COLOURS)]

    def line(self, place: str) -> str:
        run = self._runs.get(place)
        return "-" if run is None else "--" if run.population.name == "same equity" else ":"


def _step_axis(ax: Axes, result: ReplayResult) -> None:
    """Steps as the x axis, evenly spaced (a path of hours then minutes would squeeze the minutes), labelled with
    their times at about twelve places."""
    count = len(result.steps)
    every = max(1, count // 12)
    ticks = list(range(0, count, every))
    ax.set_xticks(ticks, [result.steps[i].time.strftime("%m-%d %H:%M") for i in ticks], rotation=30, fontsize=7)
    ax.set_xlabel("step (one per price update: hours, then minutes through the cascade where the path has them)",
                  fontsize=8)


def figure_timeline(result: ReplayResult, timeline: pd.DataFrame) -> tuple[Figure, list[Panel]]:
    """Price path, liquidations per step and liquidated volume per step, one line per place that has any; the
    steps evenly spaced on the x axis."""
    styles = Styles(result)
    fig = Figure(figsize=(11, 8.5))
    price_ax, count_ax, volume_ax = fig.subplots(3, 1, sharex=True)
    steps = list(range(len(result.steps)))
    prices = [float(s.prices[result.asset]) for s in result.steps]
    price_ax.plot(steps, prices, color="black")
    price_ax.set_ylabel(f"{result.asset} (USD)")
    panels = [Panel("liquidations_over_time.png", "price", {result.asset: prices})]
    for ax, column, label in ((count_ax, "liquidations", "liquidations per step"),
                              (volume_ax, "volume_usd", "liquidated volume (USD)")):
        panel = Panel("liquidations_over_time.png", label)
        quiet = []
        for place, group in timeline.groupby("place", sort=False):
            values = _floats(group[column])
            if not nonzero(values):
                quiet.append(str(place))
                continue
            panel.series[str(place)] = values
            ax.step(steps, values, where="mid", linestyle=styles.line(str(place)), color=styles.colour(str(place)),
                    label=str(place))
        panel.notes = no_liquidations(quiet)
        if panel.drawn:
            ax.set_ylabel(label)
            ax.legend(loc="upper left", fontsize=7, ncol=2)
            _note(ax, panel)
        else:
            note_only(ax, panel, label)
        panels.append(panel)
    _step_axis(volume_ax, result)
    fig.suptitle(f"{result.event.title}: {len(result.borrowers)} positions on the same {result.asset} path\n"
                 "lending protocols (solid), venues (dashed: same equity; dotted: leverage mix)", fontsize=11)
    fig.subplots_adjust(bottom=0.2)
    return fig, panels


def figure_penalties(result: ReplayResult, summary: pd.DataFrame, positions: pd.DataFrame) -> tuple[Figure,
                                                                                                    list[Panel]]:
    """Penalties paid by borrowers (lending) and traders (venues): total USD and % of the liquidated positions'
    opening collateral; places without any are named instead of drawn."""
    styles = Styles(result)
    fig = Figure(figsize=(11, 5.5))
    total_ax, share_ax = fig.subplots(1, 2)
    totals: dict[str, float] = {}
    shares: dict[str, float] = {}
    for place, total in zip(summary["place"], _floats(summary["penalty_usd"]), strict=True):
        if total == 0:
            continue
        own = positions[(positions["place"] == place) & positions["liquidated"].astype(bool)]
        exposure = sum((Decimal(n) + Decimal(s) for n, s in zip(own["notional_usd"], own["stable_collateral_usd"])),
                       Decimal(0))
        penalty = sum((Decimal(p) for p in own["penalty_usd"] if p != ""), Decimal(0))
        totals[str(place)], shares[str(place)] = total, float(100 * penalty / exposure) if exposure else 0.0
    quiet = no_liquidations([str(p) for p in summary["place"] if str(p) not in totals], "no penalty paid")
    panels = []
    for ax, values, label in ((total_ax, totals, "penalty paid (USD)"),
                              (share_ax, shares, "% of the liquidated positions' collateral")):
        panel = Panel("penalties.png", label, {k: [v] for k, v in values.items()}, quiet)
        if panel.drawn:
            ax.bar(list(values), list(values.values()), color=[styles.colour(p) for p in values])
            ax.set_ylabel(label)
            ax.tick_params(axis="x", rotation=30, labelsize=7)
            _note(ax, panel, 70)
        else:
            note_only(ax, panel, label)
        panels.append(panel)
    fig.suptitle("Penalties: borrowers (liquidation bonus + protocol fee) vs traders (fees + equity taken over)")
    fig.subplots_adjust(bottom=0.3, wspace=0.3)
    return fig, panels


LOSS_SERIES = {"bad debt recorded (socialized to suppliers)": "bad_debt_recorded_usd",
               "debt left without collateral": "debt_left_uncovered_usd",
               "shortfall paid by the insurance fund": "shortfall_paid_by_fund_usd",
               "ADL haircut of counterparties": "adl_haircut_usd"}


def figure_losses(result: ReplayResult, summary: pd.DataFrame) -> tuple[Figure, list[Panel]]:
    """Bad debt (lending) next to insurance-fund shortfalls and ADL (venues), and each venue's fund over time;
    only what is non-zero is drawn, the rest is named."""
    styles = Styles(result)
    fig = Figure(figsize=(11, 5.5))
    bars_ax, fund_ax = fig.subplots(1, 2)
    losses = {label: dict(zip(summary["place"].astype(str), _floats(summary[column]), strict=True))
              for label, column in LOSS_SERIES.items() if column in summary}
    places = [p for p in summary["place"].astype(str) if any(losses[label].get(p, 0) for label in losses)]
    bars = Panel("losses.png", "losses by place", notes=no_liquidations(
        [p for p in summary["place"].astype(str) if p not in places], "no bad debt, fund shortfall or ADL"))
    width = 0.8 / max(1, len(losses))
    for k, (label, values) in enumerate(losses.items()):
        series = [values.get(p, 0.0) for p in places]
        if nonzero(series):
            bars.series[label] = series
            bars_ax.bar([i + (k - (len(losses) - 1) / 2) * width for i in range(len(places))], series, width,
                        label=label)
    if bars.drawn:
        bars_ax.set_xticks(range(len(places)), places, rotation=30, fontsize=7)
        bars_ax.set_ylabel("USD")
        bars_ax.legend(fontsize=7, loc="upper left")
        _note(bars_ax, bars, 70)
    else:
        note_only(bars_ax, bars, "losses by place")
    fund = Panel("losses.png", "insurance fund")
    flat = []
    for run in result.venues:
        times, balances = zip(*run.result.fund_path, strict=True)
        values = [float(b) for b in balances]
        if len(set(values)) == 1:
            flat.append(run.place)
            continue
        fund.series[run.place] = values
        fund_ax.plot(times, values, linestyle=styles.line(run.place), color=styles.colour(run.place), label=run.place)
    fund.notes = no_liquidations(flat, "insurance fund unchanged")
    if fund.drawn:
        fund_ax.set_ylabel("insurance fund (USD)")
        fund_ax.legend(fontsize=7)
        utc_time_axis(fund_ax)
        fund_ax.tick_params(axis="x", labelsize=7)
        _note(fund_ax, fund, 70)
    else:
        note_only(fund_ax, fund, "insurance fund")
    fig.suptitle("Losses left by the crash: bad debt on chain vs insurance fund and ADL on the venues")
    fig.subplots_adjust(bottom=0.3, wspace=0.3)
    return fig, [bars, fund]


def level_panels(report: Any) -> list[Panel]:
    """The data of ``levels.png`` (a :class:`toolkit.compare.level_report.LevelReport`), as drawn."""
    panel = Panel("levels.png", f"liquidation levels ({report.asset})")
    table = report.lending.table
    single = table[table["scenario"] == report.asset]
    for place, rows in single.groupby("place", sort=True):
        panel.series[f"lending {place}"] = _floats(rows["collateral_usd"])
    for (place, population), rows in report.venues.groupby(["place", "population"], sort=False):
        panel.series[f"{place} ({population})"] = _floats(rows["collateral_usd"])
    panel.series = {k: v for k, v in panel.series.items() if nonzero(v)}
    return [panel]
