"""ADL versus bad debt: the DeFi side from the stored bad-debt columns, the venue side from engine runs.

DeFi expectations come from the Morpho scenario's own ``Liquidate`` event (``badDebtAssets``, USDC at the
devchain's $1.00000000 feed). The venue expectation is worked out by hand on a one-step crash from 10,000 to
5,000: every derived long (isolated, margin = entry value / leverage, leverage ``1 / (1 - HF x D / N)``) is
bankrupt at ``B = E (1 - 1/L)``, above the new mark, so the engine takes it over at ``B`` and, with an empty
insurance fund, deleverages the suppliers' shorts at ``B`` (Binance ADL price, docs/sources/venues.md#binance-insurance-fund-and-adl): they lose
``q (B - 5,000)`` against closing at the mark. With a large fund the fund pays the same amount instead.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import ROUND_FLOOR, Decimal

import pandas as pd
import pytest

from toolkit.cex import PricePath
from toolkit.compare import adl_vs_bad_debt, bar_path, defi_losses
from toolkit.devchain.anvil import repo_root
from toolkit.errors import UserInputError

START = datetime(2025, 1, 2, 1, 0, tzinfo=UTC)
CRASH = PricePath((START, START + timedelta(minutes=1)), {"PATH": (Decimal(10_000), Decimal(5_000))})
PRICES = repo_root() / "fixtures" / "prices"


def _shortfall(liquidations) -> Decimal:
    total = Decimal(0)
    for _, row in liquidations.drop_duplicates(["protocol", "market_id", "borrower"]).iterrows():
        notional, debt = Decimal(repr(row.borrower_collateral_usd)), Decimal(repr(row.borrower_debt_usd))
        threshold = Decimal(int(row.health_factor_before_raw)) / 10**18 * debt / notional
        leverage = 1 / (1 - threshold)
        qty = (notional / 10_000).quantize(Decimal("0.001"), rounding=ROUND_FLOOR)
        bankruptcy = 10_000 * (1 - 1 / leverage)
        total += qty * (bankruptcy - 5_000)
    return total


@pytest.mark.node
def test_defi_side_is_the_recorded_bad_debt(liquidations, scenarios) -> None:
    frame = defi_losses(liquidations).set_index("name")
    (bad,) = [s for s in scenarios["morpho-blue"] if s["kind"] == "bad_debt"]
    morpho = frame.loc["morpho-blue"]
    assert morpho.mechanism == "supplier_socialized" and morpho.counterpart == "ADL (suppliers' haircut)"
    assert morpho.socialized_usd == float(Decimal(bad["bad_debt_assets"]) / 10**6)
    assert (morpho.bad_debt_rows, morpho.buffer_drawdown_usd, morpho.unrecorded_rows) == (1, 0.0, 0)
    for protocol in ("aave-v3", "aave-v2"):  # v3.0-3.2 and v2 record no bad debt: unknown, not zero
        assert frame.loc[protocol].unrecorded_rows == 2 and pd.isna(frame.loc[protocol].socialized_usd)


@pytest.mark.node
def test_empty_fund_socializes_every_shortfall_by_adl(liquidations) -> None:
    comparison = adl_vs_bad_debt(liquidations, CRASH, ["binance-usdm"])
    (row,) = comparison.perp.to_dict("records")
    longs = liquidations.drop_duplicates(["protocol", "market_id", "borrower"])
    assert row["positions"] == row["liquidations"] == row["adl_orders"] == len(longs)
    assert row["socialized_usd"] == pytest.approx(float(_shortfall(liquidations)), abs=0.1)
    assert row["insurance_fund_paid_usd"] == pytest.approx(0, abs=0.1)
    assert 1 <= row["adl_counterparties"] <= liquidations.market_id.nunique()
    assert row["venue_era_in_force"]  # the Binance BTCUSDT era of 2021-03-26 was in force in 2025


@pytest.mark.node
def test_a_large_fund_pays_the_same_shortfall(liquidations) -> None:
    comparison = adl_vs_bad_debt(liquidations, CRASH, ["binance-usdm"], insurance_fund=Decimal(10**9))
    (row,) = comparison.perp.to_dict("records")
    assert row["adl_orders"] == 0 and row["socialized_usd"] == 0
    assert row["insurance_fund_paid_usd"] == pytest.approx(float(_shortfall(liquidations)), abs=0.1)
    assert row["buffer_drawdown_usd"] == pytest.approx(row["insurance_fund_paid_usd"], abs=0.1)
    assert len(comparison.table()) == len(comparison.defi) + 1


def test_bar_path_reads_the_fixture_and_interpolates_exactly() -> None:
    hourly = bar_path(PRICES / "binance_spot_BTCUSDT_1h_2020-03-12_window.csv")
    assert len(hourly.times) == 168 and hourly.marks["PATH"][:2] == (Decimal("8081.54"), Decimal("8084.93"))
    fine = bar_path(PRICES / "binance_spot_BTCUSDT_1h_2020-03-12_window.csv", steps_per_bar=4,
                    start=datetime(2020, 3, 9), end=datetime(2020, 3, 9, 1))
    assert fine.times == tuple(datetime(2020, 3, 9, tzinfo=UTC) + timedelta(minutes=15 * k) for k in range(5))
    assert fine.marks["PATH"][2] == (Decimal("8081.54") + Decimal("8084.93")) / 2


def test_bar_path_refuses_a_file_with_missing_bars() -> None:
    with pytest.raises(UserInputError, match="gap"):
        bar_path(PRICES / "gemini_BTCUSD_1m_ohlcv_2025-10-10_derived_from_trades.csv")


def test_liquidations_are_counted_by_join_key_not_by_event_rows() -> None:
    """One Maker liquidation is a ``Bark`` row and a ``Take`` row sharing ``clipper:auction id``; an Aave v3.3
    liquidation with bad debt is a ``LiquidationCall`` and a ``DeficitCreated`` sharing ``tx_hash:log_index``
    (docs/schema.md, ``join_key``): 5 rows here, 3 liquidations, plus one row without a key counted once."""
    rows = pd.DataFrame({
        "protocol": ["maker", "maker", "aave-v3", "aave-v3", "aave-v3", "aave-v3"],
        "event": ["Bark", "Take", "LiquidationCall", "DeficitCreated", "LiquidationCall", "DeficitCreated"],
        "join_key": ["0xclip:7", "0xclip:7", "0xaa:3", "0xaa:3", "0xbb:1", None],
        "bad_debt_mechanism": ["surplus_buffer"] * 2 + ["deficit"] * 4,
        "market_id": ["ETH-A"] * 2 + ["m"] * 4, "borrower": ["0x1", "0x1", "0x2", "0x2", "0x3", "0x4"],
        "bad_debt_raw": [None, None, "0", "5", "0", "1"], "bad_debt_usd": [None, None, 0.0, 5.0, 0.0, 1.0],
        "collateral_seized_usd": [1.0] * 6, "protocol_fee_usd": [0.0] * 6,
    })
    counts = defi_losses(rows).set_index("name")["liquidations"]
    assert counts.to_dict() == {"aave-v3": 3, "maker": 1}
