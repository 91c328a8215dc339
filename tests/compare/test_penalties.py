"""Penalties and ``pair`` on the real local-chain liquidations.

The DeFi side is checked against the scenario's own numbers (Aave v3 bonus 5 % of the debt repaid, of which
10 % goes to the treasury; Morpho's bad-debt position: 1 WBTC at $40,000 against $45,000 of debt). The venue
side against the venues' rules written out here: BitMEX takes over at the bankruptcy price and the remaining
margin, ``(MMR + funding) x entry value``, goes to the insurance fund (docs/sources/venues.md#bitmex-liquidation-process, #bitmex-initial-and-maintenance-margin); Binance
closes in the market and charges its clearance fee, capped at what is left, here the maintenance margin
``MMR x value`` (docs/sources/venues.md#binance-clearance-fee); Hyperliquid has no liquidation fee and sends only 20 % of a position above 100k USDC
(docs/sources/venues.md#hyperliquid-liquidations), paying the taker fee of the profile on that order.
The equivalent position's liquidation price solves ``q X - D = requirement`` by hand.
"""

from __future__ import annotations

from decimal import Decimal

import pandas as pd
import pytest

from toolkit.compare import pair, penalties

pytestmark = pytest.mark.node

BITMEX_RATE = Decimal("0.005") + Decimal("0.0001")  # base MMR + the default funding rate longs pay (I = 0.01 %)


def _d(value: float) -> Decimal:
    return Decimal(repr(value))


def _row(frame: pd.DataFrame, protocol: str, collateral: str, venue: str) -> pd.Series:
    found = frame[(frame.protocol == protocol) & (frame.collateral_symbol == collateral) & (frame.venue == venue)]
    return found.iloc[0]


def test_defi_penalty_is_bonus_plus_protocol_fee(liquidations) -> None:
    frame = penalties(liquidations, ["bitmex"])
    row = _row(frame, "aave-v3", "WETH", "bitmex")
    # 10,000 USDC repaid, LB 105 %: 500 USD above the debt, 50 of it to the treasury (fee 10 % of the bonus).
    assert (row.debt_repaid_usd, row.defi_penalty_usd, row.defi_protocol_fee_usd) == (10_000.0, 500.0, 50.0)
    assert row.defi_penalty_pct_repaid == 5.0
    assert row.defi_closed_share == pytest.approx(10_000 / row.debt_usd)
    assert row.defi_penalty_pct_equity == pytest.approx(100 * 500 / (row.collateral_usd - row.debt_usd))


def test_bitmex_takes_the_remaining_margin_at_its_liquidation_price(liquidations) -> None:
    frame = penalties(liquidations, ["bitmex"])
    for _, row in frame[frame.equity_usd > 0].iterrows():
        price, notional, debt = _d(row.collateral_price_usd), _d(row.collateral_usd), _d(row.debt_usd)
        qty = notional / price
        # entry basis: q X - D = rate x q x P  =>  X = D / q + rate x P
        assert row.perp_liquidation_price == pytest.approx(float(debt / qty + BITMEX_RATE * price), rel=1e-9)
        assert row.perp_action == "takeover" and row.perp_closed_share == 1
        assert row.perp_trader_loss_usd == pytest.approx(float(BITMEX_RATE * notional), rel=1e-9)
        assert row.perp_insurance_fund_change_usd == pytest.approx(row.perp_trader_loss_usd, abs=1e-6)
        assert row.trigger_distance < 0  # 0.51 % maintenance: liquidated far below the DeFi trigger


