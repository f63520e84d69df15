"""Time the gene-knowledge stage: load the corpus, resolve 60,000 identifiers, render 20,000 texts.

    python benchmarks/bench_genes.py            # writes benchmarks/results/genes.{json,md}

The 60,000 identifiers mix what users bring: official symbols, versioned Ensembl IDs, NCBI
synonyms, Entrez IDs, lower-cased symbols and names that match nothing. Each timing is the
median of --repeats runs (seeded sample, seed 0).
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time
from pathlib import Path

from textcell._io import atomic_write
from textcell.bench.machine import describe
from textcell.genes import VIEWS, GeneCorpus, GeneResolver
from textcell.genes.corpus import _read

RESULTS = Path(__file__).resolve().parent / "results"


def identifiers(corpus: GeneCorpus, n: int, rng: random.Random) -> list[str]:
    cols = corpus.columns
    rows = list(range(len(corpus)))
    rng.shuffle(rows)
    pools = {
        "symbol": (cols["symbol"][i] for i in rows),
        "ensembl_versioned": (
            f"{cols['ensembl'][i][0]}.{rng.randint(1, 20)}" for i in rows if cols["ensembl"][i]
        ),
        "synonym": (cols["aliases"][i][0] for i in rows if cols["aliases"][i]),
        "entrez": (cols["entrez"][i] for i in rows),
        "lower_case": (cols["symbol"][i].lower() for i in rows),
        "unknown": (f"NOVEL{i:06d}" for i in rows),
    }
    shares = {
        "symbol": 0.5,
        "ensembl_versioned": 0.25,
        "synonym": 0.1,
        "entrez": 0.05,
        "lower_case": 0.05,
        "unknown": 0.05,
    }
    seen: set[str] = set()
    out: list[str] = []
    for kind, share in shares.items():
        want = len(out) + int(n * share)
        for value in pools[kind]:
            if len(out) >= want:
                break
            if value not in seen:
                seen.add(value)
                out.append(value)
    rng.shuffle(out)
    return out


def timed(fn, repeats: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n-ids", type=int, default=60_000)
    parser.add_argument("--n-texts", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    from importlib import resources

    bundled = resources.files("textcell.genes") / "data" / "human.json.gz"
    load_s, corpus = timed(lambda: _read(Path(str(bundled))), args.repeats)
    index_s, resolver = timed(lambda: GeneResolver(corpus), args.repeats)
    ids = identifiers(corpus, args.n_ids, random.Random(0))
    resolve_s, result = timed(lambda: resolver.resolve(ids, species="human"), args.repeats)

    coding = [
        e
        for e, t in zip(corpus.columns["entrez"], corpus.columns["type"], strict=True)
        if t == "protein-coding"
    ][: args.n_texts]
    render = {}
    for view in VIEWS:
        seconds, texts = timed(lambda v=view: corpus.render(coding, view=v), args.repeats)
        render[view] = {
            "seconds": seconds,
            "texts_per_s": len(texts) / seconds,
            "mean_chars": sum(map(len, texts)) / len(texts),
        }

    report = result.report
    results = {
        "machine": describe(),
        "repeats": args.repeats,
        "corpus_load_s": load_s,
        "resolver_index_s": index_s,
        "resolve": {
            "n_ids": len(ids),
            "seconds": resolve_s,
            "ids_per_s": len(ids) / resolve_s,
            "matched": report.n_matched,
            "ambiguous": len(report.ambiguous),
            "unmatched": len(report.unmatched),
            "routes": report.routes,
        },
        "render": {"n_texts": len(coding), **render},
    }
    RESULTS.mkdir(exist_ok=True)
    with atomic_write(RESULTS / "genes.json", "w") as handle:
        json.dump(results, handle, indent=2)
    lines = [
        "| step | size | median time (s) | rate |",
        "|---|---|---|---|",
        f"| load bundled corpus | {len(corpus):,} genes | {load_s:.3f} | |",
        f"| build resolver index | {len(corpus):,} genes | {index_s:.3f} | |",
        f"| resolve identifiers | {len(ids):,} ids | {resolve_s:.3f} | {len(ids) / resolve_s:,.0f} ids/s |",
        *(
            f"| render view `{v}` | {len(coding):,} texts | {r['seconds']:.3f} | "
            f"{r['texts_per_s']:,.0f} texts/s |"
            for v, r in render.items()
        ),
    ]
    with atomic_write(RESULTS / "genes.md", "w") as handle:
        handle.write("\n".join(lines) + "\n")
    print("\n".join(lines))
    print(
        f"\nresolved: {report.n_matched:,} matched, {len(report.ambiguous):,} ambiguous, "
        f"{len(report.unmatched):,} unmatched; routes {report.routes}"
    )


if __name__ == "__main__":
    main()
