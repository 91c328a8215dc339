"""Positions snapshots: every open borrow position of a deployment at a block (``liqtk positions``,
:func:`toolkit.positions`), stored with the block, its hash, chain, deployment and run.

Modules, one job each:

* :mod:`~toolkit.snapshot.model` compositions, discoveries, market states and the family interface
* :mod:`~toolkit.snapshot.families` which module serves a deployment
* :mod:`~toolkit.snapshot.aave`, :mod:`~toolkit.snapshot.compound`, :mod:`~toolkit.snapshot.morpho` the families:
  borrowers from events, compositions, market state and values as each protocol computes them
* :mod:`~toolkit.snapshot.reads` the batched view-call reader (switchable)
* :mod:`~toolkit.snapshot.run` orchestration: block, base snapshot, events, reads, batches, resume

Stored in the ``positions`` and ``position_snapshots`` tables (:mod:`toolkit.store.positions`).
"""

from toolkit.snapshot.run import SnapshotRequest, SnapshotResult, snapshot, snapshot_async, snapshot_each

__all__ = ["SnapshotRequest", "SnapshotResult", "snapshot", "snapshot_async", "snapshot_each"]