def test_binance_charges_its_fee_capped_at_what_is_left(liquidations) -> None:
    frame = penalties(liquidations, ["binance-usdm"])
    for _, row in frame[frame.equity_usd > 0].iterrows():
        price, debt = _d(row.collateral_price_usd), _d(row.debt_usd)
        qty = _d(row.collateral_usd) / price
        lp = debt / (qty * (1 - Decimal("0.004")))  # mark basis: q X - D = MMR x q X
        assert row.perp_liquidation_price == pytest.approx(float(lp), rel=1e-9)
        assert row.perp_action == "market close"
        # equity left at LP is 0.4 % of the value, below the 0.5 % clearance fee: the fee takes it all
        assert row.perp_trader_loss_usd == pytest.approx(float(Decimal("0.004") * qty * lp), rel=1e-9)
        assert row.perp_fees_usd == pytest.approx(row.perp_trader_loss_usd, rel=1e-12)


def test_hyperliquid_charges_nothing_and_sends_a_fifth_of_large_positions(liquidations) -> None:
    frame = penalties(liquidations, ["hyperliquid"])
    alive = frame[frame.equity_usd > 0]
    assert (alive.perp_trader_loss_usd == 0).all() and (alive.perp_closed_share == 1).all()
    large = liquidations[liquidations.protocol == "aave-v3"].copy()
    large[["borrower_collateral_usd", "borrower_debt_usd"]] *= 10  # $390k and $480k: above 100k USDC
    scaled = penalties(large, ["hyperliquid"])
    assert (scaled.perp_action == "partial liquidation").all() and (scaled.perp_closed_share == 0.2).all()
    for _, row in scaled.iterrows():
        qty = _d(row.collateral_usd) / _d(row.collateral_price_usd)
        lp = _d(row.debt_usd) / (qty * (1 - Decimal("0.0125")))
        # no liquidation fee; the partial order pays the taker fee (0.045 %) on the fifth it sells at LP
        assert row.perp_trader_loss_usd == pytest.approx(float(Decimal("0.00045") * qty / 5 * lp), rel=1e-9)
        assert row.perp_fees_usd == pytest.approx(row.perp_trader_loss_usd, rel=1e-12)


def test_underwater_position_is_bankrupt_at_the_defi_prices(liquidations, scenarios) -> None:
    (bad,) = [s for s in scenarios["morpho-blue"] if s["kind"] == "bad_debt"]
    frame = penalties(liquidations, ["bitmex", "hyperliquid"])
    rows = frame[frame.tx_hash == bad["tx_hash"].lower()]
    assert len(rows) == 2 and (rows.perp_action == "bankrupt at the DeFi prices").all()
    # 1 WBTC at $40,000 against $45,000 USDC: bankrupt at $45,000, $5,000 short at the DeFi prices
    assert (rows.perp_bankruptcy_price == 45_000).all()
    assert (rows.perp_insurance_fund_change_usd == -5_000).all() and (rows.perp_trader_loss_usd == 0).all()


def test_pair_is_one_row_per_liquidation_and_venue(liquidations) -> None:
    venues = ["bitmex", "binance-usdm:BTCUSDT", "hyperliquid"]
    frame = pair(liquidations, venues)
    assert len(frame) == len(liquidations) * len(venues)
    assert list(frame.venue[:3]) == ["bitmex", "binance-usdm", "hyperliquid"]
    morpho = frame[(frame.protocol == "morpho-blue") & (frame.venue == "bitmex")].iloc[0]
    assert (morpho.defi_parameter, morpho.defi_native_value) == ("LLTV", str(86 * 10**16))
    assert morpho.defi_maintenance_share == pytest.approx(0.14)
    assert (frame.loss_difference_usd == frame.defi_penalty_usd - frame.perp_trader_loss_usd).all()


def test_rows_without_state_are_kept_with_a_note(liquidations) -> None:
    decoded_only = liquidations.head(1).copy()
    state = ["collateral_price_usd", "borrower_collateral_usd", "borrower_debt_usd", "health_factor_before_raw"]
    decoded_only[state] = None
    decoded_only["state_status"] = "skipped"
    frame = pair(decoded_only, ["bitmex"])
    assert len(frame) == 1 and frame.note[0] == "no position to compare (state_status: skipped)"
