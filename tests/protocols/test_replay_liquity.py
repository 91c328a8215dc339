"""Liquity v1 and v2: replays of liquidations through the pipeline, and decode-level checks.

The replayed logs are CONSTRUCTED, not captured from mainnet (no public raw Liquity liquidation logs
exist; see fixtures/replays/liquity/README.md): ``construct.py`` computed them with the TroveManager
liquidation arithmetic of liquity/dev and liquity/bold from illustrative troves, prices and Stability
Pool deposits, with the real event signatures. The replay (:mod:`toolkit.devchain.replay`) re-emits them
at the real TroveManager addresses on a local anvil with chain id 1, so they are pulled through the real
``ethereum`` registry entries; stubs answer the state reads (price, MCR, pool deposits, token metadata).

Expectations come from the fixture's protocol-side computation (``expected``), not from the adapter.
"""

from __future__ import annotations

from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import pytest_asyncio

from toolkit.abi import load_abi
from toolkit.devchain.anvil import start_anvil
from toolkit.devchain.chain import Chain
from toolkit.devchain.replay import ReplayLog, ReplayResult, Replayer, answer, event_log, load_fixture
from toolkit.pipeline import PullRequest, pull_async
from toolkit.protocols import adapter_for, registry
from toolkit.store.db import Store

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "replays" / "liquity" / "liquidations.json"
V1 = load_abi("liquity/TroveManagerV1.json")
V2 = load_abi("liquity/TroveManagerV2.json")
TROVE_MANAGER_V1 = "0xa39739ef8b0231dbfa0dcda07d7e29faabcf4bb2"
TROVE_MANAGER_V2 = "0x7bcb64b2c9206a5b699ed43363f6f98d4776cf5a"
STABILITY_POOL_V1 = "0x66017d22b0f8556afdd19fc67041899eb65a21bb"
LUSD, BOLD = "0x5f98805a4e8be255a32880fdec7f6728c6568ba0", "0x6440f144b7e50d6a8439336510312d2f54beb01d"
WETH = "0xc02aaa39b223fe8d0a0e5c4f27ead9083c756cc2"
WAD = 10**18


def _expected() -> dict[str, Any]:
    return load_fixture(FIXTURE).document["expected"]


@pytest.fixture(scope="module")
def chain() -> Iterator[Chain]:
    with start_anvil(chain_id=1) as node:
        yield Chain(node.url)


@pytest.fixture(scope="module")
def replay(chain: Chain) -> ReplayResult:
    result = Replayer(chain).run(load_fixture(FIXTURE).steps)
    chain.mine(2)
    return result


async def _pull(chain: Chain, store: Path, first: int, last: int) -> pd.DataFrame:
    for protocol in ("liquity-v1", "liquity-v2"):
        await pull_async(PullRequest(chain="ethereum", protocol=protocol, rpc_url=chain.w3.provider.endpoint_uri,
                                     store_path=store, from_block=first, to=last))
    return Store(store, create=False).liquidations()


@pytest_asyncio.fixture(scope="module")
async def frame(chain: Chain, replay: ReplayResult, tmp_path_factory: pytest.TempPathFactory) -> pd.DataFrame:
    return await _pull(chain, tmp_path_factory.mktemp("liquity") / "s.duckdb", 0, replay.last_block)


def _group(frame: pd.DataFrame, replay: ReplayResult, label: str) -> pd.DataFrame:
    tx = replay.tx(_expected()["transactions"][label])
    return frame[frame.tx_hash == tx.tx_hash].sort_values("log_index")


@pytest.mark.node
@pytest.mark.parametrize("label", ["tx1", "tx2", "tx3"])
def test_replay_v1_rows_per_trove_joined_to_their_liquidation(frame, replay, label) -> None:
    expected = _expected()["v1"][label]
    rows = _group(frame, replay, label)
    tx = replay.tx(_expected()["transactions"][label])
    liquidation_index = tx.log_indexes[-1]  # the Liquidation event closes the transaction
    assert list(rows.borrower) == [t["borrower"] for t in expected["troves"]]
    assert list(rows.debt_repaid_raw) == [t["debt"] for t in expected["troves"]]
    assert list(rows.collateral_seized_raw) == [t["coll"] for t in expected["troves"]]
    assert set(rows.join_key) == {f"{tx.tx_hash}:{liquidation_index}"}
    assert sum(int(x) for x in rows.debt_repaid_raw) == int(expected["liquidation"]["_liquidatedDebt"])
    assert set(rows.event) == {"TroveLiquidated"} and set(rows.protocol) == {"liquity-v1"}
    assert set(rows.debt_asset) == {LUSD} and set(rows.collateral_asset) == {"0x" + "e" * 40}
    assert rows.liquidator.isna().all() and rows.incomplete_reason.isna().all()


