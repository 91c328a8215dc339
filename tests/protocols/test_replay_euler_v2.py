"""Euler v2: replays of liquidations through the pipeline, and decode-level checks.

The replayed logs are CONSTRUCTED, not captured from mainnet (no public raw Euler v2 liquidation logs
exist; see fixtures/replays/euler-v2/README.md): real event signatures in the order of
``Liquidation.sol`` ``executeLiquidation``, illustrative vaults and values. The replay
(:mod:`toolkit.devchain.replay`) re-emits them on a local anvil with chain id 1 and a stub at the real
EVK factory address, so they are pulled through the real ``ethereum`` registry entry, which discovers the
vaults from the factory's ``ProxyCreated`` logs (replayed too). Stubs answer the vault, router and token reads.
"""

from __future__ import annotations

from dataclasses import replace
from fractions import Fraction
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from toolkit.abi import load_abi
from toolkit.devchain.replay import ReplayResult, event_log, load_fixture
from toolkit.protocols import adapter_for, registry

PROTOCOL = "euler-v2"
FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "replays" / "euler-v2" / "liquidations.json"
EVAULT = load_abi("euler-v2/EVault.json")
WAD = 10**18


def _expected() -> dict[str, Any]:
    return load_fixture(FIXTURE).document["expected"]


def _row(frame: pd.DataFrame, replay: ReplayResult, item: dict[str, Any]) -> Any:
    tx = replay.tx(_expected()["transactions"][item["tx"]]).tx_hash
    (row,) = frame[(frame.tx_hash == tx) & (frame.borrower == item["violator"])].itertuples()
    return row


@pytest.mark.node
def test_replay_one_row_per_liquidate_with_the_event_values(frame, replay) -> None:
    for item in _expected()["liquidations"]:
        row = _row(frame, replay, item)
        assert (row.event, row.emitter, row.market_id, row.liquidator) == (
            "Liquidate", item["vault"], item["vault"], item["liquidator"])
        assert row.debt_repaid_raw == item["repay"]
        assert (row.collateral_token, row.collateral_token_seized_raw) == (item["collateral_vault"], item["shares"])
        assert row.join_key == f"{row.tx_hash}:{row.log_index}" and pd.isna(row.incomplete_reason)


@pytest.mark.node
def test_replay_vault_shares_are_converted_at_the_state_block(frame, replay) -> None:
    for item in _expected()["liquidations"]:
        row = _row(frame, replay, item)
        assert row.collateral_seized_raw == item["assets"] and row.state_block == row.block_number - 1
        assert row.collateral_conversion == (f"convertToAssets({item['shares']}) of collateral vault "
                                             f"{item['collateral_vault']} at block {row.state_block}")
        assert row.collateral_asset != row.collateral_token


@pytest.mark.node
def test_replay_debt_socialized_is_joined_to_its_own_violator(frame, replay) -> None:
    """tx3 liquidates two violators in one transaction; only the second's debt was socialized."""
    for item in _expected()["liquidations"]:
        row = _row(frame, replay, item)
        assert row.bad_debt_raw == (item["socialized"] or "0")
        assert row.bad_debt_mechanism == "supplier_socialized"
        price = Fraction(int(item["repay_quote"]), int(item["repay"]) * WAD)
        assert row.bad_debt_usd == pytest.approx(float(int(row.bad_debt_raw) * price))
    assert sum(1 for item in _expected()["liquidations"] if item["tx"] == "tx3") == 2


