"""``LiquidationCallEmitter``: a log emitter for tests and benchmarks, NOT protocol code.

The contract (``contracts/LiquidationCallEmitter.sol``) only emits events with the signature and topic0
of Aave v3's ``LiquidationCall``, with synthetic values, so a log reader can be tested on thousands
(or benchmarked on 100,000) logs without deploying a lending protocol. Nothing it emits is a
liquidation. Transactions go through :class:`toolkit.devchain.chain.Chain` (anvil's unlocked accounts).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from eth_abi import encode
from eth_utils import keccak
from web3.types import TxReceipt

from toolkit.devchain.chain import Chain
from toolkit.devchain.solc import CompiledContract, compile_contract

#: Solidity source of the emitter.
EMITTER_SOURCE = Path(__file__).resolve().parent / "contracts" / "LiquidationCallEmitter.sol"

#: Aave v3 ``Pool.LiquidationCall`` (@aave/core-v3 ``contracts/interfaces/IPool.sol``).
LIQUIDATION_CALL_SIGNATURE = "LiquidationCall(address,address,address,uint256,uint256,address,bool)"
LIQUIDATION_CALL_TOPIC0 = "0x" + keccak(text=LIQUIDATION_CALL_SIGNATURE).hex()

_EMIT_MANY_SELECTOR = keccak(text="emitMany(uint256,uint256)")[:4]


def compile_emitter() -> CompiledContract:
    """Compile the emitter with npm solc (cached after the first compilation)."""
    return compile_contract(EMITTER_SOURCE, "LiquidationCallEmitter")


def deploy_emitter(chain: Chain) -> str:
    """Deploy the emitter from the chain's deployer account; returns its address (0x, lower case)."""
    return str(chain.send(chain.deployer, compile_emitter().bytecode)["contractAddress"]).lower()


def emit_many_tx(emitter: str, sender: str, n: int, seed: int = 0) -> dict[str, Any]:
    """The ``eth_sendTransaction`` object of ``emitMany(n, seed)``.

    For putting several emitting transactions in one block: send these with automine off, then mine.
    """
    data = _EMIT_MANY_SELECTOR + encode(["uint256", "uint256"], [n, seed])
    return {"from": sender, "to": emitter, "data": "0x" + data.hex()}


def emit_many(chain: Chain, emitter: str, n: int, seed: int = 0) -> TxReceipt:
    """Emit ``n`` events in one transaction from the deployer (automine: one block); returns the receipt.

    About 4,200 gas per event (anvil 1.7.1: 4,000 events used 16.6M gas), so one transaction fits a
    30M-gas block up to ~7,000 events; 100,000 logs take 15 transactions of 7,000 or so.
    """
    tx = emit_many_tx(emitter, chain.deployer, n, seed)
    return chain.send(tx["from"], tx["data"], to=tx["to"])
