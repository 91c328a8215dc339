"""Protocol adapters (one module per protocol family) and the deployment registry.

A deployment's ``family`` names its adapter module, ``toolkit.protocols.<family>``, which exports
``ADAPTER`` (the adapter class): adding a protocol is adding a module and a data file, no edit here.
"""

from __future__ import annotations

import importlib

from toolkit.protocols.base import Adapter
from toolkit.protocols.registry import Deployment, registry


def adapter_for(deployment: Deployment) -> Adapter:
    """A fresh adapter instance for ``deployment`` (adapters cache per-run lookups)."""
    module = importlib.import_module(f"toolkit.protocols.{deployment.family.replace('-', '_')}")
    return module.ADAPTER()


__all__ = ["Adapter", "Deployment", "adapter_for", "registry"]
