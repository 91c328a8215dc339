"""The default main job (``make demo`` = ``liqtk replay``): 2025-10-10 on its 1-minute bars, blocks stamped with the
bars' times, liquidations on the lending protocols and on the venues, and a report without an empty chart panel
(its ``figures.json`` and ``summary.csv`` read back)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pandas as pd
import pytest

from toolkit.crash.report import write_report
from toolkit.crash.run import ReplayConfig, replay
from toolkit.store.db import Store

pytestmark = [pytest.mark.node, pytest.mark.slow, pytest.mark.xdist_group("crash")]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory):
    out = tmp_path_factory.mktemp("demo")
    result = replay(ReplayConfig(), out / "replay.duckdb")
    return result, write_report(result, out), out


def test_the_demo_replays_the_minute_bars_with_block_times_on_2025_10_10(demo) -> None:
    result, manifest, _ = demo
    assert manifest["event"]["files"]["ETH"].endswith("gemini_ETHUSD_1m_ohlcv_2025-10-10_derived_from_trades.csv")
    minutes = [s for s in result.steps if s.time.minute]
    assert len(minutes) > 100 and min(s.prices["ETH"] for s in result.steps) < 3750  # the wick of 21:14-21:23 UTC
    stored = Store(result.store_path, create=False).liquidations()
    assert len(stored) and (stored["block_timestamp"].dt.date == datetime(2025, 10, 10, tzinfo=UTC).date()).all()
    for row in stored.itertuples():  # a step's blocks follow its time one second apart
        step = result.step_of_block(int(row.block_number))
        assert 0 <= (row.block_timestamp.to_pydatetime() - step.time).total_seconds() < 60, row.block_number


def test_the_demo_shows_liquidations_on_both_sides_and_says_what_it_does_not_show(demo) -> None:
    _, manifest, out = demo
    summary = pd.read_csv(out / "summary.csv", dtype=str, keep_default_na=False)
    liquidations = summary.assign(n=summary["liquidations"].astype(int)).groupby("kind")["n"].sum()
    assert liquidations["defi"] > 0 and liquidations["perp"] > 0
    findings = " ".join(manifest["findings"])
    assert "Insurance fund:" in findings and "ADL:" in findings and "Bad debt" in findings
    quiet = summary.loc[summary["liquidations"].astype(int) == 0, "place"].tolist()
    for place in quiet:
        assert "no liquidations on" in findings and place in findings


def test_the_report_has_no_empty_chart_panel(demo) -> None:
    _, _, out = demo
    panels = json.loads((out / "figures.json").read_text())
    summary = pd.read_csv(out / "summary.csv", dtype=str, keep_default_na=False)
    assert {p["figure"] for p in panels} == {"liquidations_over_time.png", "penalties.png", "losses.png", "levels.png"}
    for panel in panels:
        if panel["drawn"]:
            assert any(v != 0 for values in panel["series"].values() for v in values), panel["panel"]
        else:
            assert panel["notes"], panel["panel"]  # a panel with nothing to draw says why, in words
    timeline = {p["panel"]: p for p in panels if p["figure"] == "liquidations_over_time.png"}["liquidations per step"]
    for row in summary.itertuples():
        drawn, named = row.place in timeline["series"], any(row.place in n for n in timeline["notes"])
        assert drawn != named and drawn == (int(row.liquidations) > 0), row.place
