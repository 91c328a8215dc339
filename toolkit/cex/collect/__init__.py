"""Real exchange data through ccxt: ``liqtk cex fetch`` (:mod:`.fetch`) and ``liqtk cex record`` (:mod:`.record`).

:mod:`.exchanges` builds the ccxt clients and turns their errors into one line; :mod:`.rows` turns ccxt's
unified structures into rows of the store's exchange-data tables (:mod:`toolkit.store.cex_schema`, written through
:mod:`toolkit.store.cex_store`). Sources: docs/sources/venues.md#ccxt-unified-structures.
"""
