"""Text → vectors: pluggable embedders, a resumable cache, and GeneEmbeddings."""

from .._defaults import DEFAULT_MODEL, DEFAULT_VIEW
from .api import ApiEmbedder
from .base import Embedder, available, get_embedder, register_backend, register_name
from .cache import VectorCache, cache_info, clear_cache
from .combined import CombinedEmbedder
from .gene_embeddings import GeneEmbeddings, gene_vectors
from .local import LocalEmbedder
from .precomputed import PrecomputedEmbeddings
from .random_vectors import RandomEmbedder
from .texts import EmbeddingPlan, embed_texts, plan_texts
from .tfidf import TfidfEmbedder

__all__ = [
    "DEFAULT_MODEL",
    "DEFAULT_VIEW",
    "ApiEmbedder",
    "CombinedEmbedder",
    "Embedder",
    "EmbeddingPlan",
    "GeneEmbeddings",
    "LocalEmbedder",
    "PrecomputedEmbeddings",
    "RandomEmbedder",
    "TfidfEmbedder",
    "VectorCache",
    "available",
    "cache_info",
    "clear_cache",
    "embed_texts",
    "gene_vectors",
    "get_embedder",
    "plan_texts",
    "register_backend",
    "register_name",
]
