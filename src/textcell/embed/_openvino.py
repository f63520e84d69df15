"""A sentence-transformers model whose transformer runs on OpenVINO, for CPUs.

OpenVINO compiles the transformer for this CPU (fused attention, bfloat16 where the CPU has it);
tokenisation, pooling, dense and normalisation layers stay sentence-transformers' own, so any
model whose first module is a transformer works unchanged.
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
import logging
import warnings
from collections.abc import Iterator, Sequence

import numpy as np

from ..errors import InputError
from .base import longest_first

OPENVINO_PRECISIONS = {"float32": "f32", "bfloat16": "bf16"}
# the modules of OpenVINO's converter that send usage telemetry (through their global `tm`)
_TELEMETRY_USERS = ("convert_impl", "telemetry_utils", "utils")


@contextlib.contextmanager
def _quiet_conversion() -> Iterator[None]:
    """Converting a model the way textcell does it, internally, says and sends nothing:

    - no usage telemetry: OpenVINO's converter sends it to Intel unless the user opted out, from
      worker threads that fork (so Numba's TBB layer prints "Attempted to fork from a non-main
      thread" dozens of times); the converter's own stand-in for a missing telemetry package is
      used instead;
    - no "loss_type=None ... ForCausalLMLoss" from transformers: tracing reads every attribute of
      the model, its training loss too, which an embedding model never uses;
    - no tracer warnings about shape checks that are constant here.
    """
    swapped = []
    with contextlib.suppress(ImportError):  # another OpenVINO layout: convert as it is
        from openvino.tools.ovc import telemetry_stub

        for name in _TELEMETRY_USERS:
            module = importlib.import_module(f"openvino.tools.ovc.{name}")
            if hasattr(module, "tm"):
                swapped.append((module, module.tm))
                module.tm = telemetry_stub
    unused_loss = _DropMessage("loss_type=")
    modeling = logging.getLogger("transformers.modeling_utils")
    modeling.addFilter(unused_loss)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        modeling.removeFilter(unused_loss)
        for module, telemetry in swapped:
            module.tm = telemetry


class _DropMessage(logging.Filter):
    def __init__(self, fragment: str):
        super().__init__()
        self.fragment = fragment

    def filter(self, record: logging.LogRecord) -> bool:
        return self.fragment not in record.getMessage()


class OpenVinoEncoder:
    """``encode(texts)`` of a loaded SentenceTransformer, its transformer compiled by OpenVINO."""

    def __init__(self, model, *, precision: str):
        import openvino as ov

        transformer = model[0]
        network = getattr(transformer, "model", None)
        if network is None or not hasattr(transformer, "preprocess"):
            raise InputError(
                "OpenVINO runs models whose first module is a transformer, "
                f"not {type(transformer).__name__}; use runtime='torch'."
            )
        accepted = set(inspect.signature(network.forward).parameters)
        example = model.preprocess(["An example sentence."])
        self.inputs = [name for name in example if name in accepted]
        with _quiet_conversion():
            converted = ov.convert_model(network.eval(), example_input={k: example[k] for k in self.inputs})
        self.compiled = ov.Core().compile_model(
            converted, "CPU", {"INFERENCE_PRECISION_HINT": OPENVINO_PRECISIONS[precision]}
        )
        self.model = model
        self.output_name = transformer.module_output_name

    def encode(self, texts: Sequence[str], *, batch_size: int) -> np.ndarray:
        import torch

        order = longest_first(texts)
        vectors = None
        request = self.compiled.create_infer_request()
        for start in range(0, len(texts), batch_size):
            rows = order[start : start + batch_size]
            features = self.model.preprocess([texts[i] for i in rows])
            hidden = request.infer({name: features[name].numpy() for name in self.inputs})[0]
            features[self.output_name] = torch.from_numpy(hidden)
            with torch.inference_mode():
                for module in list(self.model)[1:]:
                    features = module(features)
            batch = features["sentence_embedding"].float().numpy()
            if vectors is None:
                vectors = np.empty((len(texts), batch.shape[1]), dtype=np.float32)
            vectors[rows] = batch
        return vectors
