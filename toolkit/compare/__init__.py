"""Side by side: DeFi lending liquidations next to BitMEX-style centralized engines (``toolkit.cex``).

Every comparison has its method, assumptions and sources in its module docstring; README.md ("Comparing DeFi
and centralized engines") summarizes them.

Modules, one job each:

* :mod:`~toolkit.compare.leverage` leverage, maximum leverage and adverse move to liquidation (lending formulas;
  perpetuals through the engine's solver)
* :mod:`~toolkit.compare.contracts` which venue contract and risk-tier era a comparison applies
* :mod:`~toolkit.compare.readers` protocol parameters read on chain at a block, one module per family
* :mod:`~toolkit.compare.thresholds` thresholds of protocols and venues in one frame; parameter history
* :mod:`~toolkit.compare.equivalent` the perpetual equivalent of a DeFi position on a venue
* :mod:`~toolkit.compare.penalties` DeFi penalties next to each venue engine's outcome
* :mod:`~toolkit.compare.pairing` :func:`pair`: the side-by-side frame of liquidations and venues
* :mod:`~toolkit.compare.prices` engine price paths from price-bar files
* :mod:`~toolkit.compare.bad_debt` bad debt recorded on chain next to insurance-fund drawdown and ADL
* :mod:`~toolkit.compare.lending_levels`, :mod:`~toolkit.compare.venue_levels`, :mod:`~toolkit.compare.level_report`
  liquidation levels of positions snapshots, lending next to the venues (:func:`levels`)
* :mod:`~toolkit.compare.figures` citable figures: caption, PNG and manifest
* :mod:`~toolkit.compare.citation` citations from manifests (``liqtk cite``)
* :mod:`~toolkit.compare.reports` notebooks run with parameters and rendered as HTML (``liqtk report``)
"""

from toolkit.compare.bad_debt import adl_vs_bad_debt, defi_losses, engine_losses
from toolkit.compare.contracts import DEFAULT_SYMBOLS, VenueContract
from toolkit.compare.level_report import LevelReport, levels
from toolkit.compare.leverage import LEVERAGE_GRID
from toolkit.compare.pairing import pair
from toolkit.compare.penalties import penalties
from toolkit.compare.prices import bar_path
from toolkit.compare.thresholds import (DEFAULT_VENUES, read_protocol_thresholds, threshold_history, thresholds,
                                        thresholds_from_rows)

__all__ = ["DEFAULT_SYMBOLS", "DEFAULT_VENUES", "LEVERAGE_GRID", "LevelReport", "VenueContract", "adl_vs_bad_debt",
           "bar_path", "defi_losses", "engine_losses", "levels", "pair", "penalties", "read_protocol_thresholds",
           "threshold_history", "thresholds", "thresholds_from_rows"]