@pytest.mark.node
@pytest.mark.parametrize("label", ["tx1", "tx2", "tx3"])
def test_replay_v1_redistribution_is_the_bad_debt(frame, replay, label) -> None:
    """tx1: no LTermsUpdated, nothing redistributed; tx2: the pool at the state block covers the first
    trove and part of the second; tx3: recovery mode at ICR < 100% is redistributed although the pool
    (a later state step) could cover it."""
    expected = _expected()["v1"][label]
    rows = _group(frame, replay, label)
    assert list(rows.bad_debt_raw) == [t["redistributed"] for t in expected["troves"]]
    assert (sum(int(t["redistributed"]) for t in expected["troves"]) > 0) is expected["redistribution"]
    assert set(rows.bad_debt_mechanism) == {"redistribution"}
    assert list(rows.bad_debt_usd) == [pytest.approx(int(t["redistributed"]) / WAD) for t in expected["troves"]]


@pytest.mark.node
def test_replay_v1_prices_and_health_factor_at_the_state_block(frame, replay) -> None:
    rows = frame[frame.protocol == "liquity-v1"]
    assert set(rows.collateral_price_raw) == {_expected()["v1_price"]}
    assert set(rows.min_collateral_ratio_raw) == {_expected()["v1_mcr"]}
    assert set(rows.price_currency) == {"USD"} and set(rows.debt_price_raw) == {str(WAD)}
    assert set(rows.debt_symbol) == {"LUSD"} and set(rows.collateral_symbol) == {"ETH"}
    troves = {t["borrower"]: t for tx in _expected()["v1"].values() for t in tx["troves"]}
    for row in rows.itertuples():
        assert (None if pd.isna(row.health_factor_before_raw) else row.health_factor_before_raw) == \
            troves[row.borrower]["health_factor_raw"]
        value = Fraction(int(row.collateral_seized_raw) * int(row.collateral_price_raw), WAD * WAD)
        assert row.collateral_seized_usd == pytest.approx(float(value))


@pytest.mark.node
def test_replay_v1_price_is_what_fetch_price_returns_not_the_stale_last_good_price(chain, frame, replay) -> None:
    """The v1 liquidations price troves with ``PriceFeed.fetchPrice()`` (docs/sources/liquity.md#v1-fetchprice). No
    npm package carries Liquity's contracts: the PriceFeed here is the project's own replay stub
    (toolkit/devchain/contracts/LogReplay.sol) at the real PriceFeed address, answering ``fetchPrice()`` with the
    price the constructed liquidations used and ``lastGoodPrice()`` with an older one. The stored price equals what
    ``fetchPrice()`` returns at each row's state block, read here with eth_call, and not ``lastGoodPrice()``."""
    price_feed = "0x4c517d4e2c851ca76d7ec94b805269df0f2201de"
    rows = frame[frame.protocol == "liquity-v1"]
    assert len(rows) > 0
    for row in rows.itertuples():
        block = int(row.state_block)
        fetched = int(chain.w3.eth.call({"to": chain.w3.to_checksum_address(price_feed), "data": "0x0fdb11cf"},
                                        block).hex(), 16)
        stale = int(chain.w3.eth.call({"to": chain.w3.to_checksum_address(price_feed), "data": "0x0490be83"},
                                      block).hex(), 16)
        assert row.collateral_price_raw == str(fetched) == _expected()["v1_price"]
        assert fetched != stale == int(_expected()["v1_stale_last_good_price"])
        assert "fetchPrice()" in row.price_source


