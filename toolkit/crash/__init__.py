"""Crash replay: real lending-protocol code and the venues' liquidation engines driven by the same real crash prices
(``liqtk replay``).

One population of borrowers is opened as real positions on Aave v3, Aave v2, Venus (the Compound v2 design) and
Morpho Blue on a local chain, and as the equivalent perpetual longs on each venue; the oracles follow a real
hourly crash path while a keeper liquidates whatever the protocols allow; the events are pulled with the mainnet
adapters, the engines run on the same path, and a report puts both side by side::

    from pathlib import Path
    from toolkit.crash import ReplayConfig, replay, write_report

    result = replay(ReplayConfig(event="2025-10-10", asset="ETH"), Path("out/replay/replay.duckdb"))
    manifest = write_report(result, Path("out/replay"))

Modules, one job each:

* :mod:`~toolkit.crash.events` the four crash windows: price files, assets, default window, source notes
* :mod:`~toolkit.crash.minute_paths` paths from 1-minute bars (2025-10-10): minutes through the cascade
* :mod:`~toolkit.crash.population` the seeded borrower population and each borrower's perpetual equivalent
* :mod:`~toolkit.crash.positions` opening the population on the devchain (liquidity, accounts, borrows)
* :mod:`~toolkit.crash.storage`, :mod:`~toolkit.crash.driver` moving every protocol's oracle to a step of the path
* :mod:`~toolkit.crash.keeper` finding and liquidating liquidatable positions with the protocols' own rules
* :mod:`~toolkit.crash.venues`, :mod:`~toolkit.crash.leverage_population` the populations on each venue through
  :mod:`toolkit.cex` (same equity; same sizes at a realistic leverage mix), outcomes and ledger
* :mod:`~toolkit.crash.run` orchestration: devchain -> population -> snapshot -> path -> keeper -> pull -> engines
* :mod:`~toolkit.crash.fork`, :mod:`~toolkit.crash.fork_driver`, :mod:`~toolkit.crash.fork_keeper` the same on a
  fork of a real chain, from a positions snapshot there (``--fork-url``, ``--fork-block``)
* :mod:`~toolkit.crash.report`, :mod:`~toolkit.crash.report_figures`, :mod:`~toolkit.crash.report_page` CSV tables,
  PNG charts without empty panels, the HTML page with what the model produced, and the manifest
"""

from toolkit.crash.events import EVENTS, CrashEvent
from toolkit.crash.population import PopulationSpec
from toolkit.crash.report import write_report
from toolkit.crash.run import DEFAULT_VENUES, ReplayConfig, ReplayResult, replay

__all__ = ["DEFAULT_VENUES", "EVENTS", "CrashEvent", "PopulationSpec", "ReplayConfig", "ReplayResult", "replay",
           "write_report"]
