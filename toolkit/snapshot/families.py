"""Which snapshot module serves a deployment: ``toolkit/snapshot/<module>.py`` exporting ``FAMILY``, by the
deployment's family, as :func:`toolkit.protocols.adapter_for` finds adapters."""

from __future__ import annotations

import importlib

from toolkit.errors import UserInputError
from toolkit.protocols.registry import Deployment, registry
from toolkit.snapshot.model import SnapshotFamily

#: Registry family -> snapshot module.
MODULES: dict[str, str] = {"aave": "aave", "compound_v2": "compound", "morpho_blue": "morpho"}


def family_for(deployment: Deployment) -> SnapshotFamily:
    """The snapshot family of ``deployment``; :class:`UserInputError` when there is none yet."""
    name = MODULES.get(deployment.family.replace("-", "_"))
    if name is None:
        supported = sorted({d.protocol for d in registry().deployments if d.family in MODULES})
        raise UserInputError(f"no positions snapshot for {deployment.protocol} (family {deployment.family}) yet; "
                             f"supported: {', '.join(supported)}")
    return importlib.import_module(f"toolkit.snapshot.{name}").FAMILY

