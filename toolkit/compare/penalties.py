"""Penalties side by side: what each stored DeFi liquidation cost the borrower, and what a venue's engine would
have done to the equivalent perpetual at the same prices.

Method
------
For each liquidation with state columns (``state_status = ok``):

* DeFi side, from the stored row (docs/schema.md): the bonus the liquidator received above the debt it repaid
  (``liquidation_bonus_usd``) plus the protocol's share (``protocol_fee_usd``, Aave v3) is the borrower's
  penalty, shown in USD and as % of the debt repaid, of the collateral value and of the equity before the
  liquidation; the share of the position closed is ``debt_repaid_usd / borrower_debt_usd``. The DeFi trigger
  price is where the health factor was 1: ``P / HF`` under the single-asset equivalent (the health factor is
  proportional to the collateral price).
* Perpetual side, per venue contract: the equivalent position of :mod:`toolkit.compare.equivalent` (long
  ``q = N / P`` collateral units at ``P``, isolated margin ``M = N - D``), quoted with
  :func:`toolkit.cex.quote_account` (liquidation and bankruptcy prices, tier) and run through
  :func:`toolkit.cex.simulate` on the mark path ``[P, LP]`` (the engine acts when the mark reaches its own
  liquidation price ``LP``, the venue monitoring the mark continuously), or ``[P]`` when ``LP >= P`` (the
  position is already in liquidation at the DeFi prices). The engine's events give the share closed
  (partial liquidation, takeover, market close), the fees, the insurance-fund change, and the trader's loss:
  equity just before minus what the trader keeps (wallet, remaining margin and PnL). BitMEX hands the
  remaining margin to the insurance fund, Binance charges its clearance fee, Hyperliquid none
  (docs/sources/venues.md#bitmex-liquidation-process, docs/sources/venues.md#binance-clearance-fee,
  docs/sources/venues.md#hyperliquid-liquidations). The venue's next funding rate with a zero premium enters
  the maintenance rate where the venue includes funding (BitMEX,
  docs/sources/venues.md#bitmex-initial-and-maintenance-margin); no funding is paid between the two ticks.
* ``trigger_distance = LP / (P / HF) - 1``: positive when the perpetual is liquidated at a higher price than
  the DeFi position became liquidatable (earlier, in a fall), negative when later.

A position whose equity is zero or negative at the DeFi prices (bad debt) cannot be opened on a venue: the
perpetual side then says ``bankrupt at the DeFi prices``, the whole position is closed, the trader loses
nothing more and ``-M`` is the shortfall left to the insurance fund or ADL.

Numbers: USD amounts come from the stored DOUBLE columns (each rounded once from exact integers by the
adapter) taken at their shortest decimal representation; everything after that is ``Decimal`` and rounded to
``float`` once in the frame.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import pandas as pd

from toolkit.cex import AccountSpec, MarginMode, PositionSpec, PricePath, quote_account, simulate
from toolkit.cex.events import Deleverage, Fill, PartialLiquidation, Takeover
from toolkit.cex.instruments import LONG
from toolkit.cex.tiers import tier_for_size
from toolkit.compare.contracts import VenueContract, contracts
from toolkit.compare.equivalent import SYMBOL, equivalent_venue
from toolkit.errors import UserInputError

WAD = Decimal(10) ** 18
#: Identity columns copied from the stored row.
IDENTITY = ("chain_id", "protocol", "deployment", "block_number", "block_timestamp", "tx_hash", "log_index",
            "borrower", "collateral_symbol", "debt_symbol")
#: What each engine event kind means for the position.
_ACTIONS = {PartialLiquidation: "partial liquidation", Takeover: "takeover", Deleverage: "adl"}


def decimal(value: Any) -> Decimal | None:
    """A stored DOUBLE as the Decimal of its shortest representation (``None`` for null / NaN)."""
    return None if value is None or pd.isna(value) else Decimal(repr(float(value)))


@dataclass(frozen=True)
class DefiPosition:
    """A liquidated position before its liquidation: collateral price ``price`` (USD), collateral value,
    debt and health factor; :mod:`toolkit.compare.equivalent` for the mapping."""

    moment: datetime
    price: Decimal
    collateral: Decimal
    debt: Decimal
    health_factor: Decimal
    collateral_decimals: int

    @property
    def equity(self) -> Decimal:
        return self.collateral - self.debt

    @property
    def leverage(self) -> Decimal | None:
        """``N / (N - D)``; ``None`` without equity."""
        return self.collateral / self.equity if self.equity > 0 else None

    @property
    def trigger_price(self) -> Decimal:
        """Collateral price at which the health factor was 1: ``P / HF``."""
        return self.price / self.health_factor


def defi_position(row: Any) -> DefiPosition | None:
    """The position of a stored liquidation row; ``None`` when the row lacks the state columns needed."""
    needed = ("collateral_price_usd", "borrower_collateral_usd", "borrower_debt_usd", "health_factor_before_raw",
              "collateral_decimals", "block_timestamp")
    if any(pd.isna(row[c]) for c in needed) or not row["collateral_price_usd"] or not row["borrower_collateral_usd"]:
        return None
    return DefiPosition(row["block_timestamp"].to_pydatetime(), decimal(row["collateral_price_usd"]),
                        decimal(row["borrower_collateral_usd"]), decimal(row["borrower_debt_usd"]),
                        Decimal(int(row["health_factor_before_raw"])) / WAD, int(row["collateral_decimals"]))


@dataclass(frozen=True)
class PerpOutcome:
    """What one venue's engine does with the equivalent perpetual (amounts in USD, prices USD per collateral
    unit, shares of the position)."""

    venue: str
    symbol: str
    era: str | None
    era_in_force: bool | None
    tier: int | None = None
    maintenance_rate: Decimal | None = None
    liquidation_price: Decimal | None = None
    bankruptcy_price: Decimal | None = None
    engine_price: Decimal | None = None
    action: str | None = None
    closed_share: Decimal | None = None
    trader_loss: Decimal | None = None
    fees: Decimal | None = None
    insurance_fund_change: Decimal | None = None
    note: str | None = None


def perp_outcome(position: DefiPosition, contract: VenueContract) -> PerpOutcome:
    """Quote and run the equivalent perpetual of ``position`` on ``contract`` (module docstring)."""
    try:
        eq = equivalent_venue(contract, position.moment, position.price, position.collateral_decimals)
    except UserInputError as exc:
        return PerpOutcome(contract.venue, contract.symbol, None, None, note=str(exc))
    base = {"venue": contract.venue, "symbol": contract.symbol, "era": eq.era.name, "era_in_force": eq.era_in_force}
    if position.equity <= 0:
        return PerpOutcome(**base, bankruptcy_price=position.debt / (position.collateral / position.price),
                           engine_price=position.price, action="bankrupt at the DeFi prices",
                           closed_share=Decimal(1), trader_loss=Decimal(0), fees=Decimal(0),
                           insurance_fund_change=position.equity)
    profile = eq.profile
    instrument = profile.instrument(SYMBOL).instrument
    qty = instrument.floor_lots(position.collateral / position.price)
    size = profile.rules.margin.tier_size(instrument, qty, instrument.value(qty, position.price))
    tier = tier_for_size(eq.era.tiers, size)
    if tier is None:
        return PerpOutcome(**base, note=f"{contract}: position size {size:f} is above the largest risk limit")
    leverage = min(position.leverage, tier.max_leverage)  # type: ignore[type-var]
    account = AccountSpec("defi", MarginMode.ISOLATED, Decimal(0),
                          (PositionSpec(SYMBOL, LONG, qty, position.price, leverage, isolated_margin=position.equity),))
    funding = profile.funding_schedule(eq.era).default_rate
    quote = quote_account(profile, account, lambda name: name, funding_rate=funding, era=eq.era.name).positions[0]
    levels = {**base, "tier": quote.liquidation_tier or quote.tier, "maintenance_rate": quote.maintenance_rate,
              "liquidation_price": quote.liquidation_price_exact, "bankruptcy_price": quote.bankruptcy_price_exact}
    if quote.liquidation_price is None:
        return PerpOutcome(**levels, action="none", closed_share=Decimal(0), trader_loss=Decimal(0),
                           note="no positive liquidation price")
    start = position.moment
    if quote.liquidation_price >= position.price:
        path = PricePath((start,), {SYMBOL: (position.price,)})
    else:
        path = PricePath((start, start + timedelta(microseconds=1)),
                         {SYMBOL: (position.price, quote.liquidation_price)})
    result = simulate(profile, [account], path, era=eq.era.name)
    engine_price = path.marks[SYMBOL][-1]
    entry_value = instrument.value(qty, position.price)
    before = position.equity + instrument.pnl(LONG, entry_value, instrument.value(qty, engine_price))
    kept = result.wallets["defi"] + sum(
        (p.margin + instrument.pnl(p.side, p.entry_value, instrument.value(p.qty, engine_price))
         for p in result.positions), Decimal(0))
    remaining = sum((p.qty for p in result.positions), Decimal(0))
    fees = sum((e.fee for e in result.events if isinstance(e, PartialLiquidation)
                or (isinstance(e, Fill) and e.owner == "trader")), Decimal(0))
    actions = [("market close" if isinstance(e, Fill) else _ACTIONS[type(e)]) for e in result.events
               if type(e) in _ACTIONS or (isinstance(e, Fill) and e.owner == "trader")]
    return PerpOutcome(**levels, engine_price=engine_price, action=", ".join(dict.fromkeys(actions)) or "none",
                       closed_share=1 - remaining / qty, trader_loss=before - kept, fees=fees,
                       insurance_fund_change=result.fund_path[-1][1] - result.initial_fund)


def _ratio(numerator: Decimal | None, denominator: Decimal | None, scale: int = 1) -> float | None:
    if numerator is None or denominator is None or denominator <= 0:
        return None
    return float(scale * numerator / denominator)


def _f(value: Decimal | None) -> float | None:
    return None if value is None else float(value)


def defi_columns(row: Any, position: DefiPosition | None) -> dict[str, Any]:
    """DeFi penalty columns of one stored row (module docstring)."""
    bonus, fee = decimal(row["liquidation_bonus_usd"]), decimal(row["protocol_fee_usd"])
    penalty = None if bonus is None else bonus + (fee or Decimal(0))
    repaid, debt = decimal(row["debt_repaid_usd"]), decimal(row["borrower_debt_usd"])
    collateral = decimal(row["borrower_collateral_usd"])
    equity = None if position is None else position.equity
    return {
        "collateral_price_usd": _f(None if position is None else position.price),
        "collateral_usd": _f(collateral), "debt_usd": _f(debt), "equity_usd": _f(equity),
        "leverage": _f(None if position is None else position.leverage),
        "health_factor_before": _f(None if position is None else position.health_factor),
        "defi_trigger_price": _f(None if position is None else position.trigger_price),
        "debt_repaid_usd": _f(repaid), "defi_closed_share": _ratio(repaid, debt),
        "defi_bonus_usd": _f(bonus), "defi_protocol_fee_usd": _f(fee), "defi_penalty_usd": _f(penalty),
        "defi_penalty_pct_repaid": _ratio(penalty, repaid, 100),
        "defi_penalty_pct_collateral": _ratio(penalty, collateral, 100),
        "defi_penalty_pct_equity": _ratio(penalty, equity, 100),
    }


def perp_columns(outcome: PerpOutcome, position: DefiPosition) -> dict[str, Any]:
    """Perpetual columns of one (row, venue) pair."""
    lp = outcome.liquidation_price
    return {
        "venue": outcome.venue, "venue_symbol": outcome.symbol, "venue_era": outcome.era,
        "venue_era_in_force": outcome.era_in_force, "perp_tier": outcome.tier,
        "perp_maintenance_rate": _f(outcome.maintenance_rate), "perp_liquidation_price": _f(lp),
        "perp_bankruptcy_price": _f(outcome.bankruptcy_price),
        "trigger_distance": None if lp is None else float(lp / position.trigger_price - 1),
        "perp_liquidated_at_defi_price": None if lp is None else bool(lp >= position.price),
        "perp_engine_price": _f(outcome.engine_price), "perp_action": outcome.action,
        "perp_closed_share": _f(outcome.closed_share), "perp_trader_loss_usd": _f(outcome.trader_loss),
        "perp_fees_usd": _f(outcome.fees), "perp_insurance_fund_change_usd": _f(outcome.insurance_fund_change),
        "perp_loss_pct_collateral": _ratio(outcome.trader_loss, position.collateral, 100),
        "perp_loss_pct_equity": _ratio(outcome.trader_loss, position.equity, 100),
        "note": outcome.note,
    }


def penalties(liquidations: pd.DataFrame, venues: Sequence[VenueContract | str]) -> pd.DataFrame:
    """One row per stored liquidation and venue contract: identity, DeFi penalty and perpetual outcome
    columns (module docstring). Rows without state columns (decoded only, or ``DeficitCreated`` rows that
    repay nothing) appear once with a ``note`` and no venue."""
    chosen = contracts(venues)
    out = []
    for _, row in liquidations.iterrows():
        identity = {c: row[c] for c in IDENTITY}
        position = defi_position(row)
        defi = defi_columns(row, position)
        if position is None or not row["debt_repaid_raw"] or str(row["debt_repaid_raw"]) == "0":
            out.append({**identity, **defi, "note": f"no position to compare (state_status: {row['state_status']})"})
            continue
        for contract in chosen:
            out.append({**identity, **defi, **perp_columns(perp_outcome(position, contract), position)})
    frame = pd.DataFrame(out)
    return frame.astype({"perp_tier": "Int64"}) if "perp_tier" in frame else frame
