"""scGPT (Cui et al. 2024) in pure torch: official checkpoints, cell embeddings, pretraining here.

- :func:`load_checkpoint` reads an official folder (``best_model.pt``, ``vocab.json``,
  ``args.json``; either attention naming) into a :class:`ScGPT`;
- :func:`textcell.tl.scgpt_embed` embeds an AnnData's cells with scGPT's input recipe;
- ``ScGPTModel`` (in :mod:`.model`) is scGPT's ``TransformerModel`` on
  ``scaled_dot_product_attention``.

torch is an optional dependency (``pip install 'textcell[scgpt]'``); importing this package does
not import it.
"""

from .checkpoint import ScGPT, fingerprint, load_checkpoint, save_checkpoint
from .config import ScGPTConfig
from .tokenize import Recipe
from .vocab import GeneMapping, Vocab, map_genes

__all__ = [
    "GeneMapping",
    "Recipe",
    "ScGPT",
    "ScGPTConfig",
    "ScGPTModel",
    "Vocab",
    "fingerprint",
    "load_checkpoint",
    "map_genes",
    "save_checkpoint",
]


def __getattr__(name: str):
    if name == "ScGPTModel":  # imports torch
        from .model import ScGPTModel

        return ScGPTModel
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