@pytest.mark.node
def test_replay_values_health_and_parameters_from_the_vault(frame, replay) -> None:
    for item in _expected()["liquidations"]:
        row = _row(frame, replay, item)
        assert row.price_currency == "USD" and row.price_unit_raw == str(WAD)
        assert row.debt_repaid_usd == pytest.approx(int(item["repay_quote"]) / WAD)
        assert row.collateral_seized_usd == pytest.approx(int(item["shares_quote"]) / WAD)
        collateral_value, liability_value = (int(x) for x in item["liquidity"])
        assert row.health_factor_before_raw == str(collateral_value * WAD // liability_value)
        assert row.liquidation_threshold_bps == (8700 if item["vault"].endswith("10001") else 9300)
        assert row.state_status == "ok"
    vaults = frame[frame.incomplete_reason.isna()]
    assert set(vaults.debt_symbol) == {"USDC", "WETH"} and set(vaults.collateral_symbol) == {"WETH", "wstETH"}


@pytest.mark.node
def test_replay_reads_the_vaults_the_factory_created_and_not_the_emitter_it_never_did(frame, replay) -> None:
    """The vaults come from the EVK factory's ProxyCreated logs up to the pulled block; a Liquidate from a
    contract the factory never created (tx4) is not an Euler v2 liquidation and is not read."""
    assert _expected()["rogue_emitter"] not in set(frame.emitter)
    assert len(frame) == len(_expected()["liquidations"])
    assert set(frame.emitter) <= set(_expected()["vaults"])


# -- decode level ------------------------------------------------------------------------------------

VAULT = "0x00000000000000000000000000000000e0a10001"
DEPLOYMENT = registry().find("ethereum", "euler-v2")[0].with_address(VAULT)


def _log(event: str, values: dict[str, Any], index: int) -> dict[str, Any]:
    return event_log(EVAULT.event(event), VAULT, values, tx_hash="0x" + "ef" * 32, block_number=5, log_index=index)


def _liquidate(index: int, violator: str) -> dict[str, Any]:
    return _log("Liquidate", {"liquidator": "0x" + "11" * 20, "violator": violator, "collateral": "0x" + "22" * 20,
                              "repayAssets": 10, "yieldBalance": 11}, index)


def test_decode_debt_socialized_without_its_liquidate_is_incomplete() -> None:
    rows = adapter_for(DEPLOYMENT).decode_logs([
        _log("DebtSocialized", {"account": "0x" + "aa" * 20, "assets": 99}, 0), _liquidate(1, "0x" + "bb" * 20)],
        DEPLOYMENT)
    liquidate, orphan = sorted(rows, key=lambda r: r["event"])[::-1]
    assert liquidate["bad_debt_raw"] == "0" and liquidate["incomplete_reason"] is None
    assert orphan["event"] == "DebtSocialized" and orphan["bad_debt_raw"] == "99"
    assert "without the Liquidate" in orphan["incomplete_reason"] and orphan["debt_repaid_raw"] is None


def test_decode_refuses_unknown_emitter_wrong_topics_and_short_data() -> None:
    good = _liquidate(0, "0x" + "bb" * 20)
    out = adapter_for(DEPLOYMENT).decode_logs([
        {**good, "address": "0x" + "77" * 20},
        {**good, "topics": good["topics"] + ["0x" + "00" * 32], "logIndex": 1},
        {**good, "data": good["data"][:66], "logIndex": 2},
        {**good, "topics": [], "logIndex": 3},
    ], DEPLOYMENT)
    errors = [r["error"] for r in out]
    assert "is not a contract of euler-v2/custom" in errors[0]
    assert "Liquidate has 3 topics, the log has 4" in errors[1]
    assert "data is 32 bytes, expected 96" in errors[2]
    assert "anonymous log" in errors[3]


def test_decode_open_vault_set_accepts_any_emitter_until_enrich() -> None:
    """A deployment with an empty vault list (not the registry's template, which discovers its vaults) takes
    any emitter; enrich checks it with the factory's isProxy."""
    template = registry().find("ethereum", "euler-v2")[0]
    assert template.discovery == "evk_factory" and template.emitters == ()
    open_set = replace(template, discovery=None, contracts={**template.contracts, "vaults": []})
    (row,) = adapter_for(open_set).decode_logs([{**_liquidate(0, "0x" + "bb" * 20), "address": "0x" + "77" * 20}],
                                               open_set)
    assert row["emitter"] == "0x" + "77" * 20 and row["collateral_seized_raw"] is None
    assert replace(open_set, contracts={**open_set.contracts, "vaults": [VAULT]}).emitters == (VAULT,)


def test_euler_abis_match_the_reference_topics_and_selectors() -> None:
    """docs/sources/events.md#topic0-values."""
    assert EVAULT.event("Liquidate").topic0 == "0x8246cc71ab01533b5bebc672a636df812f10637ad720797319d5741d5ebb3962"
    assert EVAULT.event("DebtSocialized").topic0 == "0xe786d0bc2e83bf230ed9895a9c4d7756ab0c6e22eb8a4ff69c161ece76bd36df"
    factory = load_abi("euler-v2/GenericFactory.json")
    assert factory.event("ProxyCreated").topic0 == "0x04e664079117e113faa9684bc14aecb41651cbf098b14eda271248c6d0cda57c"
    assert (EVAULT.fn("LTVLiquidation").selector.hex(), EVAULT.fn("unitOfAccount").selector.hex()) == (
        "af5aaeeb", "3e833364")
    assert load_abi("euler-v2/EulerRouter.json").fn("getQuote").selector.hex() == "ae68676c"


def test_decode_a_refused_log_leaves_the_bad_debt_of_its_transaction_unknown() -> None:
    """A malformed DebtSocialized next to a Liquidate: the row is flagged and its bad debt null, not 0."""
    broken = {**_log("DebtSocialized", {"account": "0x" + "bb" * 20, "assets": 5}, 0), "data": "0x"}
    out = adapter_for(DEPLOYMENT).decode_logs([broken, _liquidate(1, "0x" + "bb" * 20)], DEPLOYMENT)
    error, row = out
    assert "DebtSocialized data is 0 bytes" in error["error"]
    assert row["bad_debt_raw"] is None and "its DebtSocialized may be missing" in row["incomplete_reason"]
