"""The scGPT benchmark's summaries and statements, from per-run scores of the benchmark's shape."""

import numpy as np

from textcell.bench.report import readme_table
from textcell.bench.scgpt import goal_lines, readme_lines, summaries


def baseline(ari: float, f1: float) -> list[dict]:
    return [{"kmeans_ari_per_seed": [ari - 0.01, ari + 0.01], "knn_macro_f1": f1, "logreg_macro_f1": f1}]


def scgpt(aris, f1s, tuned) -> tuple[list[dict], list[dict]]:
    zero = [
        {"kmeans_ari_per_seed": [a] * 10, "knn_macro_f1": f, "logreg_macro_f1": f, "pretrain_seconds": 600.0}
        for a, f in zip(aris, f1s, strict=True)
    ]
    return zero, [{"finetuned_macro_f1": t, "finetune_seconds": 60.0} for t in tuned]


def results() -> dict:
    text_zero, text_tuned = scgpt([0.60, 0.62, 0.61], [0.90, 0.91, 0.92], [0.95, 0.96, 0.97])
    random_zero, random_tuned = scgpt([0.50, 0.52, 0.51], [0.91, 0.90, 0.92], [0.95, 0.97, 0.96])
    runs = {
        "PCA": baseline(0.80, 0.97),
        "scGPT zero-shot (text genes)": text_zero,
        "scGPT fine-tuned (text genes)": text_tuned,
        "scGPT zero-shot (random genes)": random_zero,
        "scGPT fine-tuned (random genes)": random_tuned,
    }
    config = {"d_model": 64, "n_layers": 4, "n_heads": 4, "d_hid": 128, "n_top_genes": 1200}
    return {
        "runs": runs,
        "summary": summaries(runs),
        "pretrain_config": {**config, "max_seq_len": 256, "epochs": 5},
        "split": {"train_cells": 5829},
        "threads": 1,
    }


def test_spread_is_over_seeds_for_scgpt_and_over_kmeans_seeds_for_baselines():
    summary = results()["summary"]
    assert summary["PCA"]["kmeans_ari"]["n"] == 2
    assert summary["scGPT zero-shot (text genes)"]["kmeans_ari"]["n"] == 3
    assert np.isclose(summary["scGPT zero-shot (text genes)"]["kmeans_ari"]["mean"], 0.61)
    assert "kmeans_ari" not in summary["scGPT fine-tuned (text genes)"]


def test_statements_say_whether_text_beats_random_and_where_pca_stands():
    lines = goal_lines(results())
    assert any("k-means ARI: text-initialised" in line and "text beats random" in line for line in lines)
    assert any("kNN transfer F1: text-initialised" in line and "does not beat" in line for line in lines)
    assert any("below PCA by more than the spread" in line for line in lines)
    assert "10.0 ± 0.0 min (text start)" in lines[-1]


def test_readme_block_comes_from_the_results():
    section = {**results()}
    section["goal_lines"] = goal_lines(section)
    block = readme_table({"scgpt": section})
    assert block.strip("\n") == "\n".join(readme_lines(section))
    assert "| scGPT zero-shot (text genes) | 0.610 ± 0.010 |" in block
