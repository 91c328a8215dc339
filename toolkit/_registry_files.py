"""Registry files beyond the production ones (``toolkit/protocols/deployments/*.toml``).

The layers above the core add the files of their own chains here; :func:`toolkit.protocols.registry.registry`
reads them after the production files. The local chain's deployments (chain id 31337) live with the local
chain, in ``toolkit/devchain/deployments.toml``, and are added when ``toolkit`` is imported (by path: nothing of
:mod:`toolkit.devchain` is imported), so ``--chain devchain`` and ``chain="devchain"`` work everywhere while
the production registry files hold real chains only.
"""

from __future__ import annotations

from pathlib import Path

#: The local chain's registry file, owned by :mod:`toolkit.devchain`.
LOCAL_CHAIN = Path(__file__).resolve().with_name("devchain") / "deployments.toml"
#: Files added so far, in order.
EXTRA: list[Path] = []


def add(path: Path) -> None:
    """Add a registry file (chains and deployments in the format of ``deployments/*.toml``); again: no change."""
    path = Path(path).resolve()
    if path not in EXTRA:
        EXTRA.append(path)
