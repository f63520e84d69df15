"""NCBI esummary client against a real local HTTP server that serves RefSeq summaries."""

from __future__ import annotations

import functools
import gzip
import itertools
import json
import logging
import os
import signal
import sqlite3
import subprocess
import sys
import time
import traceback
from collections import Counter
from pathlib import Path

import pytest

import textcell
from ncbi_server import FakeEsummary
from textcell._settings import settings
from textcell.errors import (
    AuthError,
    BackendError,
    CacheError,
    InputError,
    RateLimitError,
    ResponseError,
)
from textcell.genes.ncbi import GeneSummary, fetch_summaries, write_summaries_jsonl

KEY = "0123456789abcdef0123-SECRET-KEY"


@pytest.fixture(scope="module")
def refseq_records(refseq_summaries) -> list[dict[str, str]]:
    """The first 500 records of the shared human RefSeq summaries."""
    with gzip.open(refseq_summaries, "rt") as lines:
        return [json.loads(line) for line in itertools.islice(lines, 500)]


@pytest.fixture
def ids(refseq_records) -> list[str]:
    return [r["entrez"] for r in refseq_records[:450]]


@pytest.fixture
def expected(refseq_records) -> dict[str, tuple[str, str]]:
    return {r["entrez"]: (r["symbol"], r["summary"]) for r in refseq_records}


@pytest.fixture(autouse=True)
def _no_api_key(monkeypatch):
    monkeypatch.delenv("NCBI_API_KEY", raising=False)


@pytest.fixture
def server(refseq_records):
    with FakeEsummary(refseq_records) as fake:
        yield fake


@pytest.fixture
def cache(tmp_path) -> Path:
    return tmp_path / "ncbi" / "esummary_gene.sqlite"


@pytest.fixture
def fetch(server, cache):
    return functools.partial(
        fetch_summaries, base_url=server.base_url, cache_path=cache, min_interval=0, backoff=0.001
    )


def as_pairs(summaries: dict[str, GeneSummary]) -> dict[str, tuple[str, str]]:
    return {k: (s.symbol, s.summary) for k, s in summaries.items()}


def cached_ids(cache: Path) -> set[str]:
    with sqlite3.connect(cache) as con:
        return {row[0] for row in con.execute("SELECT entrez FROM gene_summary")}


def test_fetch_in_batches(server, fetch, ids, expected):
    result = fetch([int(i) for i in ids] + ids[:10], email="dev@example.org")

    assert list(result) == ids
    assert as_pairs(result) == {i: expected[i] for i in ids}
    assert result[ids[0]] == GeneSummary(ids[0], "A1BG", "A1BG (test description)", expected["1"][1])
    assert server.requested_ids == [ids[:200], ids[200:400], ids[400:]]
    assert all(path.endswith("/entrez/eutils/esummary.fcgi") for path in server.paths)
    for params in server.requests:
        assert params.items() >= {"db": "gene", "retmode": "json", "tool": "textcell"}.items()
        assert params["email"] == "dev@example.org"
        assert "api_key" not in params

    server.reset()
    assert fetch(ids) == result
    assert server.requests == []


@pytest.mark.parametrize("fault", ["429", "500", "html", "truncated", "json-error", "drop", "slow"])
def test_faults_are_retried(server, fetch, ids, expected, fault):
    server.faults.extend([fault, None, fault, fault])

    result = fetch(ids, timeout=0.3, max_retries=2)

    assert as_pairs(result) == {i: expected[i] for i in ids}
    assert server.requested_ids == [ids[:200]] * 2 + [ids[200:400]] * 3 + [ids[400:]]


def test_retry_after_is_honoured(server, fetch, ids, expected):
    server.faults.append("429-retry-after")
    start = time.monotonic()
    result = fetch(ids[:10])
    assert time.monotonic() - start >= 0.9
    assert as_pairs(result) == {i: expected[i] for i in ids[:10]}
    assert len(server.requests) == 2


