"""A local OpenAI-compatible chat server for tests: ``POST /v1/chat/completions``.

It plays a naive annotator, GPTCelltype-style: every row of gene symbols in the prompt is answered
with the name of the first gene it knows in ``guesses`` (else "Unknown cells"), one per line.
Scripted faults, one per request: ``"429"``, ``"500"``, ``"garbage"`` (not JSON), ``"short"`` (one
answer too few). Requests (their prompts) are recorded in ``prompts``.
"""

from __future__ import annotations

import json
from http.server import BaseHTTPRequestHandler

from local_http import ScriptedServer


class ChatServer(ScriptedServer):
    def __init__(self, guesses: dict[str, str]):
        super().__init__(_Handler)
        self.guesses = guesses
        self.prompts: list[str] = []
        self.headers_seen: list[dict[str, str]] = []

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    def answer(self, prompt: str) -> list[str]:
        rows = [line for line in prompt.splitlines()[1:] if line.strip()]
        names = []
        for row in rows:
            genes = [g.strip() for g in row.split(",")]
            names.append(next((self.guesses[g] for g in genes if g in self.guesses), "Unknown cells"))
        return names


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args) -> None:
        pass

    def do_POST(self) -> None:
        owner: ChatServer = self.server.owner
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        prompt = body["messages"][-1]["content"]
        owner.prompts.append(prompt)
        owner.headers_seen.append(dict(self.headers))
        fault = owner.next_fault()
        if fault in ("429", "500"):
            return self._send(int(fault), b'{"error": {"message": "scripted"}}')
        if fault == "garbage":
            return self._send(200, b"<html>not json</html>")
        names = owner.answer(prompt)
        if fault == "short":
            names = names[:-1]
        content = "\n".join(f"{i + 1}. {name}" for i, name in enumerate(names))
        answer = {
            "object": "chat.completion",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content}}],
        }
        self._send(200, json.dumps(answer).encode())

    def _send(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
