"""``state_check`` of Morpho Blue ``Liquidate`` rows.

``Morpho.liquidate`` (npm @morpho-org/morpho-blue 1.0.0 ``src/Morpho.sol`` L346-417;
docs/sources/morpho.md#liquidate) first accrues interest (``_accrueInterest`` L483-509: ``interest =
totalBorrowAssets.wMulDown(borrowRate.wTaylorCompounded(elapsed))`` with the IRM's rate and the seconds
since ``lastUpdate``), requires the position to be unhealthy at the oracle price, then from the one
input the liquidator gave:

* ``repaidShares``: ``seizedAssets = repaidShares.toAssetsDown(totals).wMulDown(LIF).mulDivDown(1e36, price)``;
* ``seizedAssets``: ``repaidShares = seizedAssets.mulDivUp(price, 1e36).wDivUp(LIF).toSharesUp(totals)``;

and ``repaidAssets = repaidShares.toAssetsUp(totals)``, with ``LIF`` from the LLTV. The event carries
all three amounts but not which was the input, so the row is ``exact`` when either way reproduces them
and the accrued position was unhealthy (``maxBorrow < borrowed``, the terms of ``_isHealthy``).

Inputs from the adapter: ``market`` (``market(id)`` at the state read), ``borrow_rate``
(``borrowRateView`` of the market's IRM there; None with the zero IRM), ``position`` (``position(id,
borrower)``), ``block_time`` (the liquidation block's timestamp, Unix seconds).
"""

from __future__ import annotations

from typing import Any

from toolkit.protocols.checks import EXACT, MISMATCH, UNCHECKED, Check

WAD = 10**18
ORACLE_PRICE_SCALE = 10**36
VIRTUAL_SHARES = 10**6
VIRTUAL_ASSETS = 1


def mul_div_down(x: int, y: int, d: int) -> int:
    return x * y // d


def mul_div_up(x: int, y: int, d: int) -> int:
    return (x * y + d - 1) // d


def w_taylor_compounded(x: int, n: int) -> int:
    """``MathLib.wTaylorCompounded``: e^(x n) - 1 to the third term, in wad."""
    first = x * n
    second = mul_div_down(first, first, 2 * WAD)
    third = mul_div_down(second, first, 3 * WAD)
    return first + second + third


def to_assets_down(shares: int, assets: int, total_shares: int) -> int:
    return mul_div_down(shares, assets + VIRTUAL_ASSETS, total_shares + VIRTUAL_SHARES)


def to_assets_up(shares: int, assets: int, total_shares: int) -> int:
    return mul_div_up(shares, assets + VIRTUAL_ASSETS, total_shares + VIRTUAL_SHARES)


def to_shares_up(assets: int, total_assets: int, total_shares: int) -> int:
    return mul_div_up(assets, total_shares + VIRTUAL_SHARES, total_assets + VIRTUAL_ASSETS)


def accrued_borrow_assets(total_borrow_assets: int, last_update: int, borrow_rate: int | None, now: int) -> int:
    """``totalBorrowAssets`` after ``_accrueInterest`` at ``now`` (no IRM: unchanged)."""
    elapsed = now - last_update
    if elapsed <= 0 or borrow_rate is None:
        return total_borrow_assets
    return total_borrow_assets + mul_div_down(total_borrow_assets, w_taylor_compounded(borrow_rate, elapsed), WAD)


def check(row: dict[str, Any], inputs: dict[str, Any]) -> Check:
    """The row's check (module docstring)."""
    try:
        market, position = inputs["market"], inputs["position"]
        now = int(inputs["block_time"])
        price, lif, lltv = int(row["collateral_price_raw"]), int(row["liquidation_incentive_raw"]), int(row["lltv_raw"])
        repaid, shares, seized = (int(row["debt_repaid_raw"]), int(row["repaid_shares_raw"]),
                                  int(row["collateral_seized_raw"]))
    except (KeyError, TypeError, ValueError):
        return Check(UNCHECKED, "market totals, position, price or block time were not read")
    if "borrow_rate_failed" in inputs:
        return Check(UNCHECKED, f"the IRM's borrowRateView failed: interest accrued by the liquidation unknown "
                                f"({inputs['borrow_rate_failed']})")
    if not price:
        return Check(UNCHECKED, "the oracle price is 0 at the state read")
    total_assets = accrued_borrow_assets(int(market[2]), int(market[4]), inputs.get("borrow_rate"), now)
    total_shares = int(market[3])
    by_shares = mul_div_down(mul_div_down(to_assets_down(shares, total_assets, total_shares), lif, WAD),
                             ORACLE_PRICE_SCALE, price)
    by_seized = to_shares_up(mul_div_up(mul_div_up(seized, price, ORACLE_PRICE_SCALE), WAD, lif),
                             total_assets, total_shares)
    repaid_assets = to_assets_up(shares, total_assets, total_shares)
    borrowed = to_assets_up(int(position[1]), total_assets, total_shares)
    max_borrow = mul_div_down(mul_div_down(int(position[2]), price, ORACLE_PRICE_SCALE), lltv, WAD)
    what = (f"totalBorrowAssets {total_assets} accrued to {now}, totalBorrowShares {total_shares}, price {price}, "
            f"LIF {lif}")
    unhealthy = max_borrow < borrowed
    health = f"borrowed {borrowed} > max borrow {max_borrow}" if unhealthy else (
        f"but borrowed {borrowed} <= max borrow {max_borrow}: healthy at the state read")
    if repaid_assets != repaid:
        return Check(MISMATCH, f"{what}: repaidAssets from repaidShares {repaid_assets}, the event says {repaid}",
                     repaid_assets, repaid)
    for how, ok in (("seizedAssets from repaidShares", by_shares == seized),
                    ("repaidShares from seizedAssets", by_seized == shares)):
        if ok:
            return Check(EXACT if unhealthy else MISMATCH, f"{how} and repaidAssets exact ({what}); {health}",
                         seized if how.startswith("seized") else shares, seized if how.startswith("seized") else shares)
    return Check(MISMATCH, f"{what}: seizedAssets from repaidShares {by_shares}, the event says {seized} (and "
                           f"repaidShares from seizedAssets {by_seized}, the event {shares}); {health}",
                 by_shares, seized)
