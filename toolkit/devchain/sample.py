"""The local-chain sample the notebooks and tests compare: real liquidations pulled into a store.

It lives with the local chain, above the comparisons it feeds (:mod:`toolkit.compare` never imports the devchain).

On a running :class:`~toolkit.devchain.Devchain`: the Aave v3 and v2 demo liquidations
(:func:`toolkit.devchain.run_demo_scenario`), optionally the Morpho Blue scenario on the markets the devchain
deployed, with one liquidation that realizes bad debt (:func:`toolkit.devchain.morpho.run_morpho_scenario`),
then ``pull`` of each protocol into the store at ``store`` (state read at the block before each liquidation,
as for any node).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import toolkit
from toolkit.devchain import Devchain, run_demo_scenario


def pull_sample(devchain: Devchain, store: str | Path, *, morpho: bool = True) -> dict[str, list[dict[str, Any]]]:
    """Run the scenarios on ``devchain`` and pull them into ``store``; returns what each scenario returned
    (``"aave"``, ``"morpho-blue"``: one dict per liquidation, as the scenario functions document)."""
    done = {"aave": run_demo_scenario(devchain)}
    protocols = ["aave-v3", "aave-v2"]
    if morpho and devchain.morpho is not None:
        from toolkit.devchain.morpho import run_morpho_scenario

        done["morpho-blue"] = run_morpho_scenario(devchain, devchain.morpho)
        protocols.append("morpho-blue")
    for protocol in protocols:
        toolkit.pull("devchain", protocol, rpc=devchain.url, store=store)
    return done
