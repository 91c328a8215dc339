"""Markets found from the protocols' own registry contracts (toolkit.protocols.discovery).

On the local chain, with the real contracts from npm (Venus 9.2.0 Comptroller, Aave v3 1.19.3
PoolAddressesProviderRegistry): a first pull, then a new market listed by the registry and a liquidation in it,
then a second pull that stores its row. Expectations are read from the node with web3 and the npm artifacts'
ABIs (the listing event, ``getAllMarkets()``/``getAddressesProvidersList()``, the liquidation's receipt), never
from the discovery code.

No recording of a real Comptroller's answers (``getAllMarkets()`` results or ``MarketListed`` logs) exists in
the project's research data set or fixtures/ (searched: the selector ``0xb0772d0b`` and the topic0 of ``MarketListed`` in the stored
public code; the hits are ABIs, bindings and docs, no recorded answer). The Compound layout of ``MarketListed``
(the cToken not indexed) is therefore checked with a CONSTRUCTED log replayed at the real Unitroller address on a
local anvil with chain id 1 (``toolkit.devchain.replay``), which also feeds the store cache that ``liqtk decode``
reads to attribute the real mainnet ``LiquidateBorrow`` log of fixtures/mainnet-logs.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from web3 import Web3
from web3.logs import DISCARD

from toolkit.abi import load_abi
from toolkit.decode import decode_logs
from toolkit.devchain import Devchain
from toolkit.devchain.aave_registry import deploy_second_market
from toolkit.devchain.anvil import start_anvil
from toolkit.devchain.assets import TOKEN, USD_DECIMALS, to_raw
from toolkit.devchain.chain import Chain
from toolkit.devchain.replay import ReplayLog, Replayer, answer, event_log
from toolkit.devchain.venus import MarketListing, usd_price_mantissa
from toolkit.pipeline import PullRequest, pull_async
from toolkit.protocols.discovery import Discovery, RegistryResult, expand_offline, set_aside
from toolkit.protocols.discovery.aave_registry import METHOD as AAVE_REGISTRY
from toolkit.protocols.discovery.comptroller import METHOD as COMPTROLLER_METHOD
from toolkit.protocols.discovery.model import Market
from toolkit.protocols.registry import registry
from toolkit.store.db import Store

ROOT = Path(__file__).resolve().parents[2]
MAINNET = ROOT / "fixtures" / "mainnet-logs"
MAX_UINT256 = 2**256 - 1
#: what ``liqtk`` runs (the console script's entry point in this interpreter)
LIQTK = [sys.executable, "-c", "import toolkit.cli; toolkit.cli.run()"]


def _pull(url: str, protocol: str, store: Path, **options: Any) -> Any:
    return pull_async(PullRequest(chain="devchain", protocol=protocol, rpc_url=url, store_path=store, to="latest",
                                  **options))


def _cached(store: Path, protocol: str) -> dict[str, dict[str, Any]]:
    with Store(store, create=False).reader() as con:
        rows = con.execute("SELECT market, name, found_block, how FROM discovered_markets WHERE protocol = ?",
                           [protocol]).fetchall()
    return {market: {"name": name, "found_block": found, "how": how} for market, name, found, how in rows}


@pytest.fixture()
def snapshot(devchain: Devchain) -> Iterator[Devchain]:
    """The shared devchain, restored after the test (it lists markets and liquidates)."""
    saved = devchain.snapshot()
    try:
        yield devchain
    finally:
        devchain.revert(saved)


# -- local chain: a new Venus market -----------------------------------------------------------------

@pytest.mark.node
async def test_new_venus_market_listed_after_a_first_pull_is_pulled_by_the_next(snapshot: Devchain,
                                                                                tmp_path: Path) -> None:
    devchain, venus = snapshot, snapshot.venus
    store = tmp_path / "s.duckdb"
    first = await _pull(devchain.url, "venus", store)
    listed_before = set(_cached(store, "venus"))
    comptroller = venus.comptroller
    assert listed_before == {m.lower() for m in comptroller.functions.getAllMarkets().call()}

    # the Venus admin lists a LINK market; an account borrows LINK against WETH; LINK's price rises; liquidation
    link = venus.chain.deploy(TOKEN, "ChainLink Token", "LINK", 18)
    listing_receipt_block = devchain.chain.w3.eth.block_number + 1
    market = venus.list_market(MarketListing("LINK", link, 18, "15", 6 * 10**17, 2 * 10**17))
    provider, borrower, liquidator = devchain.accounts[18], devchain.accounts[19], devchain.accounts[6]
    for account, amount in ((provider, 10_000 * 10**18), (liquidator, 1_000 * 10**18)):
        devchain.chain.transact(link.functions.mint(account, amount))
    venus.supply(provider, "LINK", 10_000 * 10**18)
    devchain.fund_and_supply(venus, borrower, {"WETH": "1"})
    venus.enter_markets(borrower, ["WETH"])
    venus.borrow(borrower, "LINK", 150 * 10**18)  # 2,250 USD against 3,000 USD of WETH at 80 %
    venus.set_price("LINK", usd_price_mantissa(20, 18))
    receipt = venus.liquidate(liquidator, borrower, "LINK", 50 * 10**18, "WETH")
    devchain.mine(3)

    second = await _pull(devchain.url, "venus", store)
    assert first.status == "ok" or first.rows_added == 0
    rows = Store(store, create=False).liquidations(protocol="venus")
    (row,) = rows[rows.tx_hash == receipt["transactionHash"].to_0x_hex()].itertuples()
    (event,) = market.vtoken.events.LiquidateBorrow().process_receipt(receipt, errors=DISCARD)
    assert row.emitter == row.market_id == market.address.lower() == event.address.lower()
    assert (row.debt_repaid_raw, row.collateral_token_seized_raw) == (str(event.args.repayAmount),
                                                                     str(event.args.seizeTokens))
    assert row.borrower == borrower.lower() and row.state_status == "ok"
    # the registry listed it: its MarketListed log, and getAllMarkets() at the pull's bound
    (listed,) = comptroller.events.MarketListed().get_logs(from_block=listing_receipt_block)
    assert listed.args.vToken.lower() == market.address.lower()
    cache = _cached(store, "venus")
    assert set(cache) == listed_before | {market.address.lower()}
    assert cache[market.address.lower()]["found_block"] == listed.blockNumber
    assert "MarketListed log" in cache[market.address.lower()]["how"]
    bound = second.to_block
    assert market.address in comptroller.functions.getAllMarkets().call(block_identifier=bound)
    (report,) = second.report["discovery"]
    assert [new["market"] for new in report["new"]] == [market.address.lower()]


# -- local chain: a second Aave v3 pool in the PoolAddressesProviderRegistry ---------------------------

@pytest.mark.node
async def test_second_aave_pool_registered_after_a_first_pull_is_a_deployment_of_its_own(
        snapshot: Devchain, tmp_path: Path) -> None:
    devchain = snapshot
    store = tmp_path / "s.duckdb"
    first = await _pull(devchain.url, "aave-v3", store)
    assert [d.deployment for d in first.deployments] == ["devchain"]

    second_market = deploy_second_market(devchain, "Aave Devchain Second Market")
    provider_address = second_market.addresses()["poolAddressesProvider"]
    registration = devchain.aave_registry.register(provider_address, 2)
    provider, borrower, liquidator = devchain.accounts[18], devchain.accounts[19], devchain.accounts[6]
    devchain.fund_and_supply(second_market, provider, {"USDC": "100000"})
    devchain.fund_and_supply(second_market, borrower, {"WETH": "10"})
    second_market.borrow(borrower, "USDC", devchain.to_raw("USDC", "22000"))
    second_market.set_price("WETH", to_raw(2600, USD_DECIMALS))
    devchain.fund(liquidator, "USDC", devchain.to_raw("USDC", "20000"))
    receipt = second_market.liquidate(liquidator, "WETH", "USDC", borrower, MAX_UINT256, False)
    devchain.mine(3)

    second = await _pull(devchain.url, "aave-v3", store)
    assert [d.deployment for d in second.deployments] == ["devchain", "aave-devchain-second-market"]
    frame = Store(store, create=False).liquidations(protocol="aave-v3")
    (row,) = frame[frame.tx_hash == receipt["transactionHash"].to_0x_hex()].itertuples()
    (event,) = second_market.pool.events.LiquidationCall().process_receipt(receipt, errors=DISCARD)
    pool = second_market.pool.address.lower()
    assert (row.deployment, row.emitter, row.market_id) == ("aave-devchain-second-market", pool, pool)
    assert (row.debt_repaid_raw, row.collateral_seized_raw) == (str(event.args.debtToCover),
                                                               str(event.args.liquidatedCollateralAmount))
    assert row.state_status == "ok" and row.debt_price_raw == str(second_market.price("USDC", int(row.state_block)))
    # the registry lists the provider; its pool is the row's emitter
    registry_contract = devchain.aave_registry.contract
    assert provider_address in registry_contract.functions.getAddressesProvidersList().call(
        block_identifier=second.to_block)
    (logged,) = registry_contract.events.AddressesProviderRegistered().get_logs(
        from_block=registration["blockNumber"], to_block=registration["blockNumber"])
    assert logged.args.addressesProvider == provider_address and logged.args.id == 2
    cache = _cached(store, "aave-v3")
    assert cache[pool] == {"name": "aave-devchain-second-market", "found_block": registration["blockNumber"],
                           "how": cache[pool]["how"]}
    assert "AddressesProviderRegistered log" in cache[pool]["how"]
    # the first pool keeps its name (the registry file's) and its rows
    assert set(frame.deployment) == {"devchain", "aave-devchain-second-market"}
    assert (frame.deployment == "devchain").sum() == first.rows_added


# -- bad input: a registry that does not answer at the pulled block ----------------------------------

@pytest.mark.node
def test_registry_that_does_not_answer_at_the_block_fails_in_one_line_and_leaves_the_store(devchain: Devchain,
                                                                                         tmp_path: Path) -> None:
    """The devchain's PoolAddressesProviderRegistry is deployed after everything else: at block 20 it has no code."""
    store = tmp_path / "s.duckdb"
    registry_address = registry().find("devchain", "aave-v3")[0].address("addresses_provider_registry")
    assert devchain.chain.w3.eth.get_code(Web3.to_checksum_address(registry_address), 20) == b""
    done = subprocess.run([*LIQTK, "pull", "--chain", "devchain", "--protocol", "aave-v3", "--rpc", devchain.url,
                           "--store", str(store), "--to", "20", "--quiet"], capture_output=True, text=True)
    assert done.returncode == 1
    (line,) = [r for r in map(json.loads, filter(str.strip, done.stderr.splitlines())) if r.get("exit_code") == 1]
    message = line["message"]
    assert registry_address in message and "block 20" in message and "getAddressesProvidersList" in message
    assert not store.exists() and not Path(str(store) + ".segments").exists()
    # an existing store: the same failure changes nothing in it
    ok = subprocess.run([*LIQTK, "pull", "--chain", "devchain", "--protocol", "aave-v2", "--rpc", devchain.url,
                         "--store", str(store), "--quiet"], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    before = {p.name: p.read_bytes() for p in [store, *Path(str(store) + ".segments").iterdir()]}
    again = subprocess.run([*LIQTK, "pull", "--chain", "devchain", "--protocol", "aave-v3", "--rpc", devchain.url,
                            "--store", str(store), "--to", "20", "--quiet"], capture_output=True, text=True)
    assert again.returncode == 1
    assert {p.name: p.read_bytes() for p in [store, *Path(str(store) + ".segments").iterdir()]} == before


# -- mainnet layouts on a chain-id-1 replay; the decode cache ----------------------------------------

COMPTROLLER = "0x3d9819210a31b4961b30ef54be2aed79b9c9cd3b"


@pytest.fixture(scope="module")
def mainnet_chain() -> Iterator[Chain]:
    with start_anvil(chain_id=1) as node:
        yield Chain(node.url)


def _raw_compound_log() -> dict[str, Any]:
    """The real 2022-05-11 cUSDT LiquidateBorrow of fixtures/mainnet-logs."""
    (log,) = [json.loads(x) for x in (MAINNET / "raw_liquidation_logs.jsonl").read_text().splitlines()
              if json.loads(x)["address"] == "0xf650c3d88d12db855b8bf7d11be6c55a4e07dcc9"]
    return log


@pytest.mark.node
async def test_compound_market_listed_layout_feeds_the_cache_that_decode_reads(mainnet_chain: Chain,
                                                                              tmp_path: Path) -> None:
    """A CONSTRUCTED ``MarketListed`` of cUSDT (Compound layout: the cToken in the data) at the real Unitroller,
    with ``getAllMarkets()`` answered by a stub: a pull caches cUSDT, and ``liqtk decode`` then attributes the real
    cUSDT ``LiquidateBorrow`` log (whose cToken no registry file lists) to compound-v2 without a node."""
    log = _raw_compound_log()
    spec = load_abi("compound-v2/Comptroller.json").event("MarketListed")
    listed = event_log(spec, COMPTROLLER, {"vToken": log["address"]}, tx_hash="0x" + "5e" * 32, block_number=1,
                       log_index=0)
    # the Compound layout: the same topic0, the cToken as the data word
    listed = {**listed, "topics": listed["topics"][:1], "data": "0x" + "00" * 12 + log["address"][2:]}
    replayer = Replayer(mainnet_chain)
    replayer.set_answers([answer(COMPTROLLER, "getAllMarkets()", [], ["address[]"], [[log["address"]]])])
    result = replayer.replay([ReplayLog.from_json(listed)])
    mainnet_chain.mine(1)
    store = tmp_path / "s.duckdb"
    pulled = await pull_async(PullRequest(chain="ethereum", protocol="compound-v2", rpc_url=mainnet_chain.w3.provider.endpoint_uri,
                                          store_path=store, from_block=result.first_block, to="latest", no_state=True))
    (report,) = pulled.report["discovery"]
    assert [new["market"] for new in report["new"]] == [log["address"]] and "MarketListed log" in report["new"][0]["how"]

    record = {k: v for k, v in log.items() if k in ("address", "topics", "data", "blockNumber", "blockHash",
                                                     "transactionHash", "transactionIndex", "logIndex", "removed")}
    (refused,) = decode_logs(json.dumps(record))
    assert refused["error"].startswith(f"unknown emitter {log['address']} for LiquidateBorrow")
    assert "no store" in refused["error"] and "pass --protocol (compound-v2 or venus)" in refused["error"]
    (row,) = decode_logs(json.dumps(record), store=Store(store, create=False))
    assert (row["protocol"], row["deployment"], row["market_id"]) == ("compound-v2", "main", log["address"])
    assert json.loads(row["event_args"])["seizeTokens"] == str(log["decoded"]["seizeTokens"])
    (forced,) = decode_logs(json.dumps(record), protocol="compound-v2")
    assert (forced["protocol"], forced["debt_repaid_raw"]) == ("compound-v2", str(log["decoded"]["repayAmount"]))
    # the same through the command line, with --store
    path = tmp_path / "log.json"
    path.write_text(json.dumps(record))
    done = subprocess.run([*LIQTK, "decode", str(path), "--store", str(store)], capture_output=True, text=True)
    assert done.returncode == 0 and json.loads(done.stdout)["deployment"] == "main"


@pytest.mark.node
async def test_undecodable_log_of_a_discovered_market_is_counted_and_the_pull_goes_on(mainnet_chain: Chain,
                                                                                      tmp_path: Path) -> None:
    """Maker 2.0 on a chain-id-1 replay (CONSTRUCTED logs, real layouts): a Bark names clipper X, so X is
    discovered; X then emits a Take whose data is cut short. The Take is set aside with its reason and counted in
    the run report; the Bark row is stored."""
    dog = "0x135954d155898d42c90d2a57824c690e0c7bef1b"
    clipper = "0x00000000000000000000000000000000000c1a11"
    bark = event_log(load_abi("maker/Dog.json").event("Bark"), dog, {
        "ilk": "0x" + b"ETH-X".ljust(32, b"\0").hex(), "urn": "0x" + "0a" * 20, "ink": 10**18, "art": 10**18,
        "due": 10**45, "clip": clipper, "id": 1}, tx_hash="0x" + "b1" * 32, block_number=1, log_index=0)
    take = event_log(load_abi("maker/Clipper.json").event("Take"), clipper, {
        "id": 1, "max": 1, "price": 1, "owe": 1, "tab": 0, "lot": 0, "usr": "0x" + "0a" * 20},
        tx_hash="0x" + "b2" * 32, block_number=2, log_index=0)
    take["data"] = take["data"][:-64]  # one word short
    replayer = Replayer(mainnet_chain)
    result = replayer.replay([ReplayLog.from_json(bark), ReplayLog.from_json(take)])
    mainnet_chain.mine(1)
    store = tmp_path / "s.duckdb"
    pulled = await pull_async(PullRequest(chain="ethereum", protocol="maker", deployment="liquidations-2.0",
                                          rpc_url=mainnet_chain.w3.provider.endpoint_uri, store_path=store,
                                          from_block=result.first_block, to="latest", no_state=True))
    assert pulled.status == "ok" and pulled.report["undecoded"] == 1
    (deployment,) = pulled.report["deployments"]
    (aside,) = deployment["undecoded"]
    assert aside["emitter"] == clipper and "Take data is" in aside["error"]
    frame = Store(store, create=False).liquidations()
    assert list(frame.event) == ["Bark"]


# -- no node ---------------------------------------------------------------------------------------------

def test_comptroller_reads_both_market_listed_layouts() -> None:
    """Venus indexes the vToken, Compound does not: the same topic0 (docs/sources/discovery.md#venus-comptroller)."""
    template = registry().find("ethereum", "compound-v2")[0]
    topic0 = "0x" + Web3.keccak(text="MarketListed(address)").hex().removeprefix("0x")
    market = "0x" + "ab" * 20
    base = {"blockNumber": "0x10", "transactionHash": "0x" + "11" * 32, "logIndex": "0x2"}
    venus = {**base, "topics": [topic0, "0x" + "00" * 12 + market[2:]], "data": "0x"}
    compound = {**base, "topics": [topic0], "data": "0x" + "00" * 12 + market[2:], "logIndex": "0x3"}
    found = COMPTROLLER_METHOD.from_logs([venus, compound], template)
    assert [(c.address, c.found_block) for c in found] == [(market, 16), (market, 16)]
    assert found[1].how == f"MarketListed log 3 of tx {'0x' + '11' * 32} in block 16"


def test_aave_pools_are_deployments_named_by_the_registry_file_else_by_their_market_id() -> None:
    template = registry().find("ethereum", "aave-v3", "core")[0]
    core = "0x87870bca3f3fd6335c3f4ce8392d69350b4fa4e2"
    markets = [Market(core, 5, "x", name="core", details={"addresses_provider": "0x" + "01" * 20}),
               Market("0x" + "cc" * 20, 9, "y", name="aave-x-market"),
               Market("0x" + "dd" * 20, 12, "z", name="aave-x-market")]
    expanded = AAVE_REGISTRY.expand(template, markets)
    assert [(d.name, d.contracts["pool"]) for d in expanded] == [
        ("core", core), ("aave-x-market", "0x" + "cc" * 20), (f"aave-x-market-{'dd' * 4}", "0x" + "dd" * 20)]
    assert expanded[0].contracts["addresses_provider"] == "0x" + "01" * 20
    assert all(d.protocol == "aave-v3" and d.discovery == "aave_registry" and d.emitters == (d.contracts["pool"],)
               for d in expanded)


def test_a_template_without_markets_is_not_read_nor_matched_by_any_emitter() -> None:
    """An empty emitter list would read every contract's logs: a template waiting for its markets reads nothing."""
    template = registry().find("ethereum", "compound-v2")[0]
    result = RegistryResult(template, [], [], None, 10, [])
    assert Discovery(1, 10, [result], [], [template]).deployments() == []
    (offline,) = expand_offline([template], {})
    assert offline.emitters == () and offline.discovery == "comptroller"


def test_set_aside_keeps_rows_and_other_emitters_errors() -> None:
    logs = [{"address": "0xAA" + "0" * 38, "transactionHash": "0xT", "logIndex": "0x1"},
            {"address": "0xbb" + "0" * 38, "transactionHash": "0xT", "logIndex": "0x2"}]
    rows = [{"error": "bad", "tx_hash": "0xT", "log_index": "0x1"}, {"error": "worse", "tx_hash": "0xT", "log_index": 2},
            {"tx_hash": "0xt", "log_index": 3}]
    kept, aside = set_aside(rows, logs, frozenset({"0xaa" + "0" * 38}))
    assert aside == [{"emitter": "0xaa" + "0" * 38, "tx_hash": "0xT", "log_index": "0x1", "error": "bad"}]
    assert kept == rows[1:]


def test_decode_without_a_store_names_what_it_tried() -> None:
    (record,) = decode_logs(json.dumps({k: v for k, v in _raw_compound_log().items() if k != "decoded"}))
    assert "unknown emitter" in record["error"] and "tried" in record["error"] and "--protocol" in record["error"]
