"""scGPT's ``TransformerModel`` in plain torch: no torchtext, no flash-attn; CPU and CUDA.

The modules carry the names of scGPT's own (``encoder.embedding``, ``value_encoder.linear1``,
``transformer_encoder.layers.N.self_attn.in_proj_weight``, ``decoder.fc``, ``cls_decoder``,
``mvc_decoder``), so an official state dict loads as it is once flash-attn's ``Wqkv`` is renamed
``in_proj_`` (:mod:`.checkpoint`). Attention is ``torch.nn.functional.scaled_dot_product_attention``
(the fused kernels of the CPU and the GPU); layers are post-norm with ReLU, as scGPT's
``nn.TransformerEncoderLayer``.

Importing this module imports torch; an error names the extra to install when it is missing.
"""

from __future__ import annotations

from ..._torch import require_torch
from ...errors import InputError
from .config import ScGPTConfig

torch = require_torch("scgpt")
nn = torch.nn
F = torch.nn.functional


class GeneEncoder(nn.Module):
    def __init__(self, n_tokens: int, d_model: int, padding_idx: int):
        super().__init__()
        self.embedding = nn.Embedding(n_tokens, d_model, padding_idx=padding_idx)
        self.enc_norm = nn.LayerNorm(d_model)

    def forward(self, genes):
        return self.enc_norm(self.embedding(genes))


class ContinuousValueEncoder(nn.Module):
    """A value (expression bin) → ``norm(linear2(relu(linear1(min(value, 512)))))``."""

    def __init__(self, d_model: int, dropout: float, max_value: float = 512.0):
        super().__init__()
        self.linear1 = nn.Linear(1, d_model)
        self.linear2 = nn.Linear(d_model, d_model)
        self.norm = nn.LayerNorm(d_model)
        self.dropout = nn.Dropout(dropout)
        self.max_value = max_value

    def forward(self, values):
        x = torch.clamp(values.unsqueeze(-1), max=self.max_value).to(self.linear1.weight.dtype)
        return self.dropout(self.norm(self.linear2(F.relu(self.linear1(x)))))


class CategoryValueEncoder(nn.Module):
    """An expression bin as a token of its own (scGPT's ``input_emb_style="category"``)."""

    def __init__(self, n_bins: int, d_model: int, padding_idx: int):
        super().__init__()
        self.embedding = nn.Embedding(n_bins, d_model, padding_idx=padding_idx)
        self.enc_norm = nn.LayerNorm(d_model)

    def forward(self, values):
        return self.enc_norm(self.embedding(values.long()))


