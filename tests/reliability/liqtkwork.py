"""Helpers of the reliability tests: run ``liqtk`` as cron does, hash a store's rows, check a store.

The content hash is the one an export's manifest carries (:func:`toolkit.store.manifest.content_sha256`
over the canonical order), computed from the store directly so that checks after each crash or
reorganization do not pay for a subprocess.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from web3 import Web3

from toolkit.store.db import LiquidationFilter, Store
from toolkit.store.manifest import content_sha256
from toolkit.store.schema import LIQUIDATION_COLUMNS

#: Secrets put in RPC URLs (path segment, query parameter, password); none may ever show up.
SECRETS = ("SECRETKEY1234567", "QUERYSECRET99", "hunter2pw")
PROTOCOLS = ("aave-v3", "aave-v2")


def liqtk(*args: object, timeout: float = 120, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``python -m toolkit ARGS`` and wait for it."""
    return subprocess.run([sys.executable, "-m", "toolkit", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, env=env)


def pull_args(url: str, store: Path, protocol: str = "aave-v3", *extra: object) -> list[str]:
    """Arguments of ``liqtk pull`` of the devchain."""
    return ["pull", "--chain", "devchain", "--protocol", protocol, "--rpc", url, "--store", str(store), *map(str, extra)]


def export_hash(store: Path, out: Path) -> str:
    """Content sha256 of ``liqtk export`` (the citable number)."""
    done = liqtk("export", "--store", store, "--out", out, "--format", "csv", "--quiet")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)["content_sha256"]


def rows_hash(store: Path | Store, **filters: int | str | None) -> str:
    """Content sha256 of the store's liquidations matching ``filters`` (as an export of them would have)."""
    opened = store if isinstance(store, Store) else Store(store, create=False)
    return content_sha256(opened.liquidations_table(LiquidationFilter(**filters)), LIQUIDATION_COLUMNS)


def assert_on_chain(store: Path, w3: Web3, above: int = -1) -> None:
    """Every stored block, row block and checkpoint above ``above`` is the node's block of that
    number: nothing orphaned remains."""
    opened = Store(store, create=False)
    with opened.reader() as con:
        stored = con.execute("""
            SELECT block_number, block_hash FROM blocks WHERE block_number > $above
            UNION SELECT block_number, block_hash FROM liquidations WHERE block_number > $above
            UNION SELECT last_block, last_block_hash FROM checkpoints WHERE last_block > $above""",
                             {"above": above}).fetchall()
    assert stored, "nothing stored above the base"
    for number, stored_hash in stored:
        assert stored_hash == w3.eth.get_block(number).hash.to_0x_hex(), f"block {number} is orphaned in the store"
