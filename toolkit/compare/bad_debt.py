"""ADL versus bad-debt socialization: who absorbs the losses a crash leaves, on chain and on a venue.

DeFi side (:func:`defi_losses`)
-------------------------------
The bad debt the protocols recorded for the liquidations of a window (the rows of the frame passed in), per
protocol and mechanism, from the protocol-agnostic columns ``bad_debt_raw`` / ``bad_debt_usd`` /
``bad_debt_mechanism`` (docs/schema.md; Aave v3.3 ``DeficitCreated``, Morpho ``badDebtAssets``, Euler
``DebtSocialized``, Liquity redistribution, Comet reserves, Maker surplus buffer). Mechanisms are split as
docs/sources/store.md#bad-debt-mechanisms maps them to a BitMEX-style engine:

* absorbed by a buffer, the insurance-fund analogue (``buffer_drawdown_usd``): ``deficit`` (Aave Umbrella /
  Collector), ``reserves`` (Comet), ``surplus_buffer`` (Maker surplus buffer, then MKR ``flop``);
* socialized to other users, the ADL analogue (``socialized_usd``): ``supplier_socialized`` (Morpho, Euler:
  suppliers' haircut), ``redistribution`` (Liquity: debt and collateral moved to other troves);
* ``none_recorded`` (Aave v2, v3.0-3.2, Compound v2): bad debt stays on the account; counted in
  ``unrecorded_rows``, never as zero.

Venue side (:func:`engine_losses`)
----------------------------------
:func:`toolkit.cex.simulate` on a price path (a crash window, :mod:`toolkit.compare.prices`) with a population
derived from the same DeFi positions, for each venue contract (era in force at the path's start, or the
earliest as a counterfactual; :func:`toolkit.compare.contracts.venue_era`). Mapping (assumptions):

* one isolated **long** per liquidated position (the first liquidation of each borrower in each market, state
  columns needed): notional = the position's collateral value ``N`` (USD, at the path's first mark), leverage
  = ``1 / (1 - LT_eff)`` with ``LT_eff = HF x D / N`` the position's effective liquidation threshold from its
  stored health factor -- each position enters the path exactly as levered as its protocol tolerates before
  liquidating it -- capped at the tier's maximum leverage;
* one isolated **short** per DeFi market at 1x leverage holding the other side of that market's longs (open
  interest balances): the market's suppliers, who carry socialized bad debt in DeFi and are the ADL
  counterparties on the venue;
* the insurance fund starts at ``insurance_fund`` (settlement currency; default 0: every shortfall goes to ADL,
  as Morpho socializes at once); the venue's default funding rate applies at its funding times; fills at the
  mark (no slippage beyond the path's own gaps).

``liquidated_value_usd``: DeFi, the collateral taken from the borrowers (``collateral_seized_usd`` plus
``protocol_fee_usd``); venue, the value of the positions closed (partial and market fills, the fund's fills, ADL).

Per venue: the fund's drawdown (start minus its lowest balance), what it paid for shortfalls, the ADL orders,
their volume (value of counterparty positions closed) and counterparties, and the ADL haircut (``socialized``):
what counterparties lost by being closed at the ADL price instead of the mark,
``side x value_sign x (value(qty, mark) - value(qty, ADL price))``. Amounts in a coin settlement currency (XBT)
are valued in USD at the path's mark of their time.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import pandas as pd

from toolkit.cex import AccountSpec, MarginMode, PositionSpec, PricePath, SimulationResult, load_venue, simulate
from toolkit.cex.events import Deleverage, Fill, InsuranceFundChange, PartialLiquidation
from toolkit.cex.instruments import LONG, SHORT, Kind
from toolkit.cex.tiers import tier_for_size
from toolkit.compare.contracts import VenueContract, contracts, venue_era
from toolkit.compare.equivalent import USD_LIKE
from toolkit.compare.penalties import decimal
from toolkit.compare.prices import rekeyed
from toolkit.compare.thresholds import DEFAULT_VENUES
from toolkit.errors import UserInputError

WAD = Decimal(10) ** 18
#: Mechanism -> (how the loss is absorbed, BitMEX-style counterpart), docs/sources/store.md#bad-debt-mechanisms.
MECHANISMS: dict[str, tuple[str, str]] = {
    "deficit": ("buffer", "insurance fund (Aave Umbrella / Collector)"),
    "reserves": ("buffer", "insurance fund (Comet reserves)"),
    "surplus_buffer": ("buffer", "insurance fund (Maker surplus buffer, then MKR flop)"),
    "supplier_socialized": ("socialized", "ADL (suppliers' haircut)"),
    "redistribution": ("socialized", "ADL (redistribution to other troves)"),
    "none_recorded": ("unrecorded", "none: bad debt stays on the account"),
}


def _sum_usd(values: pd.Series) -> float | None:
    present = values.dropna()
    return float(sum((decimal(v) for v in present), Decimal(0))) if len(present) else None


def liquidation_count(rows: pd.DataFrame) -> int:
    """Liquidations in ``rows``: distinct ``join_key`` values (one liquidation can be several event rows: Maker
    ``Bark`` + ``Take``, Comet absorb legs, Aave ``DeficitCreated`` beside its ``LiquidationCall``), each row
    without a key counting once."""
    if "join_key" not in rows.columns:
        return len(rows)
    keys = rows["join_key"]
    return int(keys.dropna().nunique() + keys.isna().sum())


def defi_losses(liquidations: pd.DataFrame) -> pd.DataFrame:
    """Bad debt recorded on chain per protocol and mechanism (module docstring); ``liquidations`` counts
    liquidations, not event rows (:func:`liquidation_count`)."""
    rows = []
    for (protocol, mechanism), group in liquidations.groupby(["protocol", "bad_debt_mechanism"], dropna=False):
        absorbed, counterpart = MECHANISMS.get(str(mechanism), ("unknown", "unknown mechanism"))
        recorded = group[group["bad_debt_raw"].notna()]
        bad = _sum_usd(recorded["bad_debt_usd"])
        rows.append({
            "side": "defi", "name": protocol, "mechanism": mechanism, "counterpart": counterpart,
            "positions": group[["market_id", "borrower"]].drop_duplicates().shape[0],
            "liquidations": liquidation_count(group),
            "liquidated_value_usd": _sum_usd(group["collateral_seized_usd"].add(group["protocol_fee_usd"],
                                                                                fill_value=0)),
            "bad_debt_rows": int((recorded["bad_debt_raw"].astype(str) != "0").sum()),
            "buffer_drawdown_usd": bad if absorbed == "buffer" else (0.0 if len(recorded) else None),
            "socialized_usd": bad if absorbed == "socialized" else (0.0 if len(recorded) else None),
            "unrecorded_rows": int(group["bad_debt_raw"].isna().sum()),
            "adl_orders": None, "adl_volume_usd": None, "adl_counterparties": None,
        })
    return pd.DataFrame(rows)


@dataclass(frozen=True)
class Member:
    """One account of the derived population and the DeFi position or market it stands for."""

    account: AccountSpec
    origin: str


def population(liquidations: pd.DataFrame, contract: VenueContract, path: PricePath) -> list[Member]:
    """Accounts for ``contract`` derived from the DeFi positions (module docstring), opened at the path's first
    mark; positions whose size is above the contract's largest risk limit are left out."""
    profile = load_venue(contract.venue)
    era, _ = venue_era(profile, contract.symbol, path.times[0])
    instrument = profile.instrument(contract.symbol).instrument
    start = next(iter(path.marks.values()))[0]
    rules = profile.rules.margin
    shorts: dict[tuple[Any, ...], Decimal] = {}
    members = []
    first = liquidations.drop_duplicates(["chain_id", "protocol", "market_id", "borrower"])
    for _, row in first.iterrows():
        notional, debt = decimal(row["borrower_collateral_usd"]), decimal(row["borrower_debt_usd"])
        if notional is None or debt is None or not notional or pd.isna(row["health_factor_before_raw"]):
            continue
        threshold = Decimal(int(row["health_factor_before_raw"])) / WAD * debt / notional
        if not 0 < threshold < 1:
            continue
        if instrument.kind is Kind.INVERSE:
            qty = instrument.floor_lots(notional / instrument.contract_value)
        else:
            qty = instrument.floor_lots(notional / (instrument.contract_value * start))
        tier = tier_for_size(era.tiers, rules.tier_size(instrument, qty, instrument.value(qty, start)))
        if qty <= 0 or tier is None:
            continue
        leverage = min(1 / (1 - threshold), tier.max_leverage)
        origin = f"{row['protocol']}:{row['borrower']}"
        members.append(Member(AccountSpec(origin, MarginMode.ISOLATED, Decimal(0),
                                          (PositionSpec(contract.symbol, LONG, qty, start, leverage),)), origin))
        market = (row["chain_id"], row["protocol"], row["market_id"])
        shorts[market] = shorts.get(market, Decimal(0)) + qty
    for (_, protocol, market_id), qty in shorts.items():
        origin = f"{protocol}:{market_id} suppliers"
        members.append(Member(AccountSpec(origin, MarginMode.ISOLATED, Decimal(0),
                                          (PositionSpec(contract.symbol, SHORT, qty, start, Decimal(1)),)), origin))
    return members


