"""Compile Aave v3.6 from npm ``@aave-dao/aave-v3-origin@3.6.0`` (Solidity sources) with npm solc 0.8.27.

The package ships ``src/`` only (no bytecode). Its sources import OpenZeppelin and BGD's
``solidity-utils`` through the remappings of the repository's ``remappings.txt``
(docs/sources/aave.md#aave-v3-origin-build-settings), which point at git submodules; the npm
equivalents are the package's own dependency ``@bgd-labs/solidity-utils@1.1.2`` and the OpenZeppelin
``contracts`` / ``contracts-upgradeable`` packages it depends on (resolved as Node resolves them, next
to ``solidity-utils`` first). Settings as the repository's ``foundry.toml``: optimizer on with 200
runs, EVM ``shanghai``, metadata ``bytecodeHash`` ``none``.

Only the contracts the devchain deploys get bytecode (:data:`CONTRACTS`): solc generates code only
for the selected contracts, which keeps a cold compile near a minute instead of several. The output
is cached by :func:`toolkit.devchain.solc.compile_standard` (one compile per machine and checkout;
concurrent processes wait for the first one's output), and turned into
:class:`~toolkit.devchain.artifacts.Artifact` objects once per process, keyed by the source path inside
the package (``src/contracts/...``), so ``ArtifactRef("@aave-dao/aave-v3-origin", source)`` deploys and
links them like the Hardhat artifacts of ``@aave/core-v3``.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

from toolkit.devchain.anvil import repo_root
from toolkit.devchain.artifacts import Artifact, ArtifactError
from toolkit.devchain.solc import compile_standard

PACKAGE = "@aave-dao/aave-v3-origin"
#: The compiler release (npm alias ``solc-0.8.27`` of package.json).
SOLC_PACKAGE = "solc-0.8.27"
#: Compiler settings of the repository's foundry.toml (docs/sources/aave.md#aave-v3-origin-build-settings).
OPTIMIZER_RUNS = 200
EVM_VERSION = "shanghai"

_SRC = "src/contracts/"
_LOGIC = _SRC + "protocol/libraries/logic/"
#: Contracts compiled to bytecode: source path inside the package -> contract name.
CONTRACTS: dict[str, str] = {
    _SRC + "protocol/configuration/PoolAddressesProvider.sol": "PoolAddressesProvider",
    _SRC + "protocol/configuration/ACLManager.sol": "ACLManager",
    _SRC + "instances/PoolInstance.sol": "PoolInstance",
    _SRC + "instances/PoolConfiguratorInstance.sol": "PoolConfiguratorInstance",
    _SRC + "instances/ATokenInstance.sol": "ATokenInstance",
    _SRC + "instances/VariableDebtTokenInstance.sol": "VariableDebtTokenInstance",
    _SRC + "misc/AaveOracle.sol": "AaveOracle",
    _SRC + "misc/DefaultReserveInterestRateStrategyV2.sol": "DefaultReserveInterestRateStrategyV2",
    # external libraries linked by PoolInstance (FlashLoanLogic links BorrowLogic) and the configurator
    _LOGIC + "BorrowLogic.sol": "BorrowLogic",
    _LOGIC + "FlashLoanLogic.sol": "FlashLoanLogic",
    _LOGIC + "LiquidationLogic.sol": "LiquidationLogic",
    _LOGIC + "PoolLogic.sol": "PoolLogic",
    _LOGIC + "SupplyLogic.sol": "SupplyLogic",
    _LOGIC + "ConfiguratorLogic.sol": "ConfiguratorLogic",
}


def node_modules() -> Path:
    return repo_root() / "node_modules"


def _resolve_package(name: str, next_to: str) -> str:
    """Directory (below node_modules) of npm package ``name`` as Node resolves it from ``next_to``."""
    for candidate in (f"{next_to}/node_modules/{name}", name):
        if (node_modules() / candidate / "package.json").exists():
            return candidate
    raise ArtifactError(f"npm package {name} (a dependency of {next_to}) is not installed; run 'npm install'")


def remappings() -> list[str]:
    """solc remappings equivalent to the repository's remappings.txt, onto the npm packages."""
    utils = "@bgd-labs/solidity-utils"
    if not (node_modules() / utils / "package.json").exists():
        raise ArtifactError(f"npm package {utils} is not installed; run 'npm install'")
    oz = _resolve_package("@openzeppelin/contracts", utils)
    oz_upgradeable = _resolve_package("@openzeppelin/contracts-upgradeable", utils)
    return [
        f"openzeppelin-contracts/contracts/={oz}/",
        f"openzeppelin-contracts-upgradeable/contracts/={oz_upgradeable}/",
        f"solidity-utils/={utils}/src/",
    ]


def standard_input() -> dict[str, Any]:
    """The solc standard-JSON input: the :data:`CONTRACTS` files as source units named
    ``@aave-dao/aave-v3-origin/src/...`` (imports resolve below node_modules)."""
    root = node_modules() / PACKAGE
    if not (root / "package.json").exists():
        raise ArtifactError(f"npm package {PACKAGE} is not installed; run 'npm install'")
    outputs = ["abi", "evm.bytecode.object", "evm.bytecode.linkReferences"]
    return {
        "language": "Solidity",
        "sources": {f"{PACKAGE}/{source}": {"content": (root / source).read_text()} for source in CONTRACTS},
        "settings": {
            "optimizer": {"enabled": True, "runs": OPTIMIZER_RUNS},
            "evmVersion": EVM_VERSION,
            "metadata": {"bytecodeHash": "none"},
            "remappings": remappings(),
            "outputSelection": {f"{PACKAGE}/{source}": {name: outputs} for source, name in CONTRACTS.items()},
        },
    }


def _package_path(unit: str) -> str:
    """Source unit name -> path inside the package (``src/...``)."""
    return unit.removeprefix(f"{PACKAGE}/")


@lru_cache(maxsize=1)
def compiled_artifacts() -> dict[tuple[str, str], Artifact]:
    """Every contract of :data:`CONTRACTS`, compiled (or read from the cache), by (source, name)."""
    output = compile_standard(standard_input(), solc_package=SOLC_PACKAGE, import_roots=[node_modules()])
    artifacts: dict[tuple[str, str], Artifact] = {}
    for unit, contracts in output["contracts"].items():
        source = _package_path(unit)
        for name, entry in contracts.items():
            if CONTRACTS.get(source) != name:
                continue
            bytecode = entry["evm"]["bytecode"]
            links = {_package_path(lib_unit): refs for lib_unit, refs in (bytecode.get("linkReferences") or {}).items()}
            artifacts[(source, name)] = Artifact(package=PACKAGE, source=source, name=name, abi=entry["abi"],
                                                 bytecode="0x" + bytecode["object"], link_references=links)
    missing = [f"{name} ({source})" for source, name in CONTRACTS.items() if (source, name) not in artifacts]
    if missing:
        raise ArtifactError(f"{PACKAGE}: the compiler output lacks {', '.join(missing)}")
    return artifacts
