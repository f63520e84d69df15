"""textcell's scGPT on its own: config, vocabulary, recipe, checkpoint folders, tl.scgpt_embed.

The equivalence with scGPT's own code is in test_scgpt_reference.py. Here the vocabulary is the
whole protein-coding genome of the bundled corpus (+ scGPT's special tokens), the cells are Kang
PBMCs, and the models are small random ones saved as official checkpoint folders.
"""

from __future__ import annotations

import json
import subprocess
import sys

import anndata as ad
import numpy as np
import pytest
import scanpy as sc
from scipy import sparse

import textcell
from textcell.errors import InputError
from textcell.models.scgpt import (
    ScGPTConfig,
    Vocab,
    fingerprint,
    load_checkpoint,
    map_genes,
    save_checkpoint,
)
from textcell.models.scgpt.tokenize import Recipe, tokenize_rows

torch = pytest.importorskip("torch")
from textcell.models.scgpt.model import ScGPTModel  # noqa: E402


@pytest.fixture(scope="module")
def vocab(corpus) -> Vocab:
    cols = corpus.columns
    genes = [s for s, t in zip(cols["symbol"], cols["type"], strict=True) if t == "protein-coding"]
    return Vocab.from_mapping({g: i for i, g in enumerate(genes)})


@pytest.fixture(scope="module")
def kang(shared_data):
    return ad.read_h5ad(shared_data / "cells" / "kang2018_pbmc.h5ad")


def small_config(vocab: Vocab, **changes) -> ScGPTConfig:
    return ScGPTConfig(n_tokens=len(vocab), d_model=32, n_heads=4, d_hid=48, n_layers=2, **changes)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory, vocab):
    torch.manual_seed(0)
    model = ScGPTModel(small_config(vocab), pad_id=vocab["<pad>"])
    return save_checkpoint(model, vocab, tmp_path_factory.mktemp("scgpt") / "small")


# ------------------------------------------------------------------------------- package


def test_import_textcell_does_not_import_torch():
    code = (
        "import sys, textcell, textcell.models.scgpt; textcell.tl.scgpt_embed;print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_missing_torch_names_the_extra(checkpoint):
    code = (
        "import sys\n"
        "class NoTorch:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] == 'torch':\n"
        "            raise ImportError('No module named torch')\n"
        "sys.meta_path.insert(0, NoTorch())\n"
        "from textcell.models.scgpt import load_checkpoint\n"
        "from textcell.errors import InputError\n"
        f"try:\n    load_checkpoint({str(checkpoint)!r})\n"
        "except InputError as exc:\n    print(exc)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "pip install 'textcell[scgpt]'" in out.stdout


# -------------------------------------------------------------------------------- config


def test_whole_human_config_is_the_official_architecture():
    config = ScGPTConfig.whole_human()
    state = ScGPTModel(config, pad_id=60_694).state_dict()
    assert len(state) == 172
    assert sum(v.numel() for v in state.values()) == config.n_parameters == 51_856_898
    assert state["encoder.embedding.weight"].shape == (60_697, 512)
    assert state["transformer_encoder.layers.11.self_attn.in_proj_weight"].shape == (1536, 512)


def test_config_round_trips_through_args_json():
    config = ScGPTConfig(n_tokens=100, d_model=64, n_heads=4, d_hid=96, n_layers=3, n_cls=7, pad_value=-2)
    assert ScGPTConfig.from_args(json.loads(json.dumps(config.to_args())), n_tokens=100) == config


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"pre_norm": True}, "pre_norm"),
        ({"use_batch_labels": True}, "use_batch_labels"),
        ({"input_style": "log1p"}, "binned"),
        ({"input_emb_style": "scaling"}, "input_emb_style"),
        ({"nheads": 5}, "multiple"),
    ],
)
def test_unsupported_options_are_refused(change, message):
    args = {**ScGPTConfig.whole_human().to_args(), **change}
    with pytest.raises(InputError, match=message):
        ScGPTConfig.from_args(args, n_tokens=60_697)


