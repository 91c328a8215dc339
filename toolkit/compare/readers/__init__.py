"""Protocol parameters read from the chain at a block, one small module per protocol family.

A family contributes ``toolkit/compare/readers/<family>.py`` exporting ``READER``: an async function
``(deployment, state, block, assets) -> list[ThresholdRecord]`` that reads, with batched ``eth_call`` at
``block``, the liquidation parameters of each collateral asset in ``assets`` and maps them to the common
:class:`ThresholdRecord`. :func:`reader_for` finds it by the deployment's family, as
:func:`toolkit.protocols.adapter_for` finds adapters: adding a protocol is adding a module, no edit here.
Implemented: ``aave`` (Aave v2, v3, Spark).
"""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction

from toolkit.chain.calls import StateReader
from toolkit.errors import UserInputError
from toolkit.protocols.registry import Deployment


@dataclass(frozen=True)
class ThresholdRecord:
    """One collateral asset's liquidation parameters in one market at one block.

    ``threshold`` is the liquidation threshold as a share of the collateral value that may be owed (Aave LT,
    Compound liquidate CF, Morpho LLTV, ``1/mat``, ``1/MCR``); ``borrow_limit`` the share that may be borrowed
    when a position is opened (Aave LTV; equal to ``threshold`` where one parameter does both); ``bonus`` the
    liquidation bonus or penalty factor including 1 (1.05 = 5 %). ``native_raw`` is the on-chain integer of the
    native parameter, in ``native_unit``.
    """

    chain_id: int
    protocol: str
    deployment: str
    market_id: str
    asset: str
    symbol: str | None
    block_number: int
    parameter: str
    native_raw: str
    native_unit: str
    threshold: Fraction
    borrow_limit: Fraction
    bonus: Fraction | None
    source: str


ThresholdReader = Callable[[Deployment, StateReader, int, Sequence[str]], Awaitable[list[ThresholdRecord]]]


def reader_for(deployment: Deployment) -> ThresholdReader:
    """The ``READER`` of the deployment's family; :class:`UserInputError` when the family has none yet."""
    name = deployment.family.replace("-", "_")
    try:
        module = importlib.import_module(f"{__name__}.{name}")
    except ModuleNotFoundError as exc:
        if exc.name != f"{__name__}.{name}":
            raise
        raise UserInputError(f"no on-chain threshold reader for {deployment.protocol} (family {deployment.family}) "
                             "yet; use toolkit.compare.thresholds_from_rows on stored liquidations") from None
    return module.READER
