"""Protocol adapters (one module per protocol family) and the deployment registry."""

from __future__ import annotations

from toolkit.protocols.aave import AaveAdapter
from toolkit.protocols.base import Adapter
from toolkit.protocols.registry import Deployment, registry

#: Adapter class per family named in deployments.toml.
ADAPTERS: dict[str, type] = {"aave": AaveAdapter}


def adapter_for(deployment: Deployment) -> Adapter:
    """A fresh adapter instance for ``deployment`` (adapters cache per-run lookups)."""
    return ADAPTERS[deployment.family]()


__all__ = ["ADAPTERS", "Adapter", "Deployment", "adapter_for", "registry"]
