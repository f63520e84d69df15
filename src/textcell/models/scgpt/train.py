"""Training scGPT here: masked-expression pretraining (GEP + MVC) and cell-type fine-tuning (CLS).

Pretraining (scGPT's objectives): each cell is ``<cls>`` + its non-zero genes with their per-cell
expression bins (the recipe of :mod:`.tokenize`, at most ``max_seq_len`` tokens, a fresh random
subset and fresh bin ties every epoch); a fraction of the gene values (drawn per batch from
``mask_ratios``) is replaced by ``mask_value``, and the model predicts the masked bins from each
gene's output (GEP, the expression decoder) and from the cell embedding (MVC); the loss is the sum
of the two mean squared errors on the masked positions.

Gene tokens start either as scGPT's (uniform in ±0.1) or from textcell's gene knowledge: the
default text vectors of the genes (``textcell._defaults``, the vectors that ship with textcell)
projected onto their top ``d_model`` principal axes and scaled to the spread of the random start;
genes without a text vector keep a random start.

Fine-tuning puts a new classification head on the ``<cls>`` output and trains the whole model with
cross-entropy on labelled cells (scGPT's cell-type annotation task).
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import anndata as ad
import numpy as np

from ..._progress import progress_bar
from ..._torch import require_torch, torch_threads
from ...errors import InputError
from ...genes.ids import GeneResolver
from .checkpoint import ScGPT, load_checkpoint, save_checkpoint
from .config import SPECIAL_TOKENS, ScGPTConfig
from .tokenize import Recipe, tokenize_rows
from .vocab import Vocab, map_genes

logger = logging.getLogger("textcell")
GENE_INITS = ("text", "random")
RANDOM_INIT_SD = 0.2 / math.sqrt(12)  # sd of scGPT's uniform(-0.1, 0.1) gene-token start


@dataclass(frozen=True)
class PretrainConfig:
    """A compact scGPT and how it is pretrained (the defaults are the configuration the
    ``textcell bench scgpt`` report states)."""

    d_model: int = 64
    n_heads: int = 4
    d_hid: int = 128
    n_layers: int = 4
    dropout: float = 0.0  # scGPT uses 0.2; on the CPU dropout costs ~4x per step (masks, no fused attention)
    max_seq_len: int = 256
    n_top_genes: int | None = 1200
    n_bins: int = 51
    mask_ratios: tuple[float, ...] = (0.25, 0.5, 0.75)
    epochs: int = 5
    batch_size: int = 32
    lr: float = 1e-3
    warmup_fraction: float = 0.05
    gene_init: str = "text"
    seed: int = 0
    threads: int | None = None

    def __post_init__(self):
        if self.gene_init not in GENE_INITS:
            raise InputError(f"Unknown gene_init {self.gene_init!r}; use one of {', '.join(GENE_INITS)}.")
        if not all(0 < r < 1 for r in self.mask_ratios):
            raise InputError(f"mask_ratios must lie in (0, 1), not {self.mask_ratios}.")

    def model_config(self, n_tokens: int) -> ScGPTConfig:
        return ScGPTConfig(
            n_tokens=n_tokens, d_model=self.d_model, n_heads=self.n_heads, d_hid=self.d_hid,
            n_layers=self.n_layers, dropout=self.dropout, n_bins=self.n_bins, max_seq_len=self.max_seq_len,
        )  # fmt: skip

    def to_dict(self) -> dict:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(self).items()}


@dataclass
class TrainingLog:
    """Loss per epoch and the wall time (what the report states)."""

    losses: list[float] = field(default_factory=list)
    seconds: float = 0.0
    steps: int = 0
    cells: int = 0


def vocabulary_for(
    var_names, matrix, *, n_top_genes: int | None, resolver: GeneResolver | None = None, species="auto"
) -> Vocab:
    """A vocabulary of the data's genes under their official symbols (genes the resolver does not
    know are left out), then scGPT's special tokens. With ``n_top_genes``, only the highly variable
    genes of ``matrix`` (counts or log-normalised; scanpy's ``seurat`` flavour on log-normalised
    values), as scGPT's tutorials select them."""
    import pandas as pd
    import scanpy as sc
    from scipy import sparse

    from ...genes.ids import ROUTES, default_resolver

    names = pd.Index([str(v) for v in var_names])
    if n_top_genes and n_top_genes < len(names):
        lognorm = ad.AnnData(sparse.csr_matrix(matrix, dtype=np.float32))
        if lognorm.X.nnz and np.all(lognorm.X.data == np.round(lognorm.X.data)):
            sc.pp.normalize_total(lognorm, target_sum=1e4)
            sc.pp.log1p(lognorm)
        sc.pp.highly_variable_genes(lognorm, flavor="seurat", n_top_genes=n_top_genes)
        names = names[lognorm.var["highly_variable"].to_numpy()]
    table = (resolver or default_resolver()).resolve(names, species=species).table
    symbols = list(dict.fromkeys(table.loc[table["route"].isin(ROUTES), "symbol"]))
    if not symbols:
        raise InputError("None of the genes resolved; var_names should be gene symbols or Ensembl IDs.")
    return Vocab(tuple(symbols) + SPECIAL_TOKENS)


