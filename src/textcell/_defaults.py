"""textcell's default gene embedding: one home for the model and view every entry point uses
(no imports, so the command line can read it without loading the embedding package).

Chosen on the validation half of the knowledge benchmark (``textcell bench knowledge``; Reactome
neighbours and Lit-BM-17 interactions, among the views that keep gene names out of the text)
and the gene tasks. Its vectors ship with the package (``scripts/build_default_embeddings.py``)
for every gene the view gives a text, so the default needs no model run and no torch. Genes with
neither a RefSeq summary nor GO terms have no ``function`` text and get no vector.
"""

DEFAULT_MODEL = "tfidf:512"
DEFAULT_VIEW = "function"
# The default until the knowledge benchmark; still available by passing both.
PREVIOUS_DEFAULT = {"model": "all-MiniLM-L6-v2", "view": "card"}