def test_args_without_the_architecture_are_refused():
    with pytest.raises(InputError, match="embsize"):
        ScGPTConfig.from_args({"lr": 1e-4}, n_tokens=10)


# --------------------------------------------------------------------------------- vocab


def test_vocab_appends_the_special_tokens_like_embed_data(vocab):
    assert vocab.n_appended == 3
    n = len(vocab)
    assert [vocab["<pad>"], vocab["<cls>"], vocab["<eoc>"]] == [n - 3, n - 2, n - 1]
    assert Vocab.from_mapping({"<pad>": 0, "A": 1, "<cls>": 2, "<eoc>": 3}).n_appended == 0


def test_vocab_refuses_gaps_and_bad_files(tmp_path):
    with pytest.raises(InputError, match="consecutive"):
        Vocab.from_mapping({"A": 0, "B": 2})
    bad = tmp_path / "vocab.json"
    bad.write_text("{not json")
    with pytest.raises(InputError, match="not valid JSON"):
        Vocab.from_json(bad)


def test_genes_map_exactly_then_through_the_resolver(kang, vocab, corpus):
    exact = map_genes(kang.var_names, vocab, match="exact")
    resolved = map_genes(kang.var_names, vocab)
    # every exact match is kept, and renamed symbols / synonyms add genes
    assert np.array_equal(resolved.ids[exact.matched], exact.ids[exact.matched])
    assert resolved.matched.sum() > exact.matched.sum()
    summary = resolved.summary(len(vocab))
    assert summary["routes"]["exact"] == exact.matched.sum()
    assert summary["n_matched"] == resolved.matched.sum()
    # no token is used twice
    ids = resolved.ids[resolved.matched]
    assert len(np.unique(ids)) == len(ids)
    # the same genes named by Ensembl IDs get the same tokens (an Ensembl ID that NCBI gives to
    # several genes is ambiguous and left out, never guessed)
    ensembl = {e: c[0] for e, c in zip(corpus.columns["entrez"], corpus.columns["ensembl"], strict=True) if c}
    entrez = resolved.resolution["entrez"].to_numpy()
    named = [ensembl.get(e, f"unknown{i}") for i, e in enumerate(entrez)]
    by_ensembl = map_genes(named, vocab)
    # (one that NCBI also gives to placeholder or non-coding records means the protein-coding gene)
    unique = resolved.matched & np.isin(by_ensembl.routes, ["ensembl", "ensembl_protein_coding"])
    assert unique.sum() > 0.9 * resolved.matched.sum()
    assert np.array_equal(by_ensembl.ids[unique], resolved.ids[unique])
    assert set(by_ensembl.routes[resolved.matched & ~unique]) <= {"ambiguous", "unmatched"}


# -------------------------------------------------------------------------------- recipe


def recipe(vocab, **changes) -> Recipe:
    options = {"cls_id": vocab["<cls>"], "pad_id": vocab["<pad>"], "pad_value": -2.0, "n_bins": 51}
    return Recipe(**{**options, "max_length": 1200, **changes})


def test_tokens_are_cls_then_binned_nonzero_genes(kang, vocab):
    mapping = map_genes(kang.var_names, vocab)
    columns = np.flatnonzero(mapping.matched)
    rows = kang.X[:300][:, columns]
    cells = tokenize_rows(rows, mapping.ids[columns], recipe(vocab), first_index=0)
    for (genes, values), row in zip(cells, rows, strict=True):
        n = min(row.nnz, 1199)
        assert len(genes) == 1 + n
        assert genes[0] == vocab["<cls>"]
        assert values[0] == -2
        assert values[1:].min() >= 1
        assert values[1:].max() <= 50
        if row.nnz < 1199:  # all non-zero genes, in column order
            assert np.array_equal(genes[1:], mapping.ids[columns][row.indices])
            # more expression, higher bin (equal values may spread over the bins they touch)
            levels = np.unique(row.data)
            lowest = [values[1:][row.data == level].min() for level in levels]
            highest = [values[1:][row.data == level].max() for level in levels]
            assert np.all(np.array(highest[:-1]) <= np.array(lowest[1:]))
            assert len(np.unique(values[1:])) > 10


