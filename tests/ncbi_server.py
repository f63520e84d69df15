"""A local stand-in for NCBI E-utilities ``esummary.fcgi`` (``db=gene``) with scripted faults.

Use it as a context manager::

    with FakeEsummary(records) as server:
        server.faults.extend(["429", None, "drop"])  # one fault (or None: answer) per request
        fetch_summaries(ids, base_url=server.base_url, ...)
        server.requested_ids  # the IDs of every request, in order

Fault kinds: ``"429"``, ``"429-retry-after"`` (``Retry-After: 1``), ``"500"``, ``"400"``,
``"bad-key"`` (400, API key invalid), ``"html"`` (200 with an HTML page), ``"truncated"``
(200 with JSON cut in half), ``"json-error"`` (200 with NCBI's rate-limit JSON, echoing the
API key as NCBI does), ``"drop"`` (close the connection without answering), ``"slow"``
(answer after ``delay`` seconds) and ``"hold"`` (answer once ``release`` is set).
``always`` is the fault for requests once ``faults`` is empty (``None``: answer normally).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qsl, urlsplit

from local_http import ScriptedServer

HTML_PAGE = (
    "<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head>"
    "<body><h1>Bad Gateway</h1><p>The proxy server received an invalid response.</p></body></html>"
)


class FakeEsummary(ScriptedServer):
    """Serve gene records (dicts with ``entrez``, ``symbol``, ``summary``, optional ``name``)."""

    def __init__(self, records: Iterable[Mapping[str, str]], *, delay: float = 1.0):
        super().__init__(_Handler)
        self.records = {str(r["entrez"]): dict(r) for r in records}
        self.uid_errors: set[str] = set()
        self.delay = delay
        self.requests: list[dict[str, str]] = []
        self.paths: list[str] = []
        self.base_url = f"http://{self.host}:{self.port}/entrez/eutils/"

    @property
    def requested_ids(self) -> list[list[str]]:
        """The IDs asked for by each request, in arrival order."""
        with self._lock:
            return [r["id"].split(",") if r.get("id") else [] for r in self.requests]

    def reset(self) -> None:
        """Forget the requests seen so far."""
        with self._lock:
            self.requests.clear()
            self.paths.clear()

    def payload(self, ids: list[str]) -> dict:
        """The esummary JSON NCBI would send for ``ids``."""
        result: dict = {"uids": ids}
        for uid in ids:
            record = self.records.get(uid)
            if record is None or uid in self.uid_errors:
                result[uid] = {"uid": uid, "error": "cannot get document summary"}
                continue
            result[uid] = {
                "uid": uid,
                "name": record["symbol"],
                "description": record.get("name", f"{record['symbol']} (test description)"),
                "status": "",
                "currentid": "",
                "chromosome": "",
                "summary": record["summary"],
            }
        return {"header": {"type": "esummary", "version": "0.3"}, "result": result}

    def _next_fault(self, params: dict[str, str], path: str) -> str | None:
        with self._lock:
            self.requests.append(params)
            self.paths.append(path)
        return self.next_fault()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        self._answer(self.path.partition("?")[2])

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", 0))
        query = self.path.partition("?")[2]
        self._answer("&".join(q for q in (query, self.rfile.read(length).decode()) if q))

    def log_message(self, format: str, *args) -> None:
        pass

    def _answer(self, query: str) -> None:
        fake: FakeEsummary = self.server.owner  # type: ignore[attr-defined]
        params = dict(parse_qsl(query))
        fault = fake._next_fault(params, urlsplit(self.path).path)
        body = json.dumps(fake.payload(params.get("id", "").split(","))).encode()
        if fault == "drop":
            self.close_connection = True
            return
        if fault == "slow":
            time.sleep(fake.delay)
        elif fault == "hold":
            fake.release.wait(60)
        if fault in ("429", "429-retry-after", "json-error"):
            status = 429 if fault.startswith("429") else 200
            error = {"error": "API rate limit exceeded"}
            if "api_key" in params:
                error["api-key"] = params["api_key"]
            error |= {"count": "11", "limit": "10"}
            headers = {"Retry-After": "1"} if fault == "429-retry-after" else {}
            self._send(status, json.dumps(error).encode(), "application/json", headers)
        elif fault == "500":
            self._send(500, b"Internal Server Error", "text/plain")
        elif fault == "bad-key":
            error = {"error": "API key invalid", "api-key": params.get("api_key", "")}
            self._send(400, json.dumps(error).encode(), "application/json")
        elif fault == "400":
            self._send(400, b'{"error": "Invalid db name specified: gene"}', "application/json")
        elif fault == "html":
            self._send(200, HTML_PAGE.encode(), "text/html")
        elif fault == "truncated":
            self._send(200, body[: len(body) // 2], "application/json")
        else:
            self._send(200, body, "application/json")

    def _send(self, status: int, body: bytes, content_type: str, headers=None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)
