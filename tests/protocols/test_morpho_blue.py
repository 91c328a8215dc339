"""Morpho Blue against the real contract: stored rows equal the events, the receipts and the chain state.

This module starts its own devchain, deploys Morpho Blue compiled from npm
``@morpho-org/morpho-blue@1.0.0`` with ``solc-0.8.19`` (:mod:`toolkit.devchain.morpho`) and runs
:func:`~toolkit.devchain.morpho.run_morpho_scenario`: two plain liquidations (by ``seizedAssets`` and
by ``repaidShares``) and one that seizes all collateral and realizes bad debt. Every expectation is
read from the node independently of the adapter: events decoded by web3 with the compiled ABI,
ERC-20 ``Transfer`` logs of the receipts, ``market``/``position``/``price`` at the state block, and
the LIF values written out below.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from web3 import Web3
from web3.logs import DISCARD

from toolkit.chain.calls import StateReader
from toolkit.chain.rpc import RpcClient
from toolkit.devchain import Devchain
from toolkit.devchain.morpho import MorphoMarkets, run_morpho_scenario
from toolkit.pipeline import PullRequest, pull_async
from toolkit.protocols.morpho_blue import CREATE_MARKET, LIQUIDATE, MORPHO, ORACLE, MorphoBlueAdapter
from toolkit.protocols.registry import Deployment, registry
from toolkit.store.db import Store

TRANSFER_TOPIC = Web3.keccak(text="Transfer(address,address,uint256)").hex().removeprefix("0x")
#: min(1.15, 1 / (1 - 0.3 x (1 - LLTV))) in wad, rounded down: 1e36 // 0.958e18 and 1e36 // 0.931e18.
EXPECTED_LIF = {86 * 10**16: 1_043_841_336_116_910_229, 77 * 10**16: 1_074_113_856_068_743_286}
WAD = 10**18


@pytest.fixture(scope="module")
def morpho_chain() -> Iterator[tuple[Devchain, MorphoMarkets, list[dict[str, Any]]]]:
    with Devchain.start() as devchain:  # deploys Morpho Blue from account 11 after Aave and Venus
        assert devchain.morpho is not None
        yield devchain, devchain.morpho, run_morpho_scenario(devchain, devchain.morpho)


@pytest.fixture(scope="module")
def devchain(morpho_chain: tuple[Devchain, MorphoMarkets, list[dict[str, Any]]]) -> Devchain:
    return morpho_chain[0]


@pytest.fixture(scope="module")
def markets(morpho_chain: tuple[Devchain, MorphoMarkets, list[dict[str, Any]]]) -> MorphoMarkets:
    return morpho_chain[1]


@pytest.fixture(scope="module")
def liquidations(morpho_chain: tuple[Devchain, MorphoMarkets, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    return morpho_chain[2]


@pytest.fixture(scope="module")
def deployment() -> Deployment:
    (found,) = registry().find("devchain", "morpho-blue")
    return found


@pytest_asyncio.fixture(scope="module")
async def store(devchain: Devchain, tmp_path_factory: pytest.TempPathFactory) -> Store:
    """A pull from the registry's start block: the ``CreateMarket`` logs are in range."""
    path = tmp_path_factory.mktemp("morpho") / "liquidations.duckdb"
    await pull_async(PullRequest(chain="devchain", protocol="morpho-blue", rpc_url=devchain.url, store_path=path))
    return Store(path, create=False)


def _row(store: Store, item: dict[str, Any]) -> Any:
    frame = store.liquidations()
    return frame[frame.tx_hash == item["tx_hash"].lower()].iloc[0]


def _transfers(receipt: Any, token: str) -> list[tuple[str, str, int]]:
    """(from, to, value) of every ERC-20 Transfer that ``token`` emitted in the receipt."""
    return [("0x" + log["topics"][1].hex()[-40:], "0x" + log["topics"][2].hex()[-40:],
             int.from_bytes(log["data"], "big"))
            for log in receipt["logs"]
            if log["address"].lower() == token and log["topics"][0].hex().removeprefix("0x") == TRANSFER_TOPIC]


