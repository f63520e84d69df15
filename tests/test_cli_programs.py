import anndata as ad
import numpy as np
import pytest

from textcell.cli import main


@pytest.fixture(scope="module")
def kang_file(shared_data, tmp_path_factory):
    adata = ad.read_h5ad(shared_data / "cells" / "kang2018_pbmc.h5ad")
    keep = np.sort(np.random.default_rng(0).choice(adata.n_obs, 1500, replace=False))
    path = tmp_path_factory.mktemp("cli") / "kang.h5ad"
    adata[keep].copy().write_h5ad(path)
    return path


def test_programs_command_writes_programs_activity_and_heat_map(kang_file, tmp_path, capsys):
    out, figure = tmp_path / "out.h5ad", tmp_path / "heat.png"
    argv = [
        "programs", str(kang_file), "-o", str(out), "--groupby", "cell_type", "--model", "tfidf",
        "--n-top-genes", "800", "--figure", str(figure),
    ]  # fmt: skip
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "No var['highly_variable']: selecting 800 highly variable genes" in printed
    assert "GO validation" in printed
    result = ad.read_h5ad(out)
    assert result.var["highly_variable"].sum() == 800
    programs = result.uns["textcell_programs"]
    assert result.uns["textcell"]["params"]["view"] == "name@1"  # GO-free texts by default
    assert programs["validation"]["coexpression"]["n_programs"] == len(programs["names"])
    assert result.var.loc[result.var["textcell_programs"].notna(), "highly_variable"].all()
    assert figure.read_bytes()[:4] == b"\x89PNG"


def test_programs_command_refuses_go_validation_of_card_texts(kang_file, tmp_path, capsys):
    argv = [
        "programs", str(kang_file), "-o", str(tmp_path / "o.h5ad"), "--model", "tfidf", "--view", "card",
        "--validate", "yes",
    ]  # fmt: skip
    assert main(argv) == 2
    assert "contain GO terms" in capsys.readouterr().err
    assert not (tmp_path / "o.h5ad").exists()
