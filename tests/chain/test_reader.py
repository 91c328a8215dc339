"""The reader contract: committed code = what the pinned solc compiles; one eth_call on a real anvil runs
plain, dependent (patched), failing and isolated calls, and says which block context and override it saw.

Expected values come from the contracts themselves through web3 (separate eth_calls), never from the reader."""

from __future__ import annotations

import json

import pytest
from eth_abi import decode, encode
from eth_utils import keccak

from toolkit.abi import load_abi
from toolkit.chain.reader import (READER_ADDRESS, Patch, ReaderCall, argument_offset, encode_run, read,
                                  runtime_code)
from toolkit.chain.rpc import RpcClient
from toolkit.devchain.reader_build import ARTIFACT, compile_reader

POOL = load_abi("aave-v3/Pool.json")
PROVIDER = load_abi("aave-v3/PoolAddressesProvider.json")
ORACLE = load_abi("aave-v3/AaveOracle.json")
ERC20 = load_abi("common/ERC20.json")


@pytest.mark.node
def test_committed_code_is_what_the_pinned_solc_compiles(tmp_path) -> None:
    committed = json.loads(ARTIFACT.read_text())
    assert compile_reader(cache_dir=tmp_path) == committed
    assert committed["compiler"].startswith("npm solc 0.8.37")
    assert runtime_code() == committed["deployedBytecode"]


def test_a_patch_must_read_an_earlier_call() -> None:
    with pytest.raises(ValueError, match="does not run before it"):
        encode_run([ReaderCall(READER_ADDRESS, b"", (Patch(source=0),))])


@pytest.mark.node
async def test_one_eth_call_runs_plain_dependent_failing_and_isolated_calls(devchain) -> None:
    v3, w3 = devchain.v3, devchain.chain.w3
    block = w3.eth.block_number
    pool = v3.pool.address
    weth, wbtc = v3.reserve("WETH").underlying, v3.reserve("WBTC").underlying
    users = devchain.accounts[1:6]
    probe_user = "0x00000000000000000000000000000000000b0b01"
    calls = [ReaderCall(pool, POOL.fn("getUserAccountData").encode(user)) for user in users]
    first = len(calls)
    calls += [
        ReaderCall(pool, POOL.fn("ADDRESSES_PROVIDER").encode()),                                    # first
        ReaderCall("0x" + "00" * 20, PROVIDER.fn("getPriceOracle").encode(), (Patch(first),)),        # +1: target patched
        ReaderCall("0x" + "00" * 20, ORACLE.fn("getAssetPrice").encode(weth), (Patch(first + 1),)),  # +2
        ReaderCall(pool, keccak(b"getReservesList()")[:4]),                                       # +3
        # +4: target and argument patched: the price of reserves[1] (word 3 of the address[] answer:
        # offset, length, reserves[0], reserves[1])
        ReaderCall("0x" + "00" * 20, ORACLE.fn("getAssetPrice").encode("0x" + "00" * 20),
                   (Patch(first + 1), Patch(first + 3, word=3, offset=argument_offset(0)))),          # +4
        ReaderCall(pool, POOL.fn("getUserAccountData").encode(users[0])[:-1]),                       # +5: bad calldata
        ReaderCall("0x" + "00" * 20, b"", (Patch(first + 5),)),                                      # +6: source failed
        ReaderCall(wbtc, bytes.fromhex("40c10f19") + encode(["address", "uint256"], [probe_user, 7]),
                   isolated=True),                                                                  # +7: mint, undone
        ReaderCall(wbtc, ERC20.fn("balanceOf").encode(probe_user)),                                 # +8
        ReaderCall(wbtc, bytes.fromhex("40c10f19") + encode(["address", "uint256"], [probe_user, 7])),  # +9: static
    ]
    async with RpcClient(devchain.url) as client:
        answer = await read(client, calls, block, block_override={"number": hex(block + 1), "time": hex(4_000_000_000)})
        plain = await read(client, calls[:first], block)
        assert client.stats.rpc_calls == 2
    assert answer.override_applied and plain.override_applied
    assert (answer.block_number, answer.timestamp) == (block + 1, 4_000_000_000)
    assert plain.block_number == block and plain.timestamp == w3.eth.get_block(block)["timestamp"]
    results = answer.results
    for user, (ok, data) in zip(users, plain.results):
        assert ok and decode(["uint256"] * 6, data) == tuple(v3.pool.functions.getUserAccountData(user).call(
            block_identifier=block))
    provider = v3.pool.functions.ADDRESSES_PROVIDER().call(block_identifier=block)
    assert decode(["address"], results[first][1])[0] == provider.lower()
    assert decode(["address"], results[first + 1][1])[0] == v3.oracle.address.lower()
    assert decode(["uint256"], results[first + 2][1])[0] == v3.price("WETH", block)
    reserves = v3.pool.functions.getReservesList().call(block_identifier=block)
    assert results[first + 4] == (True, encode(["uint256"], [v3.oracle.functions.getAssetPrice(reserves[1]).call(
        block_identifier=block)]))
    assert results[first + 5][0] is False and results[first + 6] == (False, b"")
    assert results[first + 7][0] is True  # the mint ran ...
    assert results[first + 8] == (True, encode(["uint256"], [0]))  # ... and was undone
    assert results[first + 9][0] is False  # a write in a static call fails


def test_programs_are_cut_without_separating_a_call_from_its_sources() -> None:
    from toolkit.chain.programs import cut_program as _pieces
    from toolkit.chain.programs import sub_program as _local

    def call(*sources: int) -> tuple[str, bytes, tuple[Patch, ...]]:
        return ("0x" + "00" * 20, b"", tuple(Patch(s) for s in sources))

    program = [call(), call(0), call(), call(2), call(1, 3), call(), call(), call(6)]
    pieces = _pieces(program, 3)
    assert sorted(i for piece in pieces for i in piece) == list(range(len(program)))
    assert [0, 1, 2, 3, 4] in pieces  # one connected group, larger than 3, stays whole
    assert all(len(piece) <= 3 for piece in pieces if piece != [0, 1, 2, 3, 4])
    for piece in pieces:
        local = _local(program, piece)
        assert [len(patches) for _, _, patches in local] == [len(program[i][2]) for i in piece]
        assert all(p.source < position for position, (_, _, patches) in enumerate(local) for p in patches)