def test_tokens_do_not_depend_on_normalisation_or_chunking(kang, vocab):
    mapping = map_genes(kang.var_names, vocab)
    columns = np.flatnonzero(mapping.matched)
    counts = kang[:200].copy()
    lognorm = counts.copy()
    sc.pp.normalize_total(lognorm, target_sum=1e4)
    sc.pp.log1p(lognorm)
    ids = mapping.ids[columns]
    whole = tokenize_rows(counts.X[:, columns], ids, recipe(vocab), first_index=0)
    normalised = tokenize_rows(lognorm.X[:, columns], ids, recipe(vocab), first_index=0)
    second_half = tokenize_rows(counts.X[100:, columns], ids, recipe(vocab), first_index=100)
    for (g1, v1), (g2, v2) in zip(whole, normalised, strict=True):
        assert np.array_equal(g1, g2)
        assert np.array_equal(v1, v2)
    for (g1, v1), (g2, v2) in zip(whole[100:], second_half, strict=True):
        assert np.array_equal(g1, g2)
        assert np.array_equal(v1, v2)
    other_seed = tokenize_rows(counts.X[:, columns], ids, recipe(vocab, seed=1), first_index=0)
    assert any(not np.array_equal(v1, v2) for (_, v1), (_, v2) in zip(whole, other_seed, strict=True))


def test_long_cells_keep_cls_and_a_random_subset_with_the_whole_cells_bins(kang, vocab):
    mapping = map_genes(kang.var_names, vocab)
    columns = np.flatnonzero(mapping.matched)
    rows = kang.X[:50][:, columns]
    ids = mapping.ids[columns]
    full = tokenize_rows(rows, ids, recipe(vocab), first_index=0)
    short = tokenize_rows(rows, ids, recipe(vocab, max_length=64), first_index=0)
    for (g_full, v_full), (g, v) in zip(full, short, strict=True):
        assert len(g) == min(64, len(g_full))
        assert g[0] == vocab["<cls>"]
        bins = dict(zip(g_full[1:], v_full[1:], strict=True))
        assert len(set(g[1:])) == len(g) - 1
        assert all(bins[gene] == value for gene, value in zip(g[1:], v[1:], strict=True))


def test_a_cell_without_vocabulary_genes_is_cls_alone(vocab):
    rows = sparse.csr_matrix(np.array([[0.0, 0.0], [3.0, 0.0]]))
    cells = tokenize_rows(rows, np.array([5, 6]), recipe(vocab), first_index=0)
    assert [len(g) for g, _ in cells] == [1, 2]


# ---------------------------------------------------------------------------- checkpoints


@pytest.mark.parametrize("naming", ["Wqkv", "in_proj"])
def test_checkpoint_round_trip_with_either_attention_naming(tmp_path, vocab, naming):
    torch.manual_seed(1)
    model = ScGPTModel(small_config(vocab, n_cls=4), pad_id=vocab["<pad>"])
    folder = save_checkpoint(model, vocab, tmp_path / naming, naming=naming)
    keys = torch.load(folder / "best_model.pt", weights_only=True).keys()
    assert any(f"self_attn.{naming}" in k for k in keys)
    loaded = load_checkpoint(folder)
    assert loaded.attention_naming == naming
    assert loaded.config == model.config
    for key, value in model.state_dict().items():
        assert torch.equal(loaded.model.state_dict()[key], value), key
    assert loaded.fingerprint == fingerprint(folder)


def test_fingerprint_follows_the_weights(tmp_path, checkpoint):
    copy = tmp_path / "copy"
    copy.mkdir()
    for name in ("best_model.pt", "vocab.json", "args.json"):
        (copy / name).write_bytes((checkpoint / name).read_bytes())
    assert fingerprint(copy) == fingerprint(checkpoint)
    state = torch.load(copy / "best_model.pt", weights_only=True)
    state["decoder.fc.4.bias"] += 1
    torch.save(state, copy / "best_model.pt")
    assert fingerprint(copy) != fingerprint(checkpoint)


