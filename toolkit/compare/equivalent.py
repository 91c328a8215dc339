"""The perpetual equivalent of a DeFi position, and what a venue's engine does with it.

The position
------------
A lending position with collateral value ``N`` and debt ``D`` (USD, at the liquidation's oracle prices, read at
the state block) is long the collateral against the debt. Its equity at collateral price ``X`` is
``q X - D`` with ``q = N / P`` collateral units (``P`` the collateral's price). A linear perpetual long of ``q``
contracts (one collateral unit each) opened at ``P`` with isolated margin ``M = N - D`` has the same equity
``M + q (X - P) = q X - D`` at every price: it is the exact equivalent, in the debt asset's units (USD here,
the debt price held at its liquidation value). Assumption (single-asset equivalent): all the borrower's
collateral moves like the liquidated collateral asset; the leverage is ``N / M``.

The venue
---------
The venue contributes its rules (margin basis, liquidation style, partial rule, fees, backstop, ADL; the
profile's :class:`~toolkit.cex.venues.VenueRules`) and the tier table of a contract
(:class:`~toolkit.compare.contracts.VenueContract`, era at the liquidation's date), applied to a synthetic
linear contract ``COLLATERAL/USD`` (contract value 1 collateral unit, settled in USD, tick 1e-8 USD, lot one
base unit of the collateral token, money booked to 1e-8 USD: the engine's rounding is taken as exact). The
tier limits are converted to this contract:

* value tiers of a contract settled in USD, USDT or USDC: USD, one to one (stablecoins at par);
* value tiers of a contract settled in its underlying (BitMEX XBTUSD: XBT): units of the collateral, i.e. the
  contract's underlying is mapped to the collateral ("200 XBT" reads "200 collateral units");
  maintenance amounts in that currency are valued at ``P``;
* contract-count tiers (OKX): of an inverse contract, ``count x face value`` USD; of a linear one,
  ``count x contract value`` collateral units.

* value tiers of a quanto contract (BitMEX ETHUSD: XBT per USD of the ETH price): settlement-currency value,
  converted to USD at ``settlement_price`` (USD per XBT at the same moment), which the caller must give;
  maintenance amounts likewise.

Only the quanto's tiers are used: the synthetic contract is linear, so the quanto's dependence on the
settlement currency's price (its PnL in XBT) is not modelled.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal

from toolkit.cex import load_venue
from toolkit.cex.instruments import Instrument, Kind
from toolkit.cex.margin import TierUnit
from toolkit.cex.tiers import RiskTier
from toolkit.cex.venues import Era, InstrumentProfile, Provenance, VenueProfile
from toolkit.compare.contracts import VenueContract, venue_era
from toolkit.errors import UserInputError

#: Symbol of the synthetic contract in the derived venue profile.
SYMBOL = "COLLATERAL/USD"
#: Settlement currencies read as US dollars.
USD_LIKE = frozenset({"USD", "USDT", "USDC"})
#: Price tick and booked money unit of the synthetic contract (USD).
TICK = Decimal("1e-8")


@dataclass(frozen=True)
class Equivalent:
    """A venue profile holding only the synthetic contract, the era its tiers come from, and whether that era
    was in force at the date (``False``: a counterfactual, see :func:`toolkit.compare.contracts.venue_era`)."""

    profile: VenueProfile
    era: Era
    era_in_force: bool


def _converted(tier: RiskTier, size_factor: Decimal, amount_factor: Decimal) -> RiskTier:
    return replace(tier, max_size=None if tier.max_size is None else tier.max_size * size_factor,
                   maintenance_amount=tier.maintenance_amount * amount_factor)


def equivalent_venue(contract: VenueContract, moment: datetime, collateral_price: Decimal,
                     collateral_decimals: int, settlement_price: Decimal | None = None) -> Equivalent:
    """The venue of ``contract`` reduced to the synthetic ``COLLATERAL/USD`` contract (module docstring), with
    the tiers of the contract's era at ``moment`` converted at ``collateral_price`` (USD), or for a quanto at
    ``settlement_price`` (USD per unit of its settlement currency)."""
    profile = load_venue(contract.venue)
    source = profile.instrument(contract.symbol).instrument
    era, in_force = venue_era(profile, contract.symbol, moment)
    if not era.tiers:
        raise UserInputError(f"{contract}: era {era.name} has no tier table; choose another symbol")
    unit = profile.rules.margin.tier_unit
    usd_settled = source.settlement_currency in USD_LIKE
    amount_factor = Decimal(1) if usd_settled else collateral_price
    if source.kind is Kind.QUANTO:
        if settlement_price is None or unit is not TierUnit.VALUE:
            raise UserInputError(f"{contract} is a quanto contract; choose a linear or inverse one")
        tiers = tuple(_converted(t, settlement_price, settlement_price) for t in era.tiers)
    elif unit is TierUnit.CONTRACTS and source.kind is Kind.INVERSE:
        tiers, unit = tuple(_converted(t, source.contract_value, amount_factor) for t in era.tiers), TierUnit.VALUE
    elif unit is TierUnit.CONTRACTS or not usd_settled:
        factor = source.contract_value if unit is TierUnit.CONTRACTS else Decimal(1)
        tiers, unit = tuple(_converted(t, factor, amount_factor) for t in era.tiers), TierUnit.CONTRACTS
    else:
        tiers = era.tiers
    instrument = Instrument(SYMBOL, Kind.LINEAR, Decimal(1), TICK, Decimal(1).scaleb(-collateral_decimals),
                            "USD", "USD", TICK)
    note = f"tiers of {contract} era {era.name} converted to the COLLATERAL/USD contract"
    synthetic = InstrumentProfile(instrument, (replace(era, tiers=tiers),), Provenance(note, era.provenance.date))
    rules = replace(profile.rules, margin=replace(profile.rules.margin, tier_unit=unit))
    return Equivalent(replace(profile, rules=rules, instruments={SYMBOL: synthetic}), replace(era, tiers=tiers),
                      in_force)
