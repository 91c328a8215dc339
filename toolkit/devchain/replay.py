"""Replay mainnet logs onto a local anvil chain at their real addresses, with fixture state answers.

For protocols the devchain cannot deploy from npm artifacts (Comet, Maker, Liquity, Euler), a test
re-emits the original logs -- the same emitter address, topics and data -- from small stub
contracts, then pulls them back through the normal ``eth_getLogs`` path of the pipeline. The state
reads an adapter makes (``eth_call`` at the block before) are answered by the same stubs from
fixture data. Nothing here is protocol code: the chain only reproduces logs and answers.

Contracts (``contracts/LogReplay.sol``, compiled with npm solc):

* ``ReplayStub``, installed with ``anvil_setCode`` at every address that emits a log or is read:
  ``replayEmit(bytes32[] topics, bytes data)`` emits one log (0-4 topics, so anonymous logs too);
  any other calldata is answered with the return data stored for exactly that calldata, and reverts
  with ``replay: no fixture answer`` when none is stored.
* ``ReplayDriver``, installed at :data:`DRIVER_ADDRESS`: one transaction makes several stubs emit
  in order, so all logs of one original transaction land in one replayed transaction.

API (stable)::

    from toolkit.devchain.replay import Replayer, load_fixture

    fixture = load_fixture(Path("fixtures/replays/compound-v3/absorbs.json"))
    replayer = Replayer(chain)                  # chain: toolkit.devchain.chain.Chain on anvil
    result = replayer.run(fixture.steps)        # state answers and logs, in the fixture's order
    replayed = result.tx(original_tx_hash)      # ReplayedTransaction: tx_hash, block_number, log_indexes
    result.first_block, result.last_block       # the blocks that hold the replayed logs

Start the anvil node with the chain id of the original logs (``start_anvil(chain_id=1)`` for Ethereum
mainnet): the pipeline then pulls the replayed logs through the registry's real deployments at their
real addresses (pass ``from_block=0``: the registry's start blocks lie beyond a fresh local chain).

Lower level: :meth:`Replayer.set_answers` (a list of :class:`StateAnswer`, built with
:func:`answer` from a function signature and typed values, or raw calldata/return data) and
:meth:`Replayer.replay` (a list of :class:`ReplayLog`). :func:`event_log` builds a log from an
:class:`~toolkit.abi.EventSpec` and values, for fixtures constructed from real event signatures.

Grouping: logs are replayed in (original block, transaction index, log index) order; each original
transaction becomes one replayed transaction and each original block one replayed block (automine
is paused while a block's transactions are sent). Block numbers, hashes, timestamps, transaction
hashes and log indexes are the local chain's; :class:`ReplayResult` maps the original ones to them.
Answers set in a step are in force from the next block on, so an adapter reading at
``block_number - 1`` of a replayed log sees the answers of every earlier step.

Fixture JSON (one file per scenario; keys not listed here, e.g. ``expected``, are left to tests)::

    {"provenance": "captured" | "constructed", "source": "...",
     "steps": [
       {"state": [{"to": "0x..", "function": "getPrice(address)", "args": ["0x.."],
                   "returns": ["uint256"], "values": ["100000000"]},
                  {"to": "0x..", "calldata": "0x..", "returndata": "0x.."},
                  {"to": "0x..", "function": "decimals()", "reverts": true}]},
       {"logs": [{"address": "0x..", "topics": ["0x.."], "data": "0x..", "blockNumber": 123,
                  "transactionHash": "0x..", "transactionIndex": 4, "logIndex": 17}]}]}

Integers in ``args``/``values`` are JSON integers or base-10 strings (exact at any size); numeric
log fields may be JSON-RPC hex quantities or integers. Every entry may carry a ``note``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eth_abi import encode
from eth_utils import keccak, to_checksum_address
from web3.types import RPCEndpoint

from toolkit.abi import EventSpec
from toolkit.devchain.chain import Chain
from toolkit.devchain.solc import CompiledContract, compile_contract
from toolkit.errors import ToolkitError, UserInputError

#: Solidity source of the stub and the driver.
REPLAY_SOURCE = Path(__file__).resolve().parent / "contracts" / "LogReplay.sol"
#: Where the driver is installed (no deployment, so no account nonce changes): a synthetic address.
DRIVER_ADDRESS = "0x7e91a70000000000000000000000000000000001"

_EMIT_SELECTOR = keccak(text="replayEmit(bytes32[],bytes)")[:4]
_SET_SELECTOR = keccak(text="replaySetAnswers(bytes[],bytes[],bool[])")[:4]
_DRIVER_SELECTOR = keccak(text="replay(address[],bytes32[][],bytes[])")[:4]


class ReplayError(ToolkitError):
    """A replay could not be set up or did not reproduce the logs."""


@dataclass(frozen=True)
class ReplayLog:
    """One log to re-emit, with its original position (for grouping and for mapping results)."""

    address: str
    topics: tuple[str, ...]
    data: str
    tx_hash: str
    block_number: int
    tx_index: int
    log_index: int

    @classmethod
    def from_json(cls, entry: dict[str, Any]) -> ReplayLog:
        """From an ``eth_getLogs``-style object (hex quantities or integers)."""
        try:
            topics = tuple(str(t).lower() for t in entry["topics"])
            return cls(address=str(entry["address"]).lower(), topics=topics, data=str(entry["data"]).lower(),
                       tx_hash=str(entry["transactionHash"]).lower(), block_number=_quantity(entry["blockNumber"]),
                       tx_index=_quantity(entry.get("transactionIndex", 0)),
                       log_index=_quantity(entry["logIndex"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise UserInputError(f"fixture log is malformed ({exc!r}): {json.dumps(entry)[:200]}") from None


@dataclass(frozen=True)
class StateAnswer:
    """What a stub at ``to`` returns for ``calldata``; ``returndata`` None makes the call revert."""

    to: str
    calldata: bytes
    returndata: bytes | None


@dataclass(frozen=True)
class ReplayedTransaction:
    """One original transaction as replayed: ``log_indexes[k]`` is the local log index of ``logs[k]``."""

    original_tx_hash: str
    tx_hash: str
    block_number: int
    block_hash: str
    logs: tuple[ReplayLog, ...]
    log_indexes: tuple[int, ...]


@dataclass
class ReplayResult:
    """Every replayed transaction, in order."""

    transactions: list[ReplayedTransaction] = field(default_factory=list)

    def tx(self, original_tx_hash: str) -> ReplayedTransaction:
        """The replay of the original transaction ``original_tx_hash``."""
        for item in self.transactions:
            if item.original_tx_hash == original_tx_hash.lower():
                return item
        raise KeyError(f"transaction {original_tx_hash} was not replayed")

    @property
    def first_block(self) -> int:
        return min(t.block_number for t in self.transactions)

    @property
    def last_block(self) -> int:
        return max(t.block_number for t in self.transactions)


@dataclass(frozen=True)
class ReplayFixture:
    """A fixture file: its steps (``("state", [StateAnswer])`` or ``("logs", [ReplayLog])``) and raw JSON."""

    path: Path
    steps: tuple[tuple[str, tuple[Any, ...]], ...]
    #: The whole JSON document, with the keys tests read (``expected``, ``source``, notes).
    document: dict[str, Any]


# -- building answers and logs --------------------------------------------------------------------


def _quantity(value: Any) -> int:
    if isinstance(value, bool):
        raise ValueError("boolean is not a quantity")
    if isinstance(value, int):
        return value
    text = str(value)
    return int(text, 16) if text.startswith("0x") else int(text)


def _split_types(inner: str) -> list[str]:
    """Top-level comma split of a type list: ``"uint8,(address,uint64)[],bool"``."""
    parts, depth, current = [], 0, ""
    for char in inner:
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
            continue
        depth += {"(": 1, ")": -1}.get(char, 0)
        current += char
    if current:
        parts.append(current)
    return parts


def _coerce(abi_type: str, value: Any) -> Any:
    """A fixture JSON value as eth-abi wants it for ``abi_type`` (ints from base-10 strings, bytes from hex)."""
    if abi_type.endswith("]"):
        element = abi_type[:abi_type.rindex("[")]
        return [_coerce(element, item) for item in value]
    if abi_type.startswith("("):
        components = _split_types(abi_type[1:-1])
        if len(components) != len(value):
            raise UserInputError(f"fixture value for {abi_type} has {len(value)} fields, expected {len(components)}")
        return tuple(_coerce(t, v) for t, v in zip(components, value))
    if abi_type.startswith(("uint", "int")):
        if isinstance(value, bool) or not isinstance(value, int | str):
            raise UserInputError(f"fixture value {value!r} for {abi_type} is not an integer or base-10 string")
        return int(value)
    if abi_type.startswith("bytes"):
        return bytes.fromhex(str(value).removeprefix("0x"))
    if abi_type == "address":
        return to_checksum_address(value)
    return value


def _signature_types(signature: str) -> list[str]:
    if "(" not in signature or not signature.endswith(")"):
        raise UserInputError(f"fixture function {signature!r} is not a signature like name(type,...)")
    return _split_types(signature[signature.index("(") + 1:-1])


def answer(to: str, signature: str, args: Sequence[Any] = (), returns: Sequence[str] = (),
           values: Sequence[Any] = (), *, reverts: bool = False) -> StateAnswer:
    """The answer of ``to.signature(args)``: ``values`` ABI-encoded as ``returns``, or a revert."""
    input_types = _signature_types(signature)
    if len(input_types) != len(args):
        raise UserInputError(f"fixture call {signature} has {len(args)} arguments, expected {len(input_types)}")
    calldata = keccak(text=signature)[:4] + encode(input_types, [_coerce(t, a) for t, a in zip(input_types, args)])
    if reverts:
        return StateAnswer(to.lower(), calldata, None)
    if len(returns) != len(values):
        raise UserInputError(f"fixture answer of {signature} has {len(values)} values for {len(returns)} types")
    return StateAnswer(to.lower(), calldata, encode(list(returns), [_coerce(t, v) for t, v in zip(returns, values)]))


def answer_from_json(entry: dict[str, Any]) -> StateAnswer:
    """A :class:`StateAnswer` from one fixture ``state`` entry (typed or raw, see the module docstring)."""
    if "to" not in entry:
        raise UserInputError(f"fixture state entry has no 'to': {json.dumps(entry)[:200]}")
    if "calldata" in entry:
        returndata = None if entry.get("reverts") else bytes.fromhex(str(entry["returndata"]).removeprefix("0x"))
        return StateAnswer(str(entry["to"]).lower(), bytes.fromhex(str(entry["calldata"]).removeprefix("0x")),
                           returndata)
    if "function" not in entry:
        raise UserInputError(f"fixture state entry needs 'function' or 'calldata': {json.dumps(entry)[:200]}")
    return answer(entry["to"], entry["function"], entry.get("args", []), entry.get("returns", []),
                  entry.get("values", []), reverts=bool(entry.get("reverts")))


def event_log(spec: EventSpec, address: str, values: dict[str, Any], *, tx_hash: str, block_number: int,
              log_index: int, tx_index: int = 0) -> dict[str, Any]:
    """An ``eth_getLogs``-style log of event ``spec`` with ``values`` (every input by name).

    For fixtures constructed from real event signatures; indexed dynamic types are not supported.
    """
    missing = [name for name, _, _ in spec.inputs if name not in values]
    if missing:
        raise UserInputError(f"{spec.name} needs values for {', '.join(missing)}")
    topics = [spec.topic0]
    for name, abi_type in spec.indexed:
        topics.append("0x" + encode([abi_type], [_coerce(abi_type, values[name])]).hex())
    data_types = [t for _, t in spec.data_inputs]
    data = encode(data_types, [_coerce(t, values[n]) for n, t in spec.data_inputs])
    return {"address": address.lower(), "topics": topics, "data": "0x" + data.hex(), "blockNumber": block_number,
            "transactionHash": tx_hash.lower(), "transactionIndex": tx_index, "logIndex": log_index}


def load_fixture(path: Path) -> ReplayFixture:
    """Read a fixture JSON file (format in the module docstring)."""
    try:
        document = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise UserInputError(f"cannot read replay fixture {path}: {exc}") from None
    if document.get("provenance") not in ("captured", "constructed"):
        raise UserInputError(f"replay fixture {path} must say provenance 'captured' or 'constructed'")
    steps: list[tuple[str, tuple[Any, ...]]] = []
    for k, step in enumerate(document.get("steps", [])):
        if "state" in step:
            steps.append(("state", tuple(answer_from_json(e) for e in step["state"])))
        elif "logs" in step:
            steps.append(("logs", tuple(ReplayLog.from_json(e) for e in step["logs"])))
        else:
            raise UserInputError(f"replay fixture {path} step {k} has neither 'state' nor 'logs'")
    return ReplayFixture(Path(path), tuple(steps), document)


# -- the chain side -------------------------------------------------------------------------------


def compile_replay_contracts() -> tuple[CompiledContract, CompiledContract]:
    """``(ReplayStub, ReplayDriver)`` compiled with npm solc (cached after the first compilation)."""
    return compile_contract(REPLAY_SOURCE, "ReplayStub"), compile_contract(REPLAY_SOURCE, "ReplayDriver")


class Replayer:
    """Installs stubs on an anvil chain and replays logs and state answers onto it.

    :param chain: the local chain (anvil: ``anvil_setCode`` and ``evm_setAutomine`` are used).
    :param sender: unlocked account that sends the replay transactions (default: the last one, so
        the deployer's nonce, and with it every deterministic devchain address, stays untouched).
    """

    def __init__(self, chain: Chain, sender: str | None = None) -> None:
        self.chain = chain
        self.sender = sender or chain.accounts[-1]
        stub, driver = compile_replay_contracts()
        self._stub_code = stub.deployed_bytecode.lower()
        self._set_code(DRIVER_ADDRESS, driver.deployed_bytecode)
        self._stubs: set[str] = set()

    def _rpc(self, method: str, params: list[Any]) -> Any:
        return self.chain.w3.manager.request_blocking(RPCEndpoint(method), params)

    def _set_code(self, address: str, code: str) -> None:
        self._rpc("anvil_setCode", [to_checksum_address(address), code])

    def install(self, addresses: Iterable[str]) -> None:
        """Put a stub at each address (idempotent); refuses an address that holds other code."""
        for address in sorted({a.lower() for a in addresses} - self._stubs):
            existing = self.chain.w3.eth.get_code(to_checksum_address(address)).hex().removeprefix("0x")
            if existing and "0x" + existing != self._stub_code:
                raise ReplayError(f"{address} already holds other code; a replay only installs stubs at empty addresses")
            self._set_code(address, self._stub_code)
            self._stubs.add(address)

    def set_answers(self, answers: Sequence[StateAnswer]) -> None:
        """Store the answers (one transaction per stub address, in first-seen order)."""
        by_address: dict[str, list[StateAnswer]] = {}
        for item in answers:
            by_address.setdefault(item.to, []).append(item)
        self.install(by_address)
        for address, items in by_address.items():
            payload = _SET_SELECTOR + encode(
                ["bytes[]", "bytes[]", "bool[]"],
                [[i.calldata for i in items], [i.returndata or b"" for i in items], [i.returndata is None for i in items]])
            self.chain.send(self.sender, "0x" + payload.hex(), to=to_checksum_address(address))

    def replay(self, logs: Sequence[ReplayLog]) -> ReplayResult:
        """Re-emit ``logs``: one transaction per original transaction, one block per original block."""
        self.install(log.address for log in logs)
        ordered = sorted(logs, key=lambda x: (x.block_number, x.tx_index, x.log_index))
        blocks: dict[int, dict[str, list[ReplayLog]]] = {}
        for log in ordered:
            blocks.setdefault(log.block_number, {}).setdefault(log.tx_hash, []).append(log)
        result = ReplayResult()
        for transactions in blocks.values():
            result.transactions.extend(self._replay_block(transactions))
        return result

    def run(self, steps: Sequence[tuple[str, Sequence[Any]]]) -> ReplayResult:
        """Apply fixture steps in order (:attr:`ReplayFixture.steps`); the replayed logs of all steps."""
        result = ReplayResult()
        for kind, items in steps:
            if kind == "state":
                self.set_answers(list(items))
            else:
                result.transactions.extend(self.replay(list(items)).transactions)
        return result

    def _replay_block(self, transactions: dict[str, list[ReplayLog]]) -> list[ReplayedTransaction]:
        hashes: list[str] = []
        self._rpc("evm_setAutomine", [False])
        try:
            for logs in transactions.values():
                payload = _DRIVER_SELECTOR + encode(
                    ["address[]", "bytes32[][]", "bytes[]"],
                    [[to_checksum_address(x.address) for x in logs],
                     [[bytes.fromhex(t.removeprefix("0x")) for t in x.topics] for x in logs],
                     [bytes.fromhex(x.data.removeprefix("0x")) for x in logs]])
                tx = {"from": self.sender, "to": to_checksum_address(DRIVER_ADDRESS), "data": "0x" + payload.hex(),
                      "gas": hex(200_000 + 60_000 * len(logs) + 40 * sum(len(x.data) for x in logs))}
                hashes.append(self._rpc("eth_sendTransaction", [tx]))
            self._rpc("evm_mine", [])
        finally:
            self._rpc("evm_setAutomine", [True])
        replayed = []
        for tx_hash, (original, logs) in zip(hashes, transactions.items()):
            receipt = self.chain.w3.eth.get_transaction_receipt(tx_hash)
            if receipt["status"] != 1:
                raise ReplayError(f"replay of transaction {original} reverted")
            got = [(log["address"].lower(), tuple("0x" + t.hex().removeprefix("0x") for t in log["topics"]),
                    "0x" + log["data"].hex().removeprefix("0x")) for log in receipt["logs"]]
            want = [(x.address, x.topics, x.data) for x in logs]
            if got != want:
                raise ReplayError(f"replay of transaction {original} emitted other logs than the fixture's")
            replayed.append(ReplayedTransaction(
                original_tx_hash=original, tx_hash="0x" + receipt["transactionHash"].hex().removeprefix("0x"),
                block_number=receipt["blockNumber"], block_hash="0x" + receipt["blockHash"].hex().removeprefix("0x"),
                logs=tuple(logs), log_indexes=tuple(log["logIndex"] for log in receipt["logs"])))
        return replayed
