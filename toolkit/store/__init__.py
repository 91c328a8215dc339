"""The DuckDB store: column contract, write protocol, readers, and citable exports.

Modules, one job each:

* :mod:`toolkit.store.schema` -- tables, columns, types, units and sources (the contract);
* :mod:`toolkit.store.location` -- where the store lives by default;
* :mod:`toolkit.store.arrow` -- the contract in Arrow terms (rows -> tables -> pandas);
* :mod:`toolkit.store.db` -- :class:`~toolkit.store.db.Store`: opening, the single writer, readers;
* :mod:`toolkit.store.provenance` -- run ids and the toolkit checkout's git commit;
* :mod:`toolkit.store.manifest` -- content hash and the manifest that makes an export citable;
* :mod:`toolkit.store.export` -- CSV / Parquet exports with their manifests, and their verification.

Nothing is imported here, so ``python -m toolkit.store.schema`` runs without side effects.
"""
