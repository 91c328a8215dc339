"""Compile the toolkit's reader contract and write what the pull path loads (``python -m toolkit.devchain.reader_build``).

The pull path reads the committed ``toolkit/chain/reader/LiquidationToolkitReader.json`` (runtime code,
ABI, compiler and settings) and never runs Node; this module, on the local-chain side, compiles
``LiquidationToolkitReader.sol`` with the npm ``solc`` of package.json (:mod:`toolkit.devchain.solc`) and
writes that file. A test recompiles and checks the committed code is what the source gives.

Settings: optimizer on (200 runs), EVM version ``petersburg`` (no ``PUSH0``/``MCOPY``: an ``eth_call`` at a
historical block runs that block's EVM rules, and liquidations are read back to 2019), no metadata hash
appended (the code depends on the source and settings only).
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from typing import Any

from toolkit.chain.reader import READER_DIR
from toolkit.devchain.solc import SolcError, compile_standard

SOURCE = READER_DIR / "LiquidationToolkitReader.sol"
ARTIFACT = READER_DIR / "LiquidationToolkitReader.json"
CONTRACT = "LiquidationToolkitReader"
SOLC_PACKAGE = "solc"
SETTINGS: dict[str, Any] = {
    "optimizer": {"enabled": True, "runs": 200},
    "evmVersion": "petersburg",
    "metadata": {"bytecodeHash": "none", "appendCBOR": False},
    "outputSelection": {"*": {"*": ["abi", "evm.deployedBytecode.object"]}},
}


def compile_reader(cache_dir: Path | None = None) -> dict[str, Any]:
    """The artifact the source compiles to: runtime code, ABI, compiler version, settings, source hash."""
    from toolkit.devchain.anvil import repo_root

    source = SOURCE.read_text()
    output = compile_standard({"language": "Solidity", "sources": {SOURCE.name: {"content": source}},
                               "settings": SETTINGS}, solc_package=SOLC_PACKAGE, cache_dir=cache_dir)
    try:
        compiled = output["contracts"][SOURCE.name][CONTRACT]
    except KeyError:
        raise SolcError(f"{CONTRACT} not found in the output of {SOURCE}") from None
    version = json.loads((repo_root() / "node_modules" / SOLC_PACKAGE / "package.json").read_text())["version"]
    return {
        "contract": CONTRACT,
        "source": f"toolkit/chain/reader/{SOURCE.name}",
        "source_sha256": hashlib.sha256(source.encode()).hexdigest(),
        "compiler": f"npm solc {version} (solc-js)",
        "settings": {key: value for key, value in SETTINGS.items() if key != "outputSelection"},
        "abi": compiled["abi"],
        "deployedBytecode": "0x" + compiled["evm"]["deployedBytecode"]["object"],
    }


def main() -> None:
    """Write the artifact (``--check``: exit 1 when the committed one differs instead)."""
    artifact = compile_reader()
    text = json.dumps(artifact, indent=1, sort_keys=True) + "\n"
    if "--check" in sys.argv[1:]:
        if ARTIFACT.read_text() != text:
            sys.exit(f"{ARTIFACT} is not what {SOURCE} compiles to; run python -m toolkit.devchain.reader_build")
        return
    ARTIFACT.write_text(text)


if __name__ == "__main__":
    main()
