"""The api backend against a real OpenAI-compatible server (infinity-emb serving MiniLM),
through a counting proxy that injects failures."""

import logging
import os
import signal
import sqlite3
import subprocess
import sys
import time

import anndata as ad
import numpy as np
import pytest

import textcell
from openai_server import CountingProxy
from textcell.embed import ApiEmbedder, LocalEmbedder, embed_texts, plan_texts
from textcell.errors import AuthError, RateLimitError

pytestmark = pytest.mark.slow
SECRET = "sk-test-0123456789-do-not-leak"


@pytest.fixture(scope="module")
def texts(corpus):
    cols = corpus.columns
    coding = [e for e, t in zip(cols["entrez"], cols["type"], strict=True) if t == "protein-coding"]
    return corpus.render(coding[:120], view="card")


@pytest.fixture
def proxy(openai_server):
    with CountingProxy(openai_server.base_url) as counting:
        yield counting


@pytest.fixture
def fresh_cache(tmp_path, monkeypatch):
    monkeypatch.setattr(textcell.settings, "cache_dir", tmp_path / "cache")
    return tmp_path / "cache"


def api(base_url, **options):
    defaults = {"dim": 384, "max_batch_texts": 16, "concurrency": 2, "backoff": 0.01, "max_retries": 3}
    return ApiEmbedder("all-MiniLM-L6-v2", base_url=base_url, **{**defaults, **options})


def test_vectors_equal_the_local_backend(openai_server, texts, fresh_cache):
    remote = embed_texts(api(openai_server.base_url), texts[:40])
    local = LocalEmbedder().embed_batch(texts[:40])
    assert np.abs(remote - local).max() < 1e-4


@pytest.mark.parametrize("fault", ["429", "500", "drop", "drop-after-forward"])
def test_failures_are_retried_and_the_result_is_complete(proxy, texts, fresh_cache, fault):
    proxy.faults.extend([fault, None, fault])
    got = embed_texts(api(proxy.base_url), texts[:64])
    reference = embed_texts(api(proxy.base_url), texts[:64], cache=False)
    assert np.array_equal(got, reference)
    assert [r.fault for r in proxy.requests[:3]] == [fault, None, fault]


def test_persistent_rate_limit_gives_up_with_a_clear_error(proxy, texts, fresh_cache):
    proxy.always = "429"
    with pytest.raises(RateLimitError, match=r"HTTP 429.*on all 3 attempts"):
        embed_texts(api(proxy.base_url, max_retries=2, concurrency=1), texts[:5])


def test_rejected_key_fails_at_once_and_never_shows_the_key(proxy, texts, fresh_cache):
    proxy.always = "401"
    with pytest.raises(AuthError) as info:
        embed_texts(api(proxy.base_url, api_key=SECRET, concurrency=1), texts[:5])
    assert len(proxy.requests) == 1
    assert SECRET not in str(info.value)


def test_dimensions_option(openai_server, texts, fresh_cache):
    short = embed_texts(api(openai_server.base_url, dimensions=64, dim=None), texts[:4])
    assert short.shape == (4, 64)


def test_dry_run_counts_and_prices_without_sending(proxy, texts, fresh_cache):
    embedder = api(proxy.base_url, usd_per_million_tokens=0.02)
    embed_texts(embedder, texts[:10])
    proxy.reset()
    plan = plan_texts(embedder, texts[:30] + texts[:5])
    assert (plan.n_texts, plan.n_unique, plan.n_cached, plan.n_to_embed) == (35, 30, 10, 20)
    assert plan.estimated_cost_usd == pytest.approx(plan.tokens_to_embed * 0.02 / 1e6)
    assert proxy.requests == []


def test_the_key_is_never_logged_cached_or_stored(proxy, fresh_cache, caplog):
    adata = ad.AnnData(np.ones((2, 3), dtype=np.float32))
    adata.var_names = ["CD3E", "MS4A1", "ALB"]
    embedder = api(proxy.base_url, api_key=SECRET)
    with caplog.at_level(logging.DEBUG):
        textcell.tl.embed_genes(adata, model=embedder)
    assert adata.varm["textcell"].shape == (3, 384)
    assert SECRET not in caplog.text
    assert SECRET not in repr(embedder)
    assert SECRET not in str(adata.uns)
    for path in fresh_cache.rglob("*"):
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes()


WORKER = """
import sys
import numpy as np
from textcell.genes import GeneCorpus
from textcell.embed import ApiEmbedder, embed_texts
base_url, n, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
corpus = GeneCorpus.load()
cols = corpus.columns
coding = [e for e, t in zip(cols["entrez"], cols["type"]) if t == "protein-coding"][:n]
embedder = ApiEmbedder("all-MiniLM-L6-v2", base_url=base_url, dim=384, max_batch_texts=10, concurrency=1)
np.save(out, embed_texts(embedder, corpus.render(coding, view="card")))
print("done")
"""


def _cached_vectors(cache: os.PathLike) -> int:
    paths = list(cache.glob("vectors/*.sqlite"))
    if not paths:
        return 0
    con = sqlite3.connect(paths[0], timeout=30)
    try:
        return con.execute("SELECT count(*) FROM vectors").fetchone()[0]
    except sqlite3.OperationalError:
        return 0
    finally:
        con.close()


def test_killed_run_resumes_without_sending_any_text_twice(proxy, texts, tmp_path):
    def worker(cache, out, **kwargs):
        env = {**os.environ, "TEXTCELL_CACHE_DIR": str(cache)}
        command = [sys.executable, "-c", WORKER, proxy.base_url, str(len(texts)), str(out)]
        return subprocess.Popen(command, env=env, **kwargs)

    cache = tmp_path / "cache"
    proxy.faults.extend([None] * 6 + ["hold"])  # the 7th request waits until the worker is killed
    killed = worker(cache, tmp_path / "killed.npy")
    deadline = time.monotonic() + 240
    while (len(proxy.requests) < 7 or _cached_vectors(cache) < 60) and time.monotonic() < deadline:
        assert killed.poll() is None, "the worker ended before it was killed"
        time.sleep(0.05)
    assert _cached_vectors(cache) == 60, "six batches should be cached before the kill"
    os.kill(killed.pid, signal.SIGKILL)
    killed.wait()
    proxy.release.set()
    first_run = list(proxy.texts_sent)
    assert len(first_run) == 60
    assert not (tmp_path / "killed.npy").exists()

    proxy.reset()
    resumed = worker(cache, tmp_path / "resumed.npy", stdout=subprocess.PIPE, text=True)
    assert resumed.communicate(timeout=600)[0].strip() == "done"
    second_run = list(proxy.texts_sent)
    assert not set(first_run) & set(second_run), "a text was sent twice"
    assert sorted(first_run + second_run) == sorted(texts)

    straight = worker(tmp_path / "fresh-cache", tmp_path / "straight.npy", stdout=subprocess.PIPE, text=True)
    assert straight.communicate(timeout=600)[0].strip() == "done"
    assert np.array_equal(np.load(tmp_path / "resumed.npy"), np.load(tmp_path / "straight.npy"))
