"""``pull`` against the real local chain: rows equal the events and the receipts' token movements.

The devchain runs real Aave v3 (@aave/core-v3 1.19.3) and Aave v2 (@aave/protocol-v2 1.0.1) with the
demo liquidations (partial and full, receiveAToken true and false). Every expectation here is read
from the node independently of the adapter: events decoded by web3 with the npm artifact ABIs,
ERC-20 ``Transfer`` logs of the receipts, the oracle at the state block, and the configuration as
the deployment set it (``toolkit.devchain.aave_v3.RESERVE_PARAMS`` / ``aave_v2.RESERVE_PARAMS``).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import pytest_asyncio
from web3 import Web3
from web3.logs import DISCARD

from toolkit.devchain import aave_v2, aave_v3
from toolkit.pipeline import PullRequest, pull_async
from toolkit.protocols.aave import percent_mul
from toolkit.protocols.registry import registry
from toolkit.store.db import Store

pytestmark = pytest.mark.node

TRANSFER_TOPIC = Web3.keccak(text="Transfer(address,address,uint256)").hex()


@pytest_asyncio.fixture(scope="module")
async def store(devchain, tmp_path_factory) -> Store:
    path = tmp_path_factory.mktemp("pull") / "liquidations.duckdb"
    for protocol in ("aave-v3", "aave-v2"):
        await pull_async(PullRequest(chain="devchain", protocol=protocol, rpc_url=devchain.url, store_path=path))
    return Store(path, create=False)


def _market(devchain, item):
    return (devchain.v3, aave_v3.RESERVE_PARAMS) if item["market"] == "aave_v3" else (devchain.v2, aave_v2.RESERVE_PARAMS)


def _transfers(receipt, token: str) -> list[tuple[str, str, int]]:
    """(from, to, value) of every ERC-20 Transfer that ``token`` emitted in the receipt."""
    out = []
    for log in receipt["logs"]:
        if log["address"].lower() == token.lower() and log["topics"][0].hex() == TRANSFER_TOPIC.removeprefix("0x"):
            out.append(("0x" + log["topics"][1].hex()[-40:], "0x" + log["topics"][2].hex()[-40:],
                        int.from_bytes(log["data"], "big")))
    return out


def test_registry_holds_the_devchain_addresses(devchain) -> None:
    """toolkit/devchain/deployments.toml names what the deterministic devchain deploys: the Aave v2 pool, and the
    PoolAddressesProviderRegistry whose provider's pool is the Aave v3 pool (named ``devchain``)."""
    (v3,) = registry().find("devchain", "aave-v3")
    (v2,) = registry().find("devchain", "aave-v2")
    assert v3.address("addresses_provider_registry") == devchain.addresses()["aave_registry"].lower()
    assert devchain.aave_registry.providers() == [devchain.addresses()["aave_v3"]["poolAddressesProvider"]]
    assert {address.lower(): name for address, name in v3.params["pool_names"].items()} == {
        devchain.addresses()["aave_v3"]["pool"].lower(): "devchain"}
    assert v2.contracts["pool"] == devchain.addresses()["aave_v2"]["lendingPool"]
    assert registry().chain("devchain").eth_usd_feed == devchain.addresses()["aave_v2"]["ethUsdFeed"]


def test_one_row_per_liquidation_with_event_fields(store, devchain, devchain_liquidations) -> None:
    frame = store.liquidations()
    assert sorted(frame.tx_hash) == sorted(i["tx_hash"].lower() for i in devchain_liquidations)
    w3 = devchain.chain.w3
    for item in devchain_liquidations:
        row = frame[frame.tx_hash == item["tx_hash"].lower()].iloc[0]
        market, _ = _market(devchain, item)
        receipt = w3.eth.get_transaction_receipt(item["tx_hash"])
        (event,) = market.pool.events.LiquidationCall().process_receipt(receipt, errors=DISCARD)
        assert row.debt_repaid_raw == str(event.args.debtToCover)
        assert row.collateral_seized_raw == str(event.args.liquidatedCollateralAmount)
        assert row.borrower == event.args.user.lower() == item["user"].lower()
        assert row.liquidator == event.args.liquidator.lower()
        assert row.debt_asset == event.args.debtAsset.lower()
        assert row.collateral_asset == event.args.collateralAsset.lower()
        assert bool(row.receive_a_token) is event.args.receiveAToken is item["receive_a_token"]
        assert (row.block_number, row.log_index, row.tx_index) == (event.blockNumber, event.logIndex,
                                                                   event.transactionIndex)
        block = w3.eth.get_block(int(row.block_number))
        assert row.block_hash == "0x" + block.hash.hex().removeprefix("0x")
        assert int(row.block_timestamp.timestamp()) == block.timestamp
        assert (row.chain_id, row.emitter, row.state_status) == (31337, market.pool.address.lower(), "ok")


