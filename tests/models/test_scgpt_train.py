"""Pretraining and fine-tuning scGPT here, on real Kang cells with tiny models."""

from __future__ import annotations

import json

import anndata as ad
import numpy as np
import pytest

import textcell
from textcell.errors import InputError

torch = pytest.importorskip("torch")
from textcell.models.scgpt import load_checkpoint  # noqa: E402
from textcell.models.scgpt.train import (  # noqa: E402
    RANDOM_INIT_SD,
    FinetuneConfig,
    PretrainConfig,
    finetune,
    predict_logits,
    pretrain,
    text_gene_vectors,
    vocabulary_for,
)

TINY = {"d_model": 16, "n_heads": 2, "d_hid": 32, "n_layers": 1, "max_seq_len": 64, "n_top_genes": 300}


@pytest.fixture(scope="module")
def kang(shared_data):
    adata = ad.read_h5ad(shared_data / "cells" / "kang2018_pbmc.h5ad")
    return adata[np.random.default_rng(0).choice(adata.n_obs, 300, replace=False)].copy()


@pytest.fixture(scope="module")
def pretrained(kang, tmp_path_factory):
    folder = tmp_path_factory.mktemp("pretrained") / "text"
    config = PretrainConfig(**TINY, epochs=3, lr=3e-3, gene_init="text")
    return pretrain(kang, config=config, output=folder), folder


def test_vocabulary_is_the_highly_variable_genes_under_official_symbols(kang, corpus):
    vocab = vocabulary_for(kang.var_names, kang.X, n_top_genes=300)
    assert len(vocab.genes) <= 300
    assert len(vocab.genes) > 280  # a few HVGs do not resolve
    official = set(corpus.columns["symbol"])
    assert set(vocab.genes) <= official
    assert vocab.tokens[-3:] == ("<pad>", "<cls>", "<eoc>")


def test_text_start_keeps_the_text_vectors_geometry(kang):
    vocab = vocabulary_for(kang.var_names, kang.X, n_top_genes=300)
    vectors, has_text = text_gene_vectors(vocab, 64, seed=0)
    assert has_text.sum() > 250
    assert not has_text[-3:].any()
    assert vectors[has_text].std() == pytest.approx(RANDOM_INIT_SD, rel=1e-3)
    # the projection keeps which genes are alike: cosine similarities follow the text vectors'
    holder = ad.AnnData(np.zeros((1, len(vocab.genes)), dtype=np.float32))
    holder.var_names = vocab.genes
    textcell.tl.embed_genes(holder, key_added="t")
    text = holder.varm["t"][has_text[: len(vocab.genes)]]
    text = text - text.mean(axis=0)

    def cosines(x):
        x = x / np.linalg.norm(x, axis=1, keepdims=True)
        return (x @ x.T)[np.triu_indices(len(x), 1)]

    assert np.corrcoef(cosines(text), cosines(vectors[has_text]))[0, 1] > 0.8


def test_pretraining_learns_and_writes_a_checkpoint(pretrained, kang):
    (scgpt, log), folder = pretrained
    assert log.steps == 3 * 10
    assert log.losses[-1] < 0.8 * log.losses[0]
    args = json.loads((folder / "args.json").read_text())
    assert args["pretrain"]["gene_init"] == "text"
    assert args["pretrain"]["genes_with_text_start"] > 250
    loaded = load_checkpoint(folder)
    assert loaded.fingerprint == scgpt.fingerprint
    assert loaded.config.max_seq_len == 64
    cells = kang.copy()
    textcell.tl.scgpt_embed(cells, checkpoint=folder)
    assert cells.obsm["X_scgpt"].shape == (300, 16)
    assert cells.obs["X_scgpt_n_tokens"].max() <= 64


def test_gene_tokens_start_from_the_text_vectors(kang, tmp_path):
    config = PretrainConfig(**TINY, epochs=1, lr=1e-12, gene_init="text", seed=4)
    scgpt, _ = pretrain(kang, config=config)
    vectors, has_text = text_gene_vectors(scgpt.vocab, 16, seed=4)
    weights = scgpt.model.encoder.embedding.weight.detach().numpy()
    assert np.abs(weights[has_text] - vectors[has_text]).max() < 1e-6
    random_start, _ = pretrain(kang, config=PretrainConfig(**TINY, epochs=1, lr=1e-12, gene_init="random"))
    weights = random_start.model.encoder.embedding.weight.detach().numpy()
    assert np.abs(weights[:-3]).max() <= 0.1


def test_finetuning_trains_a_classifier(pretrained, kang, tmp_path):
    _, folder = pretrained
    _, classes, log = finetune(
        folder,
        kang,
        labels_key="cell_type",
        config=FinetuneConfig(epochs=6, lr=3e-3),
        output=tmp_path / "tuned",
    )
    assert classes == sorted(kang.obs["cell_type"].astype(str).unique())
    assert log.losses[-1] < log.losses[0]
    assert json.loads((tmp_path / "tuned" / "args.json").read_text())["classes"] == classes
    logits = predict_logits(load_checkpoint(tmp_path / "tuned"), kang)
    assert logits.shape == (300, len(classes))
    predicted = np.asarray(classes)[logits.argmax(axis=1)]
    majority = kang.obs["cell_type"].value_counts(normalize=True).max()
    assert (predicted == kang.obs["cell_type"].astype(str).to_numpy()).mean() > majority
    with pytest.raises(InputError, match="no column"):
        finetune(folder, kang, labels_key="nope")


def test_cli_pretrain_and_finetune(kang, tmp_path, capsys):
    from textcell.cli import main

    kang.write_h5ad(tmp_path / "cells.h5ad")
    tiny = ["--d-model", "16", "--heads", "2", "--d-hid", "32", "--layers", "1", "--max-length", "64"]
    pre = ["scgpt", "pretrain", str(tmp_path / "cells.h5ad"), "-o", str(tmp_path / "pre"), *tiny]
    assert main(["-q", *pre, "--n-top-genes", "300", "--epochs", "1", "--gene-init", "random"]) == 0
    assert "Pretrained scGPT" in capsys.readouterr().out
    tune = ["scgpt", "finetune", str(tmp_path / "cells.h5ad"), "--checkpoint", str(tmp_path / "pre")]
    assert main(["-q", *tune, "--labels", "cell_type", "-o", str(tmp_path / "tuned"), "--epochs", "1"]) == 0
    assert "4 classes" in capsys.readouterr().out
    assert load_checkpoint(tmp_path / "tuned").config.n_cls == 4
