# The two set-up commands of README.md. Each installs what it needs (virtual env in .venv, Python
# packages, npm packages for the local chain) and is safe to run again: installs are redone only
# when pyproject.toml or package-lock.json change.
VENV  := .venv
PY    := $(VENV)/bin/python
STAMP := .make

.PHONY: demo test bench setup docs docs-serve notebook

demo: setup
	$(VENV)/bin/liqtk replay --out out/replay

# The test suite also builds the documentation site with --strict (tests/test_docs_site.py).
test: setup
	$(PY) -m pytest -n 2 --dist loadgroup -q --nbmake tests notebooks

# The documentation site (mkdocs.yml) into site/; docs-serve serves it with live reload on 127.0.0.1:8000.
docs: setup
	$(VENV)/bin/mkdocs build --strict

docs-serve: setup
	$(VENV)/bin/mkdocs serve

# JupyterLab on notebooks/ (the [notebook] extra).
notebook: setup
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[notebook]'
	$(VENV)/bin/jupyter lab notebooks

# The benchmarks (bench/README.md): the [bench] extra adds what they compare with (cryo, polars).
bench: setup
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[bench]'
	$(PY) bench/run.py

setup: $(STAMP)/python $(STAMP)/node

$(STAMP)/python: pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev,docs]'
	mkdir -p $(STAMP) && touch $@

# `npm install` rather than `npm ci`: the lock file records only the anvil platform packages the
# registry serves here (linux-amd64), and `npm ci` refuses a lock without every optional platform.
# --no-save: install what the lock file says without rewriting it (a plain install adds the other platforms'
# entries to it), so running setup leaves the checkout unchanged.
$(STAMP)/node: package.json package-lock.json
	npm install --no-save --no-audit --no-fund --loglevel=error
	mkdir -p $(STAMP) && touch $@