def test_amounts_equal_token_movements_in_receipt(store, devchain, devchain_liquidations) -> None:
    """Debt paid in, collateral (or aTokens) out, and the v3 protocol fee to the treasury."""
    frame = store.liquidations()
    w3 = devchain.chain.w3
    treasury = devchain.accounts[9].lower()
    for item in devchain_liquidations:
        row = frame[frame.tx_hash == item["tx_hash"].lower()].iloc[0]
        market, _ = _market(devchain, item)
        receipt = w3.eth.get_transaction_receipt(item["tx_hash"])
        debt = market.reserve(item["debt_symbol"])
        coll = market.reserve(item["collateral_symbol"])
        liquidator, user = row.liquidator, row.borrower
        paid = [v for f, t, v in _transfers(receipt, debt.underlying) if f == liquidator and t == debt.a_token.lower()]
        assert paid == [int(row.debt_repaid_raw)]
        if item["receive_a_token"]:
            got = [v for f, t, v in _transfers(receipt, coll.a_token) if f == user and t == liquidator]
        else:
            got = [v for f, t, v in _transfers(receipt, coll.underlying) if f == coll.a_token.lower() and t == liquidator]
        assert got == [int(row.collateral_seized_raw)]
        fee = [v for f, t, v in _transfers(receipt, coll.a_token) if f == user and t == treasury]
        if item["market"] == "aave_v3":
            assert fee == [int(row.protocol_fee_raw)] and int(row.protocol_fee_raw) > 0
        else:
            assert fee == [] and row.protocol_fee_raw == "0"


def test_prices_parameters_and_health_factor_at_state_block(store, devchain, devchain_liquidations) -> None:
    frame = store.liquidations()
    for item in devchain_liquidations:
        row = frame[frame.tx_hash == item["tx_hash"].lower()].iloc[0]
        market, params = _market(devchain, item)
        assert row.state_block == row.block_number - 1
        assert row.debt_price_raw == str(market.price(item["debt_symbol"], block=int(row.state_block)))
        assert row.collateral_price_raw == str(market.price(item["collateral_symbol"], block=int(row.state_block)))
        # the views run in the liquidation block's context (its number and timestamp: eth_call's block
        # override), where interest has accrued to the liquidation's time
        health_factor = market.account_data_in_block(
            item["user"], state_block=int(row.state_block), number=int(row.block_number),
            timestamp=int(row.block_timestamp.timestamp())).health_factor
        assert row.health_factor_before_raw == str(health_factor)
        # the scenario read its figure a few seconds of interest apart from the state block
        assert row.health_factor_before == pytest.approx(item["health_factor_before"] / 1e18, rel=1e-6)
        coll = params[item["collateral_symbol"]]
        assert (row.ltv_bps, row.liquidation_threshold_bps, row.liquidation_bonus_bps, row.protocol_fee_bps) == (
            coll.ltv, coll.liquidation_threshold, coll.liquidation_bonus, coll.liquidation_protocol_fee)
        assert (row.debt_decimals, row.collateral_decimals) == (market.reserve(item["debt_symbol"]).decimals,
                                                                market.reserve(item["collateral_symbol"]).decimals)
        assert (row.debt_symbol, row.collateral_symbol) == (item["debt_symbol"], item["collateral_symbol"])
        if item["market"] == "aave_v3":
            assert row.price_currency == "USD" and row.price_unit_raw == str(10**8)
            assert row.close_factor_bps == (10_000 if health_factor <= 95 * 10**16 else 5_000)
        else:
            assert row.price_currency == "ETH" and row.price_unit_raw == str(10**18)
            assert row.close_factor_bps == 5_000 and row.eth_usd_price_raw is not None


def test_seized_collateral_follows_the_bonus_formula(store, devchain_liquidations) -> None:
    """collateral to liquidator + protocol fee = percentMul(debt value in collateral units, bonus)
    (@aave/core-v3 LiquidationLogic._calculateAvailableCollateralToLiquidate), and the bonus in
    USD equals the configured bonus less the fee share, within rounding of the raw amounts."""
    frame = store.liquidations()
    for item in devchain_liquidations:
        row = frame[frame.tx_hash == item["tx_hash"].lower()].iloc[0]
        debt_price, coll_price = int(row.debt_price_raw), int(row.collateral_price_raw)
        base = (debt_price * int(row.debt_repaid_raw) * 10**int(row.collateral_decimals)) // (
            coll_price * 10**int(row.debt_decimals))
        assert int(row.collateral_seized_raw) + int(row.protocol_fee_raw) == percent_mul(base, int(row.liquidation_bonus_bps))
        bonus = (row.liquidation_bonus_bps - 10_000) / 100 * (1 - row.protocol_fee_bps / 10_000)
        assert row.liquidation_bonus_pct == pytest.approx(bonus, abs=1e-3)
        assert row.debt_repaid_usd == pytest.approx(row.debt_repaid * row.debt_price_usd)


