"""Compound v2 design (Venus 9.2.0) against the real contracts, and the real Compound v2 mainnet logs.

The node tests start their own devchain, deploy the Venus core pool from npm
``@venusprotocol/venus-protocol@9.2.0`` (:mod:`toolkit.devchain.venus`: Unitroller + Diamond facets,
SimplePriceOracle, JumpRateModel, VBep20Delegator markets on the devchain tokens) and run
:func:`~toolkit.devchain.venus_scenario.run_venus_scenario`: two liquidations under a USD-quoted
oracle and one under an ETH-quoted oracle that seizes the market it repays. Every expectation is
read from the node independently of the adapter: events decoded by web3 with the artifact ABI,
``Transfer`` logs of the receipts, the oracle, the vTokens and the Comptroller at the state block
and at the liquidation block, and the parameters the deployment set
(:data:`toolkit.devchain.venus.COLLATERAL_FACTORS` and the constants beside it).

The mainnet tests decode the six Compound v2 logs of fixtures/mainnet-logs without a node.
"""

from __future__ import annotations

import csv
import json
import tempfile
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from web3 import Web3
from web3.logs import DISCARD

from toolkit.decode import decode_logs
from toolkit.devchain import Devchain
from toolkit.devchain.chain import TransactionFailed
from toolkit.devchain.venus import CLOSE_FACTOR, COLLATERAL_FACTORS, LIQUIDATION_INCENTIVE, VenusMarket
from toolkit.devchain.venus_scenario import run_venus_scenario
from toolkit.errors import UserInputError
from toolkit.pipeline import PullRequest, pull_async
from toolkit.protocols.compound_v2 import (
    COMPTROLLER,
    CTOKEN,
    PRICE_ORACLE,
    CompoundV2Adapter,
    bps_of,
    share_of_bonus_bps,
)
from toolkit.protocols.checks.compound_v2 import seize_tokens
from toolkit.chain.rpc import RpcClient
from toolkit.protocols.discovery import Discovery, RegistryResult, discover
from toolkit.protocols.discovery.model import Market
from toolkit.protocols.registry import registry
from toolkit.store import discovered
from toolkit.store.db import Store

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "mainnet-logs"
TRANSFER_TOPIC = Web3.keccak(text="Transfer(address,address,uint256)").hex().removeprefix("0x")
MANTISSA = 10**18


# -- devchain -----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def venus_chain() -> Iterator[tuple[Devchain, VenusMarket, list[dict[str, Any]]]]:
    with Devchain.start() as devchain:  # deploys Venus from account 10 after Aave
        assert devchain.venus is not None
        yield devchain, devchain.venus, run_venus_scenario(devchain, devchain.venus)


@pytest.fixture(scope="module")
def devchain(venus_chain: tuple[Devchain, VenusMarket, list[dict[str, Any]]]) -> Devchain:
    return venus_chain[0]


@pytest.fixture(scope="module")
def market(venus_chain: tuple[Devchain, VenusMarket, list[dict[str, Any]]]) -> VenusMarket:
    return venus_chain[1]


