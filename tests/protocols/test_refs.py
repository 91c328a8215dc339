"""Refs of typed calls become the reader contract's patches: where each word goes, in which order."""

from __future__ import annotations

import pytest
from eth_abi import decode

from toolkit.abi import load_abi
from toolkit.chain.reader import TARGET, Patch
from toolkit.protocols.base import Call, Ref, _encode, _ordered

IRM = load_abi("morpho-blue/IIrm.json")
ORACLE = load_abi("aave-v3/AaveOracle.json")
ERC20 = load_abi("common/ERC20.json")
A, B = "0x" + "11" * 20, "0x" + "22" * 20


def test_target_argument_and_static_tuple_members() -> None:
    index = {"oracle": 0, "market": 1}
    block, to, data, patches = _encode(Call(7, Ref("oracle"), ORACLE.fn("getAssetPrice"), (Ref("market", 3),)), index)
    assert (block, to) == (7, "0x" + "00" * 20)
    assert patches == (Patch(0, 0, TARGET), Patch(1, 3, 4))
    assert data[:4] == ORACLE.fn("getAssetPrice").selector and data[4:] == bytes(32)
    params = (A, B, A, B, 860)
    _, _, data, patches = _encode(Call(7, A, IRM.fn("borrowRateView"), (params, tuple(Ref("market", w) for w in range(6)))),
                                  index)
    assert patches == tuple(Patch(1, w, 4 + 32 * (5 + w)) for w in range(6))
    assert decode(["(address,address,address,address,uint256)", "(uint128,uint128,uint128,uint128,uint128,uint128)"],
                  data[4:]) == (tuple(p.lower() if isinstance(p, str) else p for p in params), (0,) * 6)


def test_sources_come_first_and_cycles_are_refused() -> None:
    calls = {"price": Call(1, Ref("oracle"), ORACLE.fn("getAssetPrice"), (A,)),
             "oracle": Call(1, Ref("provider"), ERC20.fn("symbol")), "provider": Call(1, A, ERC20.fn("symbol"))}
    assert _ordered(calls) == ["provider", "oracle", "price"]
    with pytest.raises(ValueError, match="cycle"):
        _ordered({"a": Call(1, Ref("b"), ERC20.fn("symbol")), "b": Call(1, Ref("a"), ERC20.fn("symbol"))})
    with pytest.raises(ValueError, match="not a call of the same read"):
        _ordered({"a": Call(1, Ref("elsewhere"), ERC20.fn("symbol"))})