def _raw_logs(devchain: Devchain, address: str, topic0: str) -> list[dict[str, Any]]:
    """``eth_getLogs`` exactly as the node answers it (hex strings), the adapter's input."""
    response = devchain.chain.w3.provider.make_request(
        "eth_getLogs", [{"fromBlock": "0x0", "toBlock": "latest", "address": address, "topics": [topic0]}])
    return response["result"]


def test_topics_and_selectors_match_the_reference() -> None:
    """docs/sources/events.md#topic0-values and docs/sources/morpho.md#liquidate-event (computed with two Keccak-256 implementations)."""
    assert LIQUIDATE.topic0 == "0xa4946ede45d0c6f06a0f5ce92c9ad3b4751452d2fe0e25010783bcab57a67e41"
    assert CREATE_MARKET.topic0 == "0xac4b2400f169220b0c0afdde7a0b32e775ba727ea1cb30b35f935cdaab8683ac"
    assert MORPHO.fn("idToMarketParams").selector.hex() == "2c3c9157"
    assert ORACLE.fn("price").selector.hex() == "a035b1fe"


def test_registry_entries_are_checksummed_addresses_with_sources() -> None:
    """Every Morpho deployment names its singleton and USD feeds by checksummed address, with sources."""
    found = [d for d in registry().deployments if d.protocol == "morpho-blue"]
    assert {d.chain.name for d in found} == {"ethereum", "base", "devchain"}
    assert registry().chain("base").chain_id == 8453
    for deployment in found:
        addresses = [deployment.contracts["morpho"], *deployment.params["usd_feeds"],
                     *deployment.params["usd_feeds"].values()]
        assert all(Web3.is_checksum_address(a) for a in addresses), deployment
        assert deployment.source and deployment.family == "morpho_blue"
        assert MorphoBlueAdapter().topics0(deployment) == (LIQUIDATE.topic0, CREATE_MARKET.topic0)


@pytest.mark.node
def test_registry_holds_the_devchain_addresses(markets: MorphoMarkets, deployment: Deployment) -> None:
    """deployments/morpho_blue.toml names the deterministic devchain Morpho and its USDC/USD feed."""
    assert deployment.address("morpho") == markets.morpho.address.lower()
    usdc = markets.market("WETH/USDC").params.loan_token
    assert {k.lower(): v.lower() for k, v in deployment.params["usd_feeds"].items()} == {
        usdc: markets.usdc_usd_feed.lower()}
    assert deployment.emitters == (markets.morpho.address.lower(),)


@pytest.mark.node
def test_scenario_has_plain_and_bad_debt_liquidations_by_both_modes(liquidations: list[dict[str, Any]]) -> None:
    assert [i["kind"] for i in liquidations] == ["plain", "plain", "bad_debt"]
    assert liquidations[0]["seized_assets_requested"] > 0 and liquidations[1]["repaid_shares_requested"] > 0
    assert liquidations[2]["bad_debt_assets"] > 0


@pytest.mark.node
def test_rows_equal_events_and_receipt_transfers(store: Store, devchain: Devchain, markets: MorphoMarkets,
                                                 liquidations: list[dict[str, Any]]) -> None:
    """One row per Liquidate; repaid loan token in from the liquidator, collateral out to it."""
    w3 = devchain.chain.w3
    morpho = markets.morpho.address.lower()
    assert sorted(store.liquidations().tx_hash) == sorted(i["tx_hash"].lower() for i in liquidations)
    for item in liquidations:
        row = _row(store, item)
        receipt = w3.eth.get_transaction_receipt(item["tx_hash"])
        (event,) = markets.morpho.events.Liquidate().process_receipt(receipt, errors=DISCARD)
        assert row.market_id == "0x" + event.args.id.hex().removeprefix("0x") == item["market_id"]
        assert (row.borrower, row.liquidator) == (event.args.borrower.lower(), event.args.caller.lower())
        assert row.debt_repaid_raw == str(event.args.repaidAssets)
        assert row.repaid_shares_raw == str(event.args.repaidShares)
        assert row.collateral_seized_raw == row.collateral_token_seized_raw == str(event.args.seizedAssets)
        assert row.bad_debt_raw == str(event.args.badDebtAssets)
        assert row.bad_debt_shares_raw == str(event.args.badDebtShares)
        assert (row.debt_asset, row.collateral_asset) == (item["loan_token"], item["collateral_token"])
        assert (row.block_number, row.log_index, row.tx_index) == (event.blockNumber, event.logIndex,
                                                                   event.transactionIndex)
        block = w3.eth.get_block(int(row.block_number))
        assert row.block_hash == "0x" + block.hash.hex().removeprefix("0x")
        assert int(row.block_timestamp.timestamp()) == block.timestamp
        assert (row.chain_id, row.emitter, row.event, row.state_status) == (31337, morpho, "Liquidate", "ok")
        assert (row.bad_debt_mechanism, row.protocol_fee_raw) == ("supplier_socialized", "0")
        assert not row.is_auction
        assert row.join_key == f"{row.tx_hash}:{row.log_index}"
        paid = [v for f, t, v in _transfers(receipt, item["loan_token"]) if f == row.liquidator and t == morpho]
        got = [v for f, t, v in _transfers(receipt, item["collateral_token"]) if f == morpho and t == row.liquidator]
        assert paid == [int(row.debt_repaid_raw)] and got == [int(row.collateral_seized_raw)]


