"""Benchmarks a reviewer can re-run: gene- and cell-level tasks with real baselines and spread."""
