"""Insurance fund ledger and ADL trigger.

Sources:

* docs/sources/venues.md#bitmex-insurance-fund-and-adl (https://www.bitmex.com/app/liquidation): a fill better
  than the bankruptcy price is a surplus for the fund; a fill worse is a shortfall the fund pays; when the fund
  of the contract is depleted, ADL.
* docs/sources/venues.md#okx-adl: ADL also when the fund dropped 30% from its peak within 8 hours;
  docs/sources/venues.md#bybit-adl: when a symbol's drawdown over 8 hours reaches 100% of the fund's highest
  balance. Both are the optional drawdown trigger here.

Loss waterfall (docs/sources/venues.md#loss-waterfall): the fund pays from its balance (down to the drawdown
floor where the venue has one) and never beyond it; what it cannot pay goes to ADL. :attr:`InsuranceFund.uncovered`
counts any amount booked beyond that (a loss no counterparty was left to take, or a rounding-sized deficit), so a
balance below zero is never silent: the engines report it in the summary (``insurance_fund_uncovered``).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal


@dataclass(frozen=True)
class FundEntry:
    """One booked change of the fund (settlement currency)."""

    time: datetime
    delta: Decimal
    balance: Decimal
    reason: str
    account: str | None


class InsuranceFund:
    """Balance, booked changes, and the recent peak for the drawdown trigger.

    ``drawdown_limit``: fraction of the peak balance of the last ``drawdown_window`` the fund may lose before
    ADL replaces it (``None``: only an insufficient balance triggers ADL).
    """

    def __init__(self, balance: Decimal, start: datetime, drawdown_limit: Decimal | None = None,
                 drawdown_window: timedelta = timedelta(hours=8)) -> None:
        self.initial = balance
        self.balance = balance
        self.drawdown_limit = drawdown_limit
        self.drawdown_window = drawdown_window
        self.entries: list[FundEntry] = []
        self.uncovered = Decimal(0)
        self._peaks: deque[tuple[datetime, Decimal]] = deque([(start, balance)])

    def book(self, time: datetime, delta: Decimal, reason: str, account: str | None = None) -> FundEntry | None:
        """Add ``delta`` (negative: the fund pays); returns the entry, or ``None`` for a zero change. A payment
        beyond :meth:`payable` adds the excess to :attr:`uncovered`."""
        if delta == 0:
            return None
        if delta < 0:
            self.uncovered += max(Decimal(0), -delta - self.payable(time))
        self.balance += delta
        entry = FundEntry(time, delta, self.balance, reason, account)
        self.entries.append(entry)
        while self._peaks and self._peaks[-1][1] <= self.balance:
            self._peaks.pop()
        self._peaks.append((time, self.balance))
        return entry

    def peak(self, time: datetime) -> Decimal:
        """Highest balance booked within the drawdown window ending at ``time``."""
        while len(self._peaks) > 1 and self._peaks[0][0] < time - self.drawdown_window:
            self._peaks.popleft()
        return max(self._peaks[0][1], self.balance)

    def payable(self, time: datetime) -> Decimal:
        """What the fund can still pay at ``time``: its balance above the drawdown floor
        (``(1 - drawdown_limit) x peak``, or zero), never less than zero."""
        floor = Decimal(0) if self.drawdown_limit is None else (1 - self.drawdown_limit) * self.peak(time)
        return max(Decimal(0), self.balance - max(Decimal(0), floor))

    def can_cover(self, shortfall: Decimal, time: datetime) -> bool:
        """Whether the fund pays ``shortfall`` itself (else ADL): enough balance, and within the drawdown limit."""
        return shortfall <= self.payable(time)
