"""Load Hardhat artifacts (ABI + bytecode) from the Aave npm packages and link their libraries.

Artifacts come from ``node_modules`` (installed by ``npm ci`` from the repository's package.json):

* ``@aave/core-v3@1.19.3``: ``node_modules/@aave/core-v3/artifacts/contracts/...`` (Aave v3);
* ``@aave/protocol-v2@1.0.1``: ``node_modules/@aave/protocol-v2/artifacts/contracts/...`` (Aave v2).

Each artifact JSON holds ``abi``, ``bytecode`` (creation code, hex) and ``linkReferences``:
``{source file: {library name: [{"start": byte offset, "length": 20}, ...]}}``. Library addresses are
written at those byte offsets of the creation code (the Hardhat placeholder is ``__$<hash>$__``).

Packages that ship Solidity sources only (:data:`COMPILED_PACKAGES`, e.g. ``@aave-dao/aave-v3-origin``)
are compiled on first use by the module named there (through :mod:`toolkit.devchain.solc`, cached);
their artifacts have the same shape, solc's ``linkReferences`` being Hardhat's.
"""

from __future__ import annotations

import importlib
import json
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from toolkit.devchain.anvil import repo_root
from toolkit.errors import ToolkitError

#: npm package name -> artifacts directory below ``node_modules``.
PACKAGES: dict[str, str] = {
    "@aave/core-v3": "@aave/core-v3/artifacts",
    "@aave/protocol-v2": "@aave/protocol-v2/artifacts",
    "@venusprotocol/venus-protocol": "@venusprotocol/venus-protocol/artifacts",
    "@venusprotocol/governance-contracts": "@venusprotocol/governance-contracts/artifacts",
}

#: npm packages of Solidity sources -> ``"module:function"`` returning their compiled artifacts as
#: ``{(source path inside the package, contract name): Artifact}`` (imported on first use).
COMPILED_PACKAGES: dict[str, str] = {
    "@aave-dao/aave-v3-origin": "toolkit.devchain.aave_origin:compiled_artifacts",
}


class ArtifactError(ToolkitError):
    """An artifact is missing, has no bytecode, or cannot be linked."""


@dataclass(frozen=True, order=True)
class LibraryRef:
    """A library the bytecode of an artifact links: ``contracts/.../X.sol`` and the library name."""

    source: str
    name: str


@dataclass(frozen=True)
class ArtifactRef:
    """Where an artifact lives; loaded on first use, so importing this package needs no node_modules.

    :ivar package: npm package name (a key of :data:`PACKAGES`).
    :ivar source: source path inside the package, e.g. ``contracts/protocol/pool/Pool.sol``.
    :ivar name: contract name; defaults to the file stem of ``source``.
    """

    package: str
    source: str
    name: str | None = None

    def load(self) -> Artifact:
        """The artifact (read once per process)."""
        return load_artifact(self.package, self.source, self.name)


@dataclass(frozen=True)
class Artifact:
    """One compiled contract from an npm package.

    :ivar package: npm package name (a key of :data:`PACKAGES`).
    :ivar source: source path inside the package, e.g. ``contracts/protocol/pool/Pool.sol``.
    :ivar name: contract name, e.g. ``Pool``.
    :ivar bytecode: unlinked creation code, ``0x``-prefixed hex.
    """

    package: str
    source: str
    name: str
    abi: list[dict[str, Any]] = field(repr=False, hash=False, compare=False)
    bytecode: str = field(repr=False, hash=False, compare=False)
    link_references: dict[str, dict[str, list[dict[str, int]]]] = field(
        repr=False, hash=False, compare=False
    )

    @property
    def libraries(self) -> list[LibraryRef]:
        """Libraries to deploy before this contract, in a fixed (sorted) order."""
        return sorted(
            LibraryRef(src, name)
            for src, names in self.link_references.items()
            for name in names
        )

    def linked_bytecode(self, addresses: dict[LibraryRef, str]) -> str:
        """Creation code with every library placeholder replaced by its address."""
        code = self.bytecode[2:] if self.bytecode.startswith("0x") else self.bytecode
        for src, names in self.link_references.items():
            for name, positions in names.items():
                ref = LibraryRef(src, name)
                if ref not in addresses:
                    raise ArtifactError(f"{self.name}: library {name} ({src}) is not deployed")
                hex_address = addresses[ref].lower().removeprefix("0x")
                for pos in positions:
                    start, length = 2 * pos["start"], 2 * pos["length"]
                    code = code[:start] + hex_address + code[start + length:]
        if "__$" in code:
            raise ArtifactError(f"{self.name}: unlinked library placeholder left in bytecode")
        return "0x" + code


def artifacts_dir(package: str, root: Path | None = None) -> Path:
    """Directory holding the artifacts of ``package`` (a key of :data:`PACKAGES`)."""
    return (root or repo_root()) / "node_modules" / PACKAGES[package]


@lru_cache(maxsize=None)
def load_artifact(package: str, source: str, name: str | None = None) -> Artifact:
    """Read ``artifacts/<source>/<name>.json`` of an npm package.

    :param package: a key of :data:`PACKAGES` or of :data:`COMPILED_PACKAGES`.
    :param source: e.g. ``"contracts/protocol/pool/Pool.sol"``.
    :param name: contract name; defaults to the file stem of ``source``.
    """
    name = name or Path(source).stem
    if package in COMPILED_PACKAGES:
        module, function = COMPILED_PACKAGES[package].split(":")
        compiled = getattr(importlib.import_module(module), function)()
        if (source, name) not in compiled:
            raise ArtifactError(f"{package} compiles no contract {name} from {source}")
        return compiled[(source, name)]
    path = artifacts_dir(package) / source / f"{name}.json"
    if not path.exists():
        raise ArtifactError(f"artifact {path} not found; run 'npm ci' in the repository first")
    data = json.loads(path.read_text())
    if data.get("bytecode", "0x") in ("", "0x"):
        raise ArtifactError(f"artifact {path} has no bytecode (interface or abstract contract)")
    return Artifact(
        package=package,
        source=source,
        name=name,
        abi=data["abi"],
        bytecode=data["bytecode"],
        link_references=data.get("linkReferences") or {},
    )


def library_artifact(package: str, ref: LibraryRef) -> ArtifactRef:
    """The artifact of a linked library (same package as the contract that links it)."""
    return ArtifactRef(package, ref.source, ref.name)
