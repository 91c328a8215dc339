"""Bad input always exits 2 with one line saying what is wrong (issue 16, 5): binary junk, JSON nested 200,000
deep, an empty file (said to be empty), a pulls.toml that is not UTF-8, a missing rpc_env variable (named with
the file and the field), and an invalid RPC URL, which fails at once instead of being retried."""

from __future__ import annotations

import os
import random
import time
from pathlib import Path

import pytest

from liqtkwork import liqtk

KEY = "SECRETKEY7654321"


def one_line(done, code: int = 2) -> str:
    assert done.returncode == code, (done.returncode, done.stderr)
    assert done.stderr.startswith("error: ") and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert "internal error" not in done.stderr and "Traceback" not in done.stderr
    return done.stderr.strip()


def test_decode_of_binary_junk_exits_2_with_one_line(tmp_path: Path) -> None:
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"\xff\xfe\x00" + random.Random(5).randbytes(4096))
    assert "junk.bin: not UTF-8 text (byte 0: invalid start byte)" in one_line(liqtk("decode", junk))


def test_decode_of_json_nested_200000_deep_exits_2_with_one_line(tmp_path: Path) -> None:
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 200_000 + "]" * 200_000)
    assert "nests JSON too deeply" in one_line(liqtk("decode", deep))


def test_decode_of_an_empty_file_says_it_is_empty(tmp_path: Path) -> None:
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n  \n")
    assert one_line(liqtk("decode", empty)) == (f"error: {empty} is empty; pass a file of JSON logs (an eth_getLogs "
                                                "array, JSON lines or receipts)")


def test_a_pulls_toml_that_is_not_utf8_exits_2_naming_the_file(tmp_path: Path) -> None:
    config = tmp_path / "pulls.toml"
    config.write_bytes('[[pull]]\nchain = "devchain"\n# caf\xe9\n'.encode("latin-1"))
    assert one_line(liqtk("pull", "--config", config)).startswith(f"error: {config}: not UTF-8 text (byte ")


def test_a_missing_rpc_env_variable_is_named_with_the_file_and_the_field(tmp_path: Path) -> None:
    config = tmp_path / "pulls.toml"
    store = tmp_path / "s.duckdb"
    config.write_text(f'store = "{store}"\n[[pull]]\nchain = "devchain"\nprotocols = ["aave-v3"]\n\n'
                      '[[pull]]\nchain = "devchain"\nprotocols = ["aave-v2"]\nrpc_env = "NO_SUCH_NODE_VARIABLE"\n')
    env = {**os.environ, "LIQTK_RPC_DEVCHAIN": "http://127.0.0.1:1"}
    env.pop("NO_SUCH_NODE_VARIABLE", None)
    assert one_line(liqtk("pull", "--config", config, env=env)) == (
        f"error: {config}: pull[2].rpc_env: NO_SUCH_NODE_VARIABLE is not set (no RPC URL for devchain/aave-v2); set "
        "NO_SUCH_NODE_VARIABLE to the node's URL")
    assert not store.exists()


@pytest.mark.parametrize("url", [f"htp://node.example/v3/{KEY}", f"http://:8545/v3/{KEY}",
                                 f"http://node.example:99999/v3/{KEY}", f"http://node example/v3/{KEY}"])
def test_an_invalid_rpc_url_fails_at_once_without_retries(url: str, tmp_path: Path) -> None:
    store = tmp_path / "s.duckdb"
    started = time.monotonic()
    done = liqtk("pull", "--chain", "devchain", "--protocol", "aave-v3", "--rpc", url, "--store", store)
    line = one_line(done)
    assert time.monotonic() - started < 15  # a process start, no retry with backoff (about 20 s before)
    assert "is not usable" in line and KEY not in line and not store.exists()