@pytest.mark.parametrize(
    ("fault", "error", "says"),
    [
        ("429", RateLimitError, "too many requests"),
        ("json-error", RateLimitError, "API rate limit exceeded"),
        ("500", BackendError, "HTTP 500"),
        ("drop", BackendError, "connection to NCBI failed"),
        ("html", ResponseError, "HTML instead of JSON (first 80 chars: '<!DOCTYPE html>"),
        ("truncated", ResponseError, "invalid JSON"),
    ],
)
def test_persistent_fault_fails_then_resumes(server, fetch, cache, ids, expected, fault, error, says):
    server.faults.append(None)
    server.always = fault

    with pytest.raises(error) as info:
        fetch(ids, max_retries=2)

    assert type(info.value) is error
    message = str(info.value)
    assert says in message
    assert "3 attempts" in message
    assert "NCBI_API_KEY" in message
    assert str(cache) in message
    assert "rerunning resumes" in message
    assert len(server.requests) == 1 + 3
    assert cached_ids(cache) == set(ids[:200])

    server.always = None
    server.reset()
    result = fetch(ids)
    assert server.requested_ids == [ids[200:400], ids[400:]]
    assert as_pairs(result) == {i: expected[i] for i in ids}
    assert list(result) == ids


def test_client_error_is_not_retried(server, fetch, ids):
    server.faults.append("400")
    with pytest.raises(BackendError, match="HTTP 400") as info:
        fetch(ids)
    assert type(info.value) is BackendError
    assert len(server.requests) == 1


def test_rejected_api_key(server, fetch, ids):
    server.faults.append("bad-key")
    with pytest.raises(AuthError, match="NCBI rejected the API key") as info:
        fetch(ids, api_key=KEY)
    assert KEY not in str(info.value)
    assert len(server.requests) == 1


def test_default_cache_location(server, tmp_path, monkeypatch, ids):
    monkeypatch.setattr(settings, "cache_dir", tmp_path / "home")
    fetch_summaries(ids[:5], base_url=server.base_url, min_interval=0)
    cache = tmp_path / "home" / "ncbi" / "esummary_gene.sqlite"
    assert cached_ids(cache) == set(ids[:5])
    with sqlite3.connect(cache) as con:
        assert con.execute("PRAGMA journal_mode").fetchone() == ("wal",)


CHILD = """
import json, sys
from textcell._settings import settings
from textcell.genes.ncbi import fetch_summaries
settings.progress = False
ids = json.loads(sys.argv[1])
fetch_summaries(ids, base_url=sys.argv[2], cache_path=sys.argv[3], min_interval=0, backoff=0.001)
"""


@pytest.mark.slow
def test_killed_run_resumes(server, fetch, cache, ids, expected):
    server.faults.extend([None, "hold"])
    src = str(Path(textcell.__file__).resolve().parents[1])
    env = os.environ | {"PYTHONPATH": os.pathsep.join(filter(None, [src, os.environ.get("PYTHONPATH")]))}
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, json.dumps(ids), server.base_url, str(cache)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 60
        while len(server.requests) < 2:
            if child.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"child did not reach its second batch: {child.stderr.read().decode()}")
            time.sleep(0.02)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
        child.stderr.close()
    server.release.set()
    assert child.returncode == -signal.SIGKILL
    assert cached_ids(cache) == set(ids[:200])

    before = server.requested_ids
    server.reset()
    result = fetch(ids)

    after = server.requested_ids
    assert after == [ids[200:400], ids[400:]]
    counts = Counter(i for batch in before + after for i in batch)
    in_flight = set(before[-1])
    assert in_flight == set(ids[200:400])
    assert {i for i, n in counts.items() if n > 1} == in_flight
    assert max(counts.values()) == 2
    assert as_pairs(result) == {i: expected[i] for i in ids}


def test_api_key_is_sent_but_never_leaked(server, fetch, cache, ids, caplog, monkeypatch):
    monkeypatch.setenv("NCBI_API_KEY", KEY)
    caplog.set_level(logging.DEBUG)
    server.faults.extend(["json-error", "429", "drop", "html"])

    fetch(ids[:250], max_retries=4)
    assert len(server.requests) == 6
    assert all(params["api_key"] == KEY for params in server.requests)

    server.always = "429"
    with pytest.raises(RateLimitError) as info:
        fetch(ids[250:300], max_retries=1)
    assert "<NCBI_API_KEY>" in str(info.value)  # NCBI echoes the key in its 429 body
    assert KEY not in "".join(traceback.format_exception(info.value))
    assert caplog.records
    assert all(KEY not in record.getMessage() for record in caplog.records)
    assert KEY not in caplog.text
    files = list(cache.parent.iterdir())
    assert cache in files
    assert all(KEY.encode() not in f.read_bytes() for f in files)


