"""The test tools of this suite: npm-solc compilation with its cache, and the fault proxy's pass-through."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from toolkit.chain.rpc import RpcClient
from toolkit.devchain.emitter import EMITTER_SOURCE
from fault_proxy import FaultProxy
from toolkit.devchain.solc import SolcError, compile_contract
from toolkit.errors import ToolkitError

LIB = ("// SPDX-License-Identifier: MIT\npragma solidity ^0.8.19;\n"
       "library Twice {{ function f(uint x) internal pure returns (uint) {{ return x * {k}; }} }}\n")
MAIN = ('// SPDX-License-Identifier: MIT\npragma solidity ^0.8.19;\nimport "./lib/Twice.sol";\n'
        "contract UsesTwice { function g(uint x) external pure returns (uint) { return Twice.f(x); } }\n")


@pytest.mark.node  # solc-js from node_modules
def test_imports_resolve_and_the_cache_tracks_imported_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "Twice.sol").write_text(LIB.format(k=2))
    (tmp_path / "UsesTwice.sol").write_text(MAIN)
    cache = tmp_path / "cache"
    cache.mkdir()
    first = compile_contract(tmp_path / "UsesTwice.sol", "UsesTwice", cache_dir=cache)
    assert first.abi[0]["name"] == "g" and first.bytecode.startswith("0x60")

    def no_compiler(*args: object, **kwargs: object) -> None:
        raise AssertionError("expected a cache hit")

    monkeypatch.setattr(subprocess, "run", no_compiler)
    assert compile_contract(tmp_path / "UsesTwice.sol", "UsesTwice", cache_dir=cache) == first
    monkeypatch.undo()

    (tmp_path / "lib" / "Twice.sol").write_text(LIB.format(k=3))  # an edited import recompiles
    assert compile_contract(tmp_path / "UsesTwice.sol", "UsesTwice", cache_dir=cache).bytecode != first.bytecode


@pytest.mark.node  # solc-js from node_modules
def test_both_npm_compilers_build_the_emitter(tmp_path: Path) -> None:
    new = compile_contract(EMITTER_SOURCE, "LiquidationCallEmitter", cache_dir=tmp_path)
    old = compile_contract(EMITTER_SOURCE, "LiquidationCallEmitter", solc_package="solc-0.8.19", cache_dir=tmp_path)
    assert new.abi == old.abi and new.bytecode != old.bytecode


@pytest.mark.node  # solc-js from node_modules
def test_a_compile_error_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "Broken.sol").write_text("pragma solidity ^0.8.19;\ncontract Broken { function f() { } }\n")
    with pytest.raises(SolcError, match="compilation failed") as caught:
        compile_contract(tmp_path / "Broken.sol", "Broken", cache_dir=tmp_path)
    assert "\n" not in str(caught.value)


def test_the_proxy_only_forwards_to_loopback() -> None:
    with pytest.raises(ToolkitError, match="loopback"):
        FaultProxy("http://node.example.invalid:8545")


@pytest.mark.node
async def test_the_proxy_passes_single_calls_and_batches_through_unchanged(log_chain) -> None:
    requests = [("eth_getBlockByNumber", [hex(n), True]) for n in range(log_chain.start, log_chain.start + 30)]
    requests.append(("eth_getLogs", [log_chain.filter.params(log_chain.start, log_chain.end)]))
    async with RpcClient(log_chain.url) as direct:
        expected = await direct.batch(requests)
        version = await direct.client_version()
    with FaultProxy(log_chain.url) as proxy:
        async with RpcClient(proxy.url + "/any/path") as client:
            assert await client.batch(requests) == expected
            assert await client.client_version() == version
    assert proxy.stats.requests == 2 and proxy.stats.rpc_calls == 32 and not proxy.stats.faults
