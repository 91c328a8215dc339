"""``liqtk positions`` on the local chain: every account's collateral, debt and health factor equal the protocols'
own views at the block (Aave ``getUserAccountData`` and token balances, Venus ``getAccountLiquidity`` and
``getAccountSnapshot``, Morpho ``position`` and ``market``); accounts without debt are absent; a second snapshot
after new borrows reads only those accounts and still equals the views; a snapshot killed midway resumes to the
same rows."""

from __future__ import annotations

import json
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest

from snapwork import EMODE, Book, call, population_address
from toolkit.abi import load_abi
from toolkit.crash.driver import OracleDriver
from toolkit.protocols.discovery import expand_offline
from toolkit.protocols.aave import POOL_V2, POOL_V3
from toolkit.protocols.compound_v2 import COMPTROLLER, CTOKEN, MANTISSA
from toolkit.protocols.morpho_blue import MORPHO, to_assets_up
from toolkit.protocols.registry import registry
from toolkit.snapshot import snapshot
from toolkit.store import positions as stored
from toolkit.store.db import Store

pytestmark = [pytest.mark.node, pytest.mark.slow, pytest.mark.xdist_group("snapshot")]
PROTOCOLS = ("aave-v3", "aave-v2", "venus", "morpho-blue")
SCALED = load_abi("aave-v3/ScaledBalanceToken.json")


def _take(book: Book, store: Path, block: int, protocols=PROTOCOLS) -> dict[str, pd.DataFrame]:
    out = {}
    for protocol in protocols:
        result = snapshot("devchain", protocol, rpc=book.devchain.url, store=store, block=block)
        (outcome,) = result.outcomes
        assert outcome.reader in ("reader contract", None)  # anvil takes state overrides (None: nothing read)
        out[protocol] = stored.read_positions(Store(store, create=False), outcome.snapshot_id)
    return out


def _candidates(book: Book, protocol: str) -> set[str]:
    mine = {b.address.lower() for b in book.borrowers if b.protocol == protocol}
    return mine | ({book.emode_user, book.repaid_user, book.supplier} if protocol == "aave-v3" else set())


def check_aave(book: Book, protocol: str, rows: pd.DataFrame, block: int, extra: set[str] = frozenset()) -> None:
    w3, pool = book.devchain.chain.w3, expand_offline(registry().find("devchain", protocol), {})[0].address("pool")
    market = book.devchain.v3 if protocol == "aave-v3" else book.devchain.v2
    account_data = (POOL_V3 if protocol == "aave-v3" else POOL_V2).fn("getUserAccountData")
    with_debt = set()
    for account in _candidates(book, protocol) | extra:
        collateral, debt, _, _, _, health = call(w3, pool, account_data, (account,), block)
        mine = rows[rows["account"] == account]
        if debt == 0:
            assert mine.empty, account
            continue
        with_debt.add(account)
        assert set(mine["account_collateral_raw"]) == {str(collateral)}
        assert set(mine["account_debt_raw"]) == {str(debt)}
        assert set(mine["health_factor_raw"]) == {str(health)}
        for row in mine.itertuples():
            reserve = next(r for r in market.reserves.values() if r.underlying.lower() == row.asset)
            if row.uses_as_collateral:
                assert row.collateral_raw == str(call(w3, reserve.a_token, SCALED.fn("balanceOf"), (account,),
                                                      block)[0])
            assert row.debt_raw == str(call(w3, reserve.variable_debt_token, SCALED.fn("balanceOf"), (account,),
                                            block)[0])
    assert set(rows["account"]) == with_debt and len(with_debt) >= 4


