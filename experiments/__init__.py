"""Experiment presets, shipped as harness.experiments: the `experiment` config group."""
