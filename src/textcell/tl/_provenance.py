"""The provenance every tool writes into ``uns[key]['params']``."""

from __future__ import annotations

from importlib.metadata import version

from ..genes.corpus import GeneCorpus


def base_params(corpus: GeneCorpus) -> dict[str, str]:
    return {
        "textcell_version": version("textcell"),
        "corpus_version": corpus.version,
        "corpus_sources": "; ".join(f"{k}: {v}" for k, v in corpus.sources.items()),
    }
