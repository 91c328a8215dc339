"""The loss waterfall of issue 18 on the venue side of a replay, without the chain: the borrowers of
``liqtk replay --event 2020-03-12 --asset BTC --borrowers 40 --venues bitmex,binance,hyperliquid`` (seed 0) as
perpetual positions, run through each venue's engine on the same path with the replay's fund (0.5 % of the
notional, 2,399.48 USD).

Before the fix the Hyperliquid profile (ADL at the mark price) booked the whole gap between mark and bankruptcy
price to the fund: it ended at -10,465.41 USD in the issue (era ``40x``; -10,472.72 with the eras of today), while
the printed "bad debt / fund + ADL" said 2,290.79 and ``summary.csv`` a drawdown of 12,864.89. Each venue's
documented order is fund first, then ADL (docs/sources/venues.md#loss-waterfall): the fund must stay at or above
zero, what it could not pay must show up as ADL haircuts, and nothing may be created or lost (ledger residual 0).
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from toolkit.crash.population import PopulationSpec, build_population, perp_position
from toolkit.crash.run import INSURANCE_FUND_SHARE, ReplayConfig, plan
from toolkit.crash.venues import ledger, outcomes, run_venue, venue_population


@pytest.fixture(scope="module")
def issue_case() -> dict[str, tuple]:
    config = ReplayConfig(event="2020-03-12", asset="BTC", population=PopulationSpec(borrowers=40),
                          venues=("bitmex", "binance", "hyperliquid"), seed=0)
    checked = plan(config)
    path = checked.paths["BTC"]
    opening = path.marks[next(iter(path.marks))][0]
    prices = {asset: p.marks[next(iter(p.marks))][0] for asset, p in checked.paths.items()}
    borrowers = build_population(config.population, "WBTC", opening, config.seed)
    fund = (sum((perp_position(b, opening).notional for b in borrowers), Decimal(0))
            * INSURANCE_FUND_SHARE).quantize(Decimal("0.01"))
    runs = {}
    for contract in checked.contracts:
        population = venue_population(contract, borrowers, path.times[0], opening, prices)
        result = run_venue(population, path, fund, config.seed)
        runs[contract.venue] = (population, result, outcomes(result, population, path))
    return {"fund": fund, **runs}


def test_the_issue_case_has_its_fund(issue_case) -> None:
    assert issue_case["fund"] == Decimal("2399.48")


@pytest.mark.parametrize("venue", ["bitmex", "binance-usdm", "hyperliquid"])
def test_no_fund_goes_below_zero_and_adl_takes_the_rest(issue_case, venue: str) -> None:
    population, result, outcome = issue_case[venue]
    summary = result.summary()
    assert min(balance for _, balance in result.fund_path) >= 0
    # only sub-cent residues: a trader's margin at its bankruptcy price rounded to the synthetic contract's
    # 1e-8 USD tick can be a few 1e-9 USD below zero when the fund is already empty
    assert 0 <= summary["insurance_fund_uncovered"] < Decimal("1e-7")
    paid = summary["shortfall_paid_by_fund"]
    assert 0 < paid <= issue_case["fund"] + sum((e.amount for e in result.events
                                                 if getattr(e, "kind", "") == "insurance_fund" and e.amount > 0),
                                                Decimal(0))
    assert summary["adl_orders"] > 0  # the crash is deeper than the fund: ADL took the rest
    haircut = sum((o.haircut for o in outcome.values()), Decimal(0))
    if venue == "hyperliquid":  # ADL at the mark: the counterparties carry the gap the fund could not pay
        assert haircut > 0
    assert ledger(result, population.accounts, population.profile)["residual"] == 0


@pytest.mark.node
@pytest.mark.slow
@pytest.mark.xdist_group("crash")
def test_every_printed_figure_is_a_summary_csv_column(small) -> None:
    """``liqtk replay`` prints ``summary.csv`` (one definition, one number): each printed figure is its column
    rounded to cents; ``losses_usd`` is bad debt on chain (DeFi) or fund paid out plus ADL haircut (venues); no
    venue's fund goes below zero."""
    import pandas as pd

    from toolkit.cli.replay_commands import _summary_rows

    _, _, out = small
    frame = pd.read_csv(out / "summary.csv", dtype=str, keep_default_na=False)
    printed = _summary_rows(out)
    assert [row[0] for row in printed] == frame["place"].tolist()
    for row, (_, csv_row) in zip(printed, frame.iterrows(), strict=True):
        assert row[3:] == tuple(f"{Decimal(csv_row[c]):,.2f}" for c in ("volume_usd", "penalty_usd", "losses_usd"))
        parts = (("bad_debt_recorded_usd", "debt_left_uncovered_usd") if csv_row["kind"] == "defi"
                 else ("shortfall_paid_by_fund_usd", "adl_haircut_usd"))
        assert Decimal(csv_row["losses_usd"]) == sum((Decimal(csv_row[c]) for c in parts), Decimal(0))
        if csv_row["kind"] == "perp":
            assert Decimal(csv_row["insurance_fund_min_usd"]) >= 0
