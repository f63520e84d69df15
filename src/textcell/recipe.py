"""CellRecipe: how a cell embedding is made, and the fingerprint that identifies one.

:func:`textcell.tl.embed_cells` takes a recipe (a preset name or a :class:`CellRecipe`), writes the
recipe it applied into ``uns[key]['params']`` beside the gene embeddings' provenance, and every
consumer of a cell embedding (classifiers, annotation references, benchmarks) compares
:func:`embedding_identity` fingerprints, naming the fields that differ.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
from collections.abc import Mapping

import numpy as np

from .errors import InputError

logger = logging.getLogger("textcell")

METHODS = ("weighted", "topn", "sentence")
NORMALIZE = ("auto", "counts", "none")
PRECISIONS = ("float32", "bfloat16")

# What identifies the gene embeddings a cell embedding was made from (their provenance, as
# textcell.tl.embed_genes writes it) ...
GENE_FIELDS = ("model", "backend", "fingerprint", "dim", "view", "corpus_version")
# ... and what embed_cells applied to them (its provenance, as textcell.tl.embed_cells writes it).
APPLIED_FIELDS = (
    "method",
    "normalization",
    "highly_variable",
    "idf",
    "center",
    "whiten",
    "scale",
    "n_top",
    "sentence_model",
    "precision",
)


@dataclasses.dataclass(frozen=True)
class CellRecipe:
    """How :func:`textcell.tl.embed_cells` turns gene embeddings into cell embeddings.

    Parameters
    ----------
    method
        ``"weighted"`` (GenePT-w), ``"topn"`` or ``"sentence"`` (GenePT-s).
    normalize
        ``"auto"``, ``"counts"`` or ``"none"`` (see :mod:`textcell._expression`).
    highly_variable
        Use only ``var['highly_variable']`` genes; ``None``: when that column exists.
    idf, center, whiten, scale
        Gene weighting and vector transforms (see :func:`textcell.tl.embed_cells`).
    n_top
        Genes per cell for ``topn`` and ``sentence``.
    precision
        How the gene vectors are held while cells are summed: ``"float32"``, or ``"bfloat16"``
        (half the bytes per gene vector read, and two per vdpbf16ps where the CPU has AVX512-BF16,
        so faster; sums stay float32, and the cell vectors stay within 1e-4 cosine of float32 ones,
        ``benchmarks/bench_cells.py``). A bfloat16 embedding
        has its own fingerprint.
    """

    method: str = "weighted"
    normalize: str = "auto"
    highly_variable: bool | None = None
    idf: bool = True
    center: bool = True
    whiten: bool = True
    scale: bool = True
    n_top: int = 100
    precision: str = "bfloat16"

    def __post_init__(self):
        if self.method not in METHODS:
            raise InputError(f"Unknown method {self.method!r}; use one of {', '.join(METHODS)}.")
        if self.normalize not in NORMALIZE:
            raise InputError(f"Unknown normalize {self.normalize!r}; use one of {', '.join(NORMALIZE)}.")
        if self.precision not in PRECISIONS:
            raise InputError(f"Unknown precision {self.precision!r}; use one of {', '.join(PRECISIONS)}.")
        if not isinstance(self.n_top, int | np.integer) or self.n_top < 1:
            raise InputError(f"n_top must be an integer of at least 1, not {self.n_top!r}.")

    @classmethod
    def get(cls, recipe: CellRecipe | str | None = None, **overrides) -> CellRecipe:
        """A recipe from a preset name (:data:`PRESETS`) or a recipe, with the fields in
        ``overrides`` that are not ``None`` replaced."""
        if recipe is None:
            recipe = "textcell"
        if isinstance(recipe, str):
            if recipe not in PRESETS:
                raise InputError(
                    f"Unknown recipe {recipe!r}; use one of {', '.join(PRESETS)} or a CellRecipe."
                )
            recipe = PRESETS[recipe]
        if not isinstance(recipe, CellRecipe):
            raise InputError(f"recipe must be a preset name or a CellRecipe, not {type(recipe).__name__}.")
        unknown = set(overrides) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise InputError(
                f"Unknown recipe fields {sorted(unknown)}; a CellRecipe has {cls.field_names()}."
            )
        return dataclasses.replace(recipe, **{k: v for k, v in overrides.items() if v is not None})

    @classmethod
    def field_names(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls)]

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def applied(self, *, has_highly_variable: bool, log_normalize: bool, sentence_model=None) -> dict:
        """The recipe as it acts on a dataset: ``highly_variable`` decided, the normalisation as
        its provenance string, options that do not apply to the method switched off."""
        from ._expression import normalization_label

        sentence = self.method == "sentence"  # a sentence is embedded as text: no gene vectors to weigh
        whiten = self.whiten and not sentence
        return {
            "method": self.method,
            "normalization": normalization_label(log_normalize),
            "highly_variable": bool(
                has_highly_variable if self.highly_variable is None else self.highly_variable
            ),
            "idf": self.idf and not sentence,
            "center": (self.center or whiten) and not sentence,
            "whiten": whiten,
            "scale": self.scale and not sentence,
            "n_top": self.n_top if self.method != "weighted" else 0,
            **(
                {"sentence_model": str(getattr(sentence_model, "model_id", sentence_model))}
                if sentence
                else {}
            ),
            # float32 is not written, so float32 embeddings keep the fingerprints they always had
            **({"precision": self.precision} if self.precision != "float32" and not sentence else {}),
        }


PRESETS: Mapping[str, CellRecipe] = {
    # chosen on the validation dataset of textcell.bench.cells, never on the reported ones
    "textcell": CellRecipe(),
    # GenePT-w exactly as published: the expression-weighted average of the genes' vectors
    "genept-w": CellRecipe(
        highly_variable=False, idf=False, center=False, whiten=False, scale=False, precision="float32"
    ),
}


def _plain(value):
    return value.item() if isinstance(value, np.generic) else value


def _identity(fields: Mapping) -> dict:
    digest = hashlib.sha256(json.dumps(fields, sort_keys=True, default=str).encode()).hexdigest()[:16]
    return {"id": digest, "fields": dict(fields)}


def embedding_identity(params: Mapping) -> dict:
    """``{"id": short hash, "fields": {...}}`` of a cell embedding from its provenance
    (``uns[key]['params']``): the gene embeddings it was made from and the recipe applied."""
    return _identity({k: _plain(params[k]) for k in (*GENE_FIELDS, *APPLIED_FIELDS) if k in params})


def identity_of(adata, key: str) -> dict:
    """:func:`embedding_identity` of ``obsm[key]``; an embedding without textcell provenance (e.g.
    ``X_pca``) is known only by its name and width."""
    if key not in adata.obsm:
        raise InputError(
            f"Did not find .obsm[{key!r}]; run textcell.tl.embed_cells first (or pass use_rep=)."
        )
    entry = adata.uns.get(key)
    params = entry.get("params", {}) if isinstance(entry, Mapping) else {}
    if params:
        return embedding_identity(params)
    logger.warning("obsm[%r] has no textcell provenance in uns; only its width can be checked.", key)
    return _identity({"use_rep": key, "dim": int(np.shape(adata.obsm[key])[1])})


def differences(expected: Mapping, found: Mapping) -> list[str]:
    """``"field: expected X, got Y"`` for every field in which two identities' fields differ."""
    return [
        f"{k}: expected {expected.get(k)!r}, got {found.get(k)!r}"
        for k in sorted(set(expected) | set(found))
        if expected.get(k) != found.get(k)
    ]


def require_same(expected: dict, found: dict, *, what: str, fix: str) -> None:
    """Raise an :class:`InputError` naming the differing fields unless two identities match."""
    if expected["id"] != found["id"]:
        changed = "; ".join(differences(expected["fields"], found["fields"]))
        raise InputError(f"{what} was made differently ({changed}). {fix}")
