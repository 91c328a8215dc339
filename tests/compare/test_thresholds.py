"""Thresholds: lending formulas, venue quotes, on-chain reads at a block, history, stored rows, the frame.

Expectations are computed here from their sources, not by the code under test: the lending relations
``HF = C x LT / D`` and ``L = C / (C - D)`` solved by hand; the venues' published closed forms
(docs/sources/venues.md: BitMEX liquidation price (fitted model), Binance, Bybit, Hyperliquid liquidation price entries); the reserve
parameters the devchain deployment set (``toolkit.devchain.aave_v3/aave_v2.RESERVE_PARAMS``) and the block of
a governance transaction's receipt.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from fractions import Fraction

import pandas as pd
import pytest

from toolkit.compare import thresholds, thresholds_from_rows
from toolkit.compare.contracts import VenueContract, venue_era
from toolkit.compare.leverage import (lending_adverse_move, lending_leverage, lending_max_leverage,
                                      perp_adverse_move)
from toolkit.compare.thresholds import read_protocol_thresholds, threshold_history
from toolkit.cex import load_venue
from toolkit.devchain import aave_v2, aave_v3
from toolkit.errors import UserInputError

AS_OF = datetime(2025, 1, 1, tzinfo=UTC)


def test_lending_formulas_solve_the_health_factor() -> None:
    collateral, debt, lt = Fraction(10_000), Fraction(8_000), Fraction(83, 100)
    leverage = lending_leverage(collateral, debt)
    assert leverage == 5
    # HF = C (1 - d) LT / D = 1  <=>  d = 1 - D / (C LT)
    assert lending_adverse_move(leverage, lt) == 1 - debt / (collateral * lt)
    assert lending_max_leverage(Fraction(805, 1000)) == Fraction(1000, 195)
    assert lending_leverage(collateral, collateral) is None and lending_max_leverage(Fraction(1)) is None


@pytest.mark.parametrize(("venue", "leverage", "expected"), [
    # BitMEX fitted inverse model LP = E / (1 + 1/L - b), b = MMR (funding 0): move = 1 - 1 / (1 + 1/L - MMR)
    ("bitmex", 25, 1 - 1 / (1 + Decimal(1) / 25 - Decimal("0.005"))),
    # Binance isolated linear, cum 0: LP = E (1 - 1/L) / (1 - MMR)
    ("binance-usdm", 10, 1 - (1 - Decimal(1) / 10) / (1 - Decimal("0.004"))),
    # Bybit USDT isolated: LP = E (1 - IMR + MMR)
    ("bybit", 10, Decimal(1) / 10 - Decimal("0.005")),
    # Hyperliquid: maintenance on the mark value, 1.25 % at 40x
    ("hyperliquid", 40, 1 - (1 - Decimal(1) / 40) / (1 - Decimal("0.0125"))),
])
def test_perp_adverse_move_is_the_venue_formula(venue: str, leverage: int, expected: Decimal) -> None:
    move = perp_adverse_move(VenueContract.of(venue), Decimal(leverage), moment=AS_OF)
    assert move.tier == 1 and move.era_in_force
    assert move.adverse_move == pytest.approx(expected, rel=Decimal("1e-20"))


def test_leverage_above_the_tier_maximum_has_no_move() -> None:
    move = perp_adverse_move(VenueContract.of("hyperliquid"), Decimal(41), moment=AS_OF)
    assert move.adverse_move is None and move.max_leverage == 40


def test_venue_era_before_the_profile_is_a_counterfactual() -> None:
    profile = load_venue("hyperliquid")
    era, in_force = venue_era(profile, "BTC", datetime(2020, 3, 13, tzinfo=UTC))
    assert (era.name, in_force) == ("2023-07-17-50x", False)  # its earliest era, the meta snapshot of 2023-07-17
    era, in_force = venue_era(load_venue("bitmex"), "XBTUSD", datetime(2020, 3, 13, tzinfo=UTC))
    assert (era.name, in_force) == ("2019-base-200xbt", True)


@pytest.mark.node
def test_chain_reads_equal_the_deployed_parameters(chain, store_path) -> None:
    for protocol, params in (("aave-v3", aave_v3.RESERVE_PARAMS), ("aave-v2", aave_v2.RESERVE_PARAMS)):
        records = read_protocol_thresholds("devchain", protocol, rpc=chain.url, store=store_path)
        head = chain.chain.w3.eth.get_block("finalized").number
        assert {r.symbol for r in records} == {"WETH", "WBTC"}  # the stored liquidations' collateral
        for record in records:
            expected = params[record.symbol]
            assert record.block_number == head
            assert record.native_raw == str(expected.liquidation_threshold)
            assert record.threshold == Fraction(expected.liquidation_threshold, 10_000)
            assert record.borrow_limit == Fraction(expected.ltv, 10_000)
            assert record.bonus == Fraction(expected.liquidation_bonus, 10_000)
    # at a date: the first block at or after it
    block = chain.chain.w3.eth.get_block(200)
    (dated, *_) = read_protocol_thresholds("devchain", "aave-v3", date=datetime.fromtimestamp(block.timestamp, UTC),
                                           assets=[chain.v3.reserve("WBTC").underlying], rpc=chain.url)
    assert (dated.block_number, dated.symbol) == (200, "WBTC")


def test_venue_contracts_parse_and_refuse_unknown_names() -> None:
    assert VenueContract.of("binance-usdm") == VenueContract("binance-usdm", "BTCUSDT")
    assert str(VenueContract.of("bitmex:ETHUSDT")) == "bitmex:ETHUSDT"
    with pytest.raises(UserInputError, match="unknown venue 'ftx'"):
        VenueContract.of("ftx")
    with pytest.raises(UserInputError, match="bitmex has no symbol 'DOGE'"):
        VenueContract.of("bitmex:DOGE")


@pytest.mark.node
def test_history_locates_a_governance_change_at_its_block(chain, store_path) -> None:
    snapshot = chain.snapshot()
    try:
        weth = chain.v3.reserve("WETH").underlying
        configurator = chain.chain.at(aave_v3.POOL_CONFIGURATOR, chain.v3.addresses()["poolConfigurator"])
        params = aave_v3.RESERVE_PARAMS["WETH"]
        chain.mine(7)
        receipt = chain.chain.transact(configurator.functions.configureReserveAsCollateral(
            weth, params.ltv, 8_400, params.liquidation_bonus))
        end = chain.mine(13)
        history = threshold_history("devchain", "aave-v3", from_block=receipt["blockNumber"] - 20, to_block=end,
                                    step=16, assets=[weth], rpc=chain.url)
    finally:
        chain.revert(snapshot)
    start, change = history.to_dict("records")
    assert start["change"] == "start" and start["native_value"] == str(params.liquidation_threshold)
    assert change["change"] == "changed" and change["block_number"] == receipt["blockNumber"]
    assert (change["previous_native_value"], change["native_value"]) == (str(params.liquidation_threshold), "8400")
    assert change["borrow_limit"] == change["previous_borrow_limit"] == params.ltv / 10_000


@pytest.mark.node
def test_stored_rows_give_each_protocols_native_parameter(liquidations) -> None:
    records = {(r.protocol, r.symbol): r for r in thresholds_from_rows(liquidations)}
    weth = records[("aave-v3", "WETH")]
    assert (weth.parameter, weth.native_raw, weth.native_unit) == ("liquidation threshold", "8300", "bps")
    lltv = records[("morpho-blue", "WETH")]
    assert (lltv.parameter, lltv.native_raw, lltv.native_unit) == ("LLTV", str(86 * 10**16), "wad")
    assert lltv.threshold == lltv.borrow_limit == Fraction(86, 100)
    assert records[("morpho-blue", "WBTC")].threshold == Fraction(77, 100)


@pytest.mark.node
def test_frame_has_both_sides_on_the_common_grid(liquidations) -> None:
    frame = thresholds(thresholds_from_rows(liquidations), ["bitmex", "hyperliquid"], as_of=AS_OF,
                       source="stored liquidations")
    morpho = frame[(frame.name == "morpho-blue") & (frame.symbol == "WETH")].iloc[0]
    # At the maximum leverage 1 / (1 - LLTV) Morpho positions sit on the threshold: no move left.
    assert morpho.max_leverage == pytest.approx(1 / (1 - 0.86))
    assert morpho.adverse_move_at_max_leverage == 0
    assert morpho.maintenance_share == pytest.approx(0.14)
    assert morpho.adverse_move_5x == float(1 - (1 - Fraction(1, 5)) / Fraction(86, 100))
    assert pd.isna(morpho.adverse_move_10x)  # above the maximum leverage
    bitmex = frame[frame.name == "bitmex"].iloc[0]
    assert (bitmex.native_value, bitmex.max_leverage, bitmex.era) == ("0.005", 100.0, "2021-08-31-step150")
    assert bitmex.adverse_move_20x == pytest.approx(float(1 - 1 / (1 + Decimal("0.05") - Decimal("0.005"))))