class FakeClock:
    """time.monotonic and time.sleep where only sleeping moves the clock: the waits a rate limiter
    asks for, free of how long the requests themselves took on a loaded machine."""

    def __init__(self):
        self.now, self.sleeps = 1000.0, []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def test_min_interval_follows_key(server, fetch, ids, monkeypatch):
    import textcell.genes.ncbi as ncbi

    clock = FakeClock()
    monkeypatch.setattr(ncbi, "time", clock)
    fetch(ids[:3], batch_size=1, min_interval=None)
    without_key, clock.sleeps = clock.sleeps, []
    fetch(ids[3:6], batch_size=1, min_interval=None, api_key=KEY)
    assert len(server.requests) == 6
    # NCBI allows 3 requests a second without a key and 10 with one
    assert without_key == pytest.approx([0.35, 0.35])
    assert clock.sleeps == pytest.approx([0.11, 0.11])


def test_requests_keep_min_interval_apart_in_real_time(server, fetch, ids):
    start = time.monotonic()
    fetch(ids[:3], batch_size=1, min_interval=0.25)
    assert time.monotonic() - start >= 2 * 0.25  # a lower bound only: a loaded machine is slower


@pytest.mark.parametrize("bad", [["7157", "TP53"], ["0"], [-5], ["7157.0"], [" "], [1.5]])
def test_bad_ids(fetch, server, bad):
    with pytest.raises(InputError, match="not positive integers"):
        fetch(bad)
    assert server.requests == []


@pytest.mark.parametrize("batch_size", [0, 201, 500])
def test_bad_batch_size(fetch, ids, batch_size):
    with pytest.raises(InputError, match="batch_size"):
        fetch(ids, batch_size=batch_size)


def test_corrupt_cache(fetch, cache, ids):
    cache.parent.mkdir(parents=True)
    cache.write_bytes(b"this is not a SQLite database\n" * 50)
    with pytest.raises(CacheError) as info:
        fetch(ids)
    assert str(cache) in str(info.value)
    assert "delete it" in str(info.value)


def test_uid_errors_are_missing(server, fetch, cache, ids, expected, caplog):
    server.uid_errors.add(ids[5])
    wanted = [*ids[:10], "999999999"]

    with caplog.at_level(logging.WARNING, logger="textcell"):
        result = fetch(wanted)

    assert list(result) == [i for i in ids[:10] if i != ids[5]]
    assert as_pairs(result) == {i: expected[i] for i in result}
    assert len(server.requests) == 1
    assert "no gene summary for 2 of the requested IDs" in caplog.text
    assert cached_ids(cache) == set(result)

    server.reset()
    fetch(wanted)
    assert server.requested_ids == [[ids[5], "999999999"]]


def test_write_summaries_jsonl(tmp_path, refseq_records, fetch, ids):
    source = "".join(json.dumps(r) + "\n" for r in refseq_records)
    summaries = [GeneSummary(r["entrez"], r["symbol"], "", r["summary"]) for r in refseq_records]
    summaries = [*summaries[::-1], GeneSummary("123456789", "NOSUM", "", "")]

    plain = write_summaries_jsonl(summaries, tmp_path / "out.jsonl")
    assert plain.read_text() == source

    packed = write_summaries_jsonl({s.entrez: s for s in summaries}, tmp_path / "out.jsonl.gz")
    data = packed.read_bytes()
    assert gzip.decompress(data).decode() == source
    assert data[4:8] == b"\0\0\0\0"
    again = write_summaries_jsonl(summaries, tmp_path / "again" / "out.jsonl.gz")
    assert again.read_bytes() == data
    assert sorted(p.name for p in tmp_path.iterdir()) == ["again", "out.jsonl", "out.jsonl.gz"]

    fetched = write_summaries_jsonl(fetch(ids[::-1]), tmp_path / "fetched.jsonl")
    assert fetched.read_text() == "".join(json.dumps(r) + "\n" for r in refseq_records[:450])