def _usd(amount: Decimal, currency: str, mark: Decimal) -> Decimal:
    return amount if currency in USD_LIKE else amount * mark


def engine_summary(contract: VenueContract, result: SimulationResult, path: PricePath,
                   members: Sequence[Member]) -> dict[str, Any]:
    """The venue row of the comparison from one simulation (module docstring)."""
    profile = load_venue(contract.venue)
    instrument = profile.instrument(contract.symbol).instrument
    marks = dict(zip(path.times, path.marks[contract.symbol], strict=True))
    currency = result.currency
    volume = sum((_usd(e.value, currency, marks[e.time]) for e in result.events
                  if isinstance(e, (PartialLiquidation, Fill, Deleverage))), Decimal(0))
    adl = [e for e in result.events if isinstance(e, Deleverage)]
    haircut = sum((_usd(e.side * instrument.value_sign * (instrument.value(e.qty, marks[e.time]) - e.value),
                        currency, marks[e.time]) for e in adl), Decimal(0))
    low_time, low = min(result.fund_path, key=lambda item: item[1])
    paid = sum((-_usd(e.amount, currency, marks[e.time]) for e in result.events
                if isinstance(e, InsuranceFundChange) and e.amount < 0), Decimal(0))
    summary = result.summary()
    era, in_force = venue_era(profile, contract.symbol, path.times[0])
    return {
        "side": "perp", "name": contract.venue, "mechanism": f"insurance fund + ADL ({profile.rules.adl_ranking.value} "
                                                            f"ranking, at the {profile.rules.adl_price.value} price)",
        "counterpart": "DeFi bad debt: buffers and socialization", "venue_symbol": contract.symbol,
        "venue_era": era.name, "venue_era_in_force": in_force,
        "positions": sum(1 for m in members if m.account.positions[0].side == LONG),
        "liquidations": summary["liquidations"], "liquidated_value_usd": float(volume),
        "bad_debt_rows": summary["shortfalls"], "buffer_drawdown_usd": float(_usd(result.initial_fund - low, currency,
                                                                                 marks[low_time])),
        "insurance_fund_paid_usd": float(paid), "socialized_usd": float(haircut), "unrecorded_rows": None,
        "adl_orders": summary["adl_orders"], "adl_volume_usd": float(sum((_usd(e.value, currency, marks[e.time])
                                                                         for e in adl), Decimal(0))),
        "adl_counterparties": len({e.counterparty for e in adl}),
    }


