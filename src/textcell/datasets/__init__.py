"""Datasets: scanpy's bundled data and the shared test/benchmark data."""

from ._loaders import pbmc68k_reduced
from ._shared import shared_data_dir, shared_file

__all__ = ["pbmc68k_reduced", "shared_data_dir", "shared_file"]
