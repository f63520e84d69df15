"""Shared fixtures. Real data comes from ../shared/data through one helper:
missing data skips a test locally and fails it under CI (``CI`` set)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import textcell
from textcell.datasets import shared_data_dir

IN_CI = bool(os.environ.get("CI"))
os.environ["HF_HUB_OFFLINE"] = "1"  # tests never reach a model hub


def need(reason: str) -> None:
    """Skip (locally) or fail (in CI) a test whose prerequisite is missing."""
    if IN_CI:
        pytest.fail(f"{reason} (CI must provide it)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    root = shared_data_dir()
    if root is None:
        need("../shared/data not found; set TEXTCELL_SHARED_DATA to run tests on real data")
    return root


@pytest.fixture(autouse=True, scope="session")
def _isolated_settings(tmp_path_factory):
    """Keep tests away from the user's cache and silence progress bars."""
    cache = tmp_path_factory.mktemp("cache")
    old = textcell.settings.cache_dir, textcell.settings.progress
    textcell.settings.cache_dir, textcell.settings.progress = cache, False
    os.environ["TEXTCELL_CACHE_DIR"] = str(cache)
    yield
    textcell.settings.cache_dir, textcell.settings.progress = old


@pytest.fixture(scope="session")
def corpus():
    return textcell.genes.GeneCorpus.load()


@pytest.fixture(scope="session")
def resolver(corpus):
    return textcell.genes.GeneResolver(corpus)


@pytest.fixture(scope="session")
def refseq_summaries(shared_data) -> Path:
    return shared_data / "genes" / "refseq_summaries_human.jsonl.gz"


@pytest.fixture(scope="session")
def openai_server():
    """A real OpenAI-compatible embeddings server (infinity-emb serving MiniLM) on 127.0.0.1."""
    from openai_server import InfinityServer, infinity_venv

    venv = infinity_venv()
    if venv is None:
        need("no infinity-emb venv (.venv-infinity or $TEXTCELL_INFINITY_VENV); run setup_openai_server.sh")
    with InfinityServer(venv) as running:
        yield running