@pytest.fixture(scope="module")
def liquidations(venus_chain: tuple[Devchain, VenusMarket, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    return venus_chain[2]


@pytest_asyncio.fixture(scope="module")
async def rows(devchain: Devchain, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The stored rows by transaction hash, pulled into a fresh store."""
    path = tmp_path_factory.mktemp("venus") / "liquidations.duckdb"
    result = await pull_async(PullRequest(chain="devchain", protocol="venus", rpc_url=devchain.url, store_path=path))
    assert result.status == "ok"
    frame = Store(path, create=False).liquidations()
    frame = frame.astype(object).where(frame.notna(), None)  # nulls as None, not NaN
    return {row.tx_hash: row for row in frame.itertuples()}


def _transfers(receipt: Any, token: str) -> list[tuple[str, str, int]]:
    """(from, to, value) of every ``Transfer`` that ``token`` emitted in the receipt."""
    return [("0x" + log["topics"][1].hex()[-40:], "0x" + log["topics"][2].hex()[-40:],
             int.from_bytes(log["data"], "big"))
            for log in receipt["logs"]
            if log["address"].lower() == token.lower() and log["topics"][0].hex() == TRANSFER_TOPIC]


@pytest.mark.node
async def test_registry_holds_the_devchain_addresses(devchain: Devchain, market: VenusMarket) -> None:
    """The registry entry names the Comptroller; its markets are discovered from it (MarketListed, getAllMarkets)."""
    (deployment,) = registry().find("devchain", "venus")
    assert deployment.address("comptroller") == market.comptroller.address.lower()
    assert deployment.discovery == "comptroller" and deployment.emitters == ()
    assert deployment.params["quote_probe"]["market"] == market.market("WETH").address
    assert deployment.start_block <= market.start_block
    async with RpcClient(devchain.url) as client:
        found = await discover([deployment], client, chain_id=devchain.chain_id, bound=devchain.chain.w3.eth.block_number,
                               cached={})
    (expanded,) = found.deployments()
    assert set(expanded.emitters) == {m.address.lower() for m in market.markets.values()}


@pytest.mark.node
def test_one_row_per_liquidation_with_event_fields(rows, devchain, market, liquidations) -> None:
    assert sorted(rows) == sorted(item["tx_hash"] for item in liquidations)
    assert len({(i["debt_symbol"], i["collateral_symbol"]) for i in liquidations}) == len(liquidations)
    w3 = devchain.chain.w3
    for item in liquidations:
        row = rows[item["tx_hash"]]
        debt = market.market(item["debt_symbol"])
        receipt = w3.eth.get_transaction_receipt(item["tx_hash"])
        (event,) = debt.vtoken.events.LiquidateBorrow().process_receipt(receipt, errors=DISCARD)
        assert (row.emitter, row.market_id) == (debt.address.lower(), debt.address.lower())
        assert (row.borrower, row.liquidator) == (event.args.borrower.lower(), event.args.liquidator.lower())
        assert row.debt_repaid_raw == str(event.args.repayAmount) == str(item["repay_amount"])
        assert row.collateral_token == event.args.vTokenCollateral.lower() == item["collateral_vtoken"].lower()
        assert row.collateral_token_seized_raw == str(event.args.seizeTokens)
        assert (row.block_number, row.log_index, row.tx_index) == (event.blockNumber, event.logIndex,
                                                                   event.transactionIndex)
        assert row.debt_asset == debt.underlying.address.lower()
        assert row.collateral_asset == market.market(item["collateral_symbol"]).underlying.address.lower()
        assert (row.debt_symbol, row.collateral_symbol) == (item["debt_symbol"], item["collateral_symbol"])
        assert (row.event, row.bad_debt_mechanism, row.state_status) == ("LiquidateBorrow", "none_recorded", "ok")
        assert bool(row.receive_a_token) and not bool(row.is_auction)
        assert row.incomplete_reason is None


@pytest.mark.node
def test_amounts_equal_token_movements_in_receipt(rows, devchain, market, liquidations) -> None:
    """Underlying repaid to the borrowed vToken, vTokens moved borrower -> liquidator, none to
    reserves (Venus vTokens have no protocol seize share), and the underlying they stand for."""
    w3 = devchain.chain.w3
    for item in liquidations:
        row = rows[item["tx_hash"]]
        debt, coll = market.market(item["debt_symbol"]), market.market(item["collateral_symbol"])
        receipt = w3.eth.get_transaction_receipt(item["tx_hash"])
        borrower, liquidator = row.borrower, row.liquidator
        paid = [v for f, t, v in _transfers(receipt, debt.underlying.address) if f == liquidator]
        assert paid == [int(row.debt_repaid_raw)]
        assert [t for f, t, _ in _transfers(receipt, debt.underlying.address) if f == liquidator] == [
            debt.address.lower()]
        seized = [(f, t, v) for f, t, v in _transfers(receipt, coll.address) if f == borrower]
        assert seized == [(borrower, liquidator, int(row.collateral_token_seized_raw))]
        assert row.protocol_fee_raw == "0" and row.protocol_fee_bps == 0
        rate = int(row.collateral_exchange_rate_raw)
        assert int(row.collateral_seized_raw) == int(row.collateral_token_seized_raw) * rate // MANTISSA
        assert row.collateral_seized == pytest.approx(int(row.collateral_seized_raw) / 10 ** coll.underlying_decimals)


@pytest.mark.node
def test_exchange_rate_is_the_one_the_seize_used(rows, market, liquidations) -> None:
    """The replayed rate equals ``exchangeRateStored`` right after the liquidation (its transaction
    is alone in its block and a Venus seize leaves the rate unchanged), and differs from the stale
    rate at the state block wherever the market has borrowers."""
    stale = 0
    for item in liquidations:
        row = rows[item["tx_hash"]]
        symbol = item["collateral_symbol"]
        assert int(row.collateral_exchange_rate_raw) == market.exchange_rate(symbol, block=int(row.block_number))
        stale += int(row.collateral_exchange_rate_raw) != market.exchange_rate(symbol, block=int(row.state_block))
        assert str(row.collateral_exchange_rate_raw) in row.collateral_conversion
    assert stale >= 2  # vWETH and vUSDC accrued interest since their last update


@pytest.mark.node
def test_prices_and_parameters_at_state_block(rows, devchain, market, liquidations) -> None:
    feed = registry().chain("devchain").eth_usd_feed
    for item in liquidations:
        row = rows[item["tx_hash"]]
        block = int(row.state_block)
        assert block == row.block_number - 1
        assert row.debt_price_raw == str(market.price(item["debt_symbol"], block=block))
        assert row.collateral_price_raw == str(market.price(item["collateral_symbol"], block=block))
        assert row.price_currency == item["price_currency"] and row.price_unit_raw is None
        coll, debt = market.market(item["collateral_symbol"]), market.market(item["debt_symbol"])
        usd_per_unit = 1.0
        if item["price_currency"] == "ETH":
            answer = devchain.chain.w3.eth.call({"to": feed, "data": "0x50d25bcd"}, block)  # latestAnswer()
            assert int(row.eth_usd_price_raw) == int.from_bytes(answer, "big") and row.eth_usd_decimals == 8
            usd_per_unit = int(row.eth_usd_price_raw) / 10**8
        else:
            assert row.eth_usd_price_raw is None
        for price_usd, raw, token in ((row.collateral_price_usd, row.collateral_price_raw, coll),
                                      (row.debt_price_usd, row.debt_price_raw, debt)):
            assert price_usd == pytest.approx(int(raw) / 10 ** (36 - token.underlying_decimals) * usd_per_unit)
        factor = COLLATERAL_FACTORS[item["collateral_symbol"]]
        assert row.collateral_factor_raw == str(factor)
        assert row.ltv_bps == row.liquidation_threshold_bps == factor // 10**14
        assert row.liquidation_incentive_raw == str(LIQUIDATION_INCENTIVE)
        assert row.liquidation_bonus_bps == LIQUIDATION_INCENTIVE // 10**14
        assert row.close_factor_bps == CLOSE_FACTOR // 10**14 and str(CLOSE_FACTOR) in row.close_factor_rule
        assert (row.debt_decimals, row.collateral_decimals) == (debt.underlying_decimals, coll.underlying_decimals)


@pytest.mark.node
def test_seize_tokens_follow_the_comptroller(rows, market, liquidations) -> None:
    """The event's seizeTokens equal the Comptroller's own ``liquidateCalculateSeizeTokens`` (called
    at the liquidation block) and the formula applied to the row's prices, incentive and rate."""
    for item in liquidations:
        row = rows[item["tx_hash"]]
        seized = int(row.collateral_token_seized_raw)
        assert market.comptroller.functions.liquidateCalculateSeizeTokens(
            item["debt_vtoken"], item["collateral_vtoken"], int(row.debt_repaid_raw)
        ).call(block_identifier=int(row.block_number)) == [0, seized]
        assert seize_tokens(int(row.debt_repaid_raw), int(row.liquidation_incentive_raw), int(row.debt_price_raw),
                            int(row.collateral_price_raw), int(row.collateral_exchange_rate_raw)) == seized
        assert row.liquidation_bonus_pct == pytest.approx(10.0, abs=1e-6)
        assert row.debt_repaid_usd == pytest.approx(row.debt_repaid * row.debt_price_usd)


@pytest.mark.node
def test_health_factor_and_totals_match_account_liquidity(rows, market, liquidations) -> None:
    """HF < 1, and (1 - HF) x debt is the Comptroller's shortfall at the state block."""
    for item in liquidations:
        row = rows[item["tx_hash"]]
        error, liquidity, shortfall = market.account_liquidity(item["borrower"], block=int(row.state_block))
        assert (error, liquidity) == (0, 0) and shortfall > 0
        assert 0 < row.health_factor_before < 1
        usd_per_unit = 1.0 if row.eth_usd_price_raw is None else int(row.eth_usd_price_raw) / 10**8
        assert (1 - row.health_factor_before) * row.borrower_debt_usd == pytest.approx(
            shortfall / MANTISSA * usd_per_unit, rel=1e-9)
        assert row.borrower_collateral_usd > row.borrower_debt_usd * row.health_factor_before


@pytest.mark.node
def test_scenario_actions_report_failures(devchain, market) -> None:
    """Compound-style error codes and reverts become one-line errors before anything is sent."""
    head = devchain.chain.w3.eth.block_number
    with pytest.raises(TransactionFailed, match="borrow from .* (returned error code|reverted)"):
        market.borrow(devchain.accounts[16], "USDC", 1)  # no collateral
    with pytest.raises(UserInputError, match="no market for 'DAI'"):
        market.market("DAI")
    with pytest.raises(UserInputError, match="missing WBTC, WETH"):
        market.use_oracle({"USDC": 10**30})
    assert devchain.chain.w3.eth.block_number == head


# -- mainnet logs, no node ----------------------------------------------------------------------

RAW_LOGS = FIXTURES / "raw_liquidation_logs.jsonl"


def _compound_logs() -> list[dict[str, Any]]:
    return [log for log in map(json.loads, RAW_LOGS.read_text().splitlines())
            if log["event"] == "CompoundV2.LiquidateBorrow"]


@cache
def _store_with_markets() -> Store:
    """A store whose discovered markets hold cETH and cUSDT for compound-v2/main, as a pull's discovery stores
    them (``toolkit.store.discovered``): what ``liqtk decode`` reads to attribute their logs without a node (the
    registry file lists no cToken)."""
    template = registry().find("ethereum", "compound-v2")[0]
    markets = [Market(address, 0, "cached for this test") for address in ("0x4ddc2d193948926d02f9b1fe9e1daa0718270ed5",
                                                                          "0xf650c3d88d12db855b8bf7d11be6c55a4e07dcc9")]
    store = Store(Path(tempfile.mkdtemp(prefix="compound-markets-")) / "s.duckdb")
    with store.writer() as writer:
        discovered.save(writer, Discovery(1, 0, [RegistryResult(template, markets, markets, None, 0, [])], [],
                                          [template]), run_id="test")
    return store


def _compound_rows() -> dict[tuple[str, int], dict[str, Any]]:
    """``liqtk decode`` rows of the raw logs that the compound-v2 deployment decoded, by (tx, log index)."""
    return {(r["tx_hash"], r["log_index"]): r for r in decode_logs(RAW_LOGS.read_text(), store=_store_with_markets())
            if r.get("protocol") == "compound-v2"}


def test_mainnet_logs_decode_to_the_recorded_values() -> None:
    logs, rows = _compound_logs(), _compound_rows()
    assert len(logs) == len(rows) == 6
    for log in logs:
        row = rows[(log["transactionHash"], log["logIndex"])]
        decoded = log["decoded"]
        assert (row["tx_hash"], row["log_index"], row["block_number"]) == (
            log["transactionHash"], log["logIndex"], log["blockNumber"])
        assert (row["emitter"], row["market_id"]) == (log["address"], log["address"])
        assert (row["liquidator"], row["borrower"]) == (decoded["liquidator"], decoded["borrower"])
        assert row["debt_repaid_raw"] == str(decoded["repayAmount"])
        assert row["collateral_token"] == decoded["cTokenCollateral"]
        assert row["collateral_token_seized_raw"] == str(decoded["seizeTokens"])
        assert row["block_timestamp"] == log["blockTimestamp"]
        assert (row["deployment"], row["chain_id"], row["state_status"]) == ("main", 1, "skipped")
        assert row["debt_asset"] is row["collateral_seized_raw"] is row["health_factor_before"] is None


def test_mainnet_logs_match_the_cross_checks() -> None:
    rows = _compound_rows()
    field = {"repayAmount": "debt_repaid_raw", "seizeTokens": "collateral_token_seized_raw"}
    checks = [c for c in csv.DictReader((FIXTURES / "cross_checks.csv").open())
              if c["event"] == "CompoundV2.LiquidateBorrow"]
    assert len(checks) == 4
    for check in checks:
        row = rows[(check["tx_hash"], int(check["log_index"]))]
        assert row[field[check["field"]]] == check["value_from_raw_log"]


def test_mainnet_receipts_give_the_same_rows() -> None:
    """Each receipt's LiquidateBorrow decodes to the row of the same log in the jsonl; its other
    logs (AccrueInterest, RepayBorrow, Transfer, ...) are error records, not rows."""
    by_key = _compound_rows()
    found = 0
    for log in _compound_logs():
        text = (FIXTURES / "receipts" / f"{log['transactionHash']}.json").read_text()
        decoded = list(decode_logs(text, store=_store_with_markets()))
        (row,) = [r for r in decoded if "error" not in r]
        expected = by_key[(log["transactionHash"], log["logIndex"])]
        assert {k: v for k, v in row.items() if k != "block_timestamp"} == {
            k: v for k, v in expected.items() if k != "block_timestamp"}
        found += 1
    assert found == 6


def test_malformed_logs_give_error_records() -> None:
    (deployment,) = registry().find("ethereum", "compound-v2")
    good = {k: v for k, v in _compound_logs()[0].items()
            if k in ("address", "topics", "data", "blockNumber", "blockHash", "transactionHash", "transactionIndex",
                     "logIndex", "removed")}
    bad = [
        good | {"data": good["data"][:-64]},
        good | {"data": good["data"] + "00" * 32},
        good | {"topics": [*good["topics"], "0x" + "00" * 32]},
        good | {"data": "0x" + "zz" * 160},
        good | {"removed": True},
        {k: v for k, v in good.items() if k != "transactionHash"},
    ]
    out = CompoundV2Adapter().decode_logs([good, *bad], deployment)
    assert "error" not in out[0]
    reasons = [r["error"] for r in out[1:]]
    assert all(reasons) and len(reasons) == len(bad)
    assert "data is 128 bytes, expected 160" in reasons[0] and "data is 192 bytes" in reasons[1]
    assert "has 1 topics, the log has 2" in reasons[2] and "not valid hex" in reasons[3]
    assert "removed" in reasons[4] and "transactionHash" in reasons[5]
    assert all(r["tx_hash"] == good["transactionHash"] for r in out[1:-1])


def test_mantissas_to_bps() -> None:
    """Compound 2.9's 2.8 % seize share with an 8 % incentive is 37.8 % of the bonus (0.028 x 1.08 /
    0.08); parts of a bps are not rounded into the bps columns."""
    assert share_of_bonus_bps(28 * 10**15, 108 * 10**16) == 3780
    assert share_of_bonus_bps(0, 11 * 10**17) == 0
    assert share_of_bonus_bps(28 * 10**15, 1075 * 10**15) is None
    assert share_of_bonus_bps(28 * 10**15, 10**18) is None
    assert bps_of(825 * 10**15) == 8250 and bps_of(8255 * 10**14 + 1) is None


def test_selectors_match_the_reference() -> None:
    """docs/sources/events.md#topic0-values (selectors)."""
    assert {name: COMPTROLLER.fn(name).selector.hex() for name in
            ("markets", "closeFactorMantissa", "liquidationIncentiveMantissa", "oracle")} == {
        "markets": "8e8f294b", "closeFactorMantissa": "e8755446", "liquidationIncentiveMantissa": "4ada90af",
        "oracle": "7dc0d1d0"}
    assert PRICE_ORACLE.fn("getUnderlyingPrice").selector.hex() == "fc57d4df"
    assert CTOKEN.fn("exchangeRateStored").selector.hex() == "182df0f5"
