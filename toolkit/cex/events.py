"""Typed events the simulation engines emit, and the simulation result.

All amounts are in the settlement currency, signed from the point of view named in each field; quantities are
contracts; prices quote currency. ``side`` is +1 (long) / -1 (short) of the position the event is about.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, ClassVar

from toolkit.cex.instruments import side_name


@dataclass(frozen=True)
class _PositionEvent:
    """What every event about a position says first: when, whose, which instrument, the position's
    side, and the quantity and price the event is about."""

    time: datetime
    account: str
    symbol: str
    side: int
    qty: Decimal
    price: Decimal


@dataclass(frozen=True)
class FundingPayment(_PositionEvent):
    """A position paid (``amount > 0``) or received (``amount < 0``) funding at a funding time."""

    kind: ClassVar[str] = "funding"
    rate: Decimal
    amount: Decimal


@dataclass(frozen=True)
class PartialLiquidation(_PositionEvent):
    """The engine closed ``qty`` of a position in the market at ``price``; the trader keeps the rest."""

    kind: ClassVar[str] = "partial_liquidation"
    value: Decimal
    realized_pnl: Decimal
    fee: Decimal
    remaining_qty: Decimal


@dataclass(frozen=True)
class Takeover(_PositionEvent):
    """The liquidation engine took the whole position at ``price`` (the bankruptcy price); the trader's remaining
    equity ``amount`` went to the insurance fund."""

    kind: ClassVar[str] = "takeover"
    mark: Decimal
    amount: Decimal


@dataclass(frozen=True)
class Fill(_PositionEvent):
    """A liquidation order filled in the market. ``owner`` ``trader``: the trader's own position was closed
    (market-style venues) and ``fee`` went to the fund; ``insurance_fund``: the fund closed a position it took
    over, ``realized_pnl`` is its surplus (> 0) or shortfall (< 0)."""

    kind: ClassVar[str] = "fill"
    value: Decimal
    realized_pnl: Decimal
    fee: Decimal
    owner: str


@dataclass(frozen=True)
class InsuranceFundChange:
    """A booked change of the insurance fund and its balance afterwards."""

    kind: ClassVar[str] = "insurance_fund"
    time: datetime
    account: str | None
    symbol: str
    amount: Decimal
    balance: Decimal
    reason: str


@dataclass(frozen=True)
class Deleverage:
    """ADL: ``counterparty``'s position (``side``) was closed by ``qty`` at ``price`` against the liquidated order
    of ``account``; ``percentile`` is the counterparty's ADL indicator (20% steps) at that moment."""

    kind: ClassVar[str] = "adl"
    time: datetime
    account: str
    symbol: str
    counterparty: str
    side: int
    qty: Decimal
    price: Decimal
    value: Decimal
    realized_pnl: Decimal
    percentile: Decimal


Event = FundingPayment | PartialLiquidation | Takeover | Fill | InsuranceFundChange | Deleverage

EVENT_COLUMNS = ("time", "event", "account", "symbol", "side", "qty", "price", "mark", "value", "rate", "amount",
                 "realized_pnl", "fee", "remaining_qty", "balance", "reason", "owner", "counterparty",
                 "percentile")


def event_row(event: Event) -> dict[str, Any]:
    """One flat row with :data:`EVENT_COLUMNS` keys (absent fields are ``None``)."""
    row: dict[str, Any] = dict.fromkeys(EVENT_COLUMNS)
    row.update(asdict(event))
    row["event"] = event.kind
    if row["side"] is not None:
        row["side"] = side_name(row["side"])
    return row


@dataclass
class PositionSnapshot:
    """A position still open at the end of a simulation."""

    account: str
    symbol: str
    side: int
    qty: Decimal
    entry_value: Decimal
    margin: Decimal | None


@dataclass
class SimulationResult:
    """What a simulation produced: events, fund balance after each tick, final state, settlement currency."""

    events: list[Event]
    fund_path: list[tuple[datetime, Decimal]]
    positions: list[PositionSnapshot]
    wallets: dict[str, Decimal]
    initial_collateral: dict[str, Decimal]
    initial_fund: Decimal
    currency: str
    final_marks: dict[str, Decimal]
    venue_fees: Decimal = field(default=Decimal(0))
    fund_uncovered: Decimal = field(default=Decimal(0))

    def summary(self) -> dict[str, Any]:
        """Liquidations, volume, shortfalls and ADL, computed from the events.

        ``shortfall_paid_by_fund``: everything the insurance fund paid out (the sum of its negative changes: fills
        worse than the bankruptcy price, the gap of an ADL at the mark price, deficits), the fund's part of the
        losses; ``insurance_fund_uncovered``: the part of it paid beyond the fund's balance (zero unless ADL found
        too few counterparties; :class:`toolkit.cex.insurance.InsuranceFund`)."""
        counts = Counter(e.kind for e in self.events)
        trader_fills = [e for e in self.events if isinstance(e, Fill) and e.owner == "trader"]
        fund_fills = [e for e in self.events if isinstance(e, Fill) and e.owner == "insurance_fund"]
        takeovers = [e for e in self.events if isinstance(e, Takeover)]
        partials = [e for e in self.events if isinstance(e, PartialLiquidation)]
        adl = [e for e in self.events if isinstance(e, Deleverage)]
        shortfalls = [e.realized_pnl for e in fund_fills if e.realized_pnl < 0]
        adl_orders = {(e.time, e.account, e.symbol) for e in adl}
        funding = [e.amount for e in self.events if isinstance(e, FundingPayment)]
        return {
            "currency": self.currency,
            "liquidations": len(takeovers) + len(trader_fills),
            "takeovers": len(takeovers),
            "market_liquidations": len(trader_fills),
            "partial_liquidations": len(partials),
            "liquidated_accounts": len({e.account for e in (*takeovers, *trader_fills, *partials)}),
            "liquidation_volume": sum((e.value for e in (*partials, *trader_fills, *fund_fills, *adl)), Decimal(0)),
            "shortfalls": len(shortfalls) + len(adl_orders),
            "shortfall_paid_by_fund": -sum((e.amount for e in self.events
                                            if isinstance(e, InsuranceFundChange) and e.amount < 0), Decimal(0)),
            "insurance_fund_uncovered": self.fund_uncovered,
            "adl_orders": len(adl_orders),
            "adl_count": len(adl),
            "adl_volume": sum((e.value for e in adl), Decimal(0)),
            "funding_payments": counts["funding"],
            "funding_paid": sum(funding, Decimal(0)),
            "insurance_fund_start": self.initial_fund,
            "insurance_fund_end": self.fund_path[-1][1] if self.fund_path else self.initial_fund,
            "insurance_fund_min": min((b for _, b in self.fund_path), default=self.initial_fund),
            "venue_fees": self.venue_fees,
            "open_positions": len(self.positions),
        }
