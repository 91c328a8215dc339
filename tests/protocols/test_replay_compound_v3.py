"""Compound v3 (Comet): replays of absorbs through the pipeline, and decode-level checks of malformed logs.

The replayed logs are CONSTRUCTED, not captured from mainnet (no public raw Absorb* logs exist; see
fixtures/replays/compound-v3/README.md): ``construct.py`` computed them with the arithmetic of Comet.sol
``absorbInternal`` from illustrative balances and prices, with the real event signatures and the markets'
configured factors. The replay (:mod:`toolkit.devchain.replay`) re-emits them at the real Comet
addresses on a local anvil with chain id 1, so they are pulled through the real ``ethereum`` registry
entries; the stubs answer the adapter's state reads with the fixture's documented values.

Expectations come from the fixture's protocol-side computation (``expected``), not from the adapter.
"""

from __future__ import annotations

from dataclasses import replace
from fractions import Fraction
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from toolkit.abi import load_abi
from toolkit.chain.calls import StateReader
from toolkit.chain.rpc import RpcClient
from toolkit.devchain.replay import ReplayResult, event_log, load_fixture
from toolkit.protocols import adapter_for, registry
from toolkit.protocols.compound_v3 import allocate

PROTOCOL = "compound-v3"
FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "replays" / "compound-v3" / "absorbs.json"
COMET = load_abi("compound-v3/Comet.json")
USDC_COMET = "0xc3d688b66703497daa19211eedff47f25384cdc3"
WETH_COMET = "0xa17581a9e3356d9a858b789d68b4d866e593ae94"
USDC, WETH = "0xa0b86991c6218b36c1d19d4a2e9eb0ce3606eb48", "0xc02aaa39b223fe8d0a0e5c4f27ead9083c756cc2"


def _expected() -> dict[str, Any]:
    return load_fixture(FIXTURE).document["expected"]


def _absorbs() -> list[tuple[str, dict[str, Any]]]:
    return [(label, item) for label, items in _expected()["absorbs"].items() for item in items]


def _rows(frame: pd.DataFrame, replay: ReplayResult, label: str, borrower: str) -> pd.DataFrame:
    tx = replay.tx(_expected()["transactions"][label]).tx_hash
    return frame[frame.join_key == f"{tx}:{borrower}"].sort_values("log_index")


@pytest.mark.node
def test_replay_gives_one_row_per_collateral_leg_with_the_event_values(frame, replay) -> None:
    for label, absorb in _absorbs():
        rows = _rows(frame, replay, label, absorb["borrower"])
        legs = absorb["legs"] or [{"asset": None, "collateralAbsorbed": 0, "usdValue": 0}]
        assert len(rows) == len(legs)
        assert [None if pd.isna(a) else a for a in rows.collateral_asset] == [leg["asset"] for leg in legs]
        assert list(rows.collateral_seized_raw) == [str(leg["collateralAbsorbed"]) for leg in legs]
        assert list(rows.collateral_seized_value_raw) == [str(leg["usdValue"]) for leg in legs]
        assert set(rows.event) == ({"AbsorbCollateral"} if absorb["legs"] else {"AbsorbDebt"})
        assert set(rows.market_id) == set(rows.emitter) == {absorb["comet"]}
        assert set(rows.is_auction) == {True} and rows.incomplete_reason.isna().all()


@pytest.mark.node
def test_replay_legs_add_up_exactly_to_the_absorb_debt(frame, replay) -> None:
    """basePaidOut and its value are split over the legs by the legs' usdValue, totals exact."""
    for label, absorb in _absorbs():
        rows = _rows(frame, replay, label, absorb["borrower"])
        paid = [int(x) for x in rows.debt_repaid_raw]
        values = [int(x) for x in rows.debt_repaid_value_raw]
        assert sum(paid) == absorb["basePaidOut"] and sum(values) == absorb["usdValue"]
        weights = [leg["usdValue"] for leg in absorb["legs"]]
        for share, weight in zip(paid, weights):
            exact = Fraction(absorb["basePaidOut"] * weight, sum(weights))
            assert exact - 1 < share < exact + 1


@pytest.mark.node
def test_replay_bad_debt_equals_the_protocol_side_shortfall(frame, replay) -> None:
    """Adapter: from the events and the liquidation factors; fixture: -oldBalance - deltaBalance of
    absorbInternal. Non-zero exactly for the absorbs whose balance was floored at 0."""
    for label, absorb in _absorbs():
        rows = _rows(frame, replay, label, absorb["borrower"])
        assert sum(int(x) for x in rows.bad_debt_raw) == int(absorb["bad_debt_raw"])
        assert set(rows.bad_debt_mechanism) == {"reserves"}
        per_unit = Fraction(1, 10**8) if absorb["comet"] == USDC_COMET else Fraction(
            int(_expected()["chain_eth_usd"]), 10**16)
        assert rows.bad_debt_usd.sum() == pytest.approx(float(int(absorb["bad_debt_value_raw"]) * per_unit))
    floored = {a["borrower"] for _, a in _absorbs() if a["surplus_raw"] == "0"}
    assert floored == {a["borrower"] for _, a in _absorbs() if int(a["bad_debt_raw"]) > 0}


