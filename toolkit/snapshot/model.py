"""What a positions snapshot is made of: accounts found in the events, each account's composition in the
protocol's own units, the market state at the block, and the interface each protocol family implements.

Composition vs. values. A position's *composition* is what only the account's own transactions change: Aave's
scaled aToken and variable-debt balances, Compound's vTokens and borrow principal with the borrow index it was
set at, Morpho's collateral and borrow shares. Its *values* at a block (collateral and debt in tokens, prices,
health factor) follow from the composition and the *market state* at that block (indexes, prices, parameters),
computed as the protocol computes them. So an incremental snapshot reads again the composition of the accounts
that had events since the last one and carries the others' (``read_block`` says which), then values every account
at the new block with the market state read there.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from toolkit.chain.logs import LogFilter
from toolkit.protocols.base import StateCaller
from toolkit.protocols.registry import Deployment

#: ``(market_id, account)``: one position (an Aave or Compound account in its pool, a Morpho account in a market).
Key = tuple[str, str]


@dataclass
class Holding:
    """One asset of a composition: collateral and debt in protocol units (see :mod:`toolkit.store.schema`
    ``positions``)."""

    asset: str
    uses_as_collateral: bool = False
    collateral_balance: int = 0
    debt_balance: int = 0
    debt_index: int | None = None
    stable_debt: int | None = None


@dataclass
class Composition:
    """An account's composition in one market, read at ``read_block``."""

    market_id: str
    account: str
    read_block: int
    holdings: dict[str, Holding] = field(default_factory=dict)
    emode_category: int = 0
    #: Read again at every snapshot (Aave stable debt changes with time alone).
    always_read: bool = False

    @property
    def key(self) -> Key:
        return self.market_id, self.account


@dataclass
class Discovery:
    """What the events of a block range say: positions touched by any event, positions that borrowed, and
    family-specific facts (Compound: each position's last borrow principal and the index it was set at)."""

    touched: set[Key] = field(default_factory=set)
    borrowers: set[Key] = field(default_factory=set)
    extra: dict[Any, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class AssetState:
    """One asset of a market at the block: identity, oracle price as the protocol uses it, its USD value, and
    the parameters (wad) it has as collateral. ``params`` holds family-specific values (indexes, token
    addresses, e-mode category)."""

    asset: str
    symbol: str | None
    decimals: int
    price_raw: int
    price_unit_raw: int
    price_currency: str
    usd_per_currency_raw: int | None
    usd_per_currency_unit_raw: int | None
    threshold_raw: int
    ltv_raw: int
    params: dict[str, Any] = field(default_factory=dict)

    def price_columns(self, price_raw: int | None = None) -> dict[str, str | None]:
        """The ``positions`` price columns of the asset (as text): ``price_raw`` (default :attr:`price_raw`; Aave
        v3.0 e-mode gives its category's), its unit and currency, and the currency's USD value."""
        return {"price_raw": str(self.price_raw if price_raw is None else price_raw),
                "price_unit_raw": str(self.price_unit_raw), "price_currency": self.price_currency,
                "usd_per_currency_raw": None if self.usd_per_currency_raw is None else str(self.usd_per_currency_raw),
                "usd_per_currency_unit_raw": (None if self.usd_per_currency_unit_raw is None
                                              else str(self.usd_per_currency_unit_raw))}


@dataclass
class MarketState:
    """Everything market-level a family needs at the block, by market id; ``params`` is family-specific."""

    block: int
    assets: dict[str, dict[str, AssetState]] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    #: How the family values positions at this block (stored in ``position_snapshots.rules``).
    rules: str = ""


class SnapshotFamily(Protocol):
    """The interface of ``toolkit/snapshot/<family>.py`` (``FAMILY``)."""

    def log_filter(self, deployment: Deployment, state: MarketState) -> LogFilter:
        """Which logs carry the deployment's account events."""

    def scan(self, logs: Sequence[dict[str, Any]], deployment: Deployment, found: Discovery) -> None:
        """Add what ``logs`` (in block order) say to ``found``."""

    async def market_state(self, deployment: Deployment, state: StateCaller, block: int,
                           keys: Iterable[Key]) -> MarketState:
        """The market state at ``block`` for the positions ``keys`` (Morpho reads only their markets)."""

    async def compositions(self, deployment: Deployment, state: StateCaller, market: MarketState,
                           keys: Sequence[Key], found: Discovery,
                           carried: dict[Key, Composition]) -> list[Composition]:
        """The compositions of ``keys`` read at the market's block (``carried`` holds earlier ones, for what the
        block's state does not say, e.g. a Compound principal's index)."""

    def rows(self, deployment: Deployment, market: MarketState, composition: Composition) -> list[dict[str, Any]]:
        """The ``positions`` rows of one composition valued at the market's block (no snapshot identity
        columns); empty when the account has no debt."""


class CheckedFamily(SnapshotFamily, Protocol):
    """A family that can ask the protocol for its own account totals (Aave ``getUserAccountData``)."""

    async def check(self, deployment: Deployment, state: StateCaller, block: int,
                    keys: Sequence[Key]) -> dict[Key, tuple[int, int, int]]:
        """(account collateral, account debt, health factor) of ``keys`` at ``block`` as the protocol's own view
        answers them, in the units of the rows' ``account_collateral_raw``, ``account_debt_raw``,
        ``health_factor_raw``."""


def is_address_word(word: str) -> bool:
    """A 32-byte hex word that holds an address: twelve zero bytes, then a value above 2^40 (smaller values
    are amounts or flags more likely than addresses)."""
    return len(word) == 64 and word.startswith("0" * 24) and int(word[24:], 16) >= 1 << 40


def log_addresses(log: dict[str, Any], first_topic: int = 1) -> set[str]:
    """Every address a log names in its topics from ``first_topic`` on and in its data words (over-inclusive:
    an account touched by an event is always among them; a false one only costs a read)."""
    words = [str(t)[2:] for t in log.get("topics", [])[first_topic:]]
    data = str(log.get("data") or "0x")[2:]
    words += [data[i:i + 64] for i in range(0, len(data) - 63, 64)]
    return {"0x" + word[24:].lower() for word in words if is_address_word(word.lower())}
