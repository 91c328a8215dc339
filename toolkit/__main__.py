"""``python -m toolkit`` runs the ``liqtk`` command line."""

from toolkit.cli import run

run()
