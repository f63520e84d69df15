"""Official scGPT checkpoint folders: ``best_model.pt`` + ``vocab.json`` + ``args.json``.

``best_model.pt`` is read with ``torch.load(weights_only=True)``: tensors only, nothing is
unpickled. Both attention namings load: flash-attn's ``self_attn.Wqkv.{weight,bias}`` (what the
official checkpoints store) and ``nn.MultiheadAttention``'s ``self_attn.in_proj_{weight,bias}``.
The fingerprint is the sha256 of the three files' sha256 sums: it names the model in provenance.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from dataclasses import dataclass, replace
from pathlib import Path

from ..._io import atomic_write
from ...errors import InputError
from .config import ScGPTConfig
from .vocab import Vocab

logger = logging.getLogger("textcell")

WEIGHTS, VOCAB, ARGS = "best_model.pt", "vocab.json", "args.json"
FILES = (WEIGHTS, VOCAB, ARGS)
NAMINGS = ("Wqkv", "in_proj")

# State-dict prefixes of scGPT options that change what the model computes, and what they are.
_UNSUPPORTED_KEYS = {
    "batch_encoder.": "batch labels (use_batch_labels)",
    "dsbn.": "domain-specific batch norm (DSBN)",
    "bn.": "batch norm of the input embeddings",
    "decoder.zero_logit.": "explicit zero probabilities (explicit_zero_prob)",
    "mvc_decoder.W_zero_logit.": "explicit zero probabilities (explicit_zero_prob)",
    "mvc_decoder.fc1.": "an MVC decoder other than 'inner product'",
    "pert_encoder.": "the perturbation model (TransformerGenerator)",
    "flag_encoder.": "the perturbation model (TransformerGenerator)",
    "fast_transformer_encoder.": "linear attention (fast_transformer_backend='linear')",
}
# Training-only heads that do not change embeddings or predictions: dropped on load.
_IGNORED_KEYS = ("grad_reverse_discriminator.",)


def fingerprint(folder: str | Path) -> str:
    """sha256 over the sha256 of ``best_model.pt``, ``vocab.json`` and ``args.json``."""
    folder = check_folder(folder)
    outer = hashlib.sha256()
    for name in FILES:
        inner = hashlib.sha256()
        with open(folder / name, "rb") as handle:
            while block := handle.read(1 << 22):
                inner.update(block)
        outer.update(f"{name}:{inner.hexdigest()}\n".encode())
    return outer.hexdigest()


def check_folder(folder: str | Path) -> Path:
    """The folder, or an error that says what is missing."""
    folder = Path(folder).expanduser()
    if folder.is_file():
        raise InputError(
            f"{folder} is a file; pass the checkpoint folder that holds {', '.join(FILES)} "
            f"(e.g. {folder.parent})."
        )
    if not folder.is_dir():
        raise InputError(f"Checkpoint folder {folder} does not exist.")
    missing = [name for name in FILES if not (folder / name).is_file()]
    if missing:
        raise InputError(
            f"{folder} is not an scGPT checkpoint folder: {', '.join(missing)} missing "
            f"(an official folder holds {', '.join(FILES)})."
        )
    return folder


def read_args(folder: Path) -> dict:
    try:
        with open(folder / ARGS, encoding="utf-8") as handle:
            args = json.load(handle)
    except json.JSONDecodeError as exc:
        raise InputError(f"{folder / ARGS} is not valid JSON: {exc}") from exc
    if not isinstance(args, dict):
        raise InputError(f"{folder / ARGS} is not an scGPT args.json (expected a JSON object).")
    return args


@dataclass
class ScGPT:
    """A loaded scGPT: the torch model, its vocabulary and config, and where it came from."""

    model: object  # ScGPTModel
    config: ScGPTConfig
    vocab: Vocab
    fingerprint: str
    source: str
    attention_naming: str
    has_cls_head: bool

    @property
    def pad_id(self) -> int:
        return self.vocab[self.config.pad_token]

    @property
    def cls_id(self) -> int:
        return self.vocab["<cls>"]

    def provenance(self) -> dict:
        c = self.config
        return {
            "checkpoint": self.source,
            "checkpoint_fingerprint": self.fingerprint,
            "attention_naming": self.attention_naming,
            "architecture": (
                f"d_model {c.d_model}, {c.n_heads} heads, d_hid {c.d_hid}, {c.n_layers} layers, "
                f"{c.input_emb_style} values, {c.n_bins} bins, MVC {'on' if c.do_mvc else 'off'}"
            ),
            "n_parameters": c.n_parameters,
            "n_vocab": len(self.vocab),
        }


def load_checkpoint(folder: str | Path, *, device: str = "cpu") -> ScGPT:
    """Load an official scGPT checkpoint folder (or one written by :func:`save_checkpoint`).

    Parameters
    ----------
    folder
        A folder with ``best_model.pt`` (a state dict), ``vocab.json`` (``{gene: index}``) and
        ``args.json`` (the training arguments: ``embsize``, ``nheads``, ``d_hid``, ``nlayers`` …).
    device
        ``"cpu"``, ``"cuda"`` …; the model is float32 in eval mode.
    """
    from ..._torch import require_torch

    torch = require_torch("scgpt")
    from .model import ScGPTModel

    folder = check_folder(folder)
    vocab = Vocab.from_json(folder / VOCAB)
    args = read_args(folder)
    state, naming = read_state_dict(folder / WEIGHTS)
    config = ScGPTConfig.from_args(args, n_tokens=len(vocab), source=str(folder / ARGS))
    state, config, has_cls = _check_state(state, config, vocab, folder)
    if config.pad_token not in vocab:
        raise InputError(f"{folder / VOCAB} has no {config.pad_token!r}, the pad token of args.json.")
    model = ScGPTModel(config, pad_id=vocab[config.pad_token])
    try:
        missing, unexpected = model.load_state_dict(state, strict=False)
    except RuntimeError as exc:  # shapes that do not fit the architecture of args.json
        raise InputError(f"{folder / WEIGHTS} does not fit {folder / ARGS}: {exc}") from exc
    missing = [k for k in missing if has_cls or not k.startswith("cls_decoder.")]
    if missing or unexpected:  # _check_state covers these; a guard against drift
        raise InputError(f"{folder / WEIGHTS}: missing {missing[:5]}, unexpected {unexpected[:5]}.")
    model.to(device=torch.device(device)).eval()
    return ScGPT(
        model=model,
        config=config,
        vocab=vocab,
        fingerprint=fingerprint(folder),
        source=str(folder),
        attention_naming=naming,
        has_cls_head=has_cls,
    )


def read_state_dict(path: Path) -> tuple[dict, str]:
    """The float32 state dict of ``best_model.pt`` with ``in_proj_`` names, and the naming found."""
    from ..._torch import require_torch

    torch = require_torch("scgpt")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises UnpicklingError, RuntimeError … for foreign files
        raise InputError(
            f"{path} could not be read as a torch state dict of tensors ({type(exc).__name__}: "
            f"{str(exc).splitlines()[0] if str(exc) else ''}). textcell loads weights only and never "
            "unpickles other objects."
        ) from exc
    for wrapper in ("model_state_dict", "state_dict", "model"):
        if isinstance(state, dict) and isinstance(state.get(wrapper), dict):
            state = state[wrapper]
    if not isinstance(state, dict) or not all(torch.is_tensor(v) for v in state.values()):
        raise InputError(f"{path} is not a state dict (a mapping of parameter names to tensors).")
    state = {k.removeprefix("module."): v for k, v in state.items()}
    naming = "Wqkv" if any(".self_attn.Wqkv." in k for k in state) else "in_proj"
    renamed = {k.replace(".self_attn.Wqkv.", ".self_attn.in_proj_"): v for k, v in state.items()}
    return {k: (v.float() if v.is_floating_point() else v) for k, v in renamed.items()}, naming


def _check_state(state: dict, config: ScGPTConfig, vocab: Vocab, folder: Path):
    """The state dict ready to load, the config completed from it (MVC, classes), and whether it
    has a classification head; clear errors for everything that does not fit."""
    path = folder / WEIGHTS
    for prefix, what in _UNSUPPORTED_KEYS.items():
        if any(k.startswith(prefix) for k in state):
            raise InputError(
                f"{path} has {prefix}* weights: {what}, which textcell's scGPT does not support."
            )
    state = {k: v for k, v in state.items() if not k.startswith(_IGNORED_KEYS)}
    embedding = state.get("encoder.embedding.weight")
    if embedding is None:
        raise InputError(f"{path} has no encoder.embedding.weight: not an scGPT TransformerModel state dict.")
    if embedding.shape[0] != len(vocab):
        raise InputError(
            f"{folder / VOCAB} has {len(vocab):,} tokens"
            + (f" ({vocab.n_appended} special tokens appended)" if vocab.n_appended else "")
            + f" but the gene embedding in {path.name} has {embedding.shape[0]:,} rows: the vocabulary "
            "does not belong to these weights."
        )
    if embedding.shape[1] != config.d_model:
        raise InputError(
            f"args.json says embsize {config.d_model} but the gene embedding in {path.name} is "
            f"{embedding.shape[1]} wide."
        )
    layers = {int(m.group(1)) for k in state if (m := re.match(r"transformer_encoder\.layers\.(\d+)\.", k))}
    if layers != set(range(config.n_layers)):
        raise InputError(
            f"args.json says nlayers {config.n_layers} but {path.name} has {len(layers)} layers."
        )
    do_mvc = any(k.startswith("mvc_decoder.") for k in state)
    has_cls = "cls_decoder.out_layer.weight" in state
    n_cls = int(state["cls_decoder.out_layer.weight"].shape[0]) if has_cls else config.n_cls
    n_layers_cls = config.n_layers_cls
    if has_cls:
        linear = {
            int(m.group(1)) for k in state if (m := re.match(r"cls_decoder\._decoder\.(\d+)\.weight", k))
        }
        n_layers_cls = 1 + len([i for i in linear if i % 3 == 0])
    return state, replace(config, do_mvc=do_mvc, n_cls=n_cls, n_layers_cls=n_layers_cls), has_cls


def save_checkpoint(
    scgpt_model, vocab: Vocab, folder: str | Path, *, naming: str = "Wqkv", args=None
) -> Path:
    """Write an official-format folder: the state dict (attention named ``naming``), the
    vocabulary and ``args.json`` (the config in scGPT's names, plus ``args``)."""
    from ..._torch import require_torch

    torch = require_torch("scgpt")
    if naming not in NAMINGS:
        raise InputError(f"Unknown attention naming {naming!r}; use one of {', '.join(NAMINGS)}.")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().float().contiguous() for k, v in scgpt_model.state_dict().items()}
    if naming == "Wqkv":
        state = {k.replace(".self_attn.in_proj_", ".self_attn.Wqkv."): v for k, v in state.items()}
    with atomic_write(folder / WEIGHTS) as handle:
        torch.save(state, handle)
    with atomic_write(folder / VOCAB, "w") as handle:
        json.dump(vocab.to_mapping(), handle)
    with atomic_write(folder / ARGS, "w") as handle:
        json.dump({**scgpt_model.config.to_args(), **(args or {})}, handle, indent=2)
    return folder
