"""textcell's scGPT against scGPT's own code (scgpt==0.2.4), on real Kang cells.

scGPT's ``TransformerModel`` with random weights (every parameter perturbed) is saved by the
reference as official checkpoint folders, in both attention namings; the reference then runs
``embed_data``'s recipe and the model's forward pass (tests/scgpt_reference.py, in the venv of
``bash scripts/setup_scgpt_reference.sh``). textcell loads the folders and must produce the same
tokens bit for bit and the same outputs within 1e-4 (float32): cell embeddings, expression
predictions (GEP), MVC predictions and classification logits. Without that venv these tests skip
(and fail under CI).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import anndata as ad
import numpy as np
import pytest
from scipy import sparse

import textcell
from conftest import need
from textcell.models.scgpt import load_checkpoint, map_genes
from textcell.models.scgpt.tokenize import Recipe, tokenize_rows

torch = pytest.importorskip("torch")

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "tests" / "scgpt_reference.py"
TOLERANCE = 1e-4
NAMINGS = ("Wqkv", "in_proj")


def scgpt_venv() -> Path | None:
    """``$TEXTCELL_SCGPT_VENV``, else ``<repo>/.venv-scgpt``; None when it has no scgpt."""
    configured = os.environ.get("TEXTCELL_SCGPT_VENV")
    venv = Path(configured) if configured else REPO / ".venv-scgpt"
    found = list((venv / "lib").glob("python3*/site-packages/scgpt/model/model.py"))
    return venv if found else None


@pytest.fixture(scope="module")
def reference_python() -> Path:
    venv = scgpt_venv()
    if venv is None:
        need("no scGPT reference venv (.venv-scgpt or $TEXTCELL_SCGPT_VENV); run setup_scgpt_reference.sh")
    return venv / "bin" / "python"


def reference(python: Path, *args) -> None:
    subprocess.run(
        [str(python), str(SCRIPT), *map(str, args)],
        check=True,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
        timeout=1800,
    )


@pytest.fixture(scope="module")
def kang(shared_data):
    return ad.read_h5ad(shared_data / "cells" / "kang2018_pbmc.h5ad")


def pick_cells(kang, n: int, *, longest: int = 1199) -> ad.AnnData:
    """``n`` cells spread over the range of gene counts, none longer than ``longest`` genes."""
    counts = np.diff(kang.X.indptr)
    order = np.flatnonzero(counts <= longest)[np.argsort(counts[counts <= longest], kind="stable")]
    return kang[np.sort(order[np.linspace(0, len(order) - 1, n).astype(int)])].copy()


def write_cells(adata: ad.AnnData, path: Path) -> Path:
    np.savez(path, counts=adata.X.toarray().astype(np.float32), genes=np.array(adata.var_names, dtype=str))
    return path


def run_reference(python, folder, cells, out, **options) -> dict:
    extra = [x for k, v in options.items() for x in (f"--{k.replace('_', '-')}", v)]
    reference(python, "run", "--checkpoint", folder, "--cells", cells, "--out", out, *extra)
    with np.load(out, allow_pickle=False) as saved:
        return {k: saved[k] for k in saved.files}


@pytest.fixture(scope="module")
def whole_human(reference_python, kang, tmp_path_factory):
    """The whole-human architecture (51.9 M parameters, the census vocabulary of 60,697 tokens)
    with random weights, in both namings, and the reference's outputs on five Kang cells."""
    root = tmp_path_factory.mktemp("scgpt-whole-human")
    reference(reference_python, "build", "--out", root, "--config", "whole-human", "--seed", 0)
    cells = pick_cells(kang, 5)
    path = write_cells(cells, root / "cells.npz")
    result = run_reference(reference_python, root / "Wqkv", path, root / "out.npz")
    return root, cells, result


@pytest.fixture(scope="module")
def small(reference_python, kang, tmp_path_factory):
    """A small architecture (2 layers, d_model 64, d_hid 96, 5 classes), 40 cells in batches of 16
    (padding in every batch), with scGPT's max_length 1200 and with 128 (its random subset)."""
    root = tmp_path_factory.mktemp("scgpt-small")
    reference(reference_python, "build", "--out", root, "--config", "small", "--seed", 3, "--namings", "Wqkv")
    cells = pick_cells(kang, 40)
    path = write_cells(cells, root / "cells.npz")
    full = run_reference(reference_python, root / "Wqkv", path, root / "full.npz", batch_size=16, seed=7)
    short = run_reference(
        reference_python, root / "Wqkv", path, root / "short.npz", batch_size=16, seed=7, max_length=128
    )
    return root / "Wqkv", cells, full, short