@dataclass
class LossComparison:
    """The two sides of :func:`adl_vs_bad_debt` and the engine runs behind the venue rows."""

    defi: pd.DataFrame
    perp: pd.DataFrame
    results: dict[str, SimulationResult] = field(default_factory=dict)
    populations: dict[str, list[Member]] = field(default_factory=dict)

    def table(self) -> pd.DataFrame:
        """Both sides in one frame, DeFi rows first."""
        return pd.concat([self.defi, self.perp], ignore_index=True)


def engine_losses(liquidations: pd.DataFrame, path: PricePath, venues: Sequence[VenueContract | str],
                  *, insurance_fund: Decimal | Mapping[str, Decimal] = Decimal(0),
                  seed: int = 0) -> tuple[pd.DataFrame, dict[str, SimulationResult], dict[str, list[Member]]]:
    """Simulate each venue contract on ``path`` (one series, :func:`toolkit.compare.prices.bar_path`) with the
    population of :func:`population`; ``insurance_fund`` per venue id or for all (settlement currency)."""
    rows, results, populations = [], {}, {}
    for contract in contracts(venues):
        keyed = rekeyed(path, contract.symbol)
        members = population(liquidations, contract, keyed)
        if not members:
            raise UserInputError("the liquidations hold no position with state columns to derive a population from")
        fund = insurance_fund.get(contract.venue, Decimal(0)) if isinstance(insurance_fund, Mapping) else insurance_fund
        era, _ = venue_era(load_venue(contract.venue), contract.symbol, path.times[0])
        result = simulate(load_venue(contract.venue), [m.account for m in members], keyed,
                          insurance_fund=Decimal(fund), era=era.name, seed=seed)
        rows.append(engine_summary(contract, result, keyed, members))
        results[str(contract)], populations[str(contract)] = result, members
    return pd.DataFrame(rows), results, populations


def adl_vs_bad_debt(liquidations: pd.DataFrame, path: PricePath,
                    venues: Sequence[VenueContract | str] = DEFAULT_VENUES, *,
                    insurance_fund: Decimal | Mapping[str, Decimal] = Decimal(0), seed: int = 0) -> LossComparison:
    """Bad debt recorded on chain for the liquidations of the window next to each venue engine's insurance-fund
    drawdown, ADL volume and counterparties on ``path`` (module docstring)."""
    perp, results, populations = engine_losses(liquidations, path, venues, insurance_fund=insurance_fund, seed=seed)
    return LossComparison(defi_losses(liquidations), perp, results, populations)
