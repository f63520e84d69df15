"""Any OpenAI-compatible ``/embeddings`` endpoint (OpenAI, Azure, vLLM, Ollama, infinity, ...).

Texts go in token-aware batches, a bounded number of requests at a time; each request retries
on 429 (honouring ``Retry-After``), 5xx and dropped connections. The API key comes from an
argument or an environment variable and is sent only in the request header: it is never
logged, cached, fingerprinted or written into results.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait

import httpx
import numpy as np

from .._http import RetryableError, json_answer, snippet, transport_failure, with_retries
from ..errors import InputError, ResponseError
from .base import Embedder, make_fingerprint
from .texts import estimate_tokens

OPENAI_URL = "https://api.openai.com/v1"
# Published dimensions and list prices (USD per million tokens) of OpenAI's embedding models.
KNOWN_MODELS = {
    "text-embedding-3-small": (1536, 0.02),
    "text-embedding-3-large": (3072, 0.13),
    "text-embedding-ada-002": (1536, 0.10),
}


class ApiEmbedder(Embedder):
    """Embeddings from an OpenAI-compatible HTTP API.

    Parameters
    ----------
    model
        Model name the server expects.
    base_url
        API root (the request goes to ``{base_url}/embeddings``); default ``$OPENAI_BASE_URL``
        or OpenAI's.
    api_key
        API key; default: the environment variable named by ``api_key_env``. Servers that need
        none (local vLLM, infinity) work without.
    api_key_env
        Environment variable holding the key.
    dimensions
        Ask the server for shorter vectors (OpenAI's ``dimensions`` option).
    dim
        Vector length, when neither a known model nor ``dimensions`` tells it.
    max_batch_texts, max_batch_tokens
        Limits of one request (tokens estimated at about 4 characters each).
    concurrency
        Requests in flight at once.
    usd_per_million_tokens
        Price used by the dry run (known for OpenAI's models).
    headers, params
        Extra request headers and query parameters (e.g. Azure's ``api-version``).
    auth_header
        Header carrying the key: ``"Authorization"`` (as ``Bearer <key>``) or e.g. Azure's ``"api-key"``.
    """

    name = "api"

    def __init__(
        self,
        model: str,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        api_key_env: str = "OPENAI_API_KEY",
        dimensions: int | None = None,
        dim: int | None = None,
        max_batch_texts: int = 256,
        max_batch_tokens: int = 100_000,
        concurrency: int = 4,
        timeout: float = 60.0,
        max_retries: int = 6,
        backoff: float = 1.0,
        usd_per_million_tokens: float | None = None,
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, str] | None = None,
        auth_header: str = "Authorization",
        client: httpx.Client | None = None,
    ):
        if not model:
            raise InputError("The api backend needs a model name, e.g. 'api:text-embedding-3-small'.")
        if concurrency < 1 or max_batch_texts < 1 or max_batch_tokens < 1:
            raise InputError("concurrency, max_batch_texts and max_batch_tokens must be at least 1.")
        self.model_id = model
        self.base_url = (base_url or os.environ.get("OPENAI_BASE_URL") or OPENAI_URL).rstrip("/")
        self._key = api_key or os.environ.get(api_key_env) or None
        known_dim, known_price = KNOWN_MODELS.get(model, (None, None))
        self.dimensions = dimensions
        self._dim = dimensions or dim or known_dim
        self.usd_per_million_tokens = (
            usd_per_million_tokens if usd_per_million_tokens is not None else known_price
        )
        self.max_batch_texts, self.max_batch_tokens = max_batch_texts, max_batch_tokens
        self.concurrency, self.timeout = concurrency, timeout
        self.max_retries, self.backoff = max_retries, backoff
        self.batch_size = max_batch_texts
        self._headers = dict(headers or {})
        if self._key:
            self._headers[auth_header] = (
                f"Bearer {self._key}" if auth_header == "Authorization" else self._key
            )
        self._params = dict(params or {})
        self._client = client

    def __repr__(self) -> str:  # never shows the key
        return f"ApiEmbedder(model_id={self.model_id!r}, base_url={self.base_url!r})"

    @property
    def dim(self) -> int:
        if self._dim is None:
            raise InputError(
                f"The dimension of {self.model_id!r} is not known until the first answer; "
                "pass dim= (or dimensions=)."
            )
        return self._dim

    def fingerprint(self) -> str:
        return make_fingerprint(
            backend="api", model=self.model_id, base_url=self.base_url, dimensions=self.dimensions
        )

    # ------------------------------------------------------------------ batching
    def batches(self, texts: Sequence[str]) -> list[list[int]]:
        """Positions of ``texts`` grouped into requests that respect both limits."""
        out, current, tokens = [], [], 0
        for i, text in enumerate(texts):
            cost = estimate_tokens(text)
            if current and (len(current) >= self.max_batch_texts or tokens + cost > self.max_batch_tokens):
                out.append(current)
                current, tokens = [], 0
            current.append(i)
            tokens += cost
        if current:
            out.append(current)
        return out

    def embed_batch(self, texts: Sequence[str]) -> np.ndarray:
        parts = dict(self._stream(texts))
        return (
            np.concatenate([parts[k] for k in sorted(parts)])
            if parts
            else np.empty((0, self.dim), np.float32)
        )

    def embed_stream(self, texts: Sequence[str]) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        for _, (positions, vectors) in self._stream(texts):
            yield positions, vectors

    def _stream(self, texts: Sequence[str]) -> Iterator[tuple[int, tuple[np.ndarray, np.ndarray]]]:
        """Yield ``(first position, (positions, vectors))`` per request, as requests finish."""
        batches = self.batches(texts)
        client = self._client or httpx.Client(timeout=self.timeout)
        pending: dict[Future, list[int]] = {}
        try:
            with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
                queue = iter(batches)
                for batch in queue:
                    pending[pool.submit(self._request, client, [texts[i] for i in batch])] = batch
                    if len(pending) >= self.concurrency:
                        break
                while pending:
                    done, _ = wait(pending, return_when=FIRST_COMPLETED)
                    for future in done:
                        batch = pending.pop(future)
                        vectors = future.result()
                        yield batch[0], (np.asarray(batch), vectors)
                        nxt = next(queue, None)
                        if nxt is not None:
                            pending[pool.submit(self._request, client, [texts[i] for i in nxt])] = nxt
        finally:
            for future in pending:
                future.cancel()
            if self._client is None:
                client.close()

    # ------------------------------------------------------------------ one request
    def _request(self, client: httpx.Client, texts: list[str]) -> np.ndarray:
        body: dict = {"model": self.model_id, "input": texts, "encoding_format": "float"}
        if self.dimensions:
            body["dimensions"] = self.dimensions
        advice = f"Check the server at {self.base_url}; finished batches are cached, so rerunning resumes."
        vectors = with_retries(
            lambda: self._attempt(client, body),
            max_retries=self.max_retries,
            backoff=self.backoff,
            advice=advice,
        )
        if len(vectors) != len(texts):
            raise ResponseError(f"The server returned {len(vectors)} vectors for {len(texts)} texts.")
        if self._dim is None:
            self._dim = vectors.shape[1]
        elif vectors.shape[1] != self._dim:
            raise ResponseError(f"The server returned {vectors.shape[1]}-d vectors, expected {self._dim}.")
        return vectors

    def _attempt(self, client: httpx.Client, body: dict) -> np.ndarray:
        try:
            response = client.post(
                f"{self.base_url}/embeddings", json=body, headers=self._headers, params=self._params
            )
        except httpx.TransportError as exc:
            raise transport_failure(self.base_url, exc) from exc
        answer = json_answer(response, redact=self._key)
        try:
            data = sorted(answer["data"], key=lambda item: item["index"])
            return np.asarray([item["embedding"] for item in data], dtype=np.float32)
        except (KeyError, TypeError) as exc:
            raise RetryableError(
                "The server answered with something that is not an embeddings response "
                f"({snippet(response.text, redact=self._key)})",
                ResponseError,
            ) from exc
