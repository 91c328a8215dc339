"""Aave v1 (its own ``LiquidationCall`` layout) and Aave v3.3 ``DeficitCreated`` bad debt.

* Aave v1: the real log and receipt of fixtures/mainnet-logs decode exactly (the dataset's ``decoded``
  values, the receipt's ``OriginationFeeLiquidated`` decoded here with eth-abi); a replay of the two
  LendingPool logs of that receipt at the real pool address, with constructed state answers (below),
  is pulled and enriched.
* Aave v3.3: the constructed ``DeficitCreated`` + ``LiquidationCall`` fixture
  (fixtures/replays/aave-v3-deficit/README.md) decodes and, replayed, enriches as documented; the real
  Aave v3.0 devchain (npm @aave/core-v3 1.19.3) records no deficit.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from eth_abi import decode as abi_decode

from toolkit.decode import decode_logs
from toolkit.devchain import Devchain, run_demo_scenario
from toolkit.devchain.anvil import start_anvil
from toolkit.devchain.chain import Chain
from toolkit.devchain.replay import ReplayLog, Replayer, answer, load_fixture
from toolkit.pipeline import PullRequest, pull_async
from toolkit.protocols import adapter_for, registry
from toolkit.protocols.aave import DEFICIT_CREATED
from toolkit.protocols.discovery import expand_offline
from toolkit.store.db import Store

ROOT = Path(__file__).resolve().parents[2]
MAINNET = ROOT / "fixtures" / "mainnet-logs"
V1_TX = "0x00eea6359d247c9433d32620358555a0fd3265378ff146b9511b7cff1ecb7829"
DEFICIT = ROOT / "fixtures" / "replays" / "aave-v3-deficit" / "deficit.json"
WAD = 10**18

# Aave v1 addresses: bgd-labs/aave-address-book src/AaveV1.sol (POOL, CORE, ADDRESSES_PROVIDER); the oracle
# is the v1 ChainlinkProxyPriceProvider of aave/aave-protocol thegraph/config/mainnet.json.
V1_POOL = "0x398ec7346dcd622edc5ae82352f02be94c62d119"
V1_CORE = "0x3dfd23a6c5e8bbcfc9581d2e864a68feb6a076d3"
V1_PROVIDER = "0x24a42fd28c976a61df5d00d0599c34c4f90748c8"
V1_ORACLE = "0x76b47460d7f7c5222cfb6b6a75615ab10895dde4"
ETH = "0x" + "ee" * 20
WBTC = "0x2260fac5e5542a773aa44fbcfedf7c193bc2c599"
USER = "0xba215f7be6c620da3f8240b82741eaf3c5f5d786"
# Constructed (illustrative) state at the block before: WBTC at 25.58 ETH, configuration (60%, 65%, 115%),
# the borrower's account in ETH wei, ETH/USD 477.12345678.
WBTC_PRICE_ETH = 25_580_000_000_000_000_000
ACCOUNT = (21_743_000_000_000_000_000, 21_743_000_000_000_000_000, 18_502_140_598_854_818_222, 0, 0, 65, 60)
ETH_USD = 47_712_345_678


def _receipt() -> dict:
    return json.loads((MAINNET / "receipts" / f"{V1_TX}.json").read_text())["receipt"]


def test_aave_v1_log_and_receipt_decode_exactly() -> None:
    record = next(json.loads(line) for line in (MAINNET / "raw_liquidation_logs.jsonl").read_text().splitlines()
                  if "AaveV1" in line)
    decoded = record["decoded"]
    (alone,) = [r for r in decode_logs(json.dumps(record)) if "error" not in r]
    (joined,) = [r for r in decode_logs(json.dumps({"receipt": _receipt()})) if "error" not in r]
    fee_log = next(log for log in _receipt()["logs"] if log["logIndex"] == "0xb")
    fee_for, fee_collateral, _ = abi_decode(["uint256"] * 3, bytes.fromhex(fee_log["data"][2:]))
    for row in (alone, joined):
        assert (row["protocol"], row["event"], row["log_index"], row["tx_hash"]) == ("aave-v1", "LiquidationCall", 12, V1_TX)
        assert (row["collateral_asset"], row["debt_asset"], row["borrower"]) == (
            decoded["collateral"], decoded["reserve"], decoded["user"])
        assert row["debt_repaid_raw"] == str(decoded["purchaseAmount"]) == "9251070299427409111"
        assert row["collateral_seized_raw"] == str(decoded["liquidatedCollateralAmount"]) == "41590034"
        assert (row["liquidator"], row["receive_a_token"], row["block_timestamp"]) == (
            decoded["liquidator"], decoded["receiveAToken"], decoded["timestamp"])
        assert row["bad_debt_mechanism"] == "none_recorded" and row["debt_asset"] == ETH
    assert joined["protocol_fee_raw"] == str(fee_collateral) == "8"  # OriginationFeeLiquidated of the receipt
    assert fee_for > 0
    assert alone["protocol_fee_raw"] is None  # one log alone cannot say whether a fee was liquidated


def _deficit_logs() -> list[dict]:
    return [log for step in json.loads(DEFICIT.read_text())["steps"] for log in step.get("logs", [])]


def test_deficit_created_joins_its_liquidation() -> None:
    # topic0 of docs/sources/events.md#topic0-values
    assert DEFICIT_CREATED.topic0 == "0x2bccfb3fad376d59d7accf970515eb77b2f27b082c90ed0fb15583dd5a942699"
    (deployment,) = [d for d in expand_offline(registry().find("ethereum", "aave-v3", "core"), {}) if d.name == "core"]
    assert DEFICIT_CREATED.topic0 in adapter_for(deployment).topics0(deployment)
    assert DEFICIT_CREATED.topic0 not in adapter_for(registry().find("ethereum", "aave-v2")[0]).topics0(
        registry().find("ethereum", "aave-v2")[0])
    logs = _deficit_logs()
    amounts = [DEFICIT_CREATED.decode(x["topics"], x["data"]) for x in logs if x["topics"][0] == DEFICIT_CREATED.topic0]
    rows = adapter_for(deployment).decode_logs(logs, deployment)
    assert [(r["event"], r["log_index"]) for r in rows] == [
        ("DeficitCreated", 1), ("LiquidationCall", 2), ("DeficitCreated", 0), ("LiquidationCall", 0)]
    other, liquidation, orphan, partial = rows
    assert liquidation["bad_debt_raw"] == str(amounts[0]["amountCreated"]) == "595238095"
    assert liquidation["bad_debt_mechanism"] == "deficit" and liquidation["debt_asset"] == amounts[0]["debtAsset"]
    assert (other["bad_debt_raw"], other["debt_asset"], other["join_key"]) == (
        str(amounts[1]["amountCreated"]), amounts[1]["debtAsset"], liquidation["join_key"])
    assert (other["debt_repaid_raw"], other["collateral_seized_raw"], other["incomplete_reason"]) == ("0", "0", None)
    assert orphan["bad_debt_raw"] == "123" and "without a LiquidationCall" in orphan["incomplete_reason"]
    assert (partial["bad_debt_raw"], partial["bad_debt_mechanism"]) == (None, "none_recorded")  # decode cannot tell


@pytest.fixture(scope="module")
def mainnet_chain() -> Iterator[Chain]:
    """A local anvil with chain id 1, so replayed logs pull as registered Ethereum deployments."""
    with start_anvil(chain_id=1) as node:
        yield Chain(node.url)


async def _pull(url: str, protocol: str, deployment: str, first: int, last: int, path: Path) -> pd.DataFrame:
    await pull_async(PullRequest(chain="ethereum", protocol=protocol, deployment=deployment, rpc_url=url,
                                 store_path=path, from_block=first, to=last))
    return Store(path, create=False).liquidations()


@pytest.mark.node
async def test_replay_aave_v1_liquidation_enriched_from_v1_contracts(mainnet_chain: Chain, tmp_path: Path) -> None:
    replayer = Replayer(mainnet_chain)
    feed = registry().chain("ethereum").eth_usd_feed
    replayer.set_answers([
        answer(V1_POOL, "core()", [], ["address"], [V1_CORE]),
        answer(V1_POOL, "addressesProvider()", [], ["address"], [V1_PROVIDER]),
        answer(V1_PROVIDER, "getPriceOracle()", [], ["address"], [V1_ORACLE]),
        answer(V1_CORE, "getReserveDecimals(address)", [WBTC], ["uint256"], [8]),
        answer(V1_CORE, "getReserveDecimals(address)", [ETH], ["uint256"], [18]),
        answer(V1_ORACLE, "getAssetPrice(address)", [WBTC], ["uint256"], [WBTC_PRICE_ETH]),
        answer(V1_ORACLE, "getAssetPrice(address)", [ETH], ["uint256"], [WAD]),
        answer(V1_POOL, "getReserveConfigurationData(address)", [WBTC],
               ["uint256", "uint256", "uint256", "address", "bool", "bool", "bool", "bool"],
               [60, 65, 115, "0x" + "00" * 20, True, True, False, True]),
        answer(V1_POOL, "getUserAccountData(address)", [USER], ["uint256"] * 8,
               [*ACCOUNT, ACCOUNT[1] * ACCOUNT[5] * WAD // (100 * ACCOUNT[2])]),
        answer(WBTC, "symbol()", [], ["string"], ["WBTC"]),
        answer(feed, "latestAnswer()", [], ["int256"], [ETH_USD]),
        answer(feed, "decimals()", [], ["uint8"], [8]),
    ])
    logs = [ReplayLog.from_json(log | {"transactionHash": V1_TX}) for log in _receipt()["logs"]
            if log["address"] == V1_POOL]
    result = replayer.replay(logs)
    frame = await _pull(mainnet_chain.w3.provider.endpoint_uri, "aave-v1", "main", result.first_block,
                        result.last_block, tmp_path / "s.duckdb")
    (row,) = frame.itertuples()
    assert (row.debt_repaid_raw, row.collateral_seized_raw, row.protocol_fee_raw) == ("9251070299427409111", "41590034", "8")
    assert row.state_status == "ok" and row.state_block == row.block_number - 1
    assert (row.debt_symbol, row.debt_decimals, row.collateral_symbol, row.collateral_decimals) == ("ETH", 18, "WBTC", 8)
    assert (row.ltv_bps, row.liquidation_threshold_bps, row.liquidation_bonus_bps) == (6_000, 6_500, 11_500)
    assert (row.close_factor_bps, row.emode_category, row.price_currency) == (5_000, 0, "ETH")
    assert (row.debt_price_raw, row.collateral_price_raw) == (str(WAD), str(WBTC_PRICE_ETH))
    usd_per_eth = ETH_USD / 10**8
    assert row.debt_repaid_usd == pytest.approx(9.251070299427409111 * usd_per_eth)
    assert row.collateral_seized_usd == pytest.approx(0.41590034 * 25.58 * usd_per_eth)
    assert row.protocol_fee_usd == pytest.approx(8e-8 * 25.58 * usd_per_eth)
    assert row.health_factor_before_raw == str(ACCOUNT[1] * 65 * WAD // (100 * ACCOUNT[2]))
    assert row.borrower_debt_usd == pytest.approx(ACCOUNT[2] / WAD * usd_per_eth)


@pytest.mark.node
async def test_replay_deficit_created_pair_enriched(mainnet_chain: Chain, tmp_path: Path) -> None:
    result = Replayer(mainnet_chain).run(load_fixture(DEFICIT).steps)
    frame = await _pull(mainnet_chain.w3.provider.endpoint_uri, "aave-v3", "core", result.first_block,
                        result.last_block, tmp_path / "s.duckdb")
    assert list(frame.event) == ["DeficitCreated", "LiquidationCall", "DeficitCreated", "LiquidationCall"]
    other, liquidation, orphan, partial = (row for _, row in frame.iterrows())
    assert (liquidation.bad_debt_raw, liquidation.bad_debt_mechanism) == ("595238095", "deficit")
    assert liquidation.state_status == "ok" and liquidation.bad_debt_usd == pytest.approx(595.238095)
    assert other.join_key == liquidation.join_key and other.bad_debt_usd == pytest.approx(300.0)
    assert (other.state_status, other.debt_symbol, other.debt_decimals) == ("ok", "USDT", 6)
    assert "without a LiquidationCall" in orphan.incomplete_reason
    # getReserveDeficit answers at the state block: v3.3 logic ran and this liquidation wrote off nothing
    assert (partial.bad_debt_raw, partial.bad_debt_mechanism, partial.bad_debt_usd) == ("0", "deficit", 0.0)


@pytest.fixture(scope="module")
def devchain_v3_0() -> Iterator[Devchain]:
    with Devchain.start() as devchain:
        run_demo_scenario(devchain)
        devchain.mine(2)
        yield devchain


@pytest.mark.node
async def test_devchain_aave_v3_0_records_no_deficit(devchain_v3_0: Devchain, tmp_path: Path) -> None:
    """Real Aave v3.0 has no getReserveDeficit: rows keep none_recorded after enrichment."""
    path = tmp_path / "s.duckdb"
    await pull_async(PullRequest(chain="devchain", protocol="aave-v3", rpc_url=devchain_v3_0.url, store_path=path))
    frame = Store(path, create=False).liquidations()
    assert len(frame) == 2 and set(frame.state_status) == {"ok"}
    assert set(frame.bad_debt_mechanism) == {"none_recorded"} and frame.bad_debt_raw.isna().all()
    assert frame.bad_debt_usd.isna().all()
