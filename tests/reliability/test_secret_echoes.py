"""Secrets redacted by value, everywhere (issue 16, 4): a provider that echoes what it was sent -- Infura-style
"project <key> over capacity", an HTTP 401 body, a JSON-RPC error message -- never gets a secret of the RPC URL
into stdout, stderr, any table of the store (run errors and reports included), the segment files, an export, or
the text and traceback of an exception raised by ``toolkit.pull``. One URL form per case: a query value, a
short path segment, a ``Bearer%20<key>`` value, a percent-encoded password, a long path key with user:password.
The echoing proxy (``fault_proxy``, ``echo_key``) repeats the path and query as sent and decoded, every query
value in both forms, and the ``Authorization`` header with its decoded credentials."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from pathlib import Path

import pytest

from liqtkwork import liqtk
from fault_proxy import FaultConfig, FaultProxy
from toolkit.store.db import Store
from toolkit.store.schema import TABLES

pytestmark = [pytest.mark.node, pytest.mark.slow]

#: name -> (URL with {host} for the proxy's host:port, the secrets that must never come back).
FORMS = {
    "query_value": ("http://{host}/?apikey=QUERYKEY1234", ["QUERYKEY1234"]),
    "short_path_segment": ("http://{host}/v2/abc1234", ["abc1234"]),
    "bearer_percent_encoded": ("http://{host}/rpc?auth=Bearer%20BEARERTOKEN99", ["BEARERTOKEN99", "Bearer%20BEARER"]),
    "percent_encoded_password": ("http://us3r:p%40ssw0rd9@{host}/", [
        "p@ssw0rd9", "p%40ssw0rd9", base64.b64encode(b"us3r:p@ssw0rd9").decode()]),
    "long_path_key_and_user_password": ("http://user:hunter2pw@{host}/v3/SECRETKEY1234567", [
        "hunter2pw", "SECRETKEY1234567", base64.b64encode(b"user:hunter2pw").decode()]),
}

API = """
import os, traceback, toolkit
try:
    toolkit.pull("devchain", "aave-v3", rpc=os.environ["NODE"], store=os.environ["STORE"], no_state=True,
                 address=os.environ["EMITTER"], from_block=int(os.environ["FROM"]), to=int(os.environ["TO"]),
                 blocks_per_request=3)
except Exception as error:
    print(repr(error))
    traceback.print_exc()
"""


def store_text(store: Path) -> str:
    """Every value of every table of the store, as text."""
    with Store(store, create=False).reader() as con:
        return "\n".join(str(con.sql(f"SELECT * FROM {table}").fetchall()) for table in TABLES)


@pytest.mark.parametrize("form", sorted(FORMS))
def test_a_provider_echoing_the_url_leaks_no_secret(form, many_logs, tmp_path) -> None:
    template, secrets = FORMS[form]
    store = tmp_path / "s.duckdb"
    outputs = []
    # Mid-pull: chunks committed, then every answer an error repeating the request (the run's error and report
    # are stored); then a fatal HTTP 401 from the start; then toolkit.pull against a retried rate limit.
    for kind, after in (("rpc_error", 40), ("http_401", 0), ("rate_limit", 0)):
        with FaultProxy(many_logs.url, FaultConfig(echo_key=kind, echo_after=after)) as proxy:
            url = template.format(host=proxy.url.removeprefix("http://"))
            if kind == "rate_limit":
                outputs.append(subprocess.run(
                    [sys.executable, "-c", API], capture_output=True, text=True, timeout=300,
                    env={**os.environ, "NODE": url, "STORE": str(store), "EMITTER": many_logs.emitter,
                         "FROM": str(many_logs.first_block), "TO": str(many_logs.last_block)}))
            else:
                args = many_logs.pull_args(url, store, "--blocks-per-request", "3")
                outputs.append(liqtk(*args, timeout=300))  # JSON lines
                outputs.append(liqtk(*[a for a in args if a != "--quiet"], timeout=300))  # text
        assert proxy.stats.faults[f"echo_{kind}"] >= 1
    assert [o.returncode for o in outputs[:4]] == [4, 1, 1, 1], [o.stderr[-300:] for o in outputs]
    assert "RateLimited(" in outputs[-1].stdout and "Traceback" in outputs[-1].stderr  # raised, traceback printed
    outputs += [liqtk("status", "--store", store, "--quiet"), liqtk("status", "--store", store),
                liqtk("export", "--store", store, "--out", tmp_path / "e.csv", "--format", "csv")]
    assert outputs[-1].returncode == 0, outputs[-1].stderr
    text = "".join(o.stdout + o.stderr for o in outputs) + store_text(store)
    assert "over capacity" in text and "http://127.0.0.1:" in text  # the echo arrived, redacted
    files = [path for path in tmp_path.rglob("*") if path.is_file()]
    assert any(path.suffix == ".parquet" for path in files)  # segment files are among them
    for secret in secrets:
        assert secret.lower() not in text.lower(), (secret, form)
        for path in files:
            assert secret.encode() not in path.read_bytes(), (secret, path)
