"""The replay's positions snapshot and its liquidation levels, checked against the replay itself: a position the
keeper liquidated on chain is counted in the level where its health factor crosses 1, and the crossing price lies
between the step before its first liquidation and that step's price."""

from __future__ import annotations

import math
from fractions import Fraction

import pytest

from toolkit.compare import levels
from toolkit.compare.lending_levels import accounts_from_snapshot
from toolkit.store import positions as stored
from toolkit.store.db import Store

pytestmark = [pytest.mark.node, pytest.mark.slow, pytest.mark.xdist_group("crash")]
#: Interest accrued between the opening snapshot and a liquidation (hours on the devchain's rates) lifts the price at
#: which the health factor crosses 1 above the snapshot's crossing price, by much less than this share.
INTEREST = Fraction(1, 200)


def test_the_opened_book_is_snapshotted_with_every_position(small) -> None:
    result, manifest, out = small
    store = Store(result.store_path, create=False)
    rows = stored.read_positions(store, result.snapshots)
    assert {r.protocol for r in stored.snapshots(store)} == {"aave-v3", "aave-v2", "venus", "morpho-blue"}
    assert {(b.protocol, b.address.lower()) for b in result.borrowers} == set(zip(rows["protocol"], rows["account"]))
    assert manifest["store"]["positions_snapshots"] == result.snapshots
    assert {"levels.png", "levels.csv", "venue_levels.csv"} <= {f["name"] for f in manifest["files"]}


def test_a_position_liquidated_on_chain_appears_in_the_level_where_its_health_factor_crossed_1(small) -> None:
    result, _, _ = small
    store = Store(result.store_path, create=False)
    book = {(a.protocol, a.account): a for a in accounts_from_snapshot(stored.read_positions(store, result.snapshots))}
    report = levels(store, venues=["hyperliquid"])
    first_steps = report.lending.accounts.set_index(["scenario", "protocol", "account"])["first_step"]
    liquidations = store.liquidations().sort_values(["block_number", "log_index"])
    checked = 0
    for b in result.borrowers:
        mine = liquidations[(liquidations["borrower"].str.lower() == b.address.lower())
                            & (liquidations["protocol"] == b.protocol)]
        if mine.empty:
            continue
        account = book[(b.protocol, b.address.lower())]
        terms = account.terms(frozenset({"WETH"}))
        opening = next(h.price for h in account.holdings if h.symbol == "WETH")
        crossing = opening * (1 - terms.crossing())  # the WETH price at which the snapshot's HF is 1
        step = result.step_of_block(int(mine.iloc[0]["block_number"]))
        price = Fraction(step.prices["ETH"])
        assert price < crossing * (1 + INTEREST), b.position_id
        if step.index > 0:
            assert Fraction(result.steps[step.index - 1].prices["ETH"]) >= crossing, b.position_id
        level = first_steps[("WETH", b.protocol, b.address.lower())]
        assert opening * (1 - Fraction(int(level), 100)) < crossing <= opening * (1 - Fraction(int(level) - 1, 100))
        assert int(level) <= math.ceil(100 * (1 - price / opening)) + 1
        checked += 1
    assert checked >= 4
