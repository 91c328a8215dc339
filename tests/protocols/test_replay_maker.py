"""Maker: the real Cat ``Bite`` logs of 2020-03-13 decode exactly, and replays of Flipper and Clipper
auctions come out with the right sales, bad debt and incomplete flags.

The replays re-emit logs at their real mainnet addresses on a local anvil with chain id 1
(:mod:`toolkit.devchain.replay`) and pull them back through the pipeline; the adapter's state reads are
answered by stubs. Fixtures and their provenance: fixtures/replays/maker/README.md (the two Bite logs
are captured, everything else is constructed). Expected numbers are computed here from the captured
values and the documented illustrative inputs with dss arithmetic, not read from the fixtures.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from toolkit.abi import load_abi
from toolkit.decode import decode_logs
from toolkit.devchain.anvil import start_anvil
from toolkit.devchain.chain import Chain
from toolkit.devchain.replay import Replayer, load_fixture
from toolkit.pipeline import PullRequest, pull_async
from toolkit.protocols import adapter_for, registry
from toolkit.store.db import Store

ROOT = Path(__file__).resolve().parents[2]
REPLAYS = ROOT / "fixtures" / "replays" / "maker"
RAW_LOGS = ROOT / "fixtures" / "mainnet-logs" / "raw_liquidation_logs.jsonl"
WAD, RAY = 10**18, 10**27
CAT_V1 = "0x78f2c2af65126834c51822f56be0d7469d7a523e"
FLIP_ETH_A = "0xd8a04f5412223f513dc55f839574430f5ec15531"
CLIP_ETH_A = "0xc67963a226eddd77b91ad8c421630a1b0adff270"
KEEPER = "0x00000000000000000000000000000000000b1d01"
DAI = "0x6b175474e89094c44da98b954eedeac495271d0f"


# docs/sources/events.md#topic0-values (topic0 and selectors computed independently).
REFERENCE_TOPIC0 = {
    ("Dog.json", "Bark"): "0x85258d09e1e4ef299ff3fc11e74af99563f022d21f3f940db982229dc2a3358c",
    ("Clipper.json", "Kick"): "0x7c5bfdc0a5e8192f6cd4972f382cec69116862fb62e6abff8003874c58e064b8",
    ("Clipper.json", "Take"): "0x05e309fd6ce72f2ab888a20056bb4210df08daed86f21f95053deb19964d86b1",
    ("Clipper.json", "Redo"): "0x275de7ecdd375b5e8049319f8b350686131c219dd4dc450a08e9cf83b03c865f",
    ("Clipper.json", "Yank"): "0x2c5d2826eb5903b8fc201cf48094b858f42f61c7eaac9aaf43ebed490138144e",
    ("Flipper.json", "Kick"): "0xc84ce3a1172f0dec3173f04caaa6005151a4bfe40d4c9f3ea28dba5f719b2a7a",
}
REFERENCE_NOTE_SELECTORS = {"tend": "4b43ed12", "dent": "5ff3a382", "deal": "c959c42b"}


@pytest.mark.parametrize(("path", "event"), sorted(REFERENCE_TOPIC0))
def test_maker_event_topic0_matches_reference(path: str, event: str) -> None:
    assert load_abi(f"maker/{path}").event(event).topic0 == REFERENCE_TOPIC0[(path, event)]


def test_libnote_topics_are_the_reference_selectors_left_aligned() -> None:
    deployment = registry().find("ethereum", "maker", "liquidations-1.x")[0]
    topics = adapter_for(deployment).topics0(deployment)
    for name, selector in REFERENCE_NOTE_SELECTORS.items():
        assert load_abi("maker/Flipper.json").fn(name).selector.hex() == selector
        assert "0x" + selector + "0" * 56 in topics


def _captured_bites() -> list[dict]:
    """The two Cat v1 Bite records of fixtures/mainnet-logs, with the dataset's own decoded values."""
    return [json.loads(line) for line in RAW_LOGS.read_text().splitlines()[:2]]


def _fixture_logs(name: str) -> list[dict]:
    document = json.loads((REPLAYS / name).read_text())
    return [log for step in document["steps"] for log in step.get("logs", [])]


