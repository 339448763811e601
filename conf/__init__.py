"""Hydra configs shipped inside the package as harness.conf (read as pkg://harness.conf)."""
