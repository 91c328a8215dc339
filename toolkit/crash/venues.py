"""The centralized side of a replay: the borrower population as perpetual positions on each venue, run through
:func:`toolkit.cex.simulate` on the same price path the oracles followed.

Venues (:func:`parse_venues`)
-----------------------------
``--venues`` takes profile ids (``bitmex``, ``binance-usdm``, ``bybit``, ``okx``, ``dydx-v4``, ``hyperliquid``),
the short names of :data:`toolkit.cex.venues.VENUE_ALIASES` (``binance`` is the Binance USD-M futures profile ``binance-usdm``),
and ``venue:SYMBOL`` to name the contract whose risk tiers apply. Without a symbol, the contract is the
venue's perpetual of the replayed asset (:func:`toolkit.compare.contracts.asset_contract`: for ETH, Binance ``ETHUSDT`` with its
2024-10-24 brackets, BitMEX ``ETHUSD`` with its 2021-07-22 risk limits, Hyperliquid ``ETH``, dYdX ``ETH-USD``),
else the venue's bitcoin perpetual (:data:`toolkit.compare.DEFAULT_SYMBOLS`; Bybit and OKX have no ETH table,
said in the report). The tiers of the quanto ``ETHUSD`` (risk limits in XBT) are converted to USD at the BTC
price of the window's first step.

Contract and population (:func:`venue_population`)
--------------------------------------------------
The venue's rules with the tiers of that contract, converted to a linear ``COLLATERAL/USD`` contract of one
collateral token, settled and booked in USD (:func:`toolkit.compare.equivalent.equivalent_venue`, era in force
at the window's start, or the earliest era as a counterfactual, flagged). Accounts, all isolated:

* per borrower, the equivalent long of :func:`toolkit.crash.population.perp_position`: ``q`` tokens at the
  opening price with the position's equity as isolated margin (leverage, used only for the venue's
  maximum-leverage check, ``qP0 / M`` capped at the tier's maximum);
* per borrower, its lenders: a 1x short of the same ``q`` (margin = its value), the USDC suppliers who carry
  the loss of a DeFi position that ends in bad debt, and whom ADL closes on a venue. One short per borrower
  rather than one per market keeps every account inside the contract's largest risk limit.

A position above the contract's largest risk limit cannot be opened there; it is left out of that venue (with
its lender) and listed. Funding: the venue's default rate (interest rate, zero premium) at its funding times
(:meth:`toolkit.cex.venues.VenueProfile.funding_schedule`). Marks: the path's prices; fills at the mark (the
gaps between steps are the only slippage). Insurance fund: the replay's starting balance, USD.

Ledger (:func:`ledger`)
-----------------------
Every party's gain over the run, in USD: traders (wallets, isolated margins and open PnL at the last mark,
minus what they brought), the insurance fund (end minus start), the venue (fees it kept) and the market
(the outside counterparty of every opening trade, every market fill and every funding payment, rebuilt from
the inputs and the events). They sum to exactly zero: nothing is created or lost by the engine.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from toolkit.cex import (AccountSpec, MarginMode, PositionSpec, PricePath, SimulationResult, load_venue,
                         quote_account, simulate)
from toolkit.cex.events import Deleverage, Event, Fill, FundingPayment, PartialLiquidation, Takeover
from toolkit.cex.instruments import LONG, SHORT, Instrument
from toolkit.cex.tiers import tier_for_size
from toolkit.cex.venues import VENUE_ALIASES, VenueProfile, venue_id  # noqa: F401 (VENUE_ALIASES: re-exported)
from toolkit.compare import VenueContract
from toolkit.compare.contracts import asset_contract, base_asset
from toolkit.compare.equivalent import SYMBOL, Equivalent, equivalent_venue
from toolkit.crash.population import Borrower, perp_position
from toolkit.devchain.assets import TOKENS_BY_SYMBOL
from toolkit.errors import UserInputError

#: Suffix of the account id of a borrower's lenders (the 1x short).
LENDER_SUFFIX = "-lenders"


def parse_venues(text: str | Sequence[str], asset: str, moment: datetime) -> list[VenueContract]:
    """``bitmex,binance,hyperliquid`` (or a list of such items) as venue contracts for ``asset``."""
    items = [item.strip() for item in (text.split(",") if isinstance(text, str) else text) if item.strip()]
    if not items:
        raise UserInputError("--venues: name at least one venue, e.g. bitmex,binance,hyperliquid")
    chosen = []
    for item in items:
        name, _, symbol = item.partition(":")
        venue = venue_id(name, "--venues")
        contract = VenueContract.of(f"{venue}:{symbol}") if symbol else asset_contract(venue, asset, moment, quanto=True)
        if contract in chosen:
            raise UserInputError(f"--venues: {contract} is named twice")
        chosen.append(contract)
    return chosen


@dataclass
class VenuePopulation:
    """The accounts of one venue contract, the venue reduced to its ``COLLATERAL/USD`` equivalent, the positions
    left out (position id -> reason), and the population's name (``same equity`` here; the replay's second one is
    :mod:`toolkit.crash.leverage_population`)."""

    contract: VenueContract
    equivalent: Equivalent
    accounts: list[AccountSpec]
    excluded: dict[str, str] = field(default_factory=dict)
    name: str = "same equity"

    @property
    def place(self) -> str:
        """What the report calls it: the contract, with the population's name unless it is the first one."""
        return str(self.contract) if self.name == "same equity" else f"{self.contract} {self.name}"

    @property
    def profile(self) -> VenueProfile:
        return self.equivalent.profile


