import json
import subprocess
import sys

import anndata as ad
import pytest

import textcell
from textcell.cli import main


def test_console_entry_point_runs(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "textcell", "genes", "describe", "AARS", "--view", "name"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "AARS1: alanyl-tRNA synthetase 1  [AARS → AARS1 via previous_symbol]"


def test_describe_reports_ambiguous_and_missing_genes_on_stderr(capsys):
    assert main(["genes", "describe", "CD3E", "CD16", "NOTAGENE"]) == 2
    out, err = capsys.readouterr()
    assert out.startswith("CD3E (CD3 epsilon subunit")
    assert len(out.splitlines()) == 1
    assert err.splitlines() == [
        "error: CD16 is ambiguous, it could be FCGR3A, FCGR3B; name one of them.",
        "error: NOTAGENE is not a gene textcell knows "
        "(symbols, aliases, Ensembl or Entrez IDs; human or mouse).",
    ]


def test_describe_summary_view_with_summaries_file(capsys, refseq_summaries):
    assert main(["genes", "describe", "TP53", "--view", "summary", "--summaries", str(refseq_summaries)]) == 0
    assert capsys.readouterr().out.startswith("TP53 (tumor protein p53): ")


def test_resolve_prints_the_coverage_report(tmp_path, capsys):
    adata = textcell.datasets.pbmc68k_reduced()
    adata.write_h5ad(tmp_path / "pbmc.h5ad")
    assert main(["genes", "resolve", str(tmp_path / "pbmc.h5ad"), "--output", str(tmp_path / "map.tsv")]) == 0
    out = capsys.readouterr().out
    assert "identifiers matched" in out
    assert "total expression covered" in out
    header = (tmp_path / "map.tsv").read_text().splitlines()[0]
    assert header == "var_name\ttextcell_genes_entrez\ttextcell_genes_symbol\ttextcell_genes_route"
    assert main(["genes", "resolve", str(tmp_path / "pbmc.h5ad"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["n_total"] == adata.n_vars


@pytest.mark.parametrize("content", [None, b"not an h5ad file"])
def test_resolve_bad_file_is_a_clear_error(tmp_path, capsys, content):
    path = tmp_path / "data.h5ad"
    if content is not None:
        path.write_bytes(content)
    assert main(["genes", "resolve", str(path)]) == 2
    assert capsys.readouterr().err.startswith("error: ")


def test_demo_writes_gene_texts_and_coverage(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path / "demo")]) == 0
    out = capsys.readouterr().out
    assert "Gene ID coverage" in out
    lines = (tmp_path / "demo" / "genes.tsv").read_text().splitlines()
    coverage = json.loads((tmp_path / "demo" / "coverage.json").read_text())
    assert len(lines) - 1 == coverage["n_matched"]
    assert lines[0] == "var_name\tentrez\tsymbol\troute\ttext"
    embedded = ad.read_h5ad(tmp_path / "demo" / "pbmc68k_textcell.h5ad")
    assert embedded.obsm["X_textcell"].shape[0] == 700
    dim = embedded.uns["textcell"]["params"]["dim"]
    assert 0.95 * dim < embedded.obsm["X_textcell"].shape[1] <= dim  # whitening drops the null axes
    # every matched gene with a text in the view has a vector (a gene with none is left out)
    with_text = sum(1 for line in lines[1:] if line.split("\t")[-1])
    assert embedded.var["textcell_has_embedding"].sum() == with_text > 0.95 * coverage["n_matched"]


def test_corpus_info(capsys, corpus):
    assert main(["corpus", "info"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["version"] == corpus.version
    assert info["counts"] == corpus.counts()


def test_corpus_build_without_sources_or_download_fails_clearly(tmp_path, capsys):
    assert main(["corpus", "build", "--no-download", "-o", str(tmp_path / "c.json.gz")]) == 2
    assert "No SQLite files given" in capsys.readouterr().err


@pytest.fixture
def esummary(refseq_summaries):
    from ncbi_server import FakeEsummary
    from textcell.genes.corpus import read_table

    records = [r for r in read_table(refseq_summaries) if r["symbol"] in {"TP53", "CD3E", "MS4A1"}]
    with FakeEsummary(records) as server:
        yield server


def test_fetch_ncbi_writes_summaries_that_load_into_the_corpus(esummary, tmp_path, capsys, corpus):
    out = tmp_path / "summaries.jsonl.gz"
    args = ["corpus", "fetch-ncbi", "TP53", "CD3E", "MS4A1", "-o", str(out), "--base-url", esummary.base_url]
    assert main(args) == 0
    assert "3 with a summary" in capsys.readouterr().out
    assert corpus.with_summaries(out).record("7157").summary.startswith("This gene encodes")


def test_fetch_ncbi_failure_leaves_no_output_file(esummary, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(textcell.settings, "cache_dir", tmp_path / "cache")
    esummary.always = "html"
    (tmp_path / "out").mkdir()
    out = tmp_path / "out" / "summaries.jsonl"
    args = [
        "corpus",
        "fetch-ncbi",
        "TP53",
        "-o",
        str(out),
        "--base-url",
        esummary.base_url,
        "--max-retries",
        "0",
    ]
    assert main(args) == 2
    assert "HTML instead of JSON" in capsys.readouterr().err
    assert list((tmp_path / "out").iterdir()) == []


def test_embed_genes_dry_run_then_embed_then_cache(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(textcell.settings, "cache_dir", tmp_path / "cache")
    adata = textcell.datasets.pbmc68k_reduced()
    adata.write_h5ad(tmp_path / "pbmc.h5ad")
    assert (
        main(["embed-genes", str(tmp_path / "pbmc.h5ad"), "--model", "random", "--view", "card", "--dry-run"])
        == 0
    )
    assert "751 unique), 0 cached, 751 to embed" in capsys.readouterr().out
    assert (
        main(
            [
                "embed-genes",
                str(tmp_path / "pbmc.h5ad"),
                "--model",
                "random",
                "--view",
                "card",
                "-o",
                str(tmp_path / "o.h5ad"),
            ]
        )
        == 0
    )
    assert "Embedded 751 of 765 genes" in capsys.readouterr().out
    assert ad.read_h5ad(tmp_path / "o.h5ad").varm["textcell"].shape == (765, 384)
    assert (
        main(["embed-genes", str(tmp_path / "pbmc.h5ad"), "--model", "random", "--view", "card", "--dry-run"])
        == 0
    )
    assert "751 cached, 0 to embed" in capsys.readouterr().out
    assert main(["cache", "info"]) == 0
    assert "random-384-seed0  751 vectors of 384-d" in capsys.readouterr().out
    assert main(["cache", "clear"]) == 0
    assert main(["cache", "info"]) == 0
    assert "(empty)" in capsys.readouterr().out


def test_embed_genes_without_output_or_with_unknown_model_fails_clearly(tmp_path, capsys):
    adata = textcell.datasets.pbmc68k_reduced()
    adata.write_h5ad(tmp_path / "pbmc.h5ad")
    assert main(["embed-genes", str(tmp_path / "pbmc.h5ad"), "--model", "random"]) == 2
    assert "-o/--output" in capsys.readouterr().err
    assert (
        main(["embed-genes", str(tmp_path / "pbmc.h5ad"), "--model", "gpt-17", "-o", str(tmp_path / "x")])
        == 2
    )
    assert "Unknown embedding model 'gpt-17'" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize("backed", [False, True])
def test_embed_cells_embeds_genes_first_when_needed(tmp_path, capsys, backed):
    adata = textcell.datasets.pbmc68k_reduced()
    adata.write_h5ad(tmp_path / "pbmc.h5ad")
    command = [
        "embed-cells",
        str(tmp_path / "pbmc.h5ad"),
        "-o",
        str(tmp_path / "o.h5ad"),
        "--model",
        "random",
        "--view",
        "card",
    ]
    assert main([*command, *(["--backed"] if backed else [])]) == 2
    assert "--use-raw" in capsys.readouterr().err  # X is scaled here
    assert main([*command, "--use-raw", *(["--backed"] if backed else [])]) == 0
    # its 304 highly variable genes are too few to whiten 384-d vectors: centred instead
    printed = capsys.readouterr()
    assert "Embedded 700 cells (weighted, 384-d, 304 genes" in printed.out
    assert "Not whitening: 304 genes for 384 dimensions" in printed.err
    out = ad.read_h5ad(tmp_path / "o.h5ad")
    assert out.obsm["X_textcell"].shape == (700, 384)
    assert out.uns["X_textcell"]["params"]["layer"] == "raw"


def test_embed_cells_on_a_file_that_is_not_h5ad(tmp_path, capsys):
    (tmp_path / "junk.h5ad").write_text("not hdf5")
    assert main(["embed-cells", str(tmp_path / "junk.h5ad"), "-o", str(tmp_path / "o.h5ad"), "--backed"]) == 2
    assert "Could not read" in capsys.readouterr().err
    assert not (tmp_path / "o.h5ad").exists()


def test_embed_cells_options_default_to_the_recipe():
    """No switch given: every option is None, so tl.embed_cells takes the recipe's choice."""
    from textcell.cli import build_parser

    args = build_parser().parse_args(["embed-cells", "in.h5ad", "-o", "out.h5ad"])
    assert args.recipe == "textcell"
    chosen = [args.method, args.hvg, args.idf, args.center, args.whiten, args.scale, args.n_top]
    assert [*chosen, args.precision] == [None] * 8
    defaults = textcell.tl.embed_cells.__kwdefaults__
    assert defaults["recipe"] == "textcell"
    fields = ("method", "highly_variable", "idf", "center", "whiten", "scale", "n_top", "precision")
    assert [defaults[name] for name in fields] == [None] * 8