def check_venus(book: Book, rows: pd.DataFrame, block: int) -> None:
    w3, comptroller = book.devchain.chain.w3, registry().find("devchain", "venus")[0].address("comptroller")
    for account in _candidates(book, "venus"):
        _, liquidity, shortfall = call(w3, comptroller, COMPTROLLER.fn("getAccountLiquidity"), (account,), block)
        mine = rows[rows["account"] == account]
        collateral, debt = int(mine["account_collateral_raw"].iloc[0]), int(mine["account_debt_raw"].iloc[0])
        assert (liquidity, shortfall) == (max(0, collateral - debt), max(0, debt - collateral))
        assert mine["health_factor_raw"].iloc[0] == str(collateral * MANTISSA // debt)
        for row in mine.itertuples():
            _, vtokens, borrowed, rate = call(w3, row.asset, CTOKEN.fn("getAccountSnapshot"), (account,), block)
            assert (row.collateral_raw, row.debt_raw) == (str(vtokens * rate // MANTISSA), str(borrowed))


def check_morpho(book: Book, rows: pd.DataFrame, block: int) -> None:
    w3, morpho = book.devchain.chain.w3, registry().find("devchain", "morpho-blue")[0].address("morpho")
    assert not rows.empty
    for (market, account), mine in rows.groupby(["market_id", "account"]):
        _, shares, collateral = call(w3, morpho, MORPHO.fn("position"), (bytes.fromhex(market[2:]), account), block)
        _, _, assets, total_shares, _, _ = call(w3, morpho, MORPHO.fn("market"), (bytes.fromhex(market[2:]),), block)
        debt = mine[mine["debt_raw"] != "0"].iloc[0]
        posted = mine[mine["uses_as_collateral"]].iloc[0]
        assert (debt["debt_balance_raw"], debt["debt_raw"]) == (str(shares), str(to_assets_up(shares, assets,
                                                                                                 total_shares)))
        assert posted["collateral_raw"] == str(collateral)
    assert set(rows["account"]) == _candidates(book, "morpho-blue")


def _check_all(book: Book, taken: dict[str, pd.DataFrame], block: int, extra: set[str] = frozenset()) -> None:
    check_aave(book, "aave-v3", taken["aave-v3"], block, extra)
    check_aave(book, "aave-v2", taken["aave-v2"], block)
    check_venus(book, taken["venus"], block)
    check_morpho(book, taken["morpho-blue"], block)


def test_every_account_equals_the_protocol_views_and_accounts_without_debt_are_absent(book, tmp_path) -> None:
    block = book.devchain.chain.w3.eth.block_number
    taken = _take(book, tmp_path / "s.duckdb", block)
    _check_all(book, taken, block)
    v3 = taken["aave-v3"]
    assert book.repaid_user not in set(v3["account"]) and book.supplier not in set(v3["account"])
    emode = v3[v3["account"] == book.emode_user].set_index("symbol")
    assert set(emode["emode_category"]) == {EMODE[0]}
    assert emode.loc["USDC", "liquidation_threshold_raw"] == str(EMODE[2] * 10**14)  # the category's, not 80 %
    assert emode.loc["WETH", "liquidation_threshold_raw"] == str(8300 * 10**14)  # not in the category
    assert (v3["block_number"] == block).all() and (v3["read_block"] == block).all()
    assert v3["block_hash"].iloc[0] == book.devchain.chain.w3.eth.get_block(block)["hash"].to_0x_hex()


def test_a_later_snapshot_reads_only_the_accounts_with_events_since_and_still_equals_the_views(book, tmp_path) -> None:
    devchain, store = book.devchain, tmp_path / "s.duckdb"
    first = devchain.chain.w3.eth.block_number
    before = _take(book, store, first)
    reverting = devchain.snapshot()
    try:
        v3_borrower = next(b for b in book.borrowers if b.protocol == "aave-v3")
        devchain.v3.borrow(v3_borrower.address, "USDC", devchain.to_raw("USDC", "50"))
        newcomer = devchain.accounts[15]
        devchain.fund_and_supply(devchain.v3, newcomer, {"WETH": "2"})
        devchain.v3.borrow(newcomer, "USDC", devchain.to_raw("USDC", "1000"))
        OracleDriver(devchain).move({"ETH": Decimal("2900"), "BTC": Decimal(60000)})  # carried accounts revalued
        second = devchain.mine(2)
        after = _take(book, store, second)
        records = {r.protocol: r for r in stored.snapshots(Store(store, create=False)) if r.block_number == second}
        v3 = records["aave-v3"]
        assert v3.base_snapshot_id == stored.snapshot_id(31337, "aave-v3", "devchain", first)
        assert (v3.accounts_read, v3.accounts_carried) == (2, before["aave-v3"]["account"].nunique() - 1)
        reread = set(after["aave-v3"].loc[after["aave-v3"]["read_block"] == second, "account"])
        assert reread == {v3_borrower.address.lower(), newcomer.lower()}
        assert records["venus"].accounts_read == 0 and records["morpho-blue"].accounts_read == 0
        _check_all(book, after, second, extra={newcomer.lower()})
        assert after["aave-v3"]["price_raw"].tolist() != before["aave-v3"]["price_raw"].tolist()
    finally:
        devchain.revert(reverting)


def test_a_snapshot_killed_midway_resumes_to_the_same_rows(book, tmp_path) -> None:
    block = book.devchain.chain.w3.eth.block_number
    clean = _take(book, tmp_path / "clean.duckdb", block, ("aave-v3",))["aave-v3"]
    store = tmp_path / "killed.duckdb"
    args = [sys.executable, "-m", "toolkit", "positions", "--chain", "devchain", "--protocol", "aave-v3", "--rpc",
            book.devchain.url, "--store", str(store), "--block", str(block), "--batch-accounts", "1", "--quiet"]
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    batches = 0
    while batches < 2 and (line := process.stderr.readline()):
        event = json.loads(line)
        batches += event.get("event") == "positions.progress" and event.get("phase") == "accounts"
    process.kill()
    process.wait(timeout=30)
    process.stderr.close()
    record = stored.record(Store(store, create=False), stored.snapshot_id(31337, "aave-v3", "devchain", block))
    assert record.status == "partial" and 2 <= record.accounts_done < clean["account"].nunique()
    done = subprocess.run(args, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    resumed = stored.read_positions(Store(store, create=False), record.snapshot_id)
    columns = [c for c in clean.columns if c != "run_id"]
    pd.testing.assert_frame_equal(resumed[columns], clean[columns])
    again = subprocess.run(args, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0 and json.loads(again.stdout)["status"] == "nothing_new", again.stderr  # exit 0


def test_liqtk_levels_writes_its_chart_and_warns_with_both_dates(book, tmp_path, capsys) -> None:
    from toolkit import cli

    block = book.devchain.chain.w3.eth.block_number
    store = tmp_path / "s.duckdb"
    _take(book, store, block)

    def liqtk(*args: str) -> int:
        try:
            cli.main(list(args))
        except SystemExit as done:
            return int(done.code or 0)
        return 0

    assert liqtk("levels", "--store", str(tmp_path / "none.duckdb"), "--out", str(tmp_path / "x")) == 1
    assert capsys.readouterr().err.count("\n") == 1
    out = tmp_path / "levels"
    assert liqtk("levels", "--store", str(store), "--out", str(out), "--event", "2025-10-10", "--quiet") == 0
    captured = capsys.readouterr()
    warning = next(json.loads(line) for line in captured.err.splitlines() if "levels.warning" in line)
    assert "2025-01-01" in warning["message"] and "2025-10-09" in warning["message"]
    record = json.loads(captured.out)
    assert record["asset"] == "WETH" and len(record["snapshots"]) == 4
    assert {p.name for p in out.iterdir()} >= {"levels.png", "levels.png.manifest.json", "levels.csv",
                                                "venue_levels.csv", "level_accounts.csv"}
    manifest = json.loads((out / "levels.png.manifest.json").read_text())
    assert manifest["block_ranges"] == [{"chain_id": 31337, "first_block": block, "last_block": block,
                                         "first_block_hash": manifest["block_ranges"][0]["first_block_hash"],
                                         "last_block_hash": manifest["block_ranges"][0]["first_block_hash"]}]
