"""Aave v2, Aave v3 and Spark reserve parameters at a block.

``Pool.getConfiguration(asset)`` at the block, decoded with :class:`toolkit.protocols.aave.ReserveConfig` (bits
0-15 LTV, 16-31 liquidation threshold, 32-47 liquidation bonus including 100 %, all bps;
docs/sources/aave.md#aave-reserve-configuration), and the ERC-20 ``symbol()``, with the adapter's ABIs
(:mod:`toolkit.protocols.aave`). These
are the reserve's own values; a borrower in an e-mode category uses the category's (stored per liquidation in
``liquidation_threshold_bps``, see :func:`toolkit.compare.thresholds.thresholds_from_rows`). An address that
is not a reserve of the pool reads as an all-zero bitmap and is left out, as are all assets at a block where the
pool has no code yet (the call returns no data).
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from fractions import Fraction

from toolkit.chain.calls import StateReader
from toolkit.compare.readers import ThresholdRecord
from toolkit.protocols.aave import ERC20, PERCENTAGE_FACTOR, POOL_V2, POOL_V3, ReserveConfig
from toolkit.protocols.base import Call, CallFailed, read_calls
from toolkit.protocols.registry import Deployment


async def read_thresholds(deployment: Deployment, state: StateReader, block: int,
                          assets: Sequence[str]) -> list[ThresholdRecord]:
    """One record per reserve in ``assets`` at ``block`` (see the module docstring)."""
    version = int(deployment.params["aave_version"])
    pool = deployment.address("pool")
    pool_abi = POOL_V3 if version >= 3 else POOL_V2
    calls: dict[Hashable, Call] = {}
    for asset in assets:
        calls[("config", asset)] = Call(block, pool, pool_abi.fn("getConfiguration"), (asset.lower(),))
        calls[("symbol", asset)] = Call(block, asset.lower(), ERC20.fn("symbol"))
    results = await read_calls(state, calls)
    records = []
    for asset in assets:
        answer = results[("config", asset)]
        if isinstance(answer, CallFailed):  # no pool code at this block yet: nothing is listed
            continue
        config = ReserveConfig.from_bitmap(answer[0][0], version)
        if config.decimals == 0 and config.liquidation_bonus_bps == 0:
            continue
        symbol = results[("symbol", asset)]
        records.append(ThresholdRecord(
            chain_id=deployment.chain.chain_id, protocol=deployment.protocol, deployment=deployment.name,
            market_id=pool, asset=asset.lower(), symbol=None if isinstance(symbol, CallFailed) else symbol[0],
            block_number=block, parameter="liquidation threshold", native_raw=str(config.liquidation_threshold_bps),
            native_unit="bps", threshold=Fraction(config.liquidation_threshold_bps, PERCENTAGE_FACTOR),
            borrow_limit=Fraction(config.ltv_bps, PERCENTAGE_FACTOR),
            bonus=Fraction(config.liquidation_bonus_bps, PERCENTAGE_FACTOR),
            source=f"Pool {pool} getConfiguration({asset.lower()}) at block {block} (ReserveConfiguration bits "
                   "0-15 LTV, 16-31 LT, 32-47 LB)"))
    return records


#: The reader of the ``aave`` family (see :mod:`toolkit.compare.readers`).
READER = read_thresholds
