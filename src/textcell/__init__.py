"""textcell: what language models know about genes, for single-cell RNA-seq analysis.

The namespaces (``tc.genes``, ``tc.embed``, ``tc.tl``, ``tc.pl``, ``tc.bench`` ...) load on first
use, so ``import textcell`` and the command line's help stay fast.
"""

from __future__ import annotations

import importlib
from importlib.metadata import version as _version
from typing import TYPE_CHECKING

from ._settings import settings

if TYPE_CHECKING:
    from . import (
        annotation,
        bench,
        datasets,
        embed,
        genes,
        markers,
        models,
        ontology,
        perturb,
        pl,
        report,
        tl,
    )

__version__ = _version("textcell")
__all__ = [
    "annotation",
    "bench",
    "datasets",
    "embed",
    "genes",
    "markers",
    "models",
    "ontology",
    "perturb",
    "pl",
    "recipe",
    "report",
    "settings",
    "tl",
]
_NAMESPACES = frozenset(__all__) - {"settings"}


def __getattr__(name: str):
    if name in _NAMESPACES:
        module = importlib.import_module(f".{name}", __name__)
        globals()[name] = module
        return module
    raise AttributeError(f"module 'textcell' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
