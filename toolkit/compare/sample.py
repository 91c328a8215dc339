"""The local-chain sample the notebooks and tests compare: real liquidations pulled into a store.

On a running :class:`~toolkit.devchain.Devchain`: the Aave v3 and v2 demo liquidations
(:func:`toolkit.devchain.run_demo_scenario`), optionally Morpho Blue with one liquidation that realizes bad debt
(:mod:`toolkit.devchain.morpho`), then ``pull`` of each protocol into the store at ``store`` (state read at the
block before each liquidation, as for any node).
"""

from __future__ import annotations

from pathlib import Path

import toolkit
from toolkit.devchain import Devchain, run_demo_scenario


def pull_sample(devchain: Devchain, store: str | Path, *, morpho: bool = True) -> list[str]:
    """Run the scenarios on ``devchain`` and pull them into ``store``; returns the protocols pulled."""
    run_demo_scenario(devchain)
    protocols = ["aave-v3", "aave-v2"]
    if morpho:
        from toolkit.devchain.morpho import deploy_morpho, run_morpho_scenario

        run_morpho_scenario(devchain, deploy_morpho(devchain))
        protocols.append("morpho-blue")
    for protocol in protocols:
        toolkit.pull("devchain", protocol, rpc=devchain.url, store=store)
    return protocols
