"""The cell benchmark end to end on scanpy's bundled pbmc68k_reduced (no download), and its report."""

import json

import anndata as ad
import numpy as np
import pandas as pd
import pytest

from textcell._defaults import DEFAULT_MODEL
from textcell.bench import cells, report
from textcell.cli import main
from textcell.datasets import pbmc68k_reduced
from textcell.errors import InputError

CONFIG = {
    "model": DEFAULT_MODEL,
    "highly_variable": True,
    "idf": True,
    "center": True,
    "whiten": True,
    "scale": True,
}


@pytest.fixture(scope="module")
def report_folder(tmp_path_factory):
    """``textcell bench cells`` on a user file: pbmc68k_reduced with its cell-cycle phase as batch."""
    folder = tmp_path_factory.mktemp("bench")
    adata = pbmc68k_reduced()
    obs = adata.obs[["bulk_labels", "phase"]]
    ad.AnnData(X=adata.raw.X, obs=obs, var=pd.DataFrame(index=adata.raw.var_names)).write_h5ad(
        folder / "pbmc68k.h5ad"
    )
    arguments = ["bench", "cells", "--h5ad", str(folder / "pbmc68k.h5ad"), "--label", "bulk_labels"]
    arguments += ["--batch", "phase", "--seeds", "2", "-o", str(folder / "report")]  # shipped defaults
    assert main(arguments) == 0
    return folder / "report"


@pytest.fixture(scope="module")
def results(report_folder):
    return json.loads((report_folder / "results.json").read_text())


def test_every_embedding_gets_every_metric_with_its_spread(results):
    assert results["cells"]["config"] == CONFIG
    entry = results["cells"]["datasets"]["pbmc68k"]
    assert (entry["n_cells"], entry["label"], entry["batch"]) == (700, "bulk_labels", "phase")
    assert list(entry["embeddings"]) == ["PCA", "GenePT-w (published recipe)", "textcell", "random genes"]
    for result in entry["embeddings"].values():
        summary = result["summary"]
        assert set(report.CELL_COLUMNS) <= set(summary)
        assert summary["kmeans_ari"]["n"] == 2
        assert len(result["scores"]["kmeans_ari"]) == 2
        assert summary["knn_macro_f1"]["n"] == 3  # one fold per held-out cell-cycle phase
        # ten labels: chance macro-F1 is about 0.1
        assert summary["knn_macro_f1"]["mean"] > 0.3
        assert 0 <= summary["ilisi"]["mean"] <= 1


def test_the_random_control_uses_other_gene_vectors_with_the_same_configuration():
    adata = cells.prepare(pbmc68k_reduced().raw.to_adata())
    config = {**CONFIG, "highly_variable": False}  # its 377 HVGs are too few to whiten 512 dimensions
    text = cells.textcell_embedding(adata, config)
    from textcell.embed import RandomEmbedder

    random = cells.textcell_embedding(adata, config, gene_model=RandomEmbedder())
    assert text.shape[0] == random.shape[0] == 700
    assert 500 < text.shape[1] <= 512  # whitening drops null axes
    assert 370 < random.shape[1] <= 384
    assert np.allclose(np.linalg.norm(text, axis=1), 1, atol=1e-5)
    assert np.abs(text @ text.T - random @ random.T).max() > 0.1  # other cell-cell similarities


def test_pca_baseline_is_scanpys_standard_pipeline():
    adata = cells.prepare(pbmc68k_reduced().raw.to_adata())
    assert adata.var["highly_variable"].sum() == 765 // 2
    assert cells.pca_embedding(adata).shape == (700, 50)


def test_the_report_folder_holds_markdown_and_figures(report_folder, results):
    markdown = (report_folder / "report.md").read_text()
    assert markdown == report.render_markdown(results)
    assert "| PCA |" in markdown
    assert "Where we stand" in markdown
    links = [part.split(")")[0] for part in markdown.split("](")[1:]]
    assert len(links) == 5  # UMAPs, two confusion matrices, two bar charts
    for link in links:
        figure = report_folder / link
        assert figure.is_file(), link
        assert figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert report.readme_table(results).count("| pbmc68k |") == 4


def test_the_h5ad_option_needs_a_label(tmp_path, capsys):
    assert main(["bench", "cells", "--h5ad", str(tmp_path / "x.h5ad"), "-o", str(tmp_path)]) == 2
    assert "--h5ad needs --label" in capsys.readouterr().err


def test_choose_config_takes_the_best_text_configuration_never_the_random_control():
    sweep = pd.DataFrame(
        [
            {**CONFIG, "model": "random", "mean": 0.9},
            {**CONFIG, "mean": 0.5},
            {**CONFIG, "model": "tfidf", "center": False, "mean": 0.6},
        ]
    )
    assert cells.choose_config(sweep) == {**CONFIG, "model": "tfidf", "center": False}


def test_validation_sweep_runs_the_grid_with_a_random_control(monkeypatch):
    monkeypatch.setattr(cells, "CONFIG_GRID", {**{k: (v,) for k, v in CONFIG.items()}, "idf": (False, True)})
    dataset = cells.CellDataset("pbmc68k", cells.DATASETS["pbmc68k_reduced"].load, "bulk_labels")
    sweep = cells.validation_sweep(dataset, seeds=range(2))
    assert len(sweep) == 4
    assert sorted(sweep["model"].unique()) == sorted([DEFAULT_MODEL, "random"])
    assert (sweep["n"] == 2).all()


def test_an_unknown_dataset_lists_the_known_ones():
    with pytest.raises(InputError, match="choose from kang_pbmc, pbmc_3tech, pbmc68k_reduced"):
        cells.cell_benchmark(["kang"], config=CONFIG)


def test_a_missing_label_column_is_named(tmp_path):
    dataset = cells.CellDataset("pbmc68k", cells.DATASETS["pbmc68k_reduced"].load, "cell_type")
    with pytest.raises(InputError, match="no column 'cell_type'"):
        cells.cell_benchmark([dataset], config=CONFIG, seeds=range(2))