def text_gene_vectors(vocab: Vocab, d_model: int, *, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Gene-token start from textcell's default gene vectors: ``(vectors, has_text)``, one row per
    vocabulary token; rows without a text vector (and the special tokens) are random."""
    from ...tl import embed_genes

    genes = vocab.genes
    holder = ad.AnnData(np.zeros((1, len(genes)), dtype=np.float32))
    holder.var_names = genes
    embed_genes(holder, key_added="text")
    text = np.asarray(holder.varm["text"], dtype=np.float64)
    has = np.asarray(holder.var["text_has_embedding"], dtype=bool)
    if has.sum() <= d_model:
        raise InputError(f"Only {has.sum()} genes have text vectors; need more than d_model ({d_model}).")
    centred = text[has] - text[has].mean(axis=0)
    _, _, axes = np.linalg.svd(centred, full_matrices=False)
    projected = centred @ axes[:d_model].T
    projected *= RANDOM_INIT_SD / projected.std()
    rng = np.random.default_rng(seed)
    out = rng.uniform(-0.1, 0.1, size=(len(vocab), d_model))
    rows = np.array([vocab[g] for g in genes])
    out[rows[has]] = projected
    has_text = np.zeros(len(vocab), dtype=bool)
    has_text[rows[has]] = True
    return out.astype(np.float32), has_text


@dataclass(frozen=True)
class _Data:
    """The matrix columns of the vocabulary genes and their token ids."""

    csr: object
    ids: np.ndarray

    @classmethod
    def of(cls, adata: ad.AnnData, vocab: Vocab, *, layer, resolver, matrix=None) -> _Data:
        from scipy import sparse

        from ..._expression import get_matrix

        if matrix is None:
            matrix = sparse.csr_matrix(get_matrix(adata, layer))
        if matrix.nnz and matrix.data.min() < 0:
            raise InputError("The expression values include negatives (scaled data?); use counts.")
        mapping = map_genes(adata.var_names, vocab, match="resolver", resolver=resolver)
        columns = np.flatnonzero(mapping.matched)
        return cls(matrix[:, columns], mapping.ids[columns])

    def tokens(self, recipe: Recipe):
        return tokenize_rows(self.csr, self.ids, recipe, first_index=0)


def _schedule(step: int, total: int, warmup: int) -> float:
    """Linear warm-up, then cosine decay to zero."""
    if step < warmup:
        return (step + 1) / warmup
    return 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, total - warmup)))


def _train(model, data: _Data, recipe_of, loss_of, *, epochs, batch_size, lr, warmup_fraction, seed,
           threads, desc) -> TrainingLog:  # fmt: skip
    """AdamW (weight decay 0.01, gradients clipped at norm 1) over shuffled batches, the cells
    re-tokenized every epoch (``recipe_of(epoch)``); ``loss_of(batch, genes, values, padding, rng)``
    gives a batch's loss, or None to skip it."""
    torch = require_torch("scgpt")
    from .embed import pad_batch

    n_cells = data.csr.shape[0]
    rng = np.random.default_rng(seed)
    total = math.ceil(n_cells / batch_size) * epochs
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    warmup = max(1, int(warmup_fraction * total))
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: _schedule(step, total, warmup))
    log = TrainingLog(cells=n_cells)
    model.train()
    start = time.perf_counter()
    with torch_threads(threads), progress_bar(total=total, desc=desc, unit="step") as bar:
        for epoch in range(epochs):
            recipe = recipe_of(epoch)
            cells = data.tokens(recipe)
            losses = []
            order = rng.permutation(n_cells)
            for first in range(0, n_cells, batch_size):
                batch = order[first : first + batch_size]
                arrays = pad_batch([cells[i] for i in batch], recipe.pad_id, recipe.pad_value)
                loss = loss_of(batch, *(torch.from_numpy(a) for a in arrays), rng)
                bar.update(1)
                if loss is None:
                    continue
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                optimizer.step()
                scheduler.step()
                losses.append(loss.detach().item())
                log.steps += 1
            log.losses.append(float(np.mean(losses)))
            logger.info("%s, epoch %d: loss %.4f", desc, epoch + 1, log.losses[-1])
    log.seconds = time.perf_counter() - start
    model.eval()
    return log


