"""Accounts and positions as given by the user, checked against a venue profile.

Every check raises :class:`~toolkit.errors.UserInputError` with the offending field's name (``label`` turns a
field name into what the user typed: ``positions[1].leverage`` in a file, ``--leverage`` on the command line).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import Enum

from toolkit.cex.instruments import Instrument
from toolkit.cex.tiers import RiskTier, override_tier, tier_for_size
from toolkit.cex.venues import Era, Provenance, VenueProfile
from toolkit.errors import UserInputError


class MarginMode(str, Enum):
    ISOLATED = "isolated"
    CROSS = "cross"


@dataclass(frozen=True, slots=True)
class PositionSpec:
    """One position: ``size`` in contracts, prices in quote currency, overrides as fractions / settlement units."""

    symbol: str
    side: int
    size: Decimal
    entry_price: Decimal
    leverage: Decimal
    mark_price: Decimal | None = None
    mmr: Decimal | None = None
    maintenance_amount: Decimal | None = None
    isolated_margin: Decimal | None = None


@dataclass(frozen=True, slots=True)
class AccountSpec:
    """An account: its margin mode, wallet balance (settlement currency) and positions (one per symbol)."""

    account_id: str
    margin_mode: MarginMode
    wallet_balance: Decimal
    positions: tuple[PositionSpec, ...]


@dataclass(frozen=True)
class ResolvedPosition:
    """A checked position with its instrument, era and the tiers that apply (the era's, or an override tier)."""

    spec: PositionSpec
    instrument: Instrument
    era: Era
    tiers: tuple[RiskTier, ...]


Label = Callable[[str], str]


def _positive(value: Decimal | None, name: str, label: Label) -> None:
    if value is not None and not value > 0:
        raise UserInputError(f"{label(name)}: must be positive, got {value}")


def resolve_position(venue: VenueProfile, spec: PositionSpec, label: Label, margin_mode: MarginMode,
                     as_of: datetime | None = None, era_name: str | None = None) -> ResolvedPosition:
    """Check one position against ``venue`` and pick its tiers."""
    profile = venue.instrument(spec.symbol, label("symbol"))
    instrument = profile.instrument
    for name in ("size", "entry_price", "leverage", "mark_price", "isolated_margin"):
        _positive(getattr(spec, name), name, label)
    if not instrument.is_lot_multiple(spec.size):
        raise UserInputError(f"{label('size')}: {spec.size} is not a multiple of the {spec.symbol} lot size "
                             f"{instrument.lot_size}")
    if spec.isolated_margin is not None and margin_mode is MarginMode.CROSS:
        raise UserInputError(f"{label('isolated_margin')}: only isolated positions have an isolated margin")
    if spec.mmr is not None:
        try:
            era = profile.era(as_of, era_name)
        except UserInputError:  # the user's rate replaces the tiers: no era is needed
            era = Era("override", None, (), Provenance("mmr and maintenance_amount given by the user", "user"))
    else:
        era = profile.era(as_of, era_name)
    if spec.mmr is not None:
        if not 0 < spec.mmr < 1:
            raise UserInputError(f"{label('mmr')}: must be a fraction between 0 and 1, got {spec.mmr}")
        amount = spec.maintenance_amount if spec.maintenance_amount is not None else Decimal(0)
        if amount < 0:
            raise UserInputError(f"{label('maintenance_amount')}: must not be negative, got {amount}")
        return ResolvedPosition(spec, instrument, era, (override_tier(spec.mmr, amount, spec.leverage),))
    if spec.maintenance_amount is not None:
        raise UserInputError(f"{label('maintenance_amount')}: give it together with mmr")
    if not era.tiers:
        raise UserInputError(f"{label('mmr')}: {venue.id} has no tier table for {spec.symbol}; give mmr "
                             "and maintenance_amount")
    size = venue.rules.margin.tier_size(instrument, spec.size, instrument.value(spec.size, spec.entry_price))
    tier = tier_for_size(era.tiers, size)
    if tier is None:
        raise UserInputError(f"{label('size')}: position size {size.normalize():f} is above the largest "
                             f"{spec.symbol} risk limit {era.tiers[-1].max_size} of {venue.id} (era {era.name})")
    if spec.leverage > tier.max_leverage:
        raise UserInputError(f"{label('leverage')}: {spec.leverage} is above the {spec.symbol} maximum "
                             f"{tier.max_leverage.normalize():f} of tier {tier.number} (era {era.name})")
    return ResolvedPosition(spec, instrument, era, era.tiers)


def resolve_account(venue: VenueProfile, account: AccountSpec, label: Label, as_of: datetime | None = None,
                    era_name: str | None = None) -> list[ResolvedPosition]:
    """Check an account: wallet, one position per symbol, a single settlement currency in cross margin."""
    if account.wallet_balance < 0:
        raise UserInputError(f"{label('wallet_balance')}: must not be negative, got {account.wallet_balance}")
    if not account.positions:
        raise UserInputError(f"{label('positions')}: the account has no positions")
    resolved: list[ResolvedPosition] = []
    for index, spec in enumerate(account.positions):
        def position_label(name: str, index: int = index) -> str:
            return label(f"positions[{index}].{name}")
        if any(r.spec.symbol == spec.symbol for r in resolved):
            raise UserInputError(f"{position_label('symbol')}: {spec.symbol} appears twice (one-way mode: one "
                                 "position per symbol)")
        resolved.append(resolve_position(venue, spec, position_label, account.margin_mode, as_of, era_name))
    currencies = {r.instrument.settlement_currency for r in resolved}
    if account.margin_mode is MarginMode.CROSS and len(currencies) > 1:
        raise UserInputError(f"{label('positions')}: a cross-margin account settles in one currency, got "
                             f"{', '.join(sorted(currencies))}")
    return resolved


def settlement_currency(resolved: Sequence[ResolvedPosition]) -> str:
    """The one settlement currency of ``resolved``; a simulation needs one insurance-fund currency."""
    currencies = sorted({r.instrument.settlement_currency for r in resolved})
    if len(currencies) != 1:
        raise UserInputError(f"positions: the simulation needs one settlement currency, got {', '.join(currencies)}")
    return currencies[0]