def textcell_tokens(scgpt, cells: ad.AnnData, *, seed: int, max_length: int = 1200):
    mapping = map_genes(cells.var_names, scgpt.vocab, match="exact")  # scGPT's own rule
    columns = np.flatnonzero(mapping.matched)
    recipe = Recipe(
        cls_id=scgpt.cls_id, pad_id=scgpt.pad_id, pad_value=scgpt.config.pad_value,
        n_bins=scgpt.config.n_bins, max_length=max_length, seed=seed,
    )  # fmt: skip
    return tokenize_rows(sparse.csr_matrix(cells.X[:, columns]), mapping.ids[columns], recipe, first_index=0)


def assert_same_tokens(tokens, result, rows=None):
    for i, (genes, values) in enumerate(tokens):
        if rows is not None and i not in rows:
            continue
        n = len(genes)
        assert np.array_equal(result["genes"][i, :n], genes), f"cell {i}: genes differ"
        assert np.array_equal(result["values"][i, :n], values), f"cell {i}: bins differ"
        assert not result["padding"][i, :n].any()
        assert result["padding"][i, n:].all()


def forward_on(scgpt, result) -> dict:
    with torch.inference_mode():
        out = scgpt.model(
            torch.from_numpy(result["genes"]).long(),
            torch.from_numpy(result["values"]).float(),
            torch.from_numpy(result["padding"]),
            cls=True,
            mvc=True,
        )
    return {k: v.numpy() for k, v in out.items()}


def max_differences(out: dict, result: dict) -> dict[str, float]:
    """Largest |textcell - reference| per output, over real tokens only. The reference padded
    each batch to its own longest cell; ``result`` stacks batches padded further, which the
    padding mask covers."""
    real = ~result["padding"]
    return {
        "cell embedding": float(np.abs(out["cell_emb"] - result["cell_emb"]).max()),
        "expression (GEP)": float(np.abs(out["expr"] - result["expr"])[real].max()),
        "MVC": float(np.abs(out["mvc_output"] - result["mvc"])[real].max()),
        "CLS logits": float(np.abs(out["cls_output"] - result["cls"]).max()),
    }


# ---------------------------------------------------------------------------------- tests


@pytest.mark.slow
def test_whole_human_tokens_are_the_references_bit_for_bit(whole_human):
    root, cells, result = whole_human
    scgpt = load_checkpoint(root / "Wqkv")
    assert len(scgpt.vocab) == 60_697
    assert scgpt.config.n_parameters == 51_856_898
    assert_same_tokens(textcell_tokens(scgpt, cells, seed=0), result)


@pytest.mark.slow
@pytest.mark.parametrize("naming", NAMINGS)
def test_whole_human_outputs_match_the_reference(whole_human, naming):
    root, _, result = whole_human
    scgpt = load_checkpoint(root / naming)
    assert scgpt.attention_naming == naming
    differences = max_differences(forward_on(scgpt, result), result)
    assert max(differences.values()) <= TOLERANCE, differences


@pytest.mark.slow
@pytest.mark.parametrize("naming", NAMINGS)
def test_scgpt_embed_is_embed_data(whole_human, naming):
    """The whole path (gene matching, recipe, length buckets, L2) gives embed_data's X_scGPT."""
    root, cells, result = whole_human
    adata = cells.copy()
    textcell.tl.scgpt_embed(adata, checkpoint=root / naming, match="exact", batch_size=2)
    assert np.abs(adata.obsm["X_scgpt"] - result["embedding"]).max() <= TOLERANCE
    assert np.array_equal(adata.obs["X_scgpt_n_tokens"].to_numpy(), (~result["padding"]).sum(axis=1))


@pytest.mark.slow
def test_small_model_matches_with_padding_and_long_cells(small):
    folder, cells, full, short = small
    scgpt = load_checkpoint(folder)
    assert scgpt.config.n_cls == 5
    assert scgpt.config.n_layers_cls == 2
    assert scgpt.config.d_hid == 96
    assert_same_tokens(textcell_tokens(scgpt, cells, seed=7), full)
    for result in (full, short):
        differences = max_differences(forward_on(scgpt, result), result)
        assert max(differences.values()) <= TOLERANCE, differences
    # Beyond max_length both keep <cls> and 127 genes at random (scGPT with torch.randperm,
    # textcell with the cell's numpy generator), after binning the whole cell: the shared genes
    # carry the same bins.
    tokens = textcell_tokens(scgpt, cells, seed=7, max_length=128)
    for i, (genes, values) in enumerate(tokens):
        real = ~short["padding"][i]
        assert len(genes) == real.sum() == min(128, (~full["padding"][i]).sum())
        theirs = dict(zip(short["genes"][i, real], short["values"][i, real], strict=True))
        shared = [j for j, g in enumerate(genes) if g in theirs]
        assert len(shared) >= 2
        assert all(values[j] == theirs[genes[j]] for j in shared)
