"""Start and stop a local anvil node from the npm package ``@foundry-rs/anvil``.

The npm package's ``.bin/anvil`` is a Node wrapper that spawns the platform binary; killing the
wrapper with SIGKILL would orphan the real node (docs/sources/chain.md#anvil-wrapper). So the
platform binary (``node_modules/@foundry-rs/anvil-<os>-<arch>/bin/anvil``) is started directly, on
127.0.0.1 and a free port, and stopped by its PID.

``--slots-in-an-epoch 1`` makes the ``finalized`` tag trail the head by two blocks and ``safe`` by one
(checked on anvil 1.7.1, docs/sources/chain.md#finality-tags), so the default ``--to finalized`` bound of a pull works
on the local chain after two more blocks are mined.
"""

from __future__ import annotations

import os
import platform
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from toolkit.errors import ToolkitError

#: Chain id of the local chain (``--chain devchain``).
DEVCHAIN_CHAIN_ID = 31337

_ARCH = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}


class AnvilNotFound(ToolkitError):
    """The anvil binary from npm is not installed."""


def repo_root() -> Path:
    """The repository checkout this package runs from (where package.json and node_modules live)."""
    return Path(__file__).resolve().parents[2]


def anvil_binary(root: Path | None = None) -> Path:
    """Path of the platform anvil binary installed by ``npm ci`` (env ``LIQTK_ANVIL`` overrides)."""
    override = os.environ.get("LIQTK_ANVIL")
    if override:
        return Path(override)
    system = platform.system().lower()
    arch = _ARCH.get(platform.machine().lower(), platform.machine().lower())
    base = (root or repo_root()) / "node_modules" / "@foundry-rs"
    candidate = base / f"anvil-{system}-{arch}" / "bin" / "anvil"
    if not candidate.exists():
        raise AnvilNotFound(
            f"anvil binary not found at {candidate}; run 'make demo' or 'npm ci' in the repository first"
        )
    return candidate


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class AnvilNode:
    """A running anvil process; use as a context manager or call :meth:`stop`."""

    process: subprocess.Popen
    port: int
    chain_id: int = DEVCHAIN_CHAIN_ID
    args: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        return self.process.pid

    def stop(self, timeout: float = 10.0) -> None:
        """Terminate the node by PID (SIGTERM, then SIGKILL after ``timeout`` seconds)."""
        if self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=timeout)

    def __enter__(self) -> "AnvilNode":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_anvil(
    *,
    port: int | None = None,
    chain_id: int = DEVCHAIN_CHAIN_ID,
    block_time: float | None = None,
    extra_args: list[str] | None = None,
    startup_timeout: float = 30.0,
) -> AnvilNode:
    """Start anvil on 127.0.0.1 and wait until it answers on its port.

    :param port: TCP port; a free one is chosen when ``None``.
    :param block_time: seconds between blocks; ``None`` mines one block per transaction (automine).
    :param extra_args: further anvil flags (e.g. ``["--code-size-limit", "50000"]``).
    """
    port = port or free_port()
    args = [
        str(anvil_binary()),
        "--host", "127.0.0.1",
        "--port", str(port),
        "--chain-id", str(chain_id),
        "--slots-in-an-epoch", "1",
        "--silent",
    ]
    if block_time is not None:
        args += ["--block-time", str(block_time)]
    args += list(extra_args or [])
    process = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE)
    node = AnvilNode(process=process, port=port, chain_id=chain_id, args=args)
    deadline = time.monotonic() + startup_timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            err = process.stderr.read().decode(errors="replace").strip() if process.stderr else ""
            raise ToolkitError(f"anvil exited at start (code {process.returncode}): {err[:300]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return node
        except OSError:
            time.sleep(0.05)
    node.stop()
    raise ToolkitError(f"anvil did not open port {port} within {startup_timeout:.0f} s")