def pretrain(
    adata: ad.AnnData,
    *,
    config: PretrainConfig = PretrainConfig(),
    layer: str | None = None,
    resolver: GeneResolver | None = None,
    output: str | Path | None = None,
) -> tuple[ScGPT, TrainingLog]:
    """Pretrain a compact scGPT on ``adata`` (counts or log-normalised values) with GEP + MVC.

    Returns the model (in eval mode) and its training log; with ``output``, also an official-format
    checkpoint folder (``best_model.pt``, ``vocab.json``, ``args.json``) that
    :func:`~textcell.tl.scgpt_embed` and :func:`finetune` read.
    """
    torch = require_torch("scgpt")
    from scipy import sparse

    from ..._expression import get_matrix
    from .model import ScGPTModel

    matrix = sparse.csr_matrix(get_matrix(adata, layer))
    vocab = vocabulary_for(adata.var_names, matrix, n_top_genes=config.n_top_genes, resolver=resolver)
    data = _Data.of(adata, vocab, layer=layer, resolver=resolver, matrix=matrix)
    model_config = config.model_config(len(vocab))
    torch.manual_seed(config.seed)
    model = ScGPTModel(model_config, pad_id=vocab["<pad>"])
    n_text = 0
    if config.gene_init == "text":
        vectors, has_text = text_gene_vectors(vocab, config.d_model, seed=config.seed)
        n_text = int(has_text.sum())
        with torch.no_grad():
            model.encoder.embedding.weight.copy_(torch.from_numpy(vectors))
    with torch.no_grad():
        model.encoder.embedding.weight[vocab["<pad>"]] = 0
        # Bins are per-cell quantiles, spread evenly over 1 … n_bins - 1: their mean is n_bins / 2.
        # Starting the expression decoder there spares the first hundreds of steps (Adam moves a
        # bias by about lr per step) the climb from 0 to the scale of the targets.
        model.decoder.fc[-1].bias.fill_(config.n_bins / 2)

    def recipe_of(epoch: int) -> Recipe:
        return Recipe(
            cls_id=vocab["<cls>"], pad_id=vocab["<pad>"], pad_value=model_config.pad_value,
            n_bins=config.n_bins, max_length=config.max_seq_len, seed=config.seed * 1000 + epoch,
        )  # fmt: skip

    def loss_of(batch, genes, values, padding, rng):
        maskable = ~padding
        maskable[:, 0] = False
        ratio = float(rng.choice(config.mask_ratios))
        masked = maskable & torch.from_numpy(rng.random(values.shape) < ratio)
        if not masked.any():
            return None
        out = model(genes, values.masked_fill(masked, model_config.mask_value), padding, mvc=True)
        target = values[masked]
        mse = torch.nn.functional.mse_loss
        return mse(out["expr"][masked], target) + mse(out["mvc_output"][masked], target)

    log = _train(
        model, data, recipe_of, loss_of, epochs=config.epochs, batch_size=config.batch_size, lr=config.lr,
        warmup_fraction=config.warmup_fraction, seed=config.seed, threads=config.threads,
        desc="scGPT pretraining",
    )  # fmt: skip
    record = {**config.to_dict(), "cells": adata.n_obs, "genes_with_text_start": n_text}
    record.update(seconds=log.seconds, steps=log.steps, losses=log.losses)
    if output is not None:
        save_checkpoint(model, vocab, output, args={"pretrain": record})
        return load_checkpoint(output), log
    return ScGPT(model, model_config, vocab, "not saved", "in memory", "in_proj", True), log


@dataclass(frozen=True)
class FinetuneConfig:
    epochs: int = 2
    batch_size: int = 32
    lr: float = 5e-4
    warmup_fraction: float = 0.1
    seed: int = 0
    threads: int | None = None