def _copy(checkpoint, tmp_path):
    folder = tmp_path / "ckpt"
    folder.mkdir()
    for name in ("best_model.pt", "vocab.json", "args.json"):
        (folder / name).write_bytes((checkpoint / name).read_bytes())
    return folder


def test_checkpoint_errors_say_what_is_wrong(tmp_path, checkpoint):
    with pytest.raises(InputError, match="does not exist"):
        load_checkpoint(tmp_path / "nowhere")
    with pytest.raises(InputError, match="pass the checkpoint folder"):
        load_checkpoint(checkpoint / "best_model.pt")
    folder = _copy(checkpoint, tmp_path)
    (folder / "args.json").unlink()
    with pytest.raises(InputError, match=r"args\.json missing"):
        load_checkpoint(folder)


def test_a_vocabulary_of_other_weights_is_refused(tmp_path, checkpoint):
    folder = _copy(checkpoint, tmp_path)
    tokens = json.loads((folder / "vocab.json").read_text())
    tokens["EXTRA_GENE"] = len(tokens)
    (folder / "vocab.json").write_text(json.dumps(tokens))
    with pytest.raises(InputError, match="does not belong to these weights"):
        load_checkpoint(folder)


def test_unsupported_weights_and_mismatched_args_are_refused(tmp_path, checkpoint):
    folder = _copy(checkpoint, tmp_path)
    state = torch.load(folder / "best_model.pt", weights_only=True)
    torch.save({**state, "batch_encoder.embedding.weight": torch.zeros(3, 32)}, folder / "best_model.pt")
    with pytest.raises(InputError, match="use_batch_labels"):
        load_checkpoint(folder)
    torch.save(state, folder / "best_model.pt")
    args = json.loads((folder / "args.json").read_text())
    (folder / "args.json").write_text(json.dumps({**args, "nlayers": 3}))
    with pytest.raises(InputError, match="nlayers 3"):
        load_checkpoint(folder)
    (folder / "args.json").write_text(json.dumps({**args, "d_hid": 64}))
    with pytest.raises(InputError, match="does not fit"):
        load_checkpoint(folder)


def test_pickled_objects_are_never_loaded(tmp_path, checkpoint):
    folder = _copy(checkpoint, tmp_path)
    torch.save({"model": torch.nn.Linear(2, 2)}, folder / "best_model.pt")  # a pickled module
    with pytest.raises(InputError, match="never unpickles"):
        load_checkpoint(folder)
    (folder / "best_model.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(InputError, match="state dict"):
        load_checkpoint(folder)


# ------------------------------------------------------------------------------ embedding


@pytest.fixture(scope="module")
def embedded(kang, checkpoint):
    adata = kang[:200].copy()
    textcell.tl.scgpt_embed(adata, checkpoint=checkpoint, batch_size=16, max_tokens=4096)
    return adata


def test_scgpt_embed_writes_unit_vectors_tokens_and_provenance(embedded, checkpoint, tmp_path):
    vectors = embedded.obsm["X_scgpt"]
    assert vectors.shape == (200, 32)
    assert vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-5)
    params = embedded.uns["X_scgpt"]["params"]
    assert params["checkpoint_fingerprint"] == fingerprint(checkpoint)
    assert params["recipe"]["max_length"] == 1200
    assert params["dtype"] == "float32"
    genes = embedded.uns["X_scgpt"]["genes"]
    assert genes["n_matched"] == params["n_genes_used"] > 2000
    assert 0.9 < genes["expression_fraction"] < 1
    assert len(genes["unmatched_genes"]) == min(50, genes["n_genes"] - genes["n_matched"])
    assert embedded.obs["X_scgpt_n_tokens"].between(2, 1200).all()
    embedded.write_h5ad(tmp_path / "out.h5ad")
    back = ad.read_h5ad(tmp_path / "out.h5ad")
    assert np.array_equal(back.obsm["X_scgpt"], vectors)
    assert back.uns["X_scgpt"]["params"]["checkpoint_fingerprint"] == params["checkpoint_fingerprint"]