class SelfAttention(nn.Module):
    """Multi-head self-attention with ``nn.MultiheadAttention``'s parameter names, on SDPA."""

    def __init__(self, d_model: int, n_heads: int, dropout: float):
        super().__init__()
        self.n_heads = n_heads
        self.dropout = dropout
        self.in_proj_weight = nn.Parameter(torch.empty(3 * d_model, d_model))
        self.in_proj_bias = nn.Parameter(torch.zeros(3 * d_model))
        self.out_proj = nn.Linear(d_model, d_model)
        nn.init.xavier_uniform_(self.in_proj_weight)
        nn.init.zeros_(self.out_proj.bias)

    def forward(self, x, attend):
        """``attend``: ``None`` (every token attends to every token) or a boolean
        ``(batch, 1, 1, length)`` mask, True where a key is a real token."""
        batch, length, width = x.shape
        qkv = F.linear(x, self.in_proj_weight, self.in_proj_bias)
        q, k, v = qkv.view(batch, length, 3, self.n_heads, width // self.n_heads).permute(2, 0, 3, 1, 4)
        out = F.scaled_dot_product_attention(
            q, k, v, attn_mask=attend, dropout_p=self.dropout if self.training else 0.0
        )
        return self.out_proj(out.transpose(1, 2).reshape(batch, length, width))


class EncoderLayer(nn.Module):
    """``nn.TransformerEncoderLayer(batch_first=True)``: post-norm, ReLU feed-forward."""

    def __init__(self, d_model: int, n_heads: int, d_hid: int, dropout: float):
        super().__init__()
        self.self_attn = SelfAttention(d_model, n_heads, dropout)
        self.linear1 = nn.Linear(d_model, d_hid)
        self.linear2 = nn.Linear(d_hid, d_model)
        self.norm1 = nn.LayerNorm(d_model)
        self.norm2 = nn.LayerNorm(d_model)
        self.dropout = nn.Dropout(dropout)
        self.dropout1 = nn.Dropout(dropout)
        self.dropout2 = nn.Dropout(dropout)

    def forward(self, x, attend):
        x = self.norm1(x + self.dropout1(self.self_attn(x, attend)))
        return self.norm2(x + self.dropout2(self.linear2(self.dropout(F.relu(self.linear1(x))))))


class TransformerEncoder(nn.Module):
    def __init__(self, config: ScGPTConfig):
        super().__init__()
        self.layers = nn.ModuleList(
            EncoderLayer(config.d_model, config.n_heads, config.d_hid, config.dropout)
            for _ in range(config.n_layers)
        )

    def forward(self, x, padding_mask):
        attend = None if padding_mask is None else ~padding_mask[:, None, None, :]
        for layer in self.layers:
            x = layer(x, attend)
        return x


class ExprDecoder(nn.Module):
    """Gene expression prediction (GEP) from each token's output."""

    def __init__(self, d_model: int):
        super().__init__()
        self.fc = nn.Sequential(
            nn.Linear(d_model, d_model),
            nn.LeakyReLU(),
            nn.Linear(d_model, d_model),
            nn.LeakyReLU(),
            nn.Linear(d_model, 1),
        )

    def forward(self, hidden):
        return self.fc(hidden).squeeze(-1)


class ClsDecoder(nn.Module):
    """Cell classification head: (Linear, ReLU, LayerNorm) × (n_layers_cls - 1), then Linear."""

    def __init__(self, d_model: int, n_cls: int, n_layers: int):
        super().__init__()
        self._decoder = nn.ModuleList()
        for _ in range(n_layers - 1):
            self._decoder.extend([nn.Linear(d_model, d_model), nn.ReLU(), nn.LayerNorm(d_model)])
        self.out_layer = nn.Linear(d_model, n_cls)

    def forward(self, cell):
        for module in self._decoder:
            cell = module(cell)
        return self.out_layer(cell)


class MVCDecoder(nn.Module):
    """Masked value prediction from the cell embedding (MVC, "inner product" style):
    ``W(sigmoid(gene2query(gene token))) · cell``."""

    def __init__(self, d_model: int):
        super().__init__()
        self.gene2query = nn.Linear(d_model, d_model)
        self.W = nn.Linear(d_model, d_model, bias=False)

    def forward(self, cell, gene_tokens):
        query = torch.sigmoid(self.gene2query(gene_tokens))
        return torch.bmm(self.W(query), cell.unsqueeze(2)).squeeze(2)


class ScGPTModel(nn.Module):
    """scGPT's ``TransformerModel`` (gene + value encoders, transformer, GEP/MVC/CLS heads).

    Parameters
    ----------
    config
        The architecture.
    pad_id
        Vocabulary index of ``<pad>`` (its gene embedding stays zero in training).
    """

    def __init__(self, config: ScGPTConfig, *, pad_id: int):
        super().__init__()
        self.config = config
        self.pad_id = pad_id
        d = config.d_model
        self.encoder = GeneEncoder(config.n_tokens, d, padding_idx=pad_id)
        if config.input_emb_style == "continuous":
            self.value_encoder = ContinuousValueEncoder(d, config.dropout)
        else:
            self.value_encoder = CategoryValueEncoder(config.n_bins, d, padding_idx=int(config.pad_value))
        self.transformer_encoder = TransformerEncoder(config)
        self.decoder = ExprDecoder(d)
        self.cls_decoder = ClsDecoder(d, config.n_cls, config.n_layers_cls)
        self.mvc_decoder = MVCDecoder(d) if config.do_mvc else None
        with torch.no_grad():  # scGPT's init_weights
            self.encoder.embedding.weight.uniform_(-0.1, 0.1)

    def encode(self, genes, values, padding_mask=None):
        """Transformer output ``(batch, length, d_model)`` and the gene token embeddings.

        ``genes``: vocabulary indices ``(batch, length)``, ``<cls>`` first; ``values``: their
        binned expression (``pad_value`` at ``<cls>`` and padding); ``padding_mask``: True at
        padding, or ``None`` when the batch has none.
        """
        gene_tokens = self.encoder(genes)
        x = gene_tokens + self.value_encoder(values)
        if padding_mask is not None and not bool(padding_mask.any()):
            padding_mask = None
        return self.transformer_encoder(x, padding_mask), gene_tokens

    def forward(self, genes, values, padding_mask=None, *, cls: bool = False, mvc: bool = False) -> dict:
        """``cell_emb`` (the ``<cls>`` output) and ``expr`` (GEP, per token); ``cls_output``
        (class logits) and ``mvc_output`` (MVC, per token) on request."""
        hidden, gene_tokens = self.encode(genes, values, padding_mask)
        cell = hidden[:, 0, :]
        out = {"cell_emb": cell, "expr": self.decoder(hidden)}
        if cls:
            out["cls_output"] = self.cls_decoder(cell)
        if mvc:
            if self.mvc_decoder is None:
                raise InputError("This model has no MVC decoder (its checkpoint has no mvc_decoder weights).")
            out["mvc_output"] = self.mvc_decoder(cell, gene_tokens)
        return out

    def cell_embeddings(self, genes, values, padding_mask=None):
        """The ``<cls>`` output of each cell, ``(batch, d_model)``, without the decoders."""
        return self.encode(genes, values, padding_mask)[0][:, 0, :]

    def packed_cell_embeddings(self, genes, values, lengths: list[int]):
        """:meth:`cell_embeddings` of cells laid end to end, without padding: ``genes`` and
        ``values`` are 1-d (the cells' tokens one after the other, ``<cls>`` first in each),
        ``lengths`` the cells' token counts. The dense layers run on all tokens at once, attention
        on each cell alone (no mask); the last layer is computed for the ``<cls>`` tokens only.
        Inference only (no dropout)."""
        x = self.encoder(genes) + self.value_encoder(values)
        starts = [0]
        for n in lengths[:-1]:
            starts.append(starts[-1] + n)
        layers = self.transformer_encoder.layers
        for layer in layers[:-1]:
            attention = _packed_attention(layer.self_attn, x, lengths)
            x = layer.norm1(x + attention)
            x = layer.norm2(x + layer.linear2(F.relu(layer.linear1(x))))
        last = layers[-1]
        cls = torch.tensor(starts, device=x.device)
        attention = _packed_attention(last.self_attn, x, lengths, cls_only=True)
        x = last.norm1(x[cls] + attention)
        return last.norm2(x + last.linear2(F.relu(last.linear1(x))))


def _packed_attention(attn: SelfAttention, x, lengths: list[int], *, cls_only: bool = False):
    """Self-attention of each cell of a packed ``(tokens, width)`` input, then ``out_proj``;
    with ``cls_only``, only each cell's first token attends and is returned."""
    width = x.shape[1]
    heads, head_dim = attn.n_heads, width // attn.n_heads
    qkv = F.linear(x, attn.in_proj_weight, attn.in_proj_bias)
    outputs = []
    for cell in torch.split(qkv, lengths):
        q, k, v = cell.view(1, -1, 3, heads, head_dim).permute(2, 0, 3, 1, 4)  # 4-d: the fused kernel
        if cls_only:
            q = q[:, :, :1]
        outputs.append(F.scaled_dot_product_attention(q, k, v)[0].transpose(0, 1).reshape(-1, width))
    return attn.out_proj(torch.cat(outputs))
