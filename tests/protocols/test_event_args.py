"""``event_args``: every argument of every row's event, exactly, beside the normalized columns.

Expected values are decoded in this test with eth-abi from the raw ``topics`` and ``data`` of each log,
with the event declarations written out below from the protocols' Solidity sources (not from
``toolkit.abi`` or the adapters), and topic0 hashed here with Keccak-256:

* the real mainnet logs and receipts of fixtures/mainnet-logs (Compound v2, Maker Cat ``Bite`` with
  ``art`` and ``tab`` in rad, Aave v1 with ``accruedBorrowInterest``, Aave v2), also checked against the
  dataset's own ``decoded`` object;
* every log of the replay fixtures (Maker 2.0 and 1.x, Comet, Liquity v1 and v2, Euler v2, Aave v3.3
  ``DeficitCreated``; constructed logs with the real event layouts, see their READMEs), where rows join
  several logs: the joined logs are checked by their log index;
* on the local chain (real Aave v3, Aave v2, Venus and Morpho Blue from npm), the stored rows of a pull
  with and without state reads (the row and the column decoders) against the receipts' logs.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from eth_abi import decode as abi_decode
from eth_hash.auto import keccak

from toolkit.decode import decode_logs
from toolkit.pipeline import PullRequest, pull_async
from toolkit.protocols import adapter_for, registry
from toolkit.protocols.discovery import expand_offline
from toolkit.store.db import Store

ROOT = Path(__file__).resolve().parents[2]
MAINNET = ROOT / "fixtures" / "mainnet-logs"
REPLAYS = ROOT / "fixtures" / "replays"

#: Event declarations (Solidity, ``indexed`` as declared): Aave v2/v3 ``IPool.sol``/``ILendingPool.sol``;
#: Aave v1 ``LendingPool.sol``; Compound ``CTokenInterfaces.sol``; makerdao/dss ``cat.sol``, ``dog.sol``,
#: ``clip.sol``, ``flip.sol``; comet ``CometMainInterface.sol``; liquity/dev and liquity/bold
#: ``TroveManager``; morpho-blue ``EventsLib.sol``; euler-vault-kit ``Events.sol``.
DECLARATIONS = [
    "LiquidationCall(address indexed collateralAsset, address indexed debtAsset, address indexed user, "
    "uint256 debtToCover, uint256 liquidatedCollateralAmount, address liquidator, bool receiveAToken)",
    "DeficitCreated(address indexed user, address indexed debtAsset, uint256 amountCreated)",
    "LiquidationCall(address indexed _collateral, address indexed _reserve, address indexed _user, "
    "uint256 _purchaseAmount, uint256 _liquidatedCollateralAmount, uint256 _accruedBorrowInterest, "
    "address _liquidator, bool _receiveAToken, uint256 _timestamp)",
    "OriginationFeeLiquidated(address indexed _collateral, address indexed _reserve, address indexed _user, "
    "uint256 _feeLiquidated, uint256 _liquidatedCollateralForFee, uint256 _timestamp)",
    "LiquidateBorrow(address liquidator, address borrower, uint256 repayAmount, address cTokenCollateral, "
    "uint256 seizeTokens)",
    "Bite(bytes32 indexed ilk, address indexed urn, uint256 ink, uint256 art, uint256 tab, address flip, uint256 id)",
    "Kick(uint256 id, uint256 lot, uint256 bid, uint256 tab, address indexed usr, address indexed gal)",
    "Bark(bytes32 indexed ilk, address indexed urn, uint256 ink, uint256 art, uint256 due, address clip, "
    "uint256 indexed id)",
    "Kick(uint256 indexed id, uint256 top, uint256 tab, uint256 lot, address indexed usr, address indexed kpr, "
    "uint256 coin)",
    "Take(uint256 indexed id, uint256 max, uint256 price, uint256 owe, uint256 tab, uint256 lot, address indexed usr)",
    "Redo(uint256 indexed id, uint256 top, uint256 tab, uint256 lot, address indexed usr, address indexed kpr, "
    "uint256 coin)",
    "Yank(uint256 id)",
    "AbsorbDebt(address indexed absorber, address indexed borrower, uint256 basePaidOut, uint256 usdValue)",
    "AbsorbCollateral(address indexed absorber, address indexed borrower, address indexed asset, "
    "uint256 collateralAbsorbed, uint256 usdValue)",
    "TroveLiquidated(address indexed _borrower, uint256 _debt, uint256 _coll, uint8 _operation)",
    "LTermsUpdated(uint256 _L_ETH, uint256 _L_LUSDDebt)",
    "Liquidation(uint256 _liquidatedDebt, uint256 _liquidatedColl, uint256 _collGasCompensation, "
    "uint256 _LUSDGasCompensation)",
    "TroveOperation(uint256 indexed _troveId, uint8 _operation, uint256 _annualInterestRate, "
    "uint256 _debtIncreaseFromRedist, uint256 _debtIncreaseFromUpfrontFee, int256 _debtChangeFromOperation, "
    "uint256 _collIncreaseFromRedist, int256 _collChangeFromOperation)",
    "Liquidation(uint256 _debtOffsetBySP, uint256 _debtRedistributed, uint256 _boldGasCompensation, "
    "uint256 _collGasCompensation, uint256 _collSentToSP, uint256 _collRedistributed, uint256 _collSurplus, "
    "uint256 _L_ETH, uint256 _L_boldDebt, uint256 _price)",
    "Liquidate(bytes32 indexed id, address indexed caller, address indexed borrower, uint256 repaidAssets, "
    "uint256 repaidShares, uint256 seizedAssets, uint256 badDebtAssets, uint256 badDebtShares)",
    "Liquidate(address indexed liquidator, address indexed violator, address collateral, uint256 repayAssets, "
    "uint256 yieldBalance)",
    "DebtSocialized(address indexed account, uint256 assets)",
]


def _parse(declaration: str) -> tuple[str, str, list[tuple[str, str, bool]]]:
    name, body = re.fullmatch(r"(\w+)\((.*)\)", declaration).groups()
    inputs = []
    for part in body.split(", "):
        words = part.split()
        inputs.append((words[-1], words[0], "indexed" in words))
    signature = f"{name}({','.join(t for _, t, _ in inputs)})"
    return "0x" + keccak(signature.encode()).hex(), name, inputs


EVENTS = {topic0: (name, inputs) for topic0, name, inputs in map(_parse, DECLARATIONS)}


def _json(value: Any) -> Any:
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return str(value)
    if isinstance(value, bytes):
        return "0x" + value.hex()
    return value.lower()


#: Flipper functions whose LibNote logs (anonymous; topic0 = the selector, topic1 = the caller, data = the
#: calldata after two words) give rows: makerdao/dss ``flip.sol``, ``lib.sol``.
NOTES = {"0x" + keccak(f"{name}(uint256)".encode())[:4].hex() + "00" * 28: name for name in ("deal", "yank")}


def expected_args(log: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """(event name, arguments) of a raw log, decoded here with eth-abi in declaration order; a Flipper
    note gives the auction ``id`` (its first argument) and the caller (``guy``)."""
    if log["topics"][0].lower() in NOTES:
        calldata = bytes.fromhex(log["data"][2:])[64:]
        (auction,) = abi_decode(["uint256"], calldata[4:36])
        return NOTES[log["topics"][0].lower()], {"id": str(auction), "guy": "0x" + log["topics"][1][-40:].lower()}
    name, inputs = EVENTS[log["topics"][0].lower()]
    topics = iter(log["topics"][1:])
    data = iter(abi_decode([t for _, t, indexed in inputs if not indexed], bytes.fromhex(log["data"][2:])))
    values = {}
    for arg, abi_type, indexed in inputs:
        values[arg] = abi_decode([abi_type], bytes.fromhex(next(topics)[2:]))[0] if indexed else next(data)
    return name, {arg: _json(value) for arg, value in values.items()}


def _index(log: dict[str, Any]) -> int:
    value = log["logIndex"]
    return int(value, 16) if isinstance(value, str) else int(value)


def check_row(row: dict[str, Any], logs: dict[tuple[str, int], dict[str, Any]]) -> int:
    """Assert a row's ``event_args`` (JSON text, or parsed) equals its own log and its joined logs; return the logs
    checked."""
    args = json.loads(row["event_args"]) if isinstance(row["event_args"], str) else dict(row["event_args"])
    joined = args.pop("joined", [])
    name, expected = expected_args(logs[(row["tx_hash"], row["log_index"])])
    assert (row["event"], args) == (name, expected)
    assert list(args) == list(expected)  # declaration order
    for entry in joined:
        name, expected = expected_args(logs[(row["tx_hash"], entry["log_index"])])
        assert (entry["event"], entry["args"]) == (name, expected)
    return 1 + len(joined)


def _by_key(logs: list[dict[str, Any]]) -> dict[tuple[str, int], dict[str, Any]]:
    return {(log["transactionHash"].lower(), _index(log)): log for log in logs}


# -- real mainnet logs -------------------------------------------------------------------------------------

PROTOCOL_OF = {"CompoundV2.LiquidateBorrow": "compound-v2", "MakerCat.Bite": "maker", "AaveV1.LiquidationCall": "aave-v1",
               "AaveV2V3.LiquidationCall": "aave-v2"}


def _raw_logs() -> list[dict[str, Any]]:
    return [json.loads(line) for line in (MAINNET / "raw_liquidation_logs.jsonl").read_text().splitlines()]


@pytest.mark.parametrize("record", _raw_logs(), ids=lambda r: f"{r['event']}-{r['blockNumber']}")
def test_mainnet_log_keeps_every_argument(record: dict[str, Any]) -> None:
    (row,) = [r for r in decode_logs(json.dumps(record), protocol=PROTOCOL_OF[record["event"]]) if "error" not in r]
    check_row(row, _by_key([record]))
    args = json.loads(row["event_args"])
    # the dataset's own decoding (independent of this test's eth-abi decoding)
    assert {k: int(v) for k, v in record["decoded"].items() if isinstance(v, int)} == {
        key: int(args.get(key, args.get(f"_{key}"))) for key, v in record["decoded"].items() if isinstance(v, int)}


def test_maker_bite_keeps_art_and_tab_in_rad_exactly() -> None:
    """The Black Thursday Bite: ``tab`` is 3925.54... DAI in rad (45 decimals); debt_repaid_raw keeps only wad."""
    record = _raw_logs()[0]
    (row,) = decode_logs(json.dumps(record), protocol="maker")
    args = json.loads(row["event_args"])
    assert args["tab"] == "3925542628218997013496088400533309761914338050399"
    assert args["art"] == "3852479576077107785721"
    assert row["debt_repaid_raw"] == str(3925542628218997013496088400533309761914338050399 // 10**27)


def test_aave_v1_receipt_joins_its_origination_fee_and_keeps_accrued_interest() -> None:
    path = MAINNET / "receipts" / "0x00eea6359d247c9433d32620358555a0fd3265378ff146b9511b7cff1ecb7829.json"
    receipt = json.loads(path.read_text())["receipt"]
    (row,) = [r for r in decode_logs(path.read_text()) if "error" not in r]
    assert check_row(row, _by_key(receipt["logs"])) == 2
    args = json.loads(row["event_args"])
    assert args["_accruedBorrowInterest"] == "2140984381994988"
    assert [entry["event"] for entry in args["joined"]] == ["OriginationFeeLiquidated"]


@pytest.mark.parametrize("path", sorted((MAINNET / "receipts").glob("*.json")), ids=lambda p: p.name[:12])
def test_mainnet_receipt_rows_keep_every_argument(path: Path) -> None:
    receipt = json.loads(path.read_text())["receipt"]
    emitters = {log["address"].lower() for log in receipt["logs"] if log["topics"] and log["topics"][0] in EVENTS}
    names = {EVENTS[log["topics"][0]][0] for log in receipt["logs"] if log["topics"] and log["topics"][0] in EVENTS}
    protocol = "compound-v2" if "LiquidateBorrow" in names else "aave-v1"
    rows = [r for r in decode_logs(json.dumps([log for log in receipt["logs"] if log["address"].lower() in emitters]),
                                   protocol=protocol) if "error" not in r]
    assert rows and sum(check_row(row, _by_key(receipt["logs"])) for row in rows) >= len(rows)


# -- replay fixtures (constructed logs, real layouts) ------------------------------------------------------

REPLAY_CASES = [
    ("maker/liquidations_2_0.json", "maker", "liquidations-2.0"),
    ("maker/black_thursday.json", "maker", "liquidations-1.x"),
    ("compound-v3/absorbs.json", "compound-v3", None),
    ("liquity/liquidations.json", "liquity-v1", None),
    ("liquity/liquidations.json", "liquity-v2", None),
    ("euler-v2/liquidations.json", "euler-v2", None),
    ("aave-v3-deficit/deficit.json", "aave-v3", None),
]


def _fixture_logs(relative: str) -> list[dict[str, Any]]:
    document = json.loads((REPLAYS / relative).read_text())
    return [log for step in document["steps"] if "logs" in step for log in step["logs"]]


@pytest.mark.parametrize(("relative", "protocol", "name"), REPLAY_CASES, ids=lambda x: str(x))
def test_replay_fixture_rows_keep_every_argument_of_every_joined_log(relative: str, protocol: str,
                                                                    name: str | None) -> None:
    logs = _fixture_logs(relative)
    by_key = _by_key(logs)
    checked = rows = 0
    # the registry's deployments as a store without discovered markets expands them (Aave: the pools it names)
    for deployment in expand_offline(registry().find("ethereum", protocol, name), {}):
        # Maker's auction contracts and Euler's vaults are discovered: those adapters take the logs of any emitter
        everyone = protocol in ("maker", "euler-v2")
        mine = logs if everyone else [log for log in logs if log["address"].lower() in deployment.emitters]
        for row in adapter_for(deployment).decode_logs(mine, deployment):
            if "error" in row:
                continue
            checked += check_row(row, by_key)
            rows += 1
    assert rows and checked > rows  # every fixture has rows that join other logs


# -- local chain: stored rows, row and column decoders ----------------------------------------------------

@pytest_asyncio.fixture(scope="module")
async def stores(devchain, tmp_path_factory) -> dict[bool, Store]:
    out = {}
    for no_state in (False, True):
        path = tmp_path_factory.mktemp(f"event-args-{no_state}") / "s.duckdb"
        for protocol in ("aave-v3", "aave-v2", "venus", "morpho-blue"):
            await pull_async(PullRequest(chain="devchain", protocol=protocol, rpc_url=devchain.url, store_path=path,
                                         no_state=no_state))
        out[no_state] = Store(path, create=False)
    return out


@pytest.mark.node
@pytest.mark.parametrize("no_state", [False, True], ids=["state", "no-state"])
def test_stored_rows_keep_every_argument_of_the_receipts_logs(stores, devchain, no_state: bool) -> None:
    frame = stores[no_state].liquidations()
    assert set(frame.protocol) >= {"aave-v3", "aave-v2"} and len(frame) > 0
    w3 = devchain.chain.w3
    for row in frame.to_dict("records"):
        receipt = w3.eth.get_transaction_receipt(row["tx_hash"])
        logs = [{"transactionHash": row["tx_hash"], "logIndex": log["logIndex"], "topics": ["0x" + t.hex().removeprefix(
            "0x") for t in log["topics"]], "data": "0x" + log["data"].hex().removeprefix("0x")}
                for log in receipt["logs"]]
        check_row(row, _by_key(logs))
