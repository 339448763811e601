# Two commands: `make run` and `make test`. Each does the whole set-up first (idempotent).
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: setup run test test-fast bench lint cluster-up cluster-down

setup:
	./scripts/setup.sh

run: setup
	$(VENV)/bin/lgbench

# Every tier on both cores (pytest-xdist): a TCG appliance keeps one core busy. Tests that use
# what the whole host shares (root's accounts and mounts, the cluster, libvirtd) run on one
# worker, one after another (tests/conftest.py).
test: setup
	$(VENV)/bin/python -m pytest -n 2 --dist loadgroup

# The fast tier: no appliance booted, nothing that needs root; a few minutes anywhere.
test-fast: setup
	$(VENV)/bin/python -m pytest -n 2 --dist loadgroup -m "not appliance and not root"

bench: setup
	$(PY) benchmarks/launch_overhead.py
	$(PY) benchmarks/parallel_modes.py
	$(PY) benchmarks/many_at_once.py
	$(PY) benchmarks/gate_error_rates.py
	$(PY) benchmarks/verdict_error_rates.py
	$(PY) benchmarks/report_scale.py
	$(PY) benchmarks/cli_startup.py

lint: setup
	$(VENV)/bin/ruff check .

# A one-node SLURM cluster on this host for hydra/launcher=submitit_slurm (scripts/slurm_cluster.py,
# as root; then `export SLURM_CONF=/var/tmp/lgbench-slurm/slurm.conf`). The venv's python, for
# harness.host.trust.
cluster-up: setup
	$(PY) scripts/slurm_cluster.py up

cluster-down: setup
	$(PY) scripts/slurm_cluster.py down