@pytest.mark.node
def test_bad_debt_is_socialized_to_suppliers(store: Store, devchain: Devchain, markets: MorphoMarkets,
                                             liquidations: list[dict[str, Any]]) -> None:
    """badDebtAssets leaves both totalBorrowAssets and totalSupplyAssets (Morpho.sol L390-L403): after
    the interest the liquidation accrued first, the borrow total drops by repaid + bad debt and the
    supply total by the bad debt; the borrower keeps neither collateral nor debt."""
    for item in liquidations:
        row = _row(store, item)
        block = int(row.block_number)
        before = markets.market_state(item["market"], block - 1)
        after = markets.market_state(item["market"], block)
        receipt = devchain.chain.w3.eth.get_transaction_receipt(item["tx_hash"])
        accrued = markets.morpho.events.AccrueInterest().process_receipt(receipt, errors=DISCARD)
        interest = sum(e.args.interest for e in accrued)
        bad_debt, repaid = int(row.bad_debt_raw), int(row.debt_repaid_raw)
        assert after.total_supply_assets == before.total_supply_assets + interest - bad_debt
        assert after.total_borrow_assets == before.total_borrow_assets + interest - repaid - bad_debt
        assert after.total_borrow_shares == (before.total_borrow_shares - int(row.repaid_shares_raw)
                                             - int(row.bad_debt_shares_raw))
        if item["kind"] == "bad_debt":
            assert bad_debt == item["bad_debt_assets"] > 0
            assert markets.position(item["market"], item["borrower"], block) == (0, 0, 0)
            assert row.bad_debt_usd == pytest.approx(bad_debt / 10**6)
        else:
            assert bad_debt == 0 and row.bad_debt_usd == 0.0
            assert markets.position(item["market"], item["borrower"], block).collateral > 0


@pytest.mark.node
def test_lltv_and_liquidation_incentive_are_exact(store: Store, markets: MorphoMarkets,
                                                  liquidations: list[dict[str, Any]]) -> None:
    for item in liquidations:
        row = _row(store, item)
        lltv = markets.market(item["market"]).spec.lltv
        assert row.lltv_raw == str(lltv)
        assert row.liquidation_threshold_bps == row.ltv_bps == lltv // 10**14
        assert row.liquidation_incentive_raw == str(EXPECTED_LIF[lltv])
        assert row.liquidation_bonus_bps == EXPECTED_LIF[lltv] // 10**14
        assert (row.close_factor_bps, row.protocol_fee_bps) == (10_000, 0)


