"""The GO embedder: gene vectors from the corpus's GO annotations alone, over the whole genome."""

import numpy as np

from textcell.embed import GeneEmbeddings, get_embedder
from textcell.embed.go import GoEmbedder, go_incidence


def test_incidence_covers_every_annotated_gene_with_unit_rows(corpus):
    entrez, matrix = go_incidence(corpus)
    assert len(entrez) == corpus.counts()["genes_with_go"]
    norms = np.sqrt(np.asarray(matrix.multiply(matrix).sum(axis=1))).ravel()
    np.testing.assert_allclose(norms, 1.0, rtol=1e-5)


def test_go_vectors_group_the_cd3_complex_and_leave_genes_without_go_out(corpus):
    embedder = get_embedder("go", corpus=corpus)
    assert isinstance(embedder, GoEmbedder)
    cols = corpus.columns
    coding = [e for e, kind in zip(cols["entrez"], cols["type"], strict=True) if kind == "protein-coding"]
    vectors, found = embedder.embed_genes(coding)
    with_go = {e for e, terms in zip(cols["entrez"], cols["go"], strict=True) if terms}
    assert found.tolist() == [e in with_go for e in coding]
    kept = [e for e, ok in zip(coding, found, strict=True) if ok]
    genes = GeneEmbeddings(vectors[found], kept, [corpus.record(e).symbol for e in kept])
    neighbours = set(genes.most_similar("CD3E", k=10)["symbol"])
    assert {"CD3D", "CD3G", "CD247"} <= neighbours


def test_go_fingerprint_ignores_attached_summaries_but_not_the_dimension(corpus):
    with_summaries = corpus.with_summaries({"915": "A summary."})
    assert GoEmbedder(corpus=corpus).fingerprint() == GoEmbedder(corpus=with_summaries).fingerprint()
    assert GoEmbedder(corpus=corpus, dim=64).fingerprint() != GoEmbedder(corpus=corpus).fingerprint()
