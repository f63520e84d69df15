import logging
import sqlite3
import subprocess
import sys

import numpy as np
import pytest

from textcell.embed import RandomEmbedder, VectorCache, cache_info, clear_cache, embed_texts, plan_texts
from textcell.embed.cache import text_key


class CountingEmbedder(RandomEmbedder):
    """Random vectors that remember every text they were asked to embed."""

    def __init__(self):
        super().__init__(dim=16, seed=1)
        self.seen: list[str] = []

    def embed_batch(self, texts):
        self.seen.extend(texts)
        return super().embed_batch(texts)


TEXTS = [f"gene card number {i}" for i in range(300)]


def test_identical_texts_are_embedded_once_and_cached_texts_never_again():
    embedder = CountingEmbedder()
    first = embed_texts(embedder, TEXTS + TEXTS[:50])
    assert sorted(embedder.seen) == sorted(TEXTS)
    assert np.array_equal(first[:50], first[300:])
    embedder.seen.clear()
    again = embed_texts(embedder, TEXTS[::-1])
    assert embedder.seen == []
    assert np.array_equal(again, first[:300][::-1])


def test_no_cache_writes_nothing(tmp_path, monkeypatch):
    import textcell

    monkeypatch.setattr(textcell.settings, "cache_dir", tmp_path)
    embed_texts(CountingEmbedder(), TEXTS[:10], cache=False)
    assert list(tmp_path.rglob("*")) == []


def test_plan_counts_cached_and_pending_without_touching_disk(tmp_path, monkeypatch):
    import textcell

    monkeypatch.setattr(textcell.settings, "cache_dir", tmp_path)
    embedder = CountingEmbedder()
    plan = plan_texts(embedder, TEXTS[:20] + TEXTS[:5])
    assert (plan.n_texts, plan.n_unique, plan.n_cached, plan.n_to_embed) == (25, 20, 0, 20)
    assert list(tmp_path.rglob("*")) == []
    embed_texts(embedder, TEXTS[:8])
    plan = plan_texts(embedder, TEXTS[:20])
    assert (plan.n_cached, plan.n_to_embed) == (8, 12)
    assert embedder.seen == TEXTS[:8]


def test_damaged_entry_is_detected_and_recomputed(caplog):
    embedder = CountingEmbedder()
    expected = embed_texts(embedder, TEXTS[:5])
    key = text_key(embedder.fingerprint(), TEXTS[2])
    with VectorCache(embedder.fingerprint()) as cache:
        path = cache.path
    con = sqlite3.connect(path)
    con.execute("UPDATE vectors SET vec = zeroblob(64) WHERE key = ?", (key,))
    con.commit()
    con.close()
    embedder.seen.clear()
    with caplog.at_level(logging.WARNING, logger="textcell"):
        again = embed_texts(embedder, TEXTS[:5])
    assert embedder.seen == [TEXTS[2]]
    assert "damaged entry" in caplog.text
    assert np.array_equal(again, expected)


def test_unreadable_cache_file_is_moved_aside(tmp_path, caplog):
    path = tmp_path / "abc.sqlite"
    path.write_bytes(b"this is not a database" * 100)
    with caplog.at_level(logging.WARNING, logger="textcell"), VectorCache("abc", root=tmp_path) as cache:
        cache.put(["k"], np.ones((1, 4), dtype=np.float32))
        assert np.array_equal(cache.get(["k"])["k"], np.ones(4))
    assert "starting afresh" in caplog.text
    assert len(list(tmp_path.glob("abc.sqlite.corrupt-*"))) == 1


WRITER = """
import sys, numpy as np
from textcell.embed import VectorCache
root, who = sys.argv[1], sys.argv[2]
with VectorCache("shared", root=root) as cache:
    for batch in range(40):
        keys = [f"{who}-{batch}-{i}" for i in range(25)]
        cache.put(keys, np.full((25, 8), batch, dtype=np.float32))
"""


def test_two_processes_write_at_once(tmp_path):
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path), who]) for who in ("a", "b")]
    assert [p.wait(timeout=120) for p in procs] == [0, 0]
    with VectorCache("shared", root=tmp_path) as cache:
        assert len(cache) == 2 * 40 * 25
        got = cache.get(["a-39-0", "b-7-24"])
    assert got["a-39-0"][0] == 39
    assert got["b-7-24"][0] == 7


def test_cache_info_and_clear(tmp_path):
    with VectorCache("one", model_id="m1", root=tmp_path) as cache:
        cache.put(["x", "y"], np.zeros((2, 3), dtype=np.float32))
    with VectorCache("two", model_id="m2", root=tmp_path) as cache:
        cache.put(["x"], np.zeros((1, 5), dtype=np.float32))
    info = {e.fingerprint: (e.model_id, e.vectors, e.dim) for e in cache_info(tmp_path)}
    assert info == {"one": ("m1", 2, 3), "two": ("m2", 1, 5)}
    assert clear_cache(tmp_path, fingerprint="one") >= 1
    assert [e.fingerprint for e in cache_info(tmp_path)] == ["two"]
    clear_cache(tmp_path)
    assert cache_info(tmp_path) == []


def test_dimension_change_under_one_fingerprint_is_refused(tmp_path):
    from textcell.errors import CacheError

    with VectorCache("fp", root=tmp_path) as cache:
        cache.put(["a"], np.zeros((1, 4), dtype=np.float32))
        with pytest.raises(CacheError, match="dimension 4"):
            cache.put(["b"], np.zeros((1, 5), dtype=np.float32))
