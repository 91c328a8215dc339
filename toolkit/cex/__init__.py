"""Centralized-exchange liquidation engines: BitMEX-faithful margin, liquidation, insurance fund and ADL, with
venue profiles for BitMEX, Binance USD-M, Bybit, OKX, dYdX v4 and Hyperliquid.

Formulas and sources: ``docs/sources/venues.md`` (every module cites its entries by anchor).
Method, assumptions and file schemas: ``docs/cex.md``.

Modules, one job each:

* :mod:`~toolkit.cex.instruments` contracts (inverse, linear, quanto), exact values and PnL, tick rounding
* :mod:`~toolkit.cex.tiers` risk-limit tiers (BitMEX step rule, Binance maintenance amounts)
* :mod:`~toolkit.cex.margin` initial / maintenance margin, entry- or mark-based
* :mod:`~toolkit.cex.marking` fair-price marking and the mark-price path
* :mod:`~toolkit.cex.funding` funding rate, clamp, cap, schedule, payments
* :mod:`~toolkit.cex.liquidation` liquidation / bankruptcy prices, partial sizes, Fillable Price, slippage
* :mod:`~toolkit.cex.insurance` insurance-fund ledger and drawdown trigger
* :mod:`~toolkit.cex.adl` ADL ranking, indicator quintiles, allocation
* :mod:`~toolkit.cex.venues` venue profiles (``venues/<id>.toml``): loader and validation
* :mod:`~toolkit.cex.accounts` user accounts and positions checked against a venue
* :mod:`~toolkit.cex.state` mutable account / position state
* :mod:`~toolkit.cex.quotes` one account's prices and margins (``liqtk cex liquidation-price``)
* :mod:`~toolkit.cex.process` the liquidation process shared by both engines
* :mod:`~toolkit.cex.events` typed events and the simulation result
* :mod:`~toolkit.cex.engine` event-driven simulation
* :mod:`~toolkit.cex.vectorized` vectorized population mode (same results, large populations)
* :mod:`~toolkit.cex.io` files in and out (the only module doing I/O)
"""

from toolkit.cex.accounts import AccountSpec, MarginMode, PositionSpec
from toolkit.cex.engine import simulate
from toolkit.cex.events import SimulationResult
from toolkit.cex.liquidation import SlippageModel, price_levels
from toolkit.cex.marking import PricePath
from toolkit.cex.quotes import quote_account
from toolkit.cex.vectorized import simulate_vectorized
from toolkit.cex.venues import VENUE_IDS, load_venue

__all__ = ["VENUE_IDS", "AccountSpec", "MarginMode", "PositionSpec", "PricePath", "SimulationResult",
           "SlippageModel", "load_venue", "price_levels", "quote_account", "simulate", "simulate_vectorized"]
