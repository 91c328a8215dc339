"""Send transactions to the local anvil node and deploy artifacts (sync ``web3.Web3``).

anvil's default accounts are unlocked, so every transaction goes out as ``eth_sendTransaction``
with only ``from``/``to``/``data``: anvil fills nonce, gas and fees and, in automine mode, mines
one block per transaction before answering. Nothing here signs.

Deployment is deterministic: a contract's address depends only on the deployer and its nonce, so
the same calls in the same order from the same account give the same addresses on every fresh node.
"""

from __future__ import annotations

from typing import Any

from eth_typing import ChecksumAddress
from web3 import Web3
from web3.contract import Contract
from web3.contract.contract import ContractFunction
from web3.exceptions import ContractLogicError
from web3.types import RPCEndpoint, TxReceipt

from toolkit.devchain.artifacts import ArtifactRef, LibraryRef, library_artifact
from toolkit.errors import ToolkitError


class TransactionFailed(ToolkitError):
    """A devchain transaction reverted."""


class Chain:
    """A sync web3 connection to an anvil node plus the deployer account.

    :param url: JSON-RPC URL of the node (``http://127.0.0.1:<port>``).
    :param deployer_index: index of the anvil default account that deploys and administers.
    """

    def __init__(self, url: str, *, deployer_index: int = 0) -> None:
        self.w3 = Web3(Web3.HTTPProvider(url, request_kwargs={"timeout": 30}))
        self.accounts: list[ChecksumAddress] = list(self.w3.eth.accounts)
        self.deployer: ChecksumAddress = self.accounts[deployer_index]
        self._libraries: dict[tuple[str, LibraryRef], ChecksumAddress] = {}
        #: Block in which each contract deployed through :meth:`deploy` was created.
        self.created_at: dict[ChecksumAddress, int] = {}

    # -- transactions ---------------------------------------------------------------------------

    def send(self, sender: str, data: str, to: str | None = None) -> TxReceipt:
        """Send one transaction from an unlocked account; return its receipt (status 1).

        :raises TransactionFailed: with the revert reason when the transaction reverts.
        """
        tx: dict[str, Any] = {"from": sender, "data": data}
        if to is not None:
            tx["to"] = to
        try:
            tx_hash = self.w3.manager.request_blocking(RPCEndpoint("eth_sendTransaction"), [tx])
        except ContractLogicError as exc:
            raise TransactionFailed(
                f"transaction from {sender} to {to or 'CREATE'} reverted: {exc.message}"
            ) from None
        receipt = self.w3.eth.wait_for_transaction_receipt(tx_hash, timeout=30, poll_latency=0.01)
        if receipt["status"] != 1:
            raise TransactionFailed(
                f"transaction {receipt['transactionHash'].to_0x_hex()} from {sender} "
                f"to {to or 'CREATE'} reverted (status 0)"
            )
        return receipt

    def transact(self, fn: ContractFunction, sender: str | None = None) -> TxReceipt:
        """Call a state-changing contract function from ``sender`` (default: the deployer)."""
        data = self.w3.eth.contract(abi=fn.contract_abi).encode_abi(
            fn.abi_element_identifier, args=fn.args, kwargs=fn.kwargs
        )
        return self.send(sender or self.deployer, data, to=fn.address)

    # -- deployment -----------------------------------------------------------------------------

    def deploy(self, ref: ArtifactRef, *args: Any) -> Contract:
        """Deploy ``ref`` from the deployer with constructor ``args``.

        Libraries the bytecode links are deployed first (once per chain, in sorted order).
        """
        artifact = ref.load()
        libraries = {lib: self.library(artifact.package, lib) for lib in artifact.libraries}
        factory = self.w3.eth.contract(abi=artifact.abi, bytecode=artifact.linked_bytecode(libraries))
        data = factory.constructor(*args).data_in_transaction
        receipt = self.send(self.deployer, data)
        contract = self.at(ref, receipt["contractAddress"])
        self.created_at[contract.address] = receipt["blockNumber"]
        return contract

    def library(self, package: str, ref: LibraryRef) -> ChecksumAddress:
        """Address of a linked library, deploying it (and the libraries it links) on first use."""
        key = (package, ref)
        if key not in self._libraries:
            self._libraries[key] = self.deploy(library_artifact(package, ref)).address
        return self._libraries[key]

    def libraries(self) -> dict[str, ChecksumAddress]:
        """Every library deployed so far, as ``{"<package>:<name>": address}``."""
        return {f"{package}:{ref.name}": addr for (package, ref), addr in self._libraries.items()}

    def at(self, ref: ArtifactRef, address: str) -> Contract:
        """A contract handle with the ABI of artifact ``ref`` at ``address``."""
        return self.w3.eth.contract(address=Web3.to_checksum_address(address), abi=ref.load().abi)

    # -- node control ---------------------------------------------------------------------------

    def mine(self, blocks: int = 1) -> int:
        """Mine ``blocks`` empty blocks (``anvil_mine``); return the new head number."""
        self.w3.manager.request_blocking(RPCEndpoint("anvil_mine"), [hex(blocks)])
        return self.w3.eth.block_number

    def snapshot(self) -> str:
        """Take an EVM snapshot (``evm_snapshot``); pass the id to :meth:`revert`."""
        return self.w3.manager.request_blocking(RPCEndpoint("evm_snapshot"), [])

    def revert(self, snapshot_id: str) -> None:
        """Revert to a snapshot (``evm_revert``); a snapshot can be reverted to only once."""
        if not self.w3.manager.request_blocking(RPCEndpoint("evm_revert"), [snapshot_id]):
            raise ToolkitError(f"evm_revert to snapshot {snapshot_id} failed")

    def set_block_timestamp_interval(self, seconds: int) -> None:
        """Make each new block ``seconds`` later than its parent (anvil_setBlockTimestampInterval)."""
        self.w3.manager.request_blocking(RPCEndpoint("anvil_setBlockTimestampInterval"), [seconds])
