"""Writing a contract's storage on anvil (``anvil_setStorageAt``): how the replays set oracle answers.

A price feed or oracle keeps its answer in a storage word; writing that word is what its owner's setter (or a new
round of the feed) would do, without a transaction. :func:`write_word` writes one 32-byte word;
:func:`mapping_slot` is where Solidity keeps ``mapping(address => ...)[key]`` declared at ``slot`` (the Solidity
documentation, "Layout of State Variables in Storage": ``keccak256(h(key) . p)`` with the key and the slot
left-padded to 32 bytes). Every write is checked once per contract by reading the answer back through the
contract's own getter (:class:`toolkit.crash.driver.OracleDriver`, :mod:`toolkit.crash.fork_driver`).
"""

from __future__ import annotations

from eth_utils import keccak
from web3 import Web3
from web3.types import RPCEndpoint


def word(value: int) -> str:
    """``value`` as a 32-byte word, ``0x`` hex (two's complement for negative int256 answers)."""
    return "0x" + (value % (1 << 256)).to_bytes(32, "big").hex()


def write_word(w3: Web3, contract: str, slot: int, value: int) -> None:
    """Set storage ``slot`` of ``contract`` to ``value``."""
    w3.manager.request_blocking(RPCEndpoint("anvil_setStorageAt"),
                                [Web3.to_checksum_address(contract), hex(slot), word(value)])


def mapping_slot(key: str, slot: int) -> int:
    """The slot of ``mapping(address => ...)[key]`` declared at ``slot``."""
    return int.from_bytes(keccak(bytes.fromhex(key[2:].rjust(64, "0")) + slot.to_bytes(32, "big")), "big")


def mine(w3: Web3, blocks: int = 1) -> int:
    """Mine ``blocks`` blocks (``anvil_mine``); the head's number."""
    w3.manager.request_blocking(RPCEndpoint("anvil_mine"), [hex(blocks)])
    return w3.eth.block_number