@pytest.mark.node
def test_repaid_shares_liquidation_seized_what_the_stored_lif_gives(store: Store, markets: MorphoMarkets,
                                                                    liquidations: list[dict[str, Any]]) -> None:
    """For liquidate(repaidShares): seized = toAssetsDown(shares).wMulDown(LIF).mulDivDown(1e36, price)
    (Morpho.sol L378-L379) with the market totals at the liquidation, i.e. those after it plus what it
    removed, and the stored LIF and oracle price."""
    (item,) = [i for i in liquidations if i["repaid_shares_requested"]]
    row = _row(store, item)
    after = markets.market_state(item["market"], int(row.block_number))
    total_assets = after.total_borrow_assets + int(row.debt_repaid_raw)
    total_shares = after.total_borrow_shares + int(row.repaid_shares_raw)
    assets = int(row.repaid_shares_raw) * (total_assets + 1) // (total_shares + 10**6)
    seized = assets * int(row.liquidation_incentive_raw) // WAD * 10**36 // int(row.collateral_price_raw)
    assert str(seized) == row.collateral_seized_raw


@pytest.mark.node
def test_oracle_price_usd_and_health_factor_at_state_block(store: Store, devchain: Devchain, markets: MorphoMarkets,
                                                           liquidations: list[dict[str, Any]]) -> None:
    feed = devchain.chain.w3.eth.contract(address=markets.usdc_usd_feed, abi=[{
        "inputs": [], "name": "latestAnswer", "outputs": [{"name": "", "type": "int256"}],
        "stateMutability": "view", "type": "function"}])
    usd = {"WETH/USDC": 2700.0, "WBTC/USDC": 40000.0}
    for item in liquidations:
        row = _row(store, item)
        state_block = int(row.state_block)
        assert state_block == row.block_number - 1
        price = markets.price(item["market"], state_block)
        assert row.collateral_price_raw == str(price)
        spec = markets.market(item["market"]).spec
        decimals = {"WETH": 18, "WBTC": 8}[spec.collateral]
        assert (row.debt_decimals, row.collateral_decimals) == (6, decimals)
        assert (row.debt_symbol, row.collateral_symbol) == (spec.loan, spec.collateral)
        assert row.price_currency == "loan_token"
        assert row.price_unit_raw == row.debt_price_raw == str(10 ** (36 + 6 - decimals))
        assert row.debt_usd_price_raw == str(feed.functions.latestAnswer().call(block_identifier=state_block))
        assert (row.debt_usd_decimals, row.debt_price_usd, row.collateral_price_usd) == (8, 1.0, usd[item["market"]])
        seized = int(row.collateral_seized_raw) / 10**decimals
        assert row.collateral_seized_usd == pytest.approx(seized * usd[item["market"]])
        assert row.debt_repaid_usd == pytest.approx(int(row.debt_repaid_raw) / 10**6)
        # health factor: maxBorrow / borrowed with the terms of Morpho._isHealthy, from reads at the state block
        position = markets.position(item["market"], item["borrower"], state_block)
        totals = markets.market_state(item["market"], state_block)
        borrowed = -(-position.borrow_shares * (totals.total_borrow_assets + 1) // (totals.total_borrow_shares + 10**6))
        max_borrow = position.collateral * price // 10**36 * spec.lltv // WAD
        assert row.health_factor_before_raw == str(max_borrow * WAD // borrowed)
        assert int(row.health_factor_before_raw) < WAD  # liquidatable
        assert row.borrower_debt_usd == pytest.approx(borrowed / 10**6)
        assert row.liquidation_bonus_pct == pytest.approx(
            float(100 * (Fraction(row.collateral_seized_usd) / Fraction(row.debt_repaid_usd) - 1)), rel=1e-9)


@pytest.mark.node
async def test_params_from_id_to_market_params_equal_those_from_create_market(
        store: Store, devchain: Devchain, liquidations: list[dict[str, Any]], tmp_path: Path) -> None:
    """Pulled from the first liquidation's block, no CreateMarket is in range: the params come from
    idToMarketParams and every column is the same."""
    path = tmp_path / "late.duckdb"
    first = min(i["block_number"] for i in liquidations)
    await pull_async(PullRequest(chain="devchain", protocol="morpho-blue", rpc_url=devchain.url, store_path=path,
                                 from_block=first))
    assert Store(path, create=False).liquidations().equals(store.liquidations())


@pytest.mark.node
def test_decode_learns_market_params_from_create_market(devchain: Devchain, markets: MorphoMarkets,
                                                        deployment: Deployment) -> None:
    """Without state: CreateMarket in the same input fills the tokens; without it they stay null."""
    morpho = markets.morpho.address
    creates = _raw_logs(devchain, morpho, CREATE_MARKET.topic0)
    liquidates = _raw_logs(devchain, morpho, LIQUIDATE.topic0)
    assert len(creates) == 2 and len(liquidates) == 3
    with_params = MorphoBlueAdapter().decode_logs(creates + liquidates, deployment)
    alone = MorphoBlueAdapter().decode_logs(liquidates, deployment)
    assert len(with_params) == len(alone) == 3
    for full, bare in zip(with_params, alone):
        market = next(m for m in markets.markets.values() if m.market_id == full["market_id"])
        assert full["debt_asset"] == market.params.loan_token
        assert full["collateral_asset"] == full["collateral_token"] == market.params.collateral_token
        assert bare["debt_asset"] is bare["collateral_asset"] is bare["collateral_token"] is None
        from_params = {"debt_asset", "collateral_asset", "collateral_token"}
        assert {k: v for k, v in full.items() if k not in from_params} == {
            k: v for k, v in bare.items() if k not in from_params}


@pytest.mark.node
def test_malformed_logs_give_error_records(devchain: Devchain, markets: MorphoMarkets, deployment: Deployment) -> None:
    morpho = markets.morpho.address
    good = _raw_logs(devchain, morpho, LIQUIDATE.topic0)[0]
    create = _raw_logs(devchain, morpho, CREATE_MARKET.topic0)[0]
    other_id = "0x" + "11" * 32
    bad = [
        {**good, "data": good["data"][:-64]},
        {**good, "topics": good["topics"][:3]},
        {**good, "removed": True},
        {k: v for k, v in good.items() if k != "transactionHash"},
        {**create, "topics": [create["topics"][0], other_id]},
        "not a log",
    ]
    out = MorphoBlueAdapter().decode_logs([*bad, good], deployment)
    errors, rows = out[:-1], out[-1:]
    reasons = [e["error"] for e in errors]
    assert all(set(e) == {"error", "tx_hash", "log_index"} for e in errors[:-1]) and set(errors[-1]) == {"error"}
    assert "Liquidate data is 128 bytes, expected 160" in reasons[0]
    assert "Liquidate has 4 topics, the log has 3" in reasons[1]
    assert "removed" in reasons[2] and "transactionHash" in reasons[3]
    assert f"not to the logged id {other_id}" in reasons[4]
    assert reasons[5] == "log is not a JSON object"
    assert rows[0]["tx_hash"] == good["transactionHash"] and "error" not in rows[0]


@pytest.mark.node
async def test_enrich_states_why_usd_or_state_is_missing(devchain: Devchain, markets: MorphoMarkets,
                                                         deployment: Deployment) -> None:
    """No USD feed in the registry: raw columns kept, USD columns null, price_source says why. A market
    id that the contract does not know: state_status names the failed read, nothing is invented."""
    logs = _raw_logs(devchain, markets.morpho.address, LIQUIDATE.topic0)
    no_feed = dataclasses.replace(deployment, params={"emitter_roles": ["morpho"]})
    rows = MorphoBlueAdapter().decode_logs(logs[:1], no_feed)
    unknown = {**rows[0], "market_id": "0x" + "22" * 32}
    async with RpcClient(devchain.url) as client:
        await MorphoBlueAdapter().enrich([rows[0], unknown], no_feed, StateReader(client))
    row = rows[0]
    assert row["state_status"] == "ok" and int(row["collateral_price_raw"]) > 0
    assert row["debt_usd_price_raw"] is row["debt_price_usd"] is row["collateral_price_usd"] is None
    assert row["debt_repaid_usd"] is row["bad_debt_usd"] is row["borrower_debt_usd"] is None
    assert "registry names no USD feed for loan token" in row["price_source"]
    assert row["liquidation_bonus_pct"] == pytest.approx(4.3841, abs=1e-3)
    assert unknown["state_status"].startswith(f"unavailable: idToMarketParams({unknown['market_id']})")
    assert unknown.get("collateral_price_raw") is None and unknown.get("health_factor_before_raw") is None
