"""The package version, in a module of its own: the store and the pipeline record it (``runs``,
``store_meta``, export manifests) without importing the top-level :mod:`toolkit` package."""

__version__ = "0.1.0"