def population_equivalent(contract: VenueContract, borrowers: Sequence[Borrower], moment: datetime, price: Decimal,
                          prices: Mapping[str, Decimal] | None = None) -> Equivalent:
    """The synthetic contract of ``contract`` for the borrowers' collateral at ``price`` (USD); ``prices`` (USD by
    asset at ``moment``) value a quanto's settlement currency."""
    decimals = TOKENS_BY_SYMBOL[borrowers[0].collateral_symbol].decimals
    settlement = load_venue(contract.venue).instrument(contract.symbol).instrument.settlement_currency
    return equivalent_venue(contract, moment, price, decimals, (prices or {}).get(base_asset(settlement)))


def venue_population(contract: VenueContract, borrowers: Sequence[Borrower], moment: datetime,
                     price: Decimal, prices: Mapping[str, Decimal] | None = None) -> VenuePopulation:
    """Longs and lenders' shorts of ``borrowers`` opened at ``price`` on ``contract`` (module docstring);
    ``prices`` (USD by asset at ``moment``) value a quanto's settlement currency."""
    equivalent = population_equivalent(contract, borrowers, moment, price, prices)
    profile, era = equivalent.profile, equivalent.era
    instrument = profile.instrument(SYMBOL).instrument
    population = VenuePopulation(contract, equivalent, [])
    for borrower in borrowers:
        perp = perp_position(borrower, price)
        size = profile.rules.margin.tier_size(instrument, perp.qty, instrument.value(perp.qty, price))
        tier = tier_for_size(era.tiers, size)
        if tier is None:
            population.excluded[borrower.position_id] = (f"size {size:f} above the largest risk limit of "
                                                         f"{contract} (era {era.name})")
            continue
        leverage = min(perp.leverage, tier.max_leverage)
        population.accounts.append(AccountSpec(borrower.position_id, MarginMode.ISOLATED, Decimal(0), (
            PositionSpec(SYMBOL, LONG, perp.qty, price, leverage, isolated_margin=perp.margin),)))
        population.accounts.append(AccountSpec(borrower.position_id + LENDER_SUFFIX, MarginMode.ISOLATED, Decimal(0), (
            PositionSpec(SYMBOL, SHORT, perp.qty, price, Decimal(1)),)))
    return population


def run_venue(population: VenuePopulation, path: PricePath, insurance_fund: Decimal, seed: int) -> SimulationResult:
    """:func:`toolkit.cex.simulate` of the population on ``path`` (one series, re-keyed to the contract)."""
    (series,) = path.marks.values()
    keyed = PricePath(path.times, {SYMBOL: series})
    return simulate(population.profile, population.accounts, keyed, insurance_fund=insurance_fund,
                    era=population.equivalent.era.name, seed=seed)


@dataclass(frozen=True)
class PerpQuote:
    """A long's levels when opened: liquidation and bankruptcy prices (exact, USD), effective maintenance rate
    (tier rate plus the funding the side pays where the venue counts it) and the tier."""

    liquidation_price: Decimal | None
    bankruptcy_price: Decimal | None
    maintenance_rate: Decimal
    tier: int | None


def quote_longs(population: VenuePopulation) -> dict[str, PerpQuote]:
    """:func:`toolkit.cex.quote_account` of every long at opening, with the venue's next funding rate."""
    profile, era = population.profile, population.equivalent.era
    funding = profile.funding_schedule(era).default_rate
    quotes = {}
    for account in population.accounts:
        if account.positions[0].side != LONG:
            continue
        quote = quote_account(profile, account, lambda name: name, funding_rate=funding, era=era.name).positions[0]
        quotes[account.account_id] = PerpQuote(quote.liquidation_price_exact, quote.bankruptcy_price_exact,
                                               quote.maintenance_rate, quote.liquidation_tier or quote.tier)
    return quotes


