"""ScGPTConfig: the architecture and input recipe of an scGPT model, read from (and written as) the
``args.json`` of an official checkpoint folder. No torch here."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields

from ...errors import InputError

SPECIAL_TOKENS = ("<pad>", "<cls>", "<eoc>")
VALUE_ENCODERS = ("continuous", "category")

# args.json key → ScGPTConfig field (official names on the left).
_ARGS = {
    "embsize": "d_model",
    "nheads": "n_heads",
    "d_hid": "d_hid",
    "nlayers": "n_layers",
    "n_layers_cls": "n_layers_cls",
    "dropout": "dropout",
    "pad_token": "pad_token",
    "pad_value": "pad_value",
    "mask_value": "mask_value",
    "n_bins": "n_bins",
    "max_seq_len": "max_seq_len",
    "input_emb_style": "input_emb_style",
}
# Options of scGPT that textcell does not implement: args.json key → value that is supported.
_UNSUPPORTED = {
    "pre_norm": False,
    "use_batch_labels": False,
    "DSBN": False,
    "domain_spec_batchnorm": False,
    "explicit_zero_prob": False,
}


@dataclass(frozen=True)
class ScGPTConfig:
    """An scGPT architecture (scGPT's ``TransformerModel``) and its input recipe.

    The defaults are the whole-human checkpoint's ``args.json``: 12 post-norm layers of width
    512 with 8 heads and a 512-wide feed-forward, continuous value encoder on 51 expression bins,
    ``<pad>`` value -2, masked value -1, at most 1,200 tokens (``<cls>`` included), MVC decoder on.
    """

    n_tokens: int
    d_model: int = 512
    n_heads: int = 8
    d_hid: int = 512
    n_layers: int = 12
    n_layers_cls: int = 3
    n_cls: int = 1
    dropout: float = 0.2
    pad_token: str = "<pad>"  # noqa: S105
    pad_value: float = -2.0
    mask_value: float = -1.0
    n_bins: int = 51
    max_seq_len: int = 1200
    input_emb_style: str = "continuous"
    do_mvc: bool = True

    def __post_init__(self):
        if self.input_emb_style not in VALUE_ENCODERS:
            raise InputError(
                f"input_emb_style {self.input_emb_style!r} is not supported; textcell implements "
                f"{', '.join(VALUE_ENCODERS)}."
            )
        if self.d_model % self.n_heads:
            raise InputError(f"d_model {self.d_model} is not a multiple of n_heads {self.n_heads}.")
        for name in ("n_tokens", "d_model", "n_heads", "d_hid", "n_layers", "n_cls", "n_bins"):
            if getattr(self, name) < 1:
                raise InputError(f"{name} must be at least 1, not {getattr(self, name)}.")
        if self.n_layers_cls < 1:
            raise InputError(f"n_layers_cls must be at least 1, not {self.n_layers_cls}.")
        if self.max_seq_len < 2:
            raise InputError(f"max_seq_len must be at least 2 (<cls> and one gene), not {self.max_seq_len}.")

    @property
    def n_parameters(self) -> int:
        """Parameters of the model this config builds (MVC and CLS heads included)."""
        d, h = self.d_model, self.d_hid
        norm = 2 * d
        gene = self.n_tokens * d + norm
        value = (2 * d + d * d + d + norm) if self.input_emb_style == "continuous" else self.n_bins * d + norm
        layer = (3 * d * d + 3 * d) + (d * d + d) + (d * h + h) + (h * d + d) + 2 * norm
        decoder = 2 * (d * d + d) + d + 1
        cls = (self.n_layers_cls - 1) * (d * d + d + norm) + d * self.n_cls + self.n_cls
        mvc = (d * d + d + d * d) if self.do_mvc else 0
        return gene + value + self.n_layers * layer + decoder + cls + mvc

    def encoder_flops(self, lengths) -> float:
        """Floating-point operations (multiply and add counted apart) of the value encoder and
        the transformer on cells of ``lengths`` tokens: what a cell embedding costs."""
        d, h = self.d_model, self.d_hid
        total = 0.0
        for n in lengths:
            dense = 2 * n * (4 * d * d + 2 * d * h)  # qkv, out_proj, feed-forward
            attention = 4 * n * n * d  # q·k and weights·v
            total += self.n_layers * (dense + attention) + 2 * n * d * d  # value encoder
        return total

    @classmethod
    def from_args(cls, args: Mapping, *, n_tokens: int, source: str = "args.json") -> ScGPTConfig:
        """The config of an official ``args.json``; options textcell does not implement are refused."""
        for key, supported in _UNSUPPORTED.items():
            if key in args and bool(args[key]) != supported:
                raise InputError(
                    f"{source} sets {key}={args[key]!r}; textcell's scGPT supports only {key}={supported}."
                )
        if str(args.get("input_style", "binned")) != "binned":
            raise InputError(
                f"{source} sets input_style={args['input_style']!r}; textcell's scGPT supports the "
                "binned input of the pretrained checkpoints only."
            )
        values = {field: args[key] for key, field in _ARGS.items() if key in args}
        missing = [key for key in ("embsize", "nheads", "d_hid", "nlayers") if key not in args]
        if missing:
            raise InputError(f"{source} lacks {', '.join(missing)}: not an scGPT args.json.")
        if "MVC" in args:
            values["do_mvc"] = bool(args["MVC"])
        if "n_cls" in args:
            values["n_cls"] = args["n_cls"]
        types = {f.name: f.type for f in fields(cls)}
        converted = {}
        for name, value in values.items():
            kind = {"int": int, "float": float, "str": str, "bool": bool}[types[name]]
            try:
                converted[name] = kind(value)
            except (TypeError, ValueError) as exc:
                raise InputError(f"{source}: {name} = {value!r} is not a {kind.__name__}.") from exc
        return cls(n_tokens=n_tokens, **converted)

    def to_args(self) -> dict:
        """``args.json`` content in the official names (read back by :meth:`from_args`)."""
        own = asdict(self)
        args = {key: own[field] for key, field in _ARGS.items()}
        args.update(input_style="binned", MVC=self.do_mvc, n_cls=self.n_cls, pre_norm=False)
        return args

    @classmethod
    def whole_human(cls, n_tokens: int = 60_697) -> ScGPTConfig:
        """The whole-human checkpoint's architecture (vocabulary of 60,694 genes + 3 specials)."""
        return cls(n_tokens=n_tokens)
