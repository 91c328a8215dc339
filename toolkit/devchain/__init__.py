"""A local chain (anvil from npm) with real Aave v3 and Aave v2 markets and demo liquidations.

Typical use::

    from toolkit.devchain import Devchain, run_demo_scenario

    with Devchain.start() as devchain:
        liquidations = run_demo_scenario(devchain)   # real LiquidationCall logs on both markets
        print(devchain.url, devchain.addresses()["aave_v3"]["pool"])

Modules: :mod:`~toolkit.devchain.anvil` (start/stop the node), :mod:`~toolkit.devchain.artifacts`
(load and link npm artifacts), :mod:`~toolkit.devchain.chain` (send transactions, deploy),
:mod:`~toolkit.devchain.assets` (tokens and price feeds), :mod:`~toolkit.devchain.market`
(positions, prices, liquidations on one market), :mod:`~toolkit.devchain.aave_v3` and
:mod:`~toolkit.devchain.aave_v2` (deploy and configure), :mod:`~toolkit.devchain.devchain`
(:class:`Devchain`) and :mod:`~toolkit.devchain.scenario` (:func:`run_demo_scenario`).
Importing the package reads nothing from ``node_modules``; artifacts load on first deployment. The
deployments it makes are named in ``deployments.toml`` here (chain ``devchain``), which ``toolkit`` adds to the
registry by path (:mod:`toolkit._registry_files`).
"""

from toolkit.devchain.aave_v2 import AaveV2Market
from toolkit.devchain.anvil import DEVCHAIN_CHAIN_ID, AnvilNode, start_anvil
from toolkit.devchain.assets import MAX_UINT256, to_raw
from toolkit.devchain.devchain import Devchain
from toolkit.devchain.market import AaveMarket, AccountData, FeedRecord, Reserve, ReserveParams
from toolkit.devchain.scenario import run_demo_scenario

__all__ = [
    "DEVCHAIN_CHAIN_ID",
    "MAX_UINT256",
    "AaveMarket",
    "AaveV2Market",
    "AccountData",
    "AnvilNode",
    "Devchain",
    "FeedRecord",
    "Reserve",
    "ReserveParams",
    "run_demo_scenario",
    "start_anvil",
    "to_raw",
]
