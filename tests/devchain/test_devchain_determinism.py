"""Two fresh devchains give the same addresses, blocks and transactions; stop() ends the node."""

from __future__ import annotations

from typing import Any

import pytest

from toolkit.devchain import Devchain, run_demo_scenario

pytestmark = pytest.mark.node

#: Addresses other components and docs may quote; they follow from the deployment order.
KNOWN = {
    ("tokens", "WETH"): "0x5FbDB2315678afecb367f032d93F642f64180aa3",
    ("tokens", "WBTC"): "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512",
    ("tokens", "USDC"): "0x9fE46736679d2D9a65F0992F2272dE9f3c7fa6e0",
    ("aave_v3", "pool"): "0xd8058efe0198ae9dD7D563e1b4938Dcbc86A1F81",
    ("aave_v3", "poolAddressesProvider"): "0xCf7Ed3AccA5a467e9e704C703E8D87F634fB0Fc9",
    ("aave_v2", "lendingPool"): "0x7046717d32AfcA450DC5D6e75724D4282DFAd16E",
    ("aave_v2", "lendingPoolAddressesProvider"): "0x809d550fca64d94Bd9F66E60752A544199cfAC3D",
}


def test_known_addresses(devchain: Devchain) -> None:
    addresses = devchain.addresses()
    for (section, key), expected in KNOWN.items():
        value = addresses[section][key]
        assert (value["address"] if section == "tokens" else value) == expected


def test_second_fresh_start_is_identical(
    devchain: Devchain, devchain_liquidations: list[dict[str, Any]]
) -> None:
    other = Devchain.start()
    try:
        assert other.url != devchain.url
        assert other.addresses() != devchain.addresses()  # the demo moved the WBTC feeds
        other_liquidations = run_demo_scenario(other)
        assert other.addresses() == devchain.addresses()
        assert other_liquidations == devchain_liquidations
        head = devchain_liquidations[-1]["block_number"]
        block_hash = devchain.chain.w3.eth.get_block(head)["hash"]
        assert other.chain.w3.eth.get_block(head)["hash"] == block_hash
    finally:
        other.stop()
    assert other.node.process.poll() is not None