def test_partial_and_full_liquidations_are_both_covered(store, devchain_liquidations) -> None:
    kinds = {(i["market"], i["kind"], i["receive_a_token"]) for i in devchain_liquidations}
    assert {k[2] for k in kinds} == {True, False}
    assert {"partial", "full"} <= {k[1] for k in kinds}


async def test_rerunning_a_pull_adds_nothing(store, devchain) -> None:
    before = store.liquidations()
    result = await pull_async(PullRequest(chain="devchain", protocol="aave-v3", rpc_url=devchain.url,
                                          store_path=store.path))
    assert (result.status, result.rows_added) == ("nothing_new", 0)
    assert store.liquidations().equals(before)


async def test_since_starts_at_the_first_block_at_or_after_the_date(devchain, devchain_liquidations, tmp_path) -> None:
    """``--since`` on a first pull: only liquidations at or after that UTC time are stored."""
    from datetime import UTC, datetime

    last = max(devchain_liquidations, key=lambda i: i["block_number"])
    moment = datetime.fromtimestamp(devchain.chain.w3.eth.get_block(last["block_number"]).timestamp, UTC)
    path = tmp_path / "since.duckdb"
    result = await pull_async(PullRequest(chain="devchain", protocol="aave-v2", rpc_url=devchain.url,
                                          store_path=path, since=moment))
    assert result.deployments[0].from_block == last["block_number"]
    assert list(Store(path, create=False).liquidations().tx_hash) == [last["tx_hash"].lower()]


async def test_a_pull_without_state_reads_the_same_rows_from_columns_as_from_parsed_json(
        store, devchain, tmp_path, monkeypatch) -> None:
    """Without state reads, the answers are read as Arrow columns (toolkit.chain.logtable); with that
    reading switched off, as parsed JSON. Both stores hold the same rows, and their decoded columns are
    those of the pull with state reads."""
    import toolkit.chain.logs

    from toolkit.store.schema import DECODE_COLUMNS

    async def pull_without_state(path: Path) -> None:
        for protocol in ("aave-v3", "aave-v2"):
            await pull_async(PullRequest(chain="devchain", protocol=protocol, rpc_url=devchain.url,
                                         store_path=path, no_state=True))

    answers = []
    read_columns = toolkit.chain.logs.read_logs_answer
    monkeypatch.setattr(toolkit.chain.logs, "read_logs_answer", lambda body: answers.append(body) or read_columns(body))
    await pull_without_state(tmp_path / "columns.duckdb")
    assert answers and all(read_columns(body) is not None for body in answers)
    monkeypatch.setattr(toolkit.chain.logs, "read_logs_answer", lambda body: None)
    await pull_without_state(tmp_path / "json.duckdb")
    from_columns, from_json = (Store(tmp_path / name, create=False).liquidations()
                               for name in ("columns.duckdb", "json.duckdb"))
    assert len(from_columns) == len(store.liquidations()) > 0
    assert from_columns.equals(from_json)
    decoded = [c for c in DECODE_COLUMNS if c not in ("state_status",)]
    assert from_columns[decoded].equals(store.liquidations()[decoded])


async def test_without_state_reads_chunks_are_committed_together_and_at_least_every_interval(
        devchain, tmp_path, monkeypatch) -> None:
    """Group commit without state reads: the chunks of a read are one commit while they hold fewer than
    MAX_COMMIT_ROWS rows; a slow node's read (every answer 0.2 s late, through the fault proxy) still
    commits every COMMIT_INTERVAL. Both store the same rows."""
    import toolkit.pull_session
    from fault_proxy import FaultConfig, FaultProxy

    async def pull(url: str, path: Path):
        result = await pull_async(PullRequest(chain="devchain", protocol="aave-v3", rpc_url=url, store_path=path,
                                              no_state=True))
        return result.deployments[0], Store(path, create=False).liquidations()

    monkeypatch.setattr(toolkit.pull_session, "COMMIT_INTERVAL", 60.0)
    grouped, grouped_rows = await pull(devchain.url, tmp_path / "grouped.duckdb")
    assert (grouped.chunks, grouped.rows_added) == (1, len(grouped_rows)) and len(grouped_rows) > 0
    monkeypatch.setattr(toolkit.pull_session, "COMMIT_INTERVAL", 0.3)
    with FaultProxy(devchain.url, FaultConfig(slow=1.0, slow_seconds=0.2)) as proxy:
        slow, slow_rows = await pull(proxy.url, tmp_path / "slow.duckdb")
    assert proxy.stats.faults["slow"] >= 5
    assert slow.chunks >= 2
    assert slow_rows.equals(grouped_rows)