@pytest.mark.node
def test_replay_absorb_without_collateral_is_all_bad_debt(frame, replay) -> None:
    (absorb,) = _expected()["absorbs"]["tx3"]
    (row,) = _rows(frame, replay, "tx3", absorb["borrower"]).itertuples()
    assert row.debt_repaid_raw == row.bad_debt_raw == str(absorb["basePaidOut"])
    assert row.collateral_seized_raw == "0" and pd.isna(row.collateral_asset)


@pytest.mark.node
def test_replay_values_carry_the_market_currency_never_eth_as_usd(frame) -> None:
    usdc, weth = frame[frame.emitter == USDC_COMET], frame[frame.emitter == WETH_COMET]
    assert set(usdc.price_currency) == {"USD"} and usdc.eth_usd_price_raw.isna().all()
    assert set(usdc.debt_asset) == {USDC} and set(usdc.debt_symbol) == {"USDC"} and set(usdc.debt_decimals) == {6}
    assert set(weth.price_currency) == {"ETH"} and set(weth.debt_asset) == {WETH}
    assert set(weth.eth_usd_price_raw) == {_expected()["chain_eth_usd"]} and set(weth.price_unit_raw) == {"100000000"}
    for row in weth.itertuples():
        eth = Fraction(int(row.collateral_seized_value_raw), 10**8)
        assert row.collateral_seized_usd == pytest.approx(float(eth * int(row.eth_usd_price_raw) / 10**8))
    for row in usdc.itertuples():
        assert row.debt_repaid_usd == pytest.approx(int(row.debt_repaid_value_raw) / 10**8)


@pytest.mark.node
def test_replay_parameters_come_from_asset_info_at_the_state_block(frame) -> None:
    """getAssetInfoByAddress answers of the fixture (the markets' configuration.json factors)."""
    legs = frame[frame.collateral_asset.notna()]
    assert (legs.state_block == legs.block_number - 1).all() and set(legs.state_status) == {"ok"}
    by_asset = {row.collateral_asset: row for row in legs.itertuples()}
    weth_leg = by_asset[WETH]
    assert (weth_leg.ltv_bps, weth_leg.liquidation_threshold_bps) == (8200, 9000)
    assert (weth_leg.liquidation_factor_raw, weth_leg.store_front_price_factor_raw) == (str(95 * 10**16), str(5 * 10**17))
    wbtc_leg = by_asset["0x2260fac5e5542a773aa44fbcfedf7c193bc2c599"]
    assert (wbtc_leg.ltv_bps, wbtc_leg.liquidation_threshold_bps, wbtc_leg.collateral_decimals) == (7000, 7800, 8)
    assert set(legs.close_factor_bps) == {10_000}


@pytest.mark.node
def test_replay_state_check_recomputes_each_collateral_value(frame) -> None:
    """The fixture computed each AbsorbCollateral usdValue with Comet's mulPrice from the prices the stubs
    answer: every collateral row's state_check reproduces it exactly; an absorb without collateral has
    nothing to recompute."""
    legs = frame[frame.collateral_asset.notna()]
    assert len(legs) and (legs.state_check == "exact").all(), legs.state_check_detail.tolist()
    assert (legs.state_check_recomputed_raw == legs.collateral_seized_value_raw).all()
    assert (frame[frame.collateral_asset.isna()].state_check == "unchecked").all()
    assert (frame.state_position == "before_tx").all()


def test_replay_buy_collateral_is_left_out(frame, replay) -> None:
    """BuyCollateral (tx4) was replayed but is no liquidation row (left to a later issue)."""
    tx4 = replay.tx(_expected()["transactions"]["tx4"])
    assert tx4.block_number == replay.tx(_expected()["transactions"]["tx3"]).block_number
    assert tx4.tx_hash not in set(frame.tx_hash)
    assert len(frame) == sum(max(1, len(a["legs"])) for _, a in _absorbs())


@pytest.mark.node
def test_replay_rows_sit_at_the_replayed_log_positions(frame, replay) -> None:
    for tx in replay.transactions:
        rows = frame[frame.tx_hash == tx.tx_hash]
        assert set(rows.block_number) <= {tx.block_number}
        assert set(rows.log_index) <= set(tx.log_indexes)


@pytest.mark.node
async def test_replay_other_base_token_leaves_the_currency_unknown(node_url, replay) -> None:
    """A deployment whose registry base token is not the Comet's baseToken() (e.g. --address on another
    market) gets no currency label and no USD values, rather than the registry's."""
    (weth_deployment,) = registry().find("ethereum", "compound-v3", "weth")
    wrong = replace(weth_deployment, contracts={"comet": USDC_COMET})
    adapter = adapter_for(wrong)
    tx = replay.tx(_expected()["transactions"]["tx1"])
    logs = [_as_rpc_log(log, tx.tx_hash, tx.block_number, index)
            for log, index in zip(tx.logs, tx.log_indexes)]
    rows = adapter.decode_logs(logs, wrong)
    async with RpcClient(node_url) as client:
        await adapter.enrich(rows, wrong, StateReader(client))
    assert {r["price_currency"] for r in rows} == {None}
    assert all(r["debt_repaid_usd"] is None and "unknown" in r["price_source"] for r in rows)
    assert {r["debt_asset"] for r in rows} == {USDC}


