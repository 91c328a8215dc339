"""A gap in the price path on a venue: the first shortfall is paid by the insurance fund, the next, with the fund
too small, by ADL of the opposite side (toolkit.cex through toolkit.crash.venues, no chain)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from toolkit.cex import PricePath
from toolkit.cex.events import Deleverage, Fill, InsuranceFundChange, Takeover
from toolkit.compare import VenueContract
from toolkit.crash.population import Borrower, borrower_address, perp_position
from toolkit.crash.venues import LENDER_SUFFIX, ledger, outcomes, run_venue, venue_population

D = Decimal
START = datetime(2025, 10, 10, tzinfo=UTC)
OPEN = D(2000)


def borrower(index: int, debt_usdc: int) -> Borrower:
    """1 WETH of collateral against ``debt_usdc`` USDC (Aave v3)."""
    return Borrower(index, "aave-v3", borrower_address(index), "WETH", 10**18, 0, debt_usdc * 10**6, D("1.1"))


def test_a_gap_is_paid_by_the_fund_then_by_adl_once_the_fund_is_empty() -> None:
    # Equity 500 and 800 USD on 1 WETH: bankrupt near 1,500 and 1,200 USD. The path gaps from 2,000 to 1,400
    # (a shortfall of about 100 on the first) and then to 1,000 (about 200 on the second); the fund holds 150.
    first, second = borrower(0, 1500), borrower(1, 1200)
    assert (perp_position(first, OPEN).margin, perp_position(second, OPEN).margin) == (D(500), D(800))
    times = tuple(START + timedelta(hours=h) for h in range(4))
    path = PricePath(times, {"PATH": (OPEN, D(1400), D(1400), D(1000))})
    population = venue_population(VenueContract("bitmex", "ETHUSDT"), [first, second], START, OPEN)
    result = run_venue(population, path, D(150), seed=0)

    takeovers = [e for e in result.events if isinstance(e, Takeover)]
    assert [(e.account, e.time) for e in takeovers] == [("p0000", times[1]), ("p0001", times[3])]
    fund_fill = next(e for e in result.events if isinstance(e, Fill) and e.owner == "insurance_fund")
    assert fund_fill.account == "p0000" and fund_fill.time == times[1] and fund_fill.realized_pnl < 0
    shortfall = -fund_fill.realized_pnl
    assert D(90) < shortfall < D(110)
    balances = dict(result.fund_path)
    assert balances[times[0]] == D(150) and balances[times[1]] == D(150) - shortfall
    adl = [e for e in result.events if isinstance(e, Deleverage)]
    assert adl and {e.account for e in adl} == {"p0001"} and all(e.time == times[3] for e in adl)
    assert {e.counterparty for e in adl} <= {"p0000" + LENDER_SUFFIX, "p0001" + LENDER_SUFFIX}
    assert sum(e.qty for e in adl) == D(1)  # the whole taken-over position closed against the lenders
    assert not any(isinstance(e, InsuranceFundChange) and e.reason == "fill_shortfall" and e.time == times[3]
                   for e in result.events)
    assert balances[times[3]] == balances[times[1]]  # the empty-ish fund paid nothing more

    done = outcomes(result, population, path)
    assert done["p0000"].fund_paid == shortfall and done["p0000"].adl_value == 0
    assert done["p0001"].fund_paid == 0 and done["p0001"].adl_value > 0
    assert sum((done[a + LENDER_SUFFIX].haircut for a in ("p0000", "p0001")), D(0)) > 0
    assert ledger(result, population.accounts, population.profile)["residual"] == 0
