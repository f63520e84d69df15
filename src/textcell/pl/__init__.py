"""Plots: benchmark bars, UMAPs by label and batch, confusion matrices."""

from .benchmark import confusion, embedding_umaps, metric_bars

__all__ = ["confusion", "embedding_umaps", "metric_bars"]
