"""The DuckDB store: column contract, write protocol, readers, and citable exports.

Modules, one job each:

* :mod:`toolkit.store.schema` -- tables, columns, types, units and sources (the contract); the columns of
  the liquidations in :mod:`toolkit.store.liquidation_schema`, of the exchange data and positions snapshots in
  :mod:`toolkit.store.cex_schema` and :mod:`toolkit.store.positions_schema`;
* :mod:`toolkit.store.location` -- where the store lives by default;
* :mod:`toolkit.store.arrow` -- the contract in Arrow terms (rows -> tables -> pandas);
* :mod:`toolkit.store.db` -- :class:`~toolkit.store.db.Store` and its :class:`~toolkit.store.db.Writer`:
  readers, the commit protocol (chunks, reorganization rewinds);
* :mod:`toolkit.store.opening` -- a new store created whole, an existing one checked before use;
* :mod:`toolkit.store.locks` -- the reader/writer protocol: one writer, readers that wait their turn;
* :mod:`toolkit.store.attach` -- store files attached to the process's own DuckDB instance per operation;
* :mod:`toolkit.store.records` -- checkpoints and liquidation filters;
* :mod:`toolkit.store.segments` -- the liquidation rows as Parquet segment files, and their listing;
* :mod:`toolkit.store.compaction` -- segment copies without some blocks, small segments merged;
* :mod:`toolkit.store.runs` -- run bookkeeping (``runs``);
* :mod:`toolkit.store.discovered` -- the markets the registry contracts listed (``discovered_markets``,
  ``discovery_scans``);
* :mod:`toolkit.store.upgrade` -- a store of an earlier schema version upgraded (``liqtk upgrade``);
* :mod:`toolkit.store.provenance` -- run ids and the toolkit checkout's git commit;
* :mod:`toolkit.store.manifest` -- content hash and the manifest that makes an export citable;
* :mod:`toolkit.store.export` -- CSV / Parquet exports with their manifests, and their verification.

Nothing is imported here, so ``python -m toolkit.store.schema`` runs without side effects.
"""
