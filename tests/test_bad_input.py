"""Bad input: every case is one clear line (what is wrong, what to do), exit 2 from the command line,
an InputError-family exception from the API, and nothing written under the output's name."""

from __future__ import annotations

import os
import subprocess
import sys
import warnings
from pathlib import Path

import anndata as ad
import h5py
import numpy as np
import pandas as pd
import pytest
from scipy import sparse

import textcell
from textcell.cli import main
from textcell.errors import TextcellError


@pytest.fixture(scope="module")
def cells(shared_data, tmp_path_factory) -> ad.AnnData:
    """300 real Kang PBMCs (raw counts, all 2,511 genes) with TF-IDF gene vectors in varm."""
    adata = ad.read_h5ad(shared_data / "cells" / "kang2018_pbmc.h5ad")
    adata = adata[np.random.default_rng(0).choice(adata.n_obs, 300, replace=False)].copy()
    adata.X = sparse.csr_matrix(adata.X, dtype=np.float32)
    textcell.tl.embed_genes(adata, model="tfidf")
    return adata


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return tmp_path_factory.mktemp("bad-input")


def _file(folder, name: str, adata: ad.AnnData, **write) -> str:
    path = folder / name
    adata.write_h5ad(path, **write)
    return str(path)


def fails_cleanly(argv, capsys, *, says: str, output=None) -> str:
    """Runs the command line in-process: exit 2, one 'error:' line naming the problem, no traceback,
    and no file (nor temporary file) under the output's name."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        try:
            code = main([str(a) for a in argv])
        except SystemExit as exc:  # argparse refuses the arguments themselves
            code = exc.code
    err = capsys.readouterr().err
    assert code == 2, err
    assert says in err, err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.startswith(("error:", "textcell: error:", "usage:"))]
    assert lines, err
    if output is not None:
        output = os.fspath(output)
        assert not os.path.exists(output) or os.path.isdir(output)
        parent = os.path.dirname(output) or "."
        if os.path.isdir(parent):
            assert not [n for n in os.listdir(parent) if n.startswith(f".{os.path.basename(output)}.")]
    return err


# ---------------------------------------------------------------------------- damaged files


def test_a_corrupt_uncompressed_file_fails_instead_of_crashing_or_hanging(cells, folder, capsys):
    """Garbage in the middle of X's column indices: read as numbers, so only a structure check
    stops the kernels from reading out of bounds (a crash) or looping (a hang)."""
    path = _file(folder, "garbage-indices.h5ad", cells)
    with h5py.File(path, "r+") as store:
        indices = store["X/indices"]
        middle = len(indices) // 2
        indices[middle : middle + 512] = np.random.default_rng(0).integers(-(2**31), 2**31 - 1, 512)
    output = folder / "o-corrupt.h5ad"
    fails_cleanly(["embed-cells", path, "-o", output], capsys, says="corrupt", output=output)


def test_a_corrupt_file_in_a_fresh_process_fails_fast_without_hanging(cells, folder):
    path = _file(folder, "overwritten.h5ad", cells, compression="gzip")
    data = bytearray(Path(path).read_bytes())
    middle = len(data) // 2
    data[middle : middle + 4096] = np.random.default_rng(1).integers(0, 256, 4096, dtype=np.uint8).tobytes()
    Path(path).write_bytes(data)
    output = folder / "o-overwritten.h5ad"
    done = subprocess.run(
        [sys.executable, "-m", "textcell", "-q", "embed-cells", path, "-o", str(output)],
        capture_output=True,
        text=True,
        timeout=300,  # a guard against a hang, not a speed target (benchmarks/bench_cli.py times it)
    )
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("error: ")
    assert "Traceback" not in done.stderr
    assert not output.exists()


def test_a_truncated_file(cells, folder, capsys):
    path = _file(folder, "whole.h5ad", cells)
    data = Path(path).read_bytes()
    (folder / "truncated.h5ad").write_bytes(data[: len(data) // 2])
    output = folder / "o-truncated.h5ad"
    fails_cleanly(
        ["embed-cells", folder / "truncated.h5ad", "-o", output], capsys, says="Could not read", output=output
    )


def test_a_file_that_is_not_hdf5(folder, capsys):
    (folder / "notes.h5ad").write_text("cell,gene\n1,2\n")
    fails_cleanly(["annotate", folder / "notes.h5ad", "--groupby", "x"], capsys, says="Could not read")


def test_a_missing_file(folder, capsys):
    fails_cleanly(["genes", "resolve", folder / "nope.h5ad"], capsys, says="does not exist")


def test_a_folder_given_as_the_input(folder, capsys):
    fails_cleanly(["genes", "resolve", folder], capsys, says="is not a file")


# ---------------------------------------------------------------------------- outputs


def test_output_onto_an_existing_folder(cells, folder, capsys):
    path = _file(folder, "in.h5ad", cells)
    (folder / "taken").mkdir()
    fails_cleanly(["embed-cells", path, "-o", folder / "taken"], capsys, says="is a folder; give a file name")


def test_output_under_a_file(cells, folder, capsys):
    path = _file(folder, "in.h5ad", cells)
    fails_cleanly(["embed-cells", path, "-o", f"{path}/out.h5ad"], capsys, says="is a file, not a folder")


def test_output_on_a_read_only_filesystem(cells, folder, capsys):
    path = _file(folder, "in.h5ad", cells)
    fails_cleanly(["embed-cells", path, "-o", "/proc/textcell/out.h5ad"], capsys, says="Cannot write")


def test_report_onto_a_read_only_filesystem(cells, folder, capsys):
    path = _file(folder, "in.h5ad", cells)
    fails_cleanly(["report", path, "-o", "/sys/report.html"], capsys, says="Cannot write")


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write into read-only folders")
def test_output_into_a_read_only_folder(cells, folder, capsys):
    path = _file(folder, "in.h5ad", cells)
    locked = folder / "locked"
    locked.mkdir(mode=0o555)
    fails_cleanly(["embed-cells", path, "-o", locked / "o.h5ad"], capsys, says="Cannot write")


# ---------------------------------------------------------------------------- values


@pytest.mark.parametrize(
    ("name", "change", "says"),
    [
        ("no cells", lambda a: a[:0].copy(), "The expression matrix is empty"),
        ("one cell", lambda a: a[:1].copy(), "at least 10 are needed"),
        (
            "all zeros",
            lambda a: _with_x(a, sparse.csr_matrix(a.shape, dtype=np.float32)),
            "None of the 300 cells",
        ),
        ("NaN values", lambda a: _with_x(a, _touched(a.X, np.nan)), "NaN or infinite"),
        ("scaled values", lambda a: _with_x(a, _touched(a.X, -1.5)), "include negatives (scaled data?)"),
    ],
)
def test_expression_that_cannot_be_embedded(cells, folder, capsys, name, change, says):
    path = _file(folder, f"{name}.h5ad", change(cells))
    output = folder / f"o-{name}.h5ad"
    fails_cleanly(["embed-cells", path, "-o", output], capsys, says=says, output=output)


def _with_x(adata, x):
    adata = adata.copy()
    adata.X = x
    return adata


def _touched(x, value):
    x = x.copy()
    x.data[7] = value
    return x


def test_a_layer_that_does_not_exist(cells, folder, capsys):
    path = _file(folder, "in.h5ad", cells)
    output = folder / "o-layer.h5ad"
    fails_cleanly(
        ["embed-cells", path, "-o", output, "--layer", "counts"],
        capsys,
        says="Layer 'counts' not found",
        output=output,
    )


def test_use_raw_without_raw(cells, folder, capsys):
    path = _file(folder, "in.h5ad", cells)
    output = folder / "o-raw.h5ad"
    fails_cleanly(
        ["embed-cells", path, "-o", output, "--use-raw"], capsys, says="needs adata.raw", output=output
    )


def test_an_unknown_recipe(cells, folder, capsys):
    path = _file(folder, "in.h5ad", cells)
    output = folder / "o-recipe.h5ad"
    fails_cleanly(
        ["embed-cells", path, "-o", output, "--recipe", "genept"],
        capsys,
        says="Unknown recipe 'genept'",
        output=output,
    )


def test_an_unknown_model_lists_the_valid_ones(folder, capsys, cells):
    path = _file(folder, "bare.h5ad", ad.AnnData(cells.X, obs=cells.obs, var=cells.var[[]]))
    output = folder / "o-model.h5ad"
    fails_cleanly(
        ["embed-genes", path, "-o", output, "--model", "word2vec"], capsys, says="Valid names:", output=output
    )


def test_an_unknown_view(folder, capsys, cells):
    path = _file(folder, "bare.h5ad", ad.AnnData(cells.X, obs=cells.obs, var=cells.var[[]]))
    output = folder / "o-view.h5ad"
    fails_cleanly(["embed-genes", path, "-o", output, "--view", "poem"], capsys, says="poem", output=output)


def test_genes_of_another_kind_entirely(folder, capsys, cells):
    """var_names that are no gene identifiers at all (here: cell barcodes)."""
    adata = ad.AnnData(cells.X[:, :300].copy(), var=pd.DataFrame(index=cells.obs_names[:300]))
    path = _file(folder, "barcodes.h5ad", adata)
    output = folder / "o-barcodes.h5ad"
    fails_cleanly(["embed-genes", path, "-o", output], capsys, says="is a gene identifier", output=output)


# ---------------------------------------------------------------------------- annotation


def test_annotate_a_missing_column(cells, folder, capsys):
    path = _file(folder, "in.h5ad", cells)
    fails_cleanly(["annotate", path, "--groupby", "louvain"], capsys, says="obs['louvain'] not found")


def test_annotate_a_single_group(cells, folder, capsys):
    one = cells.copy()
    one.obs["sample"] = "all"
    path = _file(folder, "single.h5ad", one)
    output = folder / "o-single.h5ad"
    fails_cleanly(
        ["annotate", path, "--groupby", "sample", "-o", output], capsys, says="single group", output=output
    )


def test_annotate_all_zero_cells(cells, folder, capsys):
    path = _file(folder, "zeros.h5ad", _with_x(cells, sparse.csr_matrix(cells.shape, dtype=np.float32)))
    output = folder / "o-zeros.h5ad"
    fails_cleanly(
        ["annotate", path, "--groupby", "cell_type", "-o", output],
        capsys,
        says="Every expression value is zero",
    )
    assert not output.exists()


def test_annotate_an_unknown_marker_database(cells, folder, capsys):
    path = _file(folder, "in.h5ad", cells)
    fails_cleanly(["annotate", path, "--groupby", "cell_type", "--markers", "nodb"], capsys, says="nodb")


# ---------------------------------------------------------------------------- genes


@pytest.mark.parametrize("k", ["-5", "0"])
def test_genes_similar_needs_k_of_at_least_one(capsys, k):
    fails_cleanly(["genes", "similar", "CD19", "-k", k], capsys, says="must be at least 1")


def test_genes_describe_an_unknown_gene(capsys):
    err = fails_cleanly(
        ["genes", "describe", "NOTAGENE"], capsys, says="NOTAGENE is not a gene textcell knows"
    )
    assert capsys.readouterr().out == ""
    assert err.startswith("error: ")


# ---------------------------------------------------------------------------- the API


def test_api_errors_are_textcell_errors(cells):
    adata = cells.copy()
    cases = {
        "coverage before resolving": lambda: textcell.genes.CoverageReport.from_adata(ad.AnnData(cells.X)),
        "only unknown genes": lambda: textcell.embed.GeneEmbeddings.build(["NOTAGENE1", "NOTAGENE2"]),
        "k below one": lambda: textcell.embed.GeneEmbeddings.build(
            ["CD19", "CD3E"], model="tfidf"
        ).most_similar("CD19", k=0),
        "markers of unknown genes": lambda: textcell.markers.load_markers(
            {"X cells": ["NOTAGENE1", "NOTAGENE2"]}
        ),
        "programs by a missing column": lambda: textcell.tl.gene_programs(adata, groupby="louvain"),
        "scaled data": lambda: textcell.tl.embed_cells(_with_x(adata, _touched(adata.X, -1.0))),
        "a bad recipe field": lambda: textcell.tl.embed_cells(adata, n_top=0),
    }
    for name, call in cases.items():
        with pytest.raises(TextcellError) as caught:
            call()
        assert isinstance(caught.value, ValueError), name  # InputError family
        assert str(caught.value).endswith((".", ")")), name


def test_cells_without_expression_are_flagged_without_numpy_warnings(cells):
    adata = cells.copy()
    silent = np.ones(adata.n_obs)
    silent[:5] = 0
    adata.X = sparse.csr_matrix(sparse.diags(silent) @ adata.X)
    adata.X.eliminate_zeros()
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        textcell.tl.embed_cells(adata)
    assert adata.obs["X_textcell_empty"][:5].all()
    assert not adata.obs["X_textcell_empty"][5:].any()
    assert np.isfinite(adata.obsm["X_textcell"]).all()
    assert not adata.obsm["X_textcell"][:5].any()
