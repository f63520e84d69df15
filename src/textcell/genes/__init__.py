"""Gene knowledge: the corpus, its text views, identifier resolution and NCBI summaries."""

from .corpus import GeneCorpus, GeneRecord
from .ids import CoverageReport, GeneResolver, Resolution
from .ncbi import GeneSummary, fetch_summaries, write_summaries_jsonl
from .views import VIEWS, View, get_view

__all__ = [
    "VIEWS",
    "CoverageReport",
    "GeneCorpus",
    "GeneRecord",
    "GeneResolver",
    "GeneSummary",
    "Resolution",
    "View",
    "fetch_summaries",
    "get_view",
    "write_summaries_jsonl",
]
