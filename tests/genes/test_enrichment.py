import numpy as np
import pytest
from scipy import stats

from textcell.errors import InputError
from textcell.genes.enrichment import enrichment, go_annotations


@pytest.fixture(scope="module")
def universe(corpus):
    columns = corpus.columns
    coding = [e for e, t, go in zip(columns["entrez"], columns["type"], columns["go"], strict=True)
              if t == "protein-coding" and go]  # fmt: skip
    return list(np.random.default_rng(0).choice(coding, 3000, replace=False))


@pytest.fixture(scope="module")
def annotations(corpus, universe):
    return go_annotations(corpus, universe)


def test_a_planted_term_is_found_with_scipys_p_value(corpus, universe, annotations):
    term, members = max(
        ((t, g) for t, g in annotations.items() if 15 <= len(g) <= 60), key=lambda item: len(item[1])
    )
    rng = np.random.default_rng(1)
    others = [g for g in universe if g not in members]
    planted = sorted(members)[:8] + list(rng.choice(others, 12, replace=False))
    outside = "not-in-universe"
    table = enrichment({"planted": [*planted, outside]}, universe=universe, annotations=annotations)
    top = table.iloc[0]
    assert (top["aspect"], top["term"]) == term
    assert top["set_size"] == 20  # the gene outside the universe does not count
    assert top["overlap"] >= 8
    expected = stats.hypergeom.sf(top["overlap"] - 1, len(universe), len(members), 20)
    assert top["p"] == pytest.approx(expected, rel=1e-9)
    assert (table["q"] >= table["p"]).all()
    assert (table["q"] < 0.05).all()


def test_random_sets_find_nothing(universe, annotations):
    rng = np.random.default_rng(2)
    sets = {str(i): list(rng.choice(universe, 25, replace=False)) for i in range(20)}
    table = enrichment(sets, universe=universe, annotations=annotations)
    assert table["set"].nunique() <= 1  # BH at 5% within each set: at most a chance hit


def test_symbols_name_the_overlapping_genes(corpus, universe, annotations):
    (term, members), *_ = sorted(
        ((t, g) for t, g in annotations.items() if 5 <= len(g) <= 10), key=lambda item: sorted(item[1])
    )
    symbols = {e: corpus.record(e).symbol for e in members}
    table = enrichment({"s": members}, universe=universe, annotations=annotations, symbols=symbols)
    row = table[(table["aspect"] == term[0]) & (table["term"] == term[1])].iloc[0]
    assert set(row["genes"].split(",")) == set(symbols.values())


def test_bad_inputs(corpus):
    with pytest.raises(InputError, match="universe"):
        enrichment({"a": ["1"]}, universe=[], annotations={})
    with pytest.raises(InputError, match="aspects"):
        go_annotations(corpus, ["1"], aspects=("XX",))