def _as_rpc_log(log: Any, tx_hash: str, block: int, index: int) -> dict[str, Any]:
    return {"address": log.address, "topics": list(log.topics), "data": log.data, "blockNumber": hex(block),
            "transactionHash": tx_hash, "transactionIndex": "0x0", "logIndex": hex(index), "blockHash": None}


# -- decode level: malformed and partial input ------------------------------------------------------

DEPLOYMENT = registry().find("ethereum", "compound-v3", "usdc")[0]
BORROWER = "0x00000000000000000000000000000000000b0009"


def _log(event: str, values: dict[str, Any], index: int, tx: str = "0x" + "ab" * 32) -> dict[str, Any]:
    return event_log(COMET.event(event), USDC_COMET, {"absorber": "0x" + "11" * 20, "borrower": BORROWER, **values},
                     tx_hash=tx, block_number=100, log_index=index)


def test_decode_collateral_without_its_absorb_debt_is_incomplete() -> None:
    (row,) = adapter_for(DEPLOYMENT).decode_logs(
        [_log("AbsorbCollateral", {"asset": WETH, "collateralAbsorbed": 5, "usdValue": 7}, 0)], DEPLOYMENT)
    assert "without the AbsorbDebt" in row["incomplete_reason"]
    assert row["debt_repaid_raw"] is None and row["bad_debt_raw"] is None and row["collateral_seized_raw"] == "5"


def test_decode_refuses_unknown_emitter_anonymous_wrong_topics_and_short_data() -> None:
    good = _log("AbsorbCollateral", {"asset": WETH, "collateralAbsorbed": 5, "usdValue": 7}, 0)
    stranger = {**good, "address": "0x" + "99" * 20, "logIndex": 1}
    anonymous = {**good, "topics": [], "logIndex": 2}
    three_topics = {**good, "topics": good["topics"][:3], "logIndex": 3}
    short = {**good, "data": good["data"][:-2], "logIndex": 4}
    other_event = {**good, "topics": ["0x" + "00" * 32], "logIndex": 5}
    out = adapter_for(DEPLOYMENT).decode_logs([stranger, anonymous, three_topics, short, other_event], DEPLOYMENT)
    errors = [r["error"] for r in out]
    assert "is not a contract of compound-v3/usdc" in errors[0]
    assert "anonymous log" in errors[1]
    assert "AbsorbCollateral has 4 topics, the log has 3" in errors[2]
    assert "data is 63 bytes, expected 64" in errors[3]
    assert "is not one of AbsorbCollateral, AbsorbDebt" in errors[4]


def test_decode_a_refused_leg_marks_its_absorb_incomplete() -> None:
    legs = [_log("AbsorbCollateral", {"asset": WETH, "collateralAbsorbed": 5, "usdValue": 7}, 0),
            _log("AbsorbCollateral", {"asset": USDC, "collateralAbsorbed": 1, "usdValue": 3}, 1),
            _log("AbsorbDebt", {"basePaidOut": 9, "usdValue": 10}, 2)]
    legs[1] = {**legs[1], "data": "0x1234"}
    out = adapter_for(DEPLOYMENT).decode_logs(legs, DEPLOYMENT)
    errors, (row,) = [r for r in out if "error" in r], [r for r in out if "error" not in r]
    assert len(errors) == 1 and "did not decode" in row["incomplete_reason"]


@given(st.integers(0, 10**30), st.lists(st.integers(0, 10**20), min_size=1, max_size=8))
def test_allocate_keeps_the_total_and_stays_within_one_unit(total: int, weights: list[int]) -> None:
    parts = allocate(total, weights)
    assert sum(parts) == total
    effective = weights if sum(weights) else [1] * len(weights)
    for part, weight in zip(parts, effective):
        exact = Fraction(total * weight, sum(effective))
        assert exact - 1 < part < exact + 1


def test_comet_abi_matches_the_reference_topics_and_selectors() -> None:
    """docs/sources/events.md#topic0-values."""
    assert COMET.event("AbsorbDebt").topic0 == "0x1547a878dc89ad3c367b6338b4be6a65a5dd74fb77ae044da1e8747ef1f4f62f"
    assert COMET.event("AbsorbCollateral").topic0 == "0x9850ab1af75177e4a9201c65a2cf7976d5d28e40ef63494b44366f86b2f9412e"
    assert COMET.event("BuyCollateral").topic0 == "0xf891b2a411b0e66a5f0a6ff1368670fefa287a13f541eb633a386a1a9cc7046b"
    selectors = {name: COMET.fn(name).selector.hex() for name in
                 ("getAssetInfoByAddress", "storeFrontPriceFactor", "getPrice", "baseTokenPriceFeed")}
    assert selectors == {"getAssetInfoByAddress": "3b3bec2e", "storeFrontPriceFactor": "1f5954bd",
                         "getPrice": "41976e09", "baseTokenPriceFeed": "e7dad6bd"}