@pytest.mark.node
def test_replay_v2_split_is_exact_from_the_liquidation_event(frame, replay) -> None:
    expected = _expected()["v2"]["tx4"]
    rows = _group(frame, replay, "tx4")
    assert list(rows.borrower) == [t["trove_id"] for t in expected["troves"]]
    assert list(rows.debt_repaid_raw) == [t["debt"] for t in expected["troves"]]
    assert list(rows.collateral_seized_raw) == [t["coll"] for t in expected["troves"]]
    assert list(rows.bad_debt_raw) == [t["redistributed"] for t in expected["troves"]]
    assert sum(int(x) for x in rows.bad_debt_raw) == int(expected["liquidation"]["_debtRedistributed"])
    assert set(rows.collateral_price_raw) == {expected["liquidation"]["_price"]}
    assert (set(rows.debt_asset), set(rows.collateral_asset)) == ({BOLD}, {WETH})
    assert (set(rows.debt_symbol), set(rows.collateral_symbol)) == ({"BOLD"}, {"WETH"})
    assert set(rows.event) == {"TroveOperation"} and set(rows.deployment) == {"weth"}


@pytest.mark.node
def test_replay_v2_other_trove_operations_give_no_row(frame, replay) -> None:
    tx5 = replay.tx(_expected()["transactions"]["tx5"]).tx_hash
    assert tx5 not in set(frame.tx_hash)
    assert len(frame[frame.protocol == "liquity-v2"]) == len(_expected()["v2"]["tx4"]["troves"])