def test_embeddings_do_not_depend_on_batching(embedded, checkpoint):
    """Length buckets, padding and chunk boundaries leave every cell's embedding as it is."""
    adata = embedded[:60].copy()
    textcell.tl.scgpt_embed(adata, checkpoint=checkpoint, batch_size=1, chunk_size=7, key_added="one")
    assert np.abs(adata.obsm["one"] - embedded.obsm["X_scgpt"][:60]).max() < 1e-5


def test_bfloat16_is_close_to_float32(embedded, checkpoint):
    adata = embedded[:100].copy()
    textcell.tl.scgpt_embed(adata, checkpoint=checkpoint, dtype="bfloat16", key_added="bf16")
    cosine = np.sum(adata.obsm["bf16"] * embedded.obsm["X_scgpt"][:100], axis=1)
    assert cosine.min() > 0.99
    assert adata.uns["bf16"]["params"]["dtype"] == "bfloat16"


def test_backed_and_dense_input_and_copy(kang, embedded, checkpoint, tmp_path):
    kang[:200].copy().write_h5ad(tmp_path / "cells.h5ad")
    backed = ad.read_h5ad(tmp_path / "cells.h5ad", backed="r")
    textcell.tl.scgpt_embed(backed, checkpoint=checkpoint)
    assert np.abs(backed.obsm["X_scgpt"] - embedded.obsm["X_scgpt"]).max() < 1e-5
    dense = kang[:200].copy()
    dense.X = dense.X.toarray()
    out = textcell.tl.scgpt_embed(dense, checkpoint=checkpoint, copy=True)
    assert "X_scgpt" not in dense.obsm
    assert np.abs(out.obsm["X_scgpt"] - embedded.obsm["X_scgpt"]).max() < 1e-5


def test_highly_variable_and_bad_input(kang, checkpoint):
    adata = kang[:100].copy()
    with pytest.raises(InputError, match="highly_variable_genes"):
        textcell.tl.scgpt_embed(adata, checkpoint=checkpoint, highly_variable=True)
    adata.var["highly_variable"] = np.arange(adata.n_vars) < 500
    textcell.tl.scgpt_embed(adata, checkpoint=checkpoint, highly_variable=True)
    assert adata.uns["X_scgpt"]["params"]["n_genes_used"] <= 500
    scaled = adata.copy()
    sc.pp.scale(scaled)
    with pytest.raises(InputError, match="negatives"):
        textcell.tl.scgpt_embed(scaled, checkpoint=checkpoint)
    unknown = ad.AnnData(np.ones((3, 2), dtype=np.float32), var={"_": ["x"] * 2})
    unknown.var_names = ["NOT_A_GENE_1", "NOT_A_GENE_2"]
    with pytest.raises(InputError, match="vocabulary"):
        textcell.tl.scgpt_embed(unknown, checkpoint=checkpoint)


def test_cli_embeds_a_file(kang, checkpoint, tmp_path, capsys):
    from textcell.cli import main

    kang[:60].copy().write_h5ad(tmp_path / "cells.h5ad")
    out = tmp_path / "out.h5ad"
    args = ["scgpt", "embed", str(tmp_path / "cells.h5ad"), "--checkpoint", str(checkpoint), "-o", str(out)]
    assert main(["-q", *args, "--dtype", "bfloat16"]) == 0
    written = ad.read_h5ad(out)
    assert written.obsm["X_scgpt"].shape == (60, 32)
    assert written.uns["X_scgpt"]["params"]["dtype"] == "bfloat16"
    assert "Embedded 60 cells" in capsys.readouterr().out
    assert (
        main(["scgpt", "embed", str(tmp_path / "cells.h5ad"), "--checkpoint", str(tmp_path), "-o", str(out)])
        == 2
    )
    assert "best_model.pt" in capsys.readouterr().err
