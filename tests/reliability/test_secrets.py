"""An RPC URL with a key in the path, in the query and as user:password never shows up anywhere:
command output and logs, errors, run reports and every other table of the store, the store file,
exports and their manifests, the output of a notebook session. Each is grepped for the secrets."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from liqtkwork import SECRETS, liqtk, pull_args
from toolkit.devchain.anvil import free_port
from fault_proxy import FaultConfig, FaultProxy
from toolkit.store.db import Store
from toolkit.store.schema import TABLES

pytestmark = pytest.mark.node

NOTEBOOK = """
import os, toolkit
store = os.environ["STORE"]
result = toolkit.pull("devchain", "aave-v2", rpc=os.environ["NODE"], store=store, blocks_per_request=30)
print(repr(result))
print(toolkit.liquidations(store).to_string())
try:
    toolkit.pull("devchain", "aave-v2", rpc=os.environ["DEAD_NODE"], store=store)
except Exception as error:
    print(repr(error))
"""


def secret_url(host: str) -> str:
    return f"http://user:{SECRETS[2]}@{host}/v3/{SECRETS[0]}?apikey={SECRETS[1]}"


def store_text(store: Path) -> str:
    """Every value of every table of the store (runs.args_json and report_json included), as text."""
    with Store(store, create=False).reader() as con:
        return "\n".join(str(con.sql(f"SELECT * FROM {table}").to_arrow_table().to_pylist()) for table in TABLES)


def test_secrets_in_the_rpc_url_are_never_printed_or_stored(devchain, tmp_path) -> None:
    store = tmp_path / "s.duckdb"
    dead = secret_url(f"127.0.0.1:{free_port()}")
    config = tmp_path / "pulls.toml"
    config.write_text('[[pull]]\nchain = "devchain"\nprotocols = ["aave-v2"]\nrpc_env = "MY_NODE"\nto = "latest"\n')
    with FaultProxy(devchain.url, FaultConfig(provider="alchemy", range_limit=50, seed=3, http_5xx=0.1,
                                              behind=0.1)) as proxy:
        url = secret_url(proxy.url.removeprefix("http://"))
        outputs = [liqtk(*pull_args(url, store, "aave-v3", "--quiet")),
                   liqtk(*pull_args(url, store, "aave-v3")),
                   liqtk("pull", "--config", config, "--store", store, "--quiet",
                         env={**os.environ, "MY_NODE": url}),
                   subprocess.run([sys.executable, "-c", NOTEBOOK], capture_output=True, text=True, timeout=120,
                                  env={**os.environ, "STORE": str(store), "NODE": url, "DEAD_NODE": dead})]
    outputs += [liqtk(*pull_args(dead, store, "aave-v3", *quiet)) for quiet in ((), ("--quiet",))]
    outputs += [liqtk("pull", "--config", config, "--store", store, env={**os.environ, "MY_NODE": dead}),
                liqtk("status", "--store", store), liqtk("status", "--store", store, "--quiet"),
                liqtk("export", "--store", store, "--out", tmp_path / "e.parquet")]
    assert [o.returncode for o in outputs] == [0, 0, 0, 0, 1, 1, 1, 0, 0, 0], [o.stderr for o in outputs]
    assert "aave-v2" in outputs[3].stdout and "cannot reach" in outputs[3].stdout  # the notebook ran both cells
    text = "".join(o.stdout + o.stderr for o in outputs) + store_text(store)
    assert "http://127.0.0.1:" in text and "/***" in text  # the redacted form is what appears
    for secret in SECRETS:
        assert secret not in text
        for path in tmp_path.iterdir():
            if path.is_file():
                assert secret.encode() not in path.read_bytes(), path
