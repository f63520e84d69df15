"""First gene-level check: can a linear model read a gene property off its text embedding?

    python benchmarks/check_gene_task.py                       # dosage-sensitive TFs
    python benchmarks/check_gene_task.py --task bivalent_vs_no_methyl

Logistic regression, repeated stratified 5-fold CV (5 repeats, seeds 0-4): ROC-AUC mean ± sd
over the 25 folds, for views name/card/summary/full × backends local (all-MiniLM-L6-v2) and
tfidf, plus a random-embedding control. Summaries come from
../shared/data/genes/refseq_summaries_human.jsonl.gz. Writes benchmarks/results/gene_task_<task>.{json,md}.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import RepeatedStratifiedKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from textcell._io import atomic_write
from textcell.datasets import shared_file
from textcell.embed import GeneEmbeddings, RandomEmbedder
from textcell.genes import GeneCorpus

RESULTS = Path(__file__).resolve().parent / "results"
VIEWS = ("name", "card", "summary", "full")


def roc_auc(matrix: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000, C=0.1))
    folds = RepeatedStratifiedKFold(n_splits=5, n_repeats=5, random_state=0)
    scores = cross_val_score(model, matrix, labels, cv=folds, scoring="roc_auc")
    return float(scores.mean()), float(scores.std())


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--task", default="dosage_sensitive_tfs")
    args = parser.parse_args()

    task = pd.read_csv(shared_file(f"genes/tasks/{args.task}.csv"))
    corpus = GeneCorpus.load().with_summaries(shared_file("genes/refseq_summaries_human.jsonl.gz"))
    models = {"local": "all-MiniLM-L6-v2", "tfidf": "tfidf", "random": RandomEmbedder(dim=384)}
    rows = []
    for backend, model in models.items():
        for view in VIEWS if backend != "random" else ("card",):
            emb = GeneEmbeddings.build(
                task["ensembl_id"], model=model, view=view, corpus=corpus, species="human"
            )
            matrix, found = emb.for_genes(task["ensembl_id"], species="human")
            mean, sd = roc_auc(matrix[found], task["label"].to_numpy()[found])
            rows.append(
                {"backend": backend, "view": view, "genes": int(found.sum()), "roc_auc": mean, "sd": sd}
            )
            print(f"{backend:>7} {view:>8}  n={found.sum()}  ROC-AUC {mean:.3f} ± {sd:.3f}", flush=True)
    RESULTS.mkdir(exist_ok=True)
    with atomic_write(RESULTS / f"gene_task_{args.task}.json", "w") as handle:
        json.dump({"task": args.task, "cv": "5x5 stratified, seeds 0-4", "rows": rows}, handle, indent=2)
    table = ["| backend | view | genes | ROC-AUC (mean ± sd, 5×5 CV) |", "|---|---|---|---|"]
    table += [
        f"| {r['backend']} | {r['view']} | {r['genes']} | {r['roc_auc']:.3f} ± {r['sd']:.3f} |" for r in rows
    ]
    with atomic_write(RESULTS / f"gene_task_{args.task}.md", "w") as handle:
        handle.write("\n".join(table) + "\n")
    print("\n".join(table))


if __name__ == "__main__":
    main()
