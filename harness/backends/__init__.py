"""Drivers: one module each behind harness.backends.base.Backend, chosen by Hydra's instantiate."""