def test_real_cat_bites_of_2020_03_13_decode_exactly() -> None:
    """`liqtk decode` of the two captured Bite logs: every field equals the dataset's decoded values."""
    bites = _captured_bites()
    rows = list(decode_logs("\n".join(json.dumps(b) for b in bites)))
    assert [r.get("error") for r in rows] == [None, None]
    for row, bite in zip(rows, bites):
        decoded = bite["decoded"]
        assert (row["protocol"], row["deployment"], row["event"], row["emitter"]) == (
            "maker", "liquidations-1.x", "Bite", CAT_V1)
        assert (row["market_id"], row["borrower"]) == (decoded["ilk"], decoded["urn"])
        assert row["collateral_seized_raw"] == row["collateral_token_seized_raw"] == str(decoded["ink"]) == str(50 * WAD)
        assert row["debt_repaid_raw"] == str(decoded["tab"] // RAY)  # rad -> DAI wad, rounded down
        assert (row["join_key"], row["auction_id"]) == (f"{decoded['flip']}:{decoded['id']}", str(decoded["id"]))
        assert (row["debt_asset"], row["is_auction"], row["bad_debt_mechanism"]) == (DAI, True, "surplus_buffer")
        assert (row["block_number"], row["log_index"], row["block_timestamp"]) == (
            bite["blockNumber"], bite["logIndex"], bite["timeStamp"])
        assert row["incomplete_reason"] is None and row["bad_debt_raw"] is None
    assert [r["auction_id"] for r in rows] == ["3476", "3573"]


def test_auction_logs_without_their_start_are_flagged_not_guessed() -> None:
    """A Take and a deal whose Kick/Bite lie outside the decoded logs: explicit reasons, null unknowns."""
    deployment = registry().find("ethereum", "maker", "liquidations-2.0")[0]
    take = next(log for log in _fixture_logs("liquidations_2_0.json") if "take 999" in log["note"])
    (row,) = adapter_for(deployment).decode_logs([take], deployment)
    values = load_abi("maker/Clipper.json").event("Take").decode(take["topics"], take["data"])
    assert row["debt_repaid_raw"] == str(values["owe"] // RAY)
    assert row["collateral_seized_raw"] is None and row["bad_debt_raw"] is None
    assert "not in the pulled range" in row["incomplete_reason"] and "collateral sold" in row["incomplete_reason"]

    old = registry().find("ethereum", "maker", "liquidations-1.x")[0]
    deal = next(log for log in _fixture_logs("black_thursday.json") if log["topics"][2].endswith("0d48"))  # id 3400
    (row,) = adapter_for(old).decode_logs([deal], old)
    assert row["event"] == "deal" and row["debt_repaid_raw"] is None and row["bad_debt_raw"] is None
    assert "DAI raised" in row["incomplete_reason"]


def test_malformed_libnote_log_is_an_error_record() -> None:
    deployment = registry().find("ethereum", "maker", "liquidations-1.x")[0]
    tend = next(log for log in _fixture_logs("black_thursday.json") if "tend" in log["note"])
    short = tend | {"data": tend["data"][:-64]}
    wrong = tend | {"data": tend["data"][:130] + "00" * 4 + tend["data"][138:]}  # selector in calldata zeroed
    errors = [r["error"] for r in adapter_for(deployment).decode_logs([short, wrong], deployment)]
    assert "LibNote data is 256 bytes" in errors[0]
    assert "does not start with the selector" in errors[1]


@pytest.fixture(scope="module")
def mainnet_chain() -> Iterator[Chain]:
    """A local anvil with chain id 1, so replayed logs pull as registered Ethereum deployments."""
    with start_anvil(chain_id=1) as node:
        yield Chain(node.url)


async def _replay_and_pull(chain: Chain, fixture: str, deployment: str, store_path: Path) -> pd.DataFrame:
    result = Replayer(chain).run(load_fixture(REPLAYS / fixture).steps)
    await pull_async(PullRequest(chain="ethereum", protocol="maker", deployment=deployment,
                                 rpc_url=chain.w3.provider.endpoint_uri, store_path=store_path,
                                 from_block=result.first_block, to=result.last_block))
    return Store(store_path, create=False).liquidations()


@pytest.mark.node
async def test_replay_black_thursday_zero_bid_sells_for_nothing_and_loses_the_whole_debt(
        mainnet_chain: Chain, tmp_path: Path) -> None:
    frame = await _replay_and_pull(mainnet_chain, "black_thursday.json", "liquidations-1.x", tmp_path / "s.duckdb")
    bites = [b["decoded"] for b in _captured_bites()]
    assert list(frame.event) == ["Bite", "Bite", "deal", "deal"]  # Kick, tend: auction state only
    bite, deal = frame.iloc[0], frame.iloc[2]
    # the winning tend bid 1 rad -> 0 DAI base units; all 50 ETH to the keeper; the whole debt lost
    assert (deal.join_key, deal.auction_id, deal.liquidator) == (f"{FLIP_ETH_A}:3476", "3476", KEEPER)
    assert (deal.debt_repaid_raw, deal.collateral_seized_raw) == ("0", str(50 * WAD))
    assert deal.bad_debt_raw == str((bites[0]["tab"] - 1) // RAY) == bite.debt_repaid_raw
    assert deal.bad_debt_mechanism == "surplus_buffer" and pd.isna(deal.incomplete_reason)
    assert deal.bad_debt_usd == pytest.approx(bites[0]["tab"] / 10**45)
    # auction 3573 has no bid or deal in range: only its Bite; deal 3400 never started in range
    unknown = frame.iloc[3]
    assert unknown.auction_id == "3400" and "not in the pulled range" in unknown.incomplete_reason
    assert pd.isna(unknown.bad_debt_raw) and pd.isna(unknown.debt_repaid_raw)
    # enrichment of the Bites from the stub answers (documented illustrative values, README.md)
    mat, chop, price = 3 * RAY // 2, 113 * RAY // 100, 110 * RAY
    spot = price * RAY // mat
    vaults = [(100 * WAD, bites[0]["art"] + bites[1]["art"]), (50 * WAD, bites[1]["art"])]
    for row, decoded, (ink, art) in zip(frame.iloc[:2].itertuples(), bites, vaults):
        rate = decoded["tab"] // decoded["art"]
        assert row.state_status == "ok" and row.state_block == row.block_number - 1
        assert row.liquidation_bonus_bps == 10_000 * chop // RAY == 11_300  # Cat v1 chop is a ray
        assert row.liquidation_threshold_bps == 10_000 * RAY // mat == 6_666
        assert row.collateral_price_raw == str(spot * mat // RAY) and row.price_currency == "DAI"
        assert row.health_factor_before_raw == str(ink * spot * WAD // (art * rate))
        assert row.health_factor_before < 1  # cat.sol bites only unsafe vaults
        assert row.debt_repaid_usd == pytest.approx(decoded["tab"] / 10**45)


@pytest.mark.node
async def test_replay_liquidations_2_0_auctions(mainnet_chain: Chain, tmp_path: Path) -> None:
    frame = await _replay_and_pull(mainnet_chain, "liquidations_2_0.json", "liquidations-2.0", tmp_path / "s.duckdb")
    logs = _fixture_logs("liquidations_2_0.json")
    dog, clipper = load_abi("maker/Dog.json"), load_abi("maker/Clipper.json")
    barks = {v["id"]: v for v in (dog.event("Bark").decode(x["topics"], x["data"]) for x in logs
                                  if x["topics"][0] == dog.event("Bark").topic0)}
    kicks = {v["id"]: v for v in (clipper.event("Kick").decode(x["topics"], x["data"]) for x in logs
                                  if x["topics"][0] == clipper.event("Kick").topic0 and x["address"] == CLIP_ETH_A)}
    assert list(frame.event) == ["Bark", "Bark", "Take", "Take", "Take", "Take", "Bark"]  # no Kick/Redo rows
    assert set(frame.emitter) == {"0x135954d155898d42c90d2a57824c690e0c7bef1b", CLIP_ETH_A}  # Kick/Redo give no row

    a = frame[frame.auction_id == "101"]
    assert list(a.event) == ["Bark", "Take", "Take"] and set(a.join_key) == {f"{CLIP_ETH_A}:101"}
    assert a.iloc[0].liquidator == KEEPER and a.iloc[0].debt_repaid_raw == str(barks[101]["due"] // RAY)
    assert [int(x) for x in a.collateral_seized_raw] == [10 * WAD, 4 * WAD, 6 * WAD]
    raised = 4_000 * 10**45 + 6 * 500 * 10**45  # 4 ETH at 1000, then the 6 left at 500 (DAI, rad)
    assert pd.isna(a.iloc[1].bad_debt_raw)  # the auction is still open after the first Take
    assert a.iloc[2].bad_debt_raw == str((barks[101]["due"] - raised) // RAY)
    assert kicks[101]["tab"] - raised > 0  # sold out short of its tab

    b = frame[frame.auction_id == "102"]
    assert b.iloc[1].debt_repaid_raw == str(kicks[102]["tab"] // RAY) and b.iloc[1].bad_debt_raw == "0"
    assert int(b.iloc[1].collateral_seized_raw) < 5 * WAD  # the rest of the lot went back to the vault

    orphan = frame[frame.auction_id == "999"].iloc[0]
    assert pd.isna(orphan.collateral_seized_raw) and "not in the pulled range" in orphan.incomplete_reason
    # a clipper no source lists: discovered from its Bark, so its Kick is read (the keeper is the liquidator)
    unlisted = frame[frame.auction_id == "7"].iloc[0]
    assert pd.isna(unlisted.incomplete_reason) and unlisted.liquidator == KEEPER
    assert unlisted.state_status.startswith("unavailable: ilks on") and "reverted" in unlisted.state_status

    bark = a.iloc[0]
    assert bark.state_status == "ok" and bark.liquidation_bonus_bps == 11_300 and bark.liquidation_threshold_bps == 6_896
    assert bark.close_factor_rule.startswith("Maker Liquidations 2.0") and pd.isna(bark.close_factor_bps)
