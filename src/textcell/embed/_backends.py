"""The built-in backends and short names (imported by the registry on first use)."""

from __future__ import annotations

from functools import partial

from ..errors import InputError
from .base import register_backend, register_name


def _local(argument, *, precision="float32", **_context):
    from .local import DEFAULT_LOCAL_MODEL, LocalEmbedder

    return LocalEmbedder(argument or DEFAULT_LOCAL_MODEL, precision=precision)


def _api(argument, **_context):
    from .api import ApiEmbedder

    return ApiEmbedder(argument or "")


def _tfidf(argument, *, corpus=None, view="card", **_context):
    from .tfidf import TfidfEmbedder

    return TfidfEmbedder(corpus=corpus, view=view, dim=int(argument or 256))


def _go(argument, *, corpus=None, **_context):
    from .go import GoEmbedder

    return GoEmbedder(corpus=corpus, dim=int(argument or 256))


def _random(argument, **_context):
    from .random_vectors import RandomEmbedder

    return RandomEmbedder(dim=int(argument or 384))


def _precomputed(argument, *, corpus=None, trusted=False, **_context):
    from .precomputed import PrecomputedEmbeddings

    if not argument:
        raise InputError("Name the table: 'precomputed:path/to/table.json'.")
    return PrecomputedEmbeddings(argument, corpus=corpus, trusted=trusted)


def _combined(argument, **context):
    from .combined import CombinedEmbedder

    if not argument or "+" not in argument:
        raise InputError("Name the members: 'combined:all-MiniLM-L6-v2+tfidf'.")
    return CombinedEmbedder(argument.split("+"), **context)


register_backend("local", _local, "sentence-transformers model by Hugging Face name or folder")
register_backend(
    "local-bf16",
    partial(_local, precision="bfloat16"),
    "the same in bfloat16: faster on CPUs with native bfloat16, close vectors",
)
register_backend("api", _api, "OpenAI-compatible /embeddings endpoint ($OPENAI_BASE_URL, $OPENAI_API_KEY)")
register_backend("tfidf", _tfidf, "offline TF-IDF + LSA fitted on the corpus; argument: dimension")
register_backend("go", _go, "Gene Ontology incidence (IDF) + truncated SVD, no text; argument: dimension")
register_backend("random", _random, "random vectors per text, a control; argument: dimension")
register_backend("precomputed", _precomputed, "gene → vector table (JSON, CSV/TSV, NPZ, parquet)")
register_backend("combined", _combined, "concatenation of several models joined by '+'")

register_name("all-MiniLM-L6-v2", "local:sentence-transformers/all-MiniLM-L6-v2", "default local model")
register_name("minilm", "local:sentence-transformers/all-MiniLM-L6-v2", "default local model")
register_name(
    "all-MiniLM-L6-v2-bf16", "local-bf16:sentence-transformers/all-MiniLM-L6-v2", "default model in bfloat16"
)
register_name("biobert", "local:dmis-lab/biobert-base-cased-v1.2", "BioBERT (mean pooling)")
register_name("scibert", "local:allenai/scibert_scivocab_uncased", "SciBERT (mean pooling)")
register_name(
    "pubmedbert",
    "local:microsoft/BiomedNLP-BiomedBERT-base-uncased-abstract-fulltext",
    "PubMedBERT (mean pooling)",
)
for _model in ("text-embedding-3-small", "text-embedding-3-large", "text-embedding-ada-002"):
    register_name(_model, f"api:{_model}", "OpenAI embeddings")