@pytest.mark.node
async def test_replay_v1_split_the_pool_cannot_reproduce_is_flagged(chain, replay, tmp_path) -> None:
    """LTermsUpdated says debt was redistributed, but the pool at the state block covers every trove
    (another transaction of the block must have moved it): the split is flagged, never guessed."""
    replayer = Replayer(chain)
    replayer.set_answers([answer(STABILITY_POOL_V1, "getTotalLUSDDeposits()", [], ["uint256"], [str(10**30)])])
    tx = "0x" + "c7" * 32
    logs = [event_log(V1.event("TroveLiquidated"), TROVE_MANAGER_V1, {
                "_borrower": "0x" + "0d" * 20, "_debt": 5_000 * WAD, "_coll": 3 * WAD, "_operation": 1},
                tx_hash=tx, block_number=1, log_index=0),
            event_log(V1.event("LTermsUpdated"), TROVE_MANAGER_V1, {"_L_ETH": 1, "_L_LUSDDebt": 2},
                      tx_hash=tx, block_number=1, log_index=1),
            event_log(V1.event("Liquidation"), TROVE_MANAGER_V1, {
                "_liquidatedDebt": 5_000 * WAD, "_liquidatedColl": 3 * WAD - 3 * WAD // 200,
                "_collGasCompensation": 3 * WAD // 200, "_LUSDGasCompensation": 200 * WAD},
                tx_hash=tx, block_number=1, log_index=2)]
    result = replayer.replay([ReplayLog.from_json(log) for log in logs])
    (row,) = (await _pull(chain, tmp_path / "s.duckdb", result.first_block, result.last_block)).itertuples()
    assert "cover every trove" in row.incomplete_reason and pd.isna(row.bad_debt_raw)


# -- decode level ------------------------------------------------------------------------------------

V1_DEPLOYMENT = registry().find("ethereum", "liquity-v1")[0]
V2_DEPLOYMENT = registry().find("ethereum", "liquity-v2", "weth")[0]


def _v1(event: str, values: dict[str, Any], index: int) -> dict[str, Any]:
    return event_log(V1.event(event), TROVE_MANAGER_V1, values, tx_hash="0x" + "ab" * 32, block_number=7,
                     log_index=index)


def _trove_v1(index: int, debt: int = 10 * WAD, operation: int = 1) -> dict[str, Any]:
    return _v1("TroveLiquidated", {"_borrower": f"0x{index + 1:040x}", "_debt": debt, "_coll": WAD,
                                   "_operation": operation}, index)


def _liquidation_v1(index: int, debt: int) -> dict[str, Any]:
    return _v1("Liquidation", {"_liquidatedDebt": debt, "_liquidatedColl": 1, "_collGasCompensation": 1,
                               "_LUSDGasCompensation": 1}, index)


def test_decode_v1_without_redistribution_needs_no_state() -> None:
    rows = adapter_for(V1_DEPLOYMENT).decode_logs([_trove_v1(0), _trove_v1(1), _liquidation_v1(2, 20 * WAD)],
                                                  V1_DEPLOYMENT)
    assert [r["bad_debt_raw"] for r in rows] == ["0", "0"]
    assert {r["join_key"] for r in rows} == {"0x" + "ab" * 32 + ":2"}


def test_decode_v1_troves_without_their_liquidation_event_are_incomplete() -> None:
    (row,) = adapter_for(V1_DEPLOYMENT).decode_logs([_trove_v1(0)], V1_DEPLOYMENT)
    assert "without the Liquidation event" in row["incomplete_reason"] and row["bad_debt_raw"] is None


def test_decode_v1_debts_that_do_not_add_up_are_incomplete() -> None:
    rows = adapter_for(V1_DEPLOYMENT).decode_logs([_trove_v1(0), _liquidation_v1(1, 11 * WAD)], V1_DEPLOYMENT)
    assert "add up to" in rows[0]["incomplete_reason"] and rows[0]["bad_debt_raw"] is None


def test_decode_refuses_malformed_and_misplaced_logs() -> None:
    trove = _trove_v1(0)
    out = adapter_for(V1_DEPLOYMENT).decode_logs([
        {**trove, "topics": trove["topics"][:1]},
        {**trove, "data": trove["data"] + "00", "logIndex": 1},
        {**trove, "address": "0x" + "42" * 20, "logIndex": 2},
        _trove_v1(3, operation=7),
        _liquidation_v1(4, 10 * WAD),
    ], V1_DEPLOYMENT)
    errors = [r["error"] for r in out]
    assert "TroveLiquidated has 2 topics, the log has 1" in errors[0]
    assert "data is 97 bytes, expected 96" in errors[1]
    assert "is not a contract of liquity-v1/main" in errors[2]
    assert "operation 7 is not a liquidation" in errors[3]
    assert "Liquidation event without the per-trove" in errors[4]


def test_decode_v2_liquidate_with_positive_change_is_refused() -> None:
    log = event_log(V2.event("TroveOperation"), TROVE_MANAGER_V2, {
        "_troveId": 1, "_operation": 5, "_annualInterestRate": 0, "_debtIncreaseFromRedist": 0,
        "_debtIncreaseFromUpfrontFee": 0, "_debtChangeFromOperation": 1, "_collIncreaseFromRedist": 0,
        "_collChangeFromOperation": -1}, tx_hash="0x" + "cd" * 32, block_number=3, log_index=0)
    (error,) = adapter_for(V2_DEPLOYMENT).decode_logs([log], V2_DEPLOYMENT)
    assert "positive debt or collateral change" in error["error"]


def test_liquity_abis_match_the_reference_topics_and_selectors() -> None:
    """docs/sources/events.md#topic0-values."""
    assert V1.event("Liquidation").topic0 == "0x4152c73dd2614c4f9fc35e8c9cf16013cd588c75b49a4c1673ecffdcbcda9403"
    assert V1.event("TroveLiquidated").topic0 == "0xea67486ed7ebe3eea8ab3390efd4a3c8aae48be5bea27df104a8af786c408434"
    assert V1.event("LTermsUpdated").topic0 == "0x9f8bc8ab0daf5bceef75ecfd2085d1fcc6548c657ea970d9a23a60610d0737e3"
    assert V2.event("Liquidation").topic0 == "0x7243af9a1cff94d3429b2ee00b78c1c10589259f20dc167cb67704f38f9e824e"
    assert V2.event("TroveOperation").topic0 == "0x962110f281c1213763cd97a546b337b3cbfd25a31ea9723e9d8b7376ba45da1a"
    assert (V1.fn("MCR").selector.hex(), V1.fn("CCR").selector.hex()) == ("794e5724", "5733d58f")
    assert load_abi("liquity/PriceFeed.json").fn("lastGoodPrice").selector.hex() == "0490be83"
    assert load_abi("liquity/PriceFeed.json").fn("fetchPrice").selector.hex() == "0fdb11cf"
