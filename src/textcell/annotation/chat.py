"""Labels proposed by a chat model from each group's top genes (the GPTCelltype idea).

Any OpenAI-compatible ``/chat/completions`` endpoint. Its answers are only candidates: they go
through the same marker verification as every other source. Spend is bounded: one request per
``groups_per_request`` groups, each retried at most ``max_retries`` times; nothing is sent unless
a :class:`ChatProposer` is given. The API key is sent only in the request header and never logged
or stored.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence

import httpx

from .._http import RetryableError, json_answer, snippet, transport_failure, with_retries
from ..errors import InputError, ResponseError

PROMPT = (
    "Identify cell types of {tissue} cells using the following markers separately for each row. "
    "Only provide the cell type name. Do not show numbers before the name. "
    "Some can be a mixture of multiple cell types.\n{rows}"
)


class ChatProposer:
    """Ask a chat model to name each group from its marker genes.

    Parameters
    ----------
    model
        Model name the server expects.
    base_url
        API root (requests go to ``{base_url}/chat/completions``); default ``$OPENAI_BASE_URL`` or
        OpenAI's.
    api_key, api_key_env
        The key, or the environment variable holding it (servers that need none work without).
    groups_per_request
        Groups named in one request (GPTCelltype sends 30).
    max_retries
        Retries per request on 429, 5xx, dropped connections and malformed answers.
    """

    def __init__(
        self,
        model: str,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        api_key_env: str = "OPENAI_API_KEY",
        groups_per_request: int = 30,
        max_retries: int = 2,
        backoff: float = 1.0,
        timeout: float = 120.0,
        client: httpx.Client | None = None,
    ):
        if not model:
            raise InputError("ChatProposer needs a model name.")
        if groups_per_request < 1 or max_retries < 0:
            raise InputError("groups_per_request must be at least 1 and max_retries at least 0.")
        self.model = model
        self.base_url = (base_url or os.environ.get("OPENAI_BASE_URL") or "https://api.openai.com/v1").rstrip(
            "/"
        )
        self._key = api_key or os.environ.get(api_key_env) or None
        self.groups_per_request, self.max_retries, self.backoff = groups_per_request, max_retries, backoff
        self.timeout = timeout
        self._client = client

    def __repr__(self) -> str:  # never shows the key
        return f"ChatProposer(model={self.model!r}, base_url={self.base_url!r})"

    def provenance(self) -> dict[str, str]:
        return {"model": self.model, "base_url": self.base_url}

    def propose(self, top_genes: Mapping[str, Sequence[str]], *, tissue: str | None = None) -> dict[str, str]:
        """The model's answer for each group: ``{group: cell type name}``."""
        groups = list(top_genes)
        answers: dict[str, str] = {}
        client = self._client or httpx.Client(timeout=self.timeout)
        try:
            for start in range(0, len(groups), self.groups_per_request):
                chunk = groups[start : start + self.groups_per_request]
                rows = "\n".join(", ".join(top_genes[g]) for g in chunk)
                prompt = PROMPT.format(tissue=tissue or "human", rows=rows)
                n_groups = len(chunk)
                names = with_retries(
                    lambda prompt=prompt, n_groups=n_groups: self._attempt(client, prompt, n_groups),
                    max_retries=self.max_retries,
                    backoff=self.backoff,
                    advice="The chat proposer is optional: annotate without chat=, or check the server.",
                )
                answers.update(zip(chunk, names, strict=True))
        finally:
            if self._client is None:
                client.close()
        return answers

    def _attempt(self, client: httpx.Client, prompt: str, n_groups: int) -> list[str]:
        headers = {"Authorization": f"Bearer {self._key}"} if self._key else {}
        body = {"model": self.model, "messages": [{"role": "user", "content": prompt}], "temperature": 0}
        try:
            response = client.post(f"{self.base_url}/chat/completions", json=body, headers=headers)
        except httpx.TransportError as exc:
            raise transport_failure(self.base_url, exc) from exc
        answer = json_answer(response, redact=self._key)
        try:
            content = answer["choices"][0]["message"]["content"]
        except (KeyError, IndexError, TypeError) as exc:
            raise RetryableError(
                f"The server's answer is not a chat completion ({snippet(response.text, redact=self._key)})",
                ResponseError,
            ) from exc
        names = parse_names(content)
        if len(names) != n_groups:
            raise RetryableError(
                f"The chat model named {len(names)} cell types for {n_groups} groups", ResponseError
            )
        return names


def parse_names(content: str) -> list[str]:
    """One cell-type name per non-empty line, without list numbering or bullets."""
    lines = (re.sub(r"^\s*(?:[-*•]|\d+[.):])\s*", "", line).strip() for line in content.splitlines())
    return [line.strip(" .") for line in lines if line.strip(" .")]
