"""Build the RefSeq summaries shipped with the corpus, in textcell's own format.

    python scripts/build_summaries.py [../shared/data/genes/refseq_summaries_human.jsonl.gz] [-o FILE]

Reads the shared JSON Lines file (``{"entrez", "symbol", "summary"}``: NCBI RefSeq release 220,
via the MIT-licensed R package GeneSummary; NCBI's text is public domain), keeps the summaries of
genes in the bundled corpus (matched by Entrez ID, whitespace runs collapsed), and writes
src/textcell/genes/data/human.summaries.json.gz (or FILE) with its manifest (source, licences,
counts). Rebuilding from the same file gives the same bytes.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from textcell.genes.corpus import BUNDLED_SUMMARIES, GeneCorpus, read_table
from textcell.genes.summaries import write_summaries

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SOURCE = ROOT.parent / "shared" / "data" / "genes" / "refseq_summaries_human.jsonl.gz"
TARGET = ROOT / "src" / "textcell" / "genes" / "data" / BUNDLED_SUMMARIES


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("source", type=Path, nargs="?", default=DEFAULT_SOURCE)
    parser.add_argument("-o", "--output", type=Path, default=TARGET)
    args = parser.parse_args()
    corpus = GeneCorpus.load(ROOT / "src" / "textcell" / "genes" / "data" / "human.json.gz")
    symbols = dict(zip(corpus.columns["entrez"], corpus.columns["symbol"], strict=True))
    rows = read_table(args.source)
    kept = {}
    for row in rows:
        entrez, text = str(row.get("entrez", "")).strip(), " ".join(str(row.get("summary") or "").split())
        if entrez in symbols and text:
            kept[entrez] = text
    renamed = sum(symbols[str(r["entrez"])] != r.get("symbol") for r in rows if str(r["entrez"]) in kept)
    counts = {"source_rows": len(rows), "not_in_corpus": len(rows) - len(kept), "symbol_renamed": renamed}
    manifest = write_summaries(
        kept, args.output, corpus_sha256=corpus.checksum, species=corpus.species, counts=counts
    )
    print(f"wrote {args.output} ({args.output.stat().st_size / 1e6:.1f} MB): {manifest['counts']}")


if __name__ == "__main__":
    main()
