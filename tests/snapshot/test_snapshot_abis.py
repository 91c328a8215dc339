"""The ABI entries the positions snapshots and the fork keeper add, against their sources: the hand-written Morpho
entries equal the compiled package's, and the Compound v2 entries copied from Venus have the topic0s of
docs/sources/events.md#topic0-values and the same signatures as Compound's."""

from __future__ import annotations

import pytest

from toolkit.abi import load_abi
from toolkit.devchain.morpho import compile_morpho

pytestmark = [pytest.mark.node]


def _entry(abi: list[dict], name: str, kind: str) -> dict:
    return next(e for e in abi if e.get("name") == name and e["type"] == kind)


def test_hand_written_morpho_entries_equal_the_compiled_package() -> None:
    compiled = compile_morpho()
    ours = load_abi("morpho-blue/MorphoPositions.json")
    borrow = _entry(compiled["EventsLib"].abi, "Borrow", "event")
    assert ours.event("Borrow").signature == "Borrow(" + ",".join(i["type"] for i in borrow["inputs"]) + ")"
    assert [i["indexed"] for i in borrow["inputs"]] == [flag for _, _, flag in ours.event("Borrow").inputs]
    liquidate = _entry(compiled["Morpho"].abi, "liquidate", "function")
    tuple_type = "(" + ",".join(c["type"] for c in liquidate["inputs"][0]["components"]) + ")"
    assert ours.fn("liquidate").input_types == (tuple_type, *(i["type"] for i in liquidate["inputs"][1:]))


def test_compound_entries_have_the_reference_topic0() -> None:
    assert load_abi("compound-v2/CTokenPositions.json").event("RepayBorrow").topic0 == (
        "0x1a2a22cb034d26d1854bdc6666a5b91fe25efbbb5dcad3b0355478d6f5c362a1")  # docs/sources/events.md#topic0-values