def ledger(result: SimulationResult, accounts: Sequence[AccountSpec], profile: VenueProfile) -> dict[str, Decimal]:
    """Each party's gain over the run (module docstring): ``traders``, ``insurance_fund``, ``venue_fees``,
    ``market``, and their sum ``residual`` (exactly zero when the engine conserves money)."""
    def instrument(symbol: str) -> Instrument:
        return profile.instrument(symbol).instrument

    traders = sum(result.wallets.values(), Decimal(0)) - sum(result.initial_collateral.values(), Decimal(0))
    market = Decimal(0)
    for position in result.positions:
        inst = instrument(position.symbol)
        closing_value = inst.value(position.qty, result.final_marks[position.symbol])
        traders += (position.margin or Decimal(0)) + inst.pnl(position.side, position.entry_value, closing_value)
        market -= position.side * inst.value_sign * closing_value
    for account in accounts:
        for spec in account.positions:
            inst = instrument(spec.symbol)
            market += spec.side * inst.value_sign * inst.value(spec.size, spec.entry_price)
    for event in result.events:
        if isinstance(event, Fill | PartialLiquidation):
            market -= event.side * instrument(event.symbol).value_sign * event.value
        elif isinstance(event, FundingPayment):
            market += event.amount
    parties = {"traders": traders, "insurance_fund": result.fund_path[-1][1] - result.initial_fund,
               "venue_fees": result.venue_fees, "market": market}
    return {**parties, "residual": sum(parties.values(), Decimal(0))}


@dataclass
class PerpOutcome:
    """What the engine did to one account, valued at the mark of each tick (USD):

    * ``first_time`` / ``first_mark``: tick and mark of its first liquidation or ADL; ``actions``: what happened,
      in order (``partial liquidation``, ``market close``, ``takeover``, ``adl``), ``count`` times in all;
    * ``closed_qty``: contracts closed by liquidation orders, takeover or ADL;
    * ``penalty``: what the trader lost to the engine beyond closing at the mark: the fees of its liquidation
      orders, and at a takeover its equity at the mark (``margin + PnL at the mark``: the engine closes at the
      bankruptcy price and hands the margin left to the fund), 0 when that equity was already negative (a gap
      past the bankruptcy price: the loss falls on the fund or the ADL counterparties);
    * ``fund_paid``: the shortfall the insurance fund paid when it closed the account's taken-over position;
    * ``adl_value``: value of the opposite positions ADL closed against the account's liquidation order;
    * ``haircut``: for an ADL counterparty, what closing at the ADL price instead of the mark cost it.
    """

    first_time: datetime | None = None
    first_mark: Decimal | None = None
    actions: tuple[str, ...] = ()
    count: int = 0
    closed_qty: Decimal = Decimal(0)
    penalty: Decimal = Decimal(0)
    fund_paid: Decimal = Decimal(0)
    adl_value: Decimal = Decimal(0)
    haircut: Decimal = Decimal(0)

    def record(self, moment: datetime, mark: Decimal, action: str, qty: Decimal) -> None:
        """One more thing done to the account at ``moment``."""
        if self.first_time is None:
            self.first_time, self.first_mark = moment, mark
        self.actions = tuple(dict.fromkeys((*self.actions, action)))
        self.count += 1
        self.closed_qty += qty


def trader_penalty(event: Event, instrument: Instrument) -> Decimal:
    """The trader's penalty in one engine event (:class:`PerpOutcome`): the fee of a partial liquidation or of
    a market close, the equity at the mark handed over at a takeover (0 when negative), else 0."""
    if isinstance(event, PartialLiquidation) or (isinstance(event, Fill) and event.owner == "trader"):
        return event.fee
    if isinstance(event, Takeover):
        at_mark = event.side * instrument.value_sign * (instrument.value(event.qty, event.mark)
                                                        - instrument.value(event.qty, event.price))
        return max(Decimal(0), event.amount + at_mark)
    return Decimal(0)


def outcomes(result: SimulationResult, population: VenuePopulation, path: PricePath) -> dict[str, PerpOutcome]:
    """:class:`PerpOutcome` of every account of the population (longs and lenders alike)."""
    instrument = population.profile.instrument(SYMBOL).instrument
    (series,) = path.marks.values()
    marks = dict(zip(path.times, series, strict=True))
    out = {a.account_id: PerpOutcome() for a in population.accounts}
    for event in result.events:
        if isinstance(event, PartialLiquidation | Takeover) or (isinstance(event, Fill) and event.owner == "trader"):
            action = {PartialLiquidation: "partial liquidation", Takeover: "takeover", Fill: "market close"}
            out[event.account].record(event.time, marks[event.time], action[type(event)], event.qty)
            out[event.account].penalty += trader_penalty(event, instrument)
        elif isinstance(event, Fill) and event.realized_pnl < 0:
            out[event.account].fund_paid -= event.realized_pnl
        elif isinstance(event, Deleverage):
            mark = marks[event.time]
            out[event.account].adl_value += event.value
            out[event.counterparty].record(event.time, mark, "adl", event.qty)
            out[event.counterparty].haircut += event.side * instrument.value_sign * (
                instrument.value(event.qty, mark) - event.value)
    return out
