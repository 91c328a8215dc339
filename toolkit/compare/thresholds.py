"""Thresholds side by side: protocols' liquidation parameters next to venues' maintenance tiers, the maximum
leverage each allows, and the adverse price move to liquidation at that leverage and on a common grid.

Sources of the lending side (:class:`~toolkit.compare.readers.ThresholdRecord`):

* the chain, at a block (or the first block at or after a date): :func:`read_protocol_thresholds` runs the
  protocol family's reader (:mod:`toolkit.compare.readers`) through :class:`toolkit.chain.calls.StateReader`;
* stored liquidations, any protocol: :func:`thresholds_from_rows` takes the parameters the adapter read at each
  liquidation's state block (``liquidation_threshold_bps``, ``ltv_bps``, ``lltv_raw``,
  ``min_collateral_ratio_raw``, ``liquidation_bonus_bps``; docs/schema.md), e-mode included.

The venue side comes from the venue profiles (:mod:`toolkit.cex.venues`): the era of the contract in force at
the date (:func:`toolkit.compare.contracts.venue_era`) and its tiers.

Method (formulas and sources in :mod:`toolkit.compare.leverage`):

* ``maintenance_share``: equity left per unit of exposure when liquidation starts. Lending ``1 - LT``
  (``HF = 1`` means ``D = LT x C``); perpetual: the tier's maintenance margin rate
  (docs/sources/venues.md#bitmex-risk-limits).
  This is the common axis of docs/sources/store.md#common-axis (maintenance margin <-> LT / liquidate CF /
  1/mat / MCR / LLTV).
* ``max_leverage``: lending ``1 / (1 - borrow limit)``; perpetual ``1 / initial margin rate`` of the tier.
* ``adverse_move_*``: price fall from opening to liquidation. Lending ``1 - (1 - 1/L) / LT``; perpetual from the
  engine's liquidation-price solver. Empty where the leverage is above the maximum.

Every value is computed exactly (``Fraction`` / ``Decimal``) and rounded to ``float`` once, in the frame.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

import pandas as pd

from toolkit.chain.blocks import BlockHeaders
from toolkit.chain.calls import StateReader
from toolkit.chain.rpc import RpcClient
from toolkit.cex import load_venue
from toolkit.compare.contracts import VenueContract, contracts, venue_era
from toolkit.compare.leverage import (LEVERAGE_GRID, lending_adverse_move, lending_max_leverage,
                                      perp_adverse_move)
from toolkit.compare.readers import ThresholdRecord, reader_for
from toolkit.errors import UserInputError
from toolkit.protocols.discovery import expand_offline
from toolkit.protocols.registry import Deployment, registry

#: Venues of a comparison when none are named.
DEFAULT_VENUES: tuple[str, ...] = ("bitmex", "binance-usdm", "hyperliquid")

#: Native name of the parameter stored in ``liquidation_threshold_bps`` per protocol (from each adapter's
#: docstring in toolkit/protocols; docs/sources/store.md#common-axis).
NATIVE_PARAMETER: dict[str, str] = {
    "aave-v1": "liquidation threshold", "aave-v2": "liquidation threshold", "aave-v3": "liquidation threshold",
    "spark": "liquidation threshold", "compound-v2": "collateral factor", "venus": "collateral factor",
    "compound-v3": "liquidate collateral factor", "maker": "1/mat", "morpho-blue": "LLTV",
    "euler-v2": "liquidation LTV", "liquity-v1": "1/MCR", "liquity-v2": "1/MCR",
}
WAD = 10**18
BPS = 10_000


def _float(value: Fraction | Decimal | None) -> float | None:
    return None if value is None else float(value)


def _grid_columns(leverages: Sequence[int]) -> list[str]:
    return [f"adverse_move_{lev}x" for lev in leverages]


# ---------------------------------------------------------------------------------------------- chain reads

async def _read_at(deployment: Deployment, client: RpcClient, blocks: Iterable[int],
                   assets: Sequence[str]) -> dict[int, list[ThresholdRecord]]:
    reader, state = reader_for(deployment), StateReader(client)
    return {block: await reader(deployment, state, block, assets) for block in blocks}


async def _open(chain: str, rpc: str | None) -> RpcClient:
    from toolkit.settings import resolve_rpc_url

    expected = registry().chain(chain).chain_id
    client = RpcClient(resolve_rpc_url(chain, rpc))
    actual = await client.chain_id()
    if actual != expected:
        await client.close()
        raise UserInputError(f"the node at {client.redacted_url} is chain {actual}, not {chain} ({expected}); "
                             "pass the RPC URL of that chain")
    return client


async def _resolve_block(client: RpcClient, block: int | str | None, date: datetime | None) -> int:
    headers = BlockHeaders(client)
    if date is not None:
        moment = date if date.tzinfo else date.replace(tzinfo=UTC)
        found = await headers.first_block_at_or_after(int(moment.timestamp()))
        return await headers.resolve_bound(found)
    return await headers.resolve_bound("finalized" if block is None else block)


def _markets(chain: str, protocol: str, market: str | None, store: str | Path | None) -> list[Deployment]:
    """The markets of ``protocol`` on ``chain`` (or the one named ``market``): the registry's deployments, its
    templates expanded with the pools they name and the markets the store's pulls discovered
    (:func:`toolkit.protocols.discovery.expand_offline`)."""
    from toolkit.settings import resolve_store_path
    from toolkit.store import discovered
    from toolkit.store.db import Store

    found = registry().find(chain, protocol, market)
    path = resolve_store_path(store)
    cached = discovered.load(Store(path, create=False), registry().chain(chain).chain_id) if path.exists() else {}
    markets = [d for d in expand_offline(found, cached) if d.emitters and (market is None or d.name == market)]
    if not markets:
        raise UserInputError(f"no {protocol} market{f' {market!r}' if market else ''} on {chain} in the registry or "
                             "among the markets the store's pulls discovered; pull it first or name another market")
    return markets


def _assets(deployment: Deployment, assets: Sequence[str] | None, store: str | Path | None) -> list[str]:
    if assets:
        return [a.lower() for a in assets]
    from toolkit.settings import resolve_store_path
    from toolkit.store.db import Store

    frame = Store(resolve_store_path(store), create=False).liquidations(
        chain_id=deployment.chain.chain_id, protocol=deployment.protocol, deployment=deployment.name)
    found = sorted(set(frame["collateral_asset"].dropna()))
    if not found:
        raise UserInputError(f"no stored {deployment.protocol}/{deployment.name} liquidations to take collateral "
                             "assets from; pass assets=[...]")
    return found


def read_protocol_thresholds(chain: str, protocol: str, *, block: int | str | None = None,
                             date: datetime | None = None, assets: Sequence[str] | None = None,
                             market: str | None = None, rpc: str | None = None,
                             store: str | Path | None = None) -> list[ThresholdRecord]:
    """Parameters of ``assets`` (default: the collateral assets of the stored liquidations of each market) in
    every registered market of ``protocol`` on ``chain`` (or the one named ``market``), read at ``block`` (a
    number or tag, default ``finalized``) or at the first block at or after ``date`` (UTC).

    The node is ``rpc`` or the chain's ``LIQTK_RPC_<CHAIN>``; its chain id must match the registry's.
    """
    from toolkit.aio import run_blocking

    deployments = _markets(chain, protocol, market, store)

    async def run() -> list[ThresholdRecord]:
        client = await _open(chain, rpc)
        try:
            at = await _resolve_block(client, block, date)
            records: list[ThresholdRecord] = []
            for deployment in deployments:
                found = await _read_at(deployment, client, [at], _assets(deployment, assets, store))
                records.extend(found[at])
            return records
        finally:
            await client.close()

    return run_blocking(run())


# ---------------------------------------------------------------------------------------------- stored rows

def _row_parameters(row: Any) -> tuple[str, str, str, Fraction, Fraction, Fraction | None] | None:
    """``(parameter, native_raw, native_unit, threshold, borrow_limit, bonus)`` of a stored liquidation row,
    or ``None`` when the row has no parameters (decoded without state reads)."""
    bonus = None if pd.isna(row["liquidation_bonus_bps"]) else Fraction(int(row["liquidation_bonus_bps"]), BPS)
    if not pd.isna(row["lltv_raw"]):
        lltv = Fraction(int(row["lltv_raw"]), WAD)
        return "LLTV", str(row["lltv_raw"]), "wad", lltv, lltv, bonus
    if not pd.isna(row["min_collateral_ratio_raw"]):
        ratio = Fraction(int(row["min_collateral_ratio_raw"]), WAD)
        return "MCR", str(row["min_collateral_ratio_raw"]), "wad (collateral / debt)", 1 / ratio, 1 / ratio, bonus
    if pd.isna(row["liquidation_threshold_bps"]):
        return None
    threshold = Fraction(int(row["liquidation_threshold_bps"]), BPS)
    limit = threshold if pd.isna(row["ltv_bps"]) else Fraction(int(row["ltv_bps"]), BPS)
    name = NATIVE_PARAMETER.get(str(row["protocol"]), "liquidation threshold")
    return name, str(int(row["liquidation_threshold_bps"])), "bps", threshold, limit, bonus


def row_threshold(row: Any) -> ThresholdRecord | None:
    """The parameters in force at one stored liquidation (``None`` without state columns)."""
    found = _row_parameters(row)
    if found is None:
        return None
    parameter, raw, unit, threshold, limit, bonus = found
    block = row["state_block"] if not pd.isna(row["state_block"]) else row["block_number"] - 1
    emode = "" if pd.isna(row["emode_category"]) or int(row["emode_category"]) == 0 else \
        f", e-mode category {int(row['emode_category'])}"
    return ThresholdRecord(
        chain_id=int(row["chain_id"]), protocol=str(row["protocol"]), deployment=str(row["deployment"]),
        market_id=str(row["market_id"]), asset=str(row["collateral_asset"]),
        symbol=None if pd.isna(row["collateral_symbol"]) else str(row["collateral_symbol"]),
        block_number=int(block), parameter=parameter, native_raw=raw, native_unit=unit, threshold=threshold,
        borrow_limit=limit, bonus=bonus,
        source=f"stored liquidation {row['tx_hash']}:{int(row['log_index'])} (read at block {int(block)}{emode})")


def thresholds_from_rows(liquidations: pd.DataFrame) -> list[ThresholdRecord]:
    """One record per market, collateral asset and distinct set of parameters seen on stored liquidations, at
    the first state block it was seen (in block order: a history of what the liquidations met)."""
    seen: dict[tuple[Any, ...], ThresholdRecord] = {}
    for _, row in liquidations.sort_values(["chain_id", "block_number", "log_index"]).iterrows():
        record = row_threshold(row)
        if record is None:
            continue
        key = (record.chain_id, record.protocol, record.deployment, record.market_id, record.asset,
               record.native_raw, record.borrow_limit, record.bonus)
        seen.setdefault(key, record)
    return list(seen.values())


# ---------------------------------------------------------------------------------------------- frames

def _lending_row(record: ThresholdRecord, source: str, leverages: Sequence[int]) -> dict[str, Any]:
    usable = record.threshold > 0
    max_lev = lending_max_leverage(record.borrow_limit) if usable else None
    moves = {}
    for lev, column in zip(leverages, _grid_columns(leverages), strict=True):
        allowed = usable and (max_lev is None or lev <= max_lev)
        moves[column] = _float(lending_adverse_move(Fraction(lev), record.threshold)) if allowed else None
    return {
        "side": "lending", "source": source, "name": record.protocol, "deployment": record.deployment,
        "market": record.market_id, "asset": record.asset, "symbol": record.symbol, "chain_id": record.chain_id,
        "block_number": record.block_number, "as_of": None, "era": None, "era_in_force": None, "tier": None,
        "parameter": record.parameter, "native_value": record.native_raw, "native_unit": record.native_unit,
        "maintenance_share": _float(1 - record.threshold), "max_leverage": _float(max_lev),
        "adverse_move_at_max_leverage": _float(lending_adverse_move(max_lev, record.threshold))
        if max_lev is not None else None,
        **moves, "reference": record.source,
    }


def venue_rows(venues: Sequence[VenueContract | str], as_of: datetime, *, leverages: Sequence[int] = LEVERAGE_GRID,
               all_tiers: bool = False, funding_rate: Decimal = Decimal(0)) -> list[dict[str, Any]]:
    """Rows of the frame for each venue contract at ``as_of``: its base tier, or every tier with
    ``all_tiers`` (each quoted for the largest position of the tier)."""
    rows = []
    for contract in contracts(venues):
        profile = load_venue(contract.venue)
        era, in_force = venue_era(profile, contract.symbol, as_of)
        for tier in era.tiers if all_tiers else era.tiers[:1]:
            at_max = perp_adverse_move(contract, None, moment=as_of, tier_number=tier.number,
                                       funding_rate=funding_rate)
            moves = {column: _float(perp_adverse_move(contract, Decimal(lev), moment=as_of, tier_number=tier.number,
                                                      funding_rate=funding_rate).adverse_move)
                     for lev, column in zip(leverages, _grid_columns(leverages), strict=True)}
            rows.append({
                "side": "perp", "source": "venue profile", "name": contract.venue, "deployment": None,
                "market": contract.symbol, "asset": None, "symbol": contract.symbol, "chain_id": None,
                "block_number": None, "as_of": as_of, "era": era.name, "era_in_force": in_force,
                "tier": tier.number, "parameter": "maintenance margin rate",
                "native_value": str(tier.maintenance_rate), "native_unit": "fraction of position value",
                "maintenance_share": float(tier.maintenance_rate), "max_leverage": float(tier.max_leverage),
                "adverse_move_at_max_leverage": _float(at_max.adverse_move), **moves,
                "reference": f"toolkit/cex/venues/{contract.venue}.toml {contract.symbol} era {era.name}: "
                             f"{era.provenance.source}",
            })
    return rows


def thresholds(records: Sequence[ThresholdRecord] = (), venues: Sequence[VenueContract | str] = DEFAULT_VENUES,
               *, as_of: datetime | None = None, source: str = "chain", leverages: Sequence[int] = LEVERAGE_GRID,
               all_tiers: bool = False, funding_rate: Decimal = Decimal(0)) -> pd.DataFrame:
    """One frame: a row per lending record (``source`` names where they come from: ``chain`` for
    :func:`read_protocol_thresholds`, ``stored liquidations`` for :func:`thresholds_from_rows`) and a row per
    venue contract tier at ``as_of`` (default now, UTC). Columns in the module docstring."""
    rows = [_lending_row(r, source, leverages) for r in records]
    if venues:
        rows += venue_rows(venues, as_of or datetime.now(UTC), leverages=leverages, all_tiers=all_tiers,
                           funding_rate=funding_rate)
    frame = pd.DataFrame(rows)
    return frame.astype({"chain_id": "Int64", "block_number": "Int64", "tier": "Int64"}) if rows else frame


# ---------------------------------------------------------------------------------------------- history

@dataclass(frozen=True)
class _Value:
    record: ThresholdRecord | None

    @property
    def key(self) -> tuple[Any, ...] | None:
        r = self.record
        return None if r is None else (r.native_raw, r.borrow_limit, r.bonus)


def _by_asset(records: list[ThresholdRecord]) -> dict[str, ThresholdRecord]:
    return {r.asset: r for r in records}


def threshold_history(chain: str, protocol: str, *, from_block: int, to_block: int, step: int,
                      assets: Sequence[str] | None = None, market: str | None = None, rpc: str | None = None,
                      store: str | Path | None = None) -> pd.DataFrame:
    """How each asset's parameters changed over ``[from_block, to_block]``.

    Method: read the parameters at ``from_block``, every ``step`` blocks and at ``to_block``; where two
    consecutive samples differ, bisect between them (about ``log2(step)`` more reads) to the first block with
    the new value. Assumption: a value that changes and changes back between two samples is not seen (a
    smaller ``step`` narrows that). One row per asset for the value in force at ``from_block`` (``change`` =
    ``start``; absent when the asset was not a reserve yet), then one per change (``changed``, or ``listed`` /
    ``removed`` when the asset starts or stops being a reserve), with the previous values beside the new.
    """
    from toolkit.aio import run_blocking

    if not 0 <= from_block <= to_block or step < 1:
        raise UserInputError(f"need 0 <= from_block <= to_block and step >= 1, got {from_block}, {to_block}, {step}")
    deployments = _markets(chain, protocol, market, store)
    samples = sorted({*range(from_block, to_block, step), to_block})

    async def run() -> list[dict[str, Any]]:
        client = await _open(chain, rpc)
        rows: list[dict[str, Any]] = []
        try:
            for deployment in deployments:
                wanted = _assets(deployment, assets, store)
                read = await _read_at(deployment, client, samples, wanted)
                for asset in wanted:
                    rows.extend(await _asset_history(deployment, client, asset, samples,
                                                     [_Value(_by_asset(read[b]).get(asset)) for b in samples]))
        finally:
            await client.close()
        return rows

    return pd.DataFrame(run_blocking(run()))


async def _asset_history(deployment: Deployment, client: RpcClient, asset: str, samples: list[int],
                         values: list[_Value]) -> list[dict[str, Any]]:
    rows = []
    if values[0].record is not None:
        rows.append(_history_row(values[0].record, None, "start"))
    for (low, before), (end, last) in zip(zip(samples, values), zip(samples[1:], values[1:])):
        while before.key != last.key:  # one or more changes in (low, end]: locate each in turn
            high, after = end, last
            while high - low > 1:  # invariant: value at low == before, value at high != before
                middle = (low + high) // 2
                found = _Value(_by_asset((await _read_at(deployment, client, [middle], [asset]))[middle]).get(asset))
                if found.key == before.key:
                    low = middle
                else:
                    high, after = middle, found
            change = "listed" if before.record is None else "removed" if after.record is None else "changed"
            new = after.record if after.record is not None else before.record
            rows.append(_history_row(new, before.record, change, high))  # type: ignore[arg-type]
            low, before = high, after
    return rows


def _history_row(record: ThresholdRecord, previous: ThresholdRecord | None, change: str,
                 block: int | None = None) -> dict[str, Any]:
    removed = change == "removed"
    return {
        "chain_id": record.chain_id, "protocol": record.protocol, "deployment": record.deployment,
        "market": record.market_id, "asset": record.asset, "symbol": record.symbol,
        "block_number": record.block_number if block is None else block, "change": change,
        "parameter": record.parameter, "native_unit": record.native_unit,
        "native_value": None if removed else record.native_raw,
        "previous_native_value": None if previous is None else previous.native_raw,
        "threshold": None if removed else float(record.threshold),
        "previous_threshold": None if previous is None else float(previous.threshold),
        "borrow_limit": None if removed else float(record.borrow_limit),
        "previous_borrow_limit": None if previous is None else float(previous.borrow_limit),
        "bonus": None if removed or record.bonus is None else float(record.bonus),
        "previous_bonus": None if previous is None or previous.bonus is None else float(previous.bonus),
        "located_by": "first sample" if change == "start" else "bisection between samples",
    }
