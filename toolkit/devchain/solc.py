"""Compile Solidity offline with solc-js from ``node_modules`` (npm ``solc``; aliases ``solc-0.8.19``, ``solc-0.8.27``).

The compiler runs in a ``node`` subprocess through solc's standard JSON interface
(https://docs.soliditylang.org/en/latest/using-the-compiler.html#compiler-input-and-output-json-description).
Imports are resolved by a callback against ``import_roots`` (e.g. the importing file's directory and
``node_modules``). Outputs are cached by a hash of the compiler version, the standard-JSON input and
the import roots; the cache entry also records a hash of every imported file, so editing an import
recompiles. Processes compiling the same input take turns on a lock file beside the cache entry, so the
second one finds the first one's output instead of compiling again (xdist workers, parallel runs).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import platformdirs

from toolkit.devchain.anvil import repo_root
from toolkit.errors import ToolkitError

#: npm packages with a solc-js compiler (package.json of the repository).
SOLC_PACKAGES = ("solc", "solc-0.8.19", "solc-0.8.27")
#: Seconds one solc-js run may take (aave-v3-origin's Pool and libraries take about a minute).
COMPILE_TIMEOUT = 900

_COMPILE_JS = r"""
const fs = require('fs');
const path = require('path');
const request = JSON.parse(fs.readFileSync(0, 'utf8'));
const solc = require(request.solc);
const loaded = [];
function findImports(name) {
  for (const root of request.roots) {
    const file = path.resolve(root, name);
    if (file.startsWith(path.resolve(root) + path.sep) && fs.existsSync(file)) {
      loaded.push(file);
      return { contents: fs.readFileSync(file, 'utf8') };
    }
  }
  return { error: 'File not found in ' + request.roots.join(', ') + ': ' + name };
}
const output = solc.compile(JSON.stringify(request.input), { import: findImports });
process.stdout.write(JSON.stringify({ output: JSON.parse(output), imports: loaded }));
"""


class SolcError(ToolkitError):
    """Solidity compilation failed or the compiler is not installed."""


@dataclass(frozen=True)
class CompiledContract:
    """One compiled contract. Bytecodes are ``0x`` hex and may hold ``__$…$__`` library placeholders."""

    name: str
    abi: list[dict[str, Any]]
    bytecode: str
    deployed_bytecode: str


def default_cache_dir() -> Path:
    """``<user cache>/liquidation-toolkit/solc``, or a directory under the system temp dir."""
    candidates = (Path(platformdirs.user_cache_dir("liquidation-toolkit")),
                  Path(tempfile.gettempdir()) / "liquidation-toolkit")
    for base in candidates:
        path = base / "solc"
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError:
            continue
        if os.access(path, os.W_OK):
            return path
    raise SolcError("no writable cache directory for compiled Solidity")


def _package_dir(solc_package: str) -> Path:
    if solc_package not in SOLC_PACKAGES:
        raise SolcError(f"unknown solc package {solc_package!r}; expected one of {', '.join(SOLC_PACKAGES)}")
    path = repo_root() / "node_modules" / solc_package
    if not (path / "package.json").exists():
        raise SolcError(f"{solc_package} not found at {path}; run 'npm ci' in the repository first")
    return path


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def compile_standard(
    standard_input: dict[str, Any],
    *,
    solc_package: str = "solc",
    import_roots: Sequence[Path] = (),
    cache_dir: Path | None = None,
) -> dict[str, Any]:
    """Compile a standard-JSON input and return solc's standard-JSON output.

    :param solc_package: ``"solc"`` (0.8.37), ``"solc-0.8.19"`` or ``"solc-0.8.27"``.
    :param import_roots: directories where imported source unit names are looked up, in order.
    :param cache_dir: where outputs are cached (default :func:`default_cache_dir`).
    :raises SolcError: ``node``/solc missing, or the compiler reported an error.
    """
    package = _package_dir(solc_package)
    version = json.loads((package / "package.json").read_text())["version"]
    roots = [str(Path(r).resolve()) for r in import_roots]
    key = _sha256(json.dumps({"solc": version, "input": standard_input, "roots": roots}, sort_keys=True).encode())
    directory = cache_dir or default_cache_dir()
    directory.mkdir(parents=True, exist_ok=True)
    cache_file = directory / f"{key}.json"
    cached = _read_cache(cache_file)
    if cached is not None:
        return cached
    with open(directory / f"{key}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        cached = _read_cache(cache_file)  # another process may have compiled it meanwhile
        if cached is not None:
            return cached
        output, imports = _run_solc(standard_input, package, solc_package, version, roots)
        entry = {"output": output, "imports": {p: _sha256(Path(p).read_bytes()) for p in imports}}
        tmp = cache_file.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(entry))
        os.replace(tmp, cache_file)
    return output


def _read_cache(cache_file: Path) -> dict[str, Any] | None:
    """The cached output, if the entry exists and every file it imported is unchanged."""
    if not cache_file.exists():
        return None
    entry = json.loads(cache_file.read_text())
    if all(Path(p).exists() and _sha256(Path(p).read_bytes()) == h for p, h in entry["imports"].items()):
        return entry["output"]
    return None


def _run_solc(standard_input: dict[str, Any], package: Path, solc_package: str, version: str,
              roots: list[str]) -> tuple[dict[str, Any], list[str]]:
    """Run solc-js in ``node``; return its output and the files its import callback read."""
    node = shutil.which("node")
    if node is None:
        raise SolcError("node (Node.js) is not on PATH; it is needed to run solc-js")
    request = json.dumps({"solc": str(package), "roots": roots, "input": standard_input})
    try:
        proc = subprocess.run([node, "-e", _COMPILE_JS], input=request, capture_output=True, text=True,
                              timeout=COMPILE_TIMEOUT)
    except subprocess.TimeoutExpired:
        raise SolcError(f"solc-js ({solc_package} {version}) did not finish within {COMPILE_TIMEOUT} s") from None
    if proc.returncode != 0:
        last_line = (proc.stderr.strip().splitlines() or ["no error output"])[-1]
        raise SolcError(f"solc-js ({solc_package} {version}) failed: {last_line}")
    result = json.loads(proc.stdout)
    output = result["output"]
    errors = [e for e in output.get("errors", []) if e.get("severity") == "error"]
    if errors:
        raise SolcError("Solidity compilation failed: " + " | ".join(
            (e.get("formattedMessage") or e.get("message", "")).strip().splitlines()[0] for e in errors))
    return output, result["imports"]


def compile_contract(
    source: Path,
    contract: str,
    *,
    solc_package: str = "solc",
    optimizer_runs: int | None = 200,
    evm_version: str | None = None,
    import_roots: Sequence[Path] = (),
    cache_dir: Path | None = None,
) -> CompiledContract:
    """Compile the Solidity file ``source`` and return ``contract`` from it.

    The file's directory is searched for imports first, then ``import_roots``.

    :param optimizer_runs: solc optimizer ``runs``; ``None`` disables the optimizer.
    :param evm_version: e.g. ``"paris"``; ``None`` uses the compiler's default.
    """
    source = Path(source)
    settings: dict[str, Any] = {
        "optimizer": {"enabled": optimizer_runs is not None, "runs": optimizer_runs or 200},
        "outputSelection": {"*": {"*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object"]}},
    }
    if evm_version:
        settings["evmVersion"] = evm_version
    standard_input = {
        "language": "Solidity",
        "sources": {source.name: {"content": source.read_text()}},
        "settings": settings,
    }
    output = compile_standard(standard_input, solc_package=solc_package,
                              import_roots=[source.parent, *import_roots], cache_dir=cache_dir)
    try:
        compiled = output["contracts"][source.name][contract]
    except KeyError:
        raise SolcError(f"contract {contract} not found in {source}") from None
    return CompiledContract(
        name=contract,
        abi=compiled["abi"],
        bytecode="0x" + compiled["evm"]["bytecode"]["object"],
        deployed_bytecode="0x" + compiled["evm"]["deployedBytecode"]["object"],
    )
