"""A sentence-transformers model whose transformer runs on OpenVINO, for CPUs.

OpenVINO compiles the transformer for this CPU (fused attention, bfloat16 where the CPU has it);
tokenisation, pooling, dense and normalisation layers stay sentence-transformers' own, so any
model whose first module is a transformer works unchanged.
"""

from __future__ import annotations

import inspect
import warnings
from collections.abc import Sequence

import numpy as np

from ..errors import InputError
from .base import longest_first

OPENVINO_PRECISIONS = {"float32": "f32", "bfloat16": "bf16"}


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
        with warnings.catch_warnings():  # tracing warns about shape checks that are constant here
            warnings.simplefilter("ignore")
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