def finetune(
    scgpt: ScGPT | str | Path,
    adata: ad.AnnData,
    *,
    labels_key: str,
    config: FinetuneConfig = FinetuneConfig(),
    layer: str | None = None,
    resolver: GeneResolver | None = None,
    output: str | Path | None = None,
) -> tuple[ScGPT, list[str], TrainingLog]:
    """Cell-type fine-tuning: a new CLS head for ``adata.obs[labels_key]``, the whole model trained
    with cross-entropy (cells tokenized as for embedding, at most the model's ``max_seq_len``).
    Returns the model, its classes (in head order) and the log; with ``output``, a checkpoint
    folder whose ``args.json`` lists the classes. The model passed in is trained in place."""
    torch = require_torch("scgpt")
    from .model import ClsDecoder

    if labels_key not in adata.obs:
        raise InputError(f"obs has no column {labels_key!r}; columns: {list(adata.obs)}.")
    scgpt = scgpt if isinstance(scgpt, ScGPT) else load_checkpoint(scgpt)
    labels = adata.obs[labels_key].astype(str).to_numpy()
    classes = sorted(set(labels))
    if len(classes) < 2:
        raise InputError(f"obs[{labels_key!r}] has {len(classes)} class; fine-tuning needs two or more.")
    target = torch.from_numpy(np.searchsorted(classes, labels))
    model_config = replace(scgpt.config, n_cls=len(classes))
    model = scgpt.model
    model.config = model_config
    torch.manual_seed(config.seed)
    model.cls_decoder = ClsDecoder(model_config.d_model, len(classes), model_config.n_layers_cls)
    data = _Data.of(adata, scgpt.vocab, layer=layer, resolver=resolver)

    def recipe_of(epoch: int) -> Recipe:
        return Recipe(
            cls_id=scgpt.cls_id, pad_id=scgpt.pad_id, pad_value=model_config.pad_value,
            n_bins=model_config.n_bins, max_length=model_config.max_seq_len, seed=config.seed * 1000 + epoch,
        )  # fmt: skip

    def loss_of(batch, genes, values, padding, rng):
        logits = model(genes, values, padding, cls=True)["cls_output"]
        return torch.nn.functional.cross_entropy(logits, target[batch])

    log = _train(
        model, data, recipe_of, loss_of, epochs=config.epochs, batch_size=config.batch_size, lr=config.lr,
        warmup_fraction=config.warmup_fraction, seed=config.seed, threads=config.threads,
        desc="scGPT fine-tuning",
    )  # fmt: skip
    tuned = replace(scgpt, model=model, config=model_config, has_cls_head=True)
    if output is not None:
        record = {**asdict(config), "labels_key": labels_key, "seconds": log.seconds, "losses": log.losses}
        save_checkpoint(model, scgpt.vocab, output, args={"classes": classes, "finetune": record})
        tuned = load_checkpoint(output)
    return tuned, classes, log


def predict_logits(scgpt: ScGPT, adata: ad.AnnData, *, layer=None, resolver=None, seed: int = 0,
                   batch_size: int = 64, threads: int | None = None) -> np.ndarray:  # fmt: skip
    """CLS logits ``(cells, classes)`` of a fine-tuned model, cells tokenized as for embedding."""
    torch = require_torch("scgpt")
    from .embed import Batching, length_batches

    data = _Data.of(adata, scgpt.vocab, layer=layer, resolver=resolver)
    recipe = Recipe(
        cls_id=scgpt.cls_id, pad_id=scgpt.pad_id, pad_value=scgpt.config.pad_value,
        n_bins=scgpt.config.n_bins, max_length=scgpt.config.max_seq_len, seed=seed,
    )  # fmt: skip
    cells = data.tokens(recipe)
    lengths = np.array([len(g) for g, _ in cells])
    out = np.zeros((adata.n_obs, scgpt.config.n_cls), dtype=np.float32)
    with torch_threads(threads), torch.inference_mode():
        for batch in length_batches(lengths, Batching(batch_size=batch_size)):
            genes = torch.from_numpy(np.concatenate([cells[i][0] for i in batch]))
            values = torch.from_numpy(np.concatenate([cells[i][1] for i in batch]))
            cell = scgpt.model.packed_cell_embeddings(genes, values, lengths[batch].tolist())
            out[batch] = scgpt.model.cls_decoder(cell).numpy()
    return out
