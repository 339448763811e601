# Two commands: `make run` and `make test`. Each does its own set-up first (idempotent):
# `make run` what lgbench needs, `make test` that and what the tests need (scripts/setup.sh).
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: setup setup-test run dry-run test test-fast bench lint docs cluster-up cluster-down

setup:
	./scripts/setup.sh run

setup-test:
	./scripts/setup.sh test

run: setup
	$(VENV)/bin/lgbench

# The whole pipeline in seconds, no appliance started (the fake backend): a first look.
dry-run: setup
	$(VENV)/bin/lgbench backend=fake

# Every tier on both cores (pytest-xdist): a TCG appliance keeps one core busy. Tests that use
# what the whole host shares (root's accounts and mounts, the cluster, libvirtd) run on one
# worker, one after another (tests/conftest.py).
test: setup-test
	$(VENV)/bin/python -m pytest -n 2 --dist loadgroup

# The fast tier: no appliance booted, nothing that needs root; a few minutes anywhere.
test-fast: setup-test
	$(VENV)/bin/python -m pytest -n 2 --dist loadgroup -m "not appliance and not root"

bench: setup
	$(PY) benchmarks/launch_overhead.py
	$(PY) benchmarks/parallel_modes.py
	$(PY) benchmarks/many_at_once.py
	$(PY) benchmarks/gate_error_rates.py
	$(PY) benchmarks/verdict_error_rates.py
	$(PY) benchmarks/report_scale.py
	$(PY) benchmarks/cli_startup.py

lint: setup-test
	$(VENV)/bin/ruff check .

# The documentation site (docs/, mkdocs.yml) into site/; its configuration reference is
# generated from the config first (harness/cli/usage.py).
docs: setup-test
	$(PY) -m harness.cli.usage > docs/reference.md  # what lgbench --help prints
	$(VENV)/bin/mkdocs build --strict --site-dir site

# A one-node SLURM cluster on this host for hydra/launcher=submitit_slurm (scripts/slurm_cluster.py,
# as root; then `export SLURM_CONF=/var/tmp/lgbench-slurm/slurm.conf`). The venv's python, for
# harness.host.trust.
cluster-up:
	./scripts/setup.sh cluster
	$(PY) scripts/slurm_cluster.py up

cluster-down: setup
	$(PY) scripts/slurm_cluster.py down
