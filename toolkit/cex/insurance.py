"""Insurance fund ledger and ADL trigger.

Sources (``../shared/reference/cex-engines.md``):

* §1.7 BitMEX (https://www.bitmex.com/app/liquidation): a fill better than the bankruptcy price is a surplus for the
  fund; a fill worse is a shortfall the fund pays; when the fund cannot, ADL (§1.9: "Insurance Fund for that
  contract depleted").
* §2.3 OKX: ADL also when the fund dropped 30% from its peak within 8 hours; §2.2 Bybit: when a symbol's
  drawdown over 8 hours reaches 100% of the fund's highest balance. Both are the optional drawdown trigger here.
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
        self._peaks: deque[tuple[datetime, Decimal]] = deque([(start, balance)])

    def book(self, time: datetime, delta: Decimal, reason: str, account: str | None = None) -> FundEntry | None:
        """Add ``delta`` (negative: the fund pays); returns the entry, or ``None`` for a zero change."""
        if delta == 0:
            return None
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

    def can_cover(self, shortfall: Decimal, time: datetime) -> bool:
        """Whether the fund pays ``shortfall`` itself (else ADL): enough balance, and within the drawdown limit."""
        if shortfall > self.balance:
            return False
        if self.drawdown_limit is None:
            return True
        return self.balance - shortfall >= (1 - self.drawdown_limit) * self.peak(time)
