import numpy as np
import pandas as pd
import pytest

from textcell.bench.genes import (
    COLUMNS,
    LEAKAGE,
    PUBLISHED,
    _classifier,
    _Embedders,
    gene_benchmark,
    summary_table,
)
from textcell.errors import InputError


@pytest.fixture(scope="module")
def corpus_with_summaries(corpus, refseq_summaries):
    return corpus.with_summaries(refseq_summaries)


def test_dosage_text_beats_random_and_reports_every_row(corpus_with_summaries):
    frame = gene_benchmark(
        models=("tfidf",),
        views=("card",),
        tasks=["dosage_sensitive_tfs"],
        n_repeats=1,
        corpus=corpus_with_summaries,
    )
    assert list(frame.columns) == COLUMNS
    result = frame.set_index("embedding")
    assert set(result.index) == {"tfidf / card", "random", "tfidf / name", LEAKAGE, PUBLISHED}
    assert result.loc["tfidf / card", "mean"] > result.loc["random", "mean"] + 0.2
    assert result.loc["tfidf / card", "n"] == 5
    assert result.loc["tfidf / card", "n_genes"] > 450
    assert result.loc["tfidf / name", "kind"] == "control"
    published = result.loc[PUBLISHED]
    assert (published["kind"], published["mean"], published["n"]) == ("published", 0.889, 0)
    assert np.isnan(published["sd"])

    table = summary_table(frame)
    assert table.splitlines()[0].startswith("| task | metric | genes | tfidf / card |")
    assert "| dosage_sensitive_tfs | roc_auc |" in table
    assert "| 0.889 |" in table


def test_leakage_baseline_finds_labels_that_are_text_availability(corpus, tmp_path, monkeypatch):
    cols = corpus.columns
    genes = [e for e, go in zip(cols["entrez"], cols["go"], strict=True) if go][:80]
    described = set(genes[::2])
    fake = corpus.with_summaries({e: "A gene that someone wrote a paragraph about." for e in described})
    task = pd.DataFrame(
        {
            "ensembl_id": "",
            "symbol": [corpus.record(e).symbol for e in genes],
            "label": ["described" if e in described else "bare" for e in genes],
        }
    )
    (tmp_path / "genes" / "tasks").mkdir(parents=True)
    task.to_csv(tmp_path / "genes" / "tasks" / "dosage_sensitive_tfs.csv", index=False)
    monkeypatch.setenv("TEXTCELL_SHARED_DATA", str(tmp_path))

    frame = gene_benchmark(models=(), tasks=["dosage_sensitive_tfs"], n_repeats=2, corpus=fake)
    result = frame.set_index("embedding")
    assert result.loc[LEAKAGE, "kind"] == "leakage"
    assert result.loc[LEAKAGE, "n_genes"] == 80
    assert result.loc[LEAKAGE, "mean"] > 0.95
    assert result.loc["random", "mean"] < 0.8


def test_ggi_on_a_subsample_gives_a_spread(corpus_with_summaries):
    frame = gene_benchmark(
        models=("tfidf",),
        views=("card",),
        tasks=["ggi"],
        n_repeats=3,
        max_train_pairs=2000,
        corpus=corpus_with_summaries,
    )
    text = frame.set_index("embedding").loc["tfidf / card"]
    assert text["metric"] == "roc_auc"
    assert 0.5 < text["mean"] < 1
    assert text["n"] == 3
    assert text["sd"] > 0
    assert text["n_genes"] > 20_000  # test pairs scored
    assert np.isfinite(frame.loc[frame["kind"] != "published", ["mean", "sd"]].to_numpy()).all()


@pytest.mark.parametrize("model", ["tfidf", "combined:tfidf+random"])
def test_each_view_gets_its_own_tfidf_fit_also_inside_a_combined_embedder(corpus, model):
    embedders = _Embedders(corpus)
    made = [embedders.get(model, view) for view in ("card", "summary", "card")]
    tfidf = [getattr(e, "members", [e])[0] for e in made]
    assert [t.view.name for t in tfidf] == ["card", "summary", "card"]
    assert made[0] is made[2]


def test_rounding_noise_in_a_constant_feature_does_not_move_the_classifier():
    """MiniLM has dimensions that are constant up to float32 rounding; standardising would blow
    that noise up to unit variance and let it steer the fit."""
    rng = np.random.default_rng(0)
    features = rng.normal(size=(300, 8))
    labels = (features[:, 0] + rng.normal(scale=0.5, size=300) > 0).astype(int)
    probabilities = []
    for seed in (1, 2):
        constant = 0.05 + np.random.default_rng(seed).normal(scale=1e-9, size=(300, 1))
        x = np.hstack([features, constant])
        probabilities.append(_classifier().fit(x[:200], labels[:200]).predict_proba(x[200:])[:, 1])
    np.testing.assert_allclose(probabilities[0], probabilities[1], atol=1e-6)


def test_unknown_task_lists_the_valid_ones(corpus):
    with pytest.raises(InputError, match="valid tasks: dosage_sensitive_tfs"):
        gene_benchmark(tasks=["nope"], corpus=corpus)
