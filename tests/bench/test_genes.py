import numpy as np
import pandas as pd
import pytest

from textcell.bench.genes import (
    COLUMNS,
    LEAKAGE,
    PUBLISHED,
    _Embedders,
    _logistic,
    gene_benchmark,
    summary_table,
)
from textcell.bench.report import gene_goal_lines
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
    result = frame.set_index(["classifier", "embedding"])
    embeddings = {"tfidf / card", "random", "tfidf / name", LEAKAGE, PUBLISHED}
    assert set(result.index) == {(c, e) for c in ("logistic", "forest") for e in embeddings}
    for classifier in ("logistic", "forest"):
        text, random = result.loc[(classifier, "tfidf / card")], result.loc[(classifier, "random")]
        assert text["mean"] > random["mean"] + 0.2
        assert (text["n"], text["kind"]) == (5, "text")
        assert text["n_genes"] > 450
    assert result.loc[("logistic", "tfidf / name"), "kind"] == "control"
    published = result.loc[("logistic", PUBLISHED)]
    assert (published["kind"], published["mean"], published["n"]) == ("published", 0.889, 0)
    assert np.isnan(published["sd"])
    assert result.loc[("forest", PUBLISHED), "mean"] == 0.899
    scores = result.loc[(slice(None), "tfidf / card"), "mean"]
    assert scores["logistic"].item() != scores["forest"].item()

    table = summary_table(frame)
    assert table.splitlines()[0].startswith("| task | metric | classifier | genes | tfidf / card |")
    assert "| dosage_sensitive_tfs | roc_auc | logistic |" in table
    assert "| dosage_sensitive_tfs | roc_auc | forest |" in table
    assert "| 0.889 |" in table
    assert "| 0.899 |" in table


def test_leakage_baseline_finds_labels_that_are_text_availability(corpus, tmp_path, monkeypatch):
    cols = corpus.columns
    # genes without a bundled summary, so that the fake ones below are the only text difference
    genes = [e for e, go in zip(cols["entrez"], cols["go"], strict=True) if go and e not in corpus.summaries]
    genes = genes[:80]
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

    frame = gene_benchmark(
        models=(), tasks=["dosage_sensitive_tfs"], classifiers=["logistic"], n_repeats=2, corpus=fake
    )
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
    assert set(frame["classifier"]) == {"logistic"}  # GenePT reported no forest on pairs
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
        probabilities.append(_logistic(0).fit(x[:200], labels[:200]).predict_proba(x[200:])[:, 1])
    np.testing.assert_allclose(probabilities[0], probabilities[1], atol=1e-6)


def test_unknown_task_or_classifier_lists_the_valid_ones(corpus):
    with pytest.raises(InputError, match="valid tasks: dosage_sensitive_tfs"):
        gene_benchmark(tasks=["nope"], corpus=corpus)
    with pytest.raises(InputError, match="choose from logistic, forest"):
        gene_benchmark(classifiers=["svm"], corpus=corpus)


def test_goal_lines_judge_each_classifier_against_its_own_baselines():
    def row(classifier, embedding, kind, mean, sd=0.02):
        return dict(task="t", metric="roc_auc", classifier=classifier, embedding=embedding, kind=kind) | dict(
            n_genes=100, mean=mean, sd=sd, ci_low=mean, ci_high=mean, n=25
        )

    frame = pd.DataFrame(
        [
            row("logistic", "m / card", "text", 0.90),
            row("logistic", "random", "control", 0.50),
            row("logistic", LEAKAGE, "leakage", 0.89),
            row("logistic", PUBLISHED, "published", 0.88, sd=np.nan),
            row("forest", "m / card", "text", 0.92),
            row("forest", "random", "control", 0.50),
            row("forest", LEAKAGE, "leakage", 0.80),
        ],
        columns=COLUMNS,
    )
    logistic, forest = gene_goal_lines(frame)
    assert logistic.startswith("- t (roc_auc, logistic): best of the grid m / card 0.900 ± 0.020")
    assert "GenePT published 0.880" in logistic
    assert logistic.endswith("explained by text availability (not a win).")
    assert "GenePT" not in forest
    assert forest.endswith("above the text-availability baseline by more than the spread.")
