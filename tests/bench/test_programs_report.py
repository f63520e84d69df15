import json
from pathlib import Path

import pytest

from textcell.bench.classifier import classifier_goal_lines
from textcell.bench.programs import program_goal_lines
from textcell.bench.report import render_markdown, write_report
from textcell.bench.stats import summarize

REPORT = Path(__file__).resolve().parents[2] / "benchmarks" / "report-programs"


def _programs(text, coexpression):
    row = {
        "view": "summary", "resolution": 1.0, "n_programs": summarize([15, 15]),
        "n_programs_coexpression": summarize([15, 15]), "genes_in_programs": summarize([900, 910]),
        "genes_in_programs_coexpression": summarize([800, 820]), "text": summarize(text),
        "coexpression": summarize(coexpression), "shuffled": summarize([0, 1]),
    }  # fmt: skip
    example = {"programs": [], "n_enriched": 1, "n_enriched_coexpression": 0, "n_programs": 1,
               "n_programs_coexpression": 1}  # fmt: skip
    config = {"dataset": "kang_pbmc", "n_genes": 960, "n_hvg": 1255, "model": "m", "n_neighbors": 10,
              "min_size": 5, "n_go_terms_tested": 100, "alpha": 0.05, "seeds": [0, 1],
              "views": ["summary"]}  # fmt: skip
    return {"config": config, "runs": [], "summary": [row], "example": example}


def _classifier(mlp, knn):
    def entry(values):
        return {"accuracy": summarize(values), "macro_f1": summarize(values), "scores": {}}

    task = {
        "label": "cell_type", "n_cells": 10, "classes": ["a", "b"], "donors": ["1", "2"],
        "n_train": {"0.01": 69.0, "1.0": 6900.0},
        "results": {name: {"0.01": entry(v), "1.0": entry(v)} for name, v in
                    (("knn", knn), ("logreg", knn), ("mlp", mlp))},
    }  # fmt: skip
    config = {"embedding": "e", "seeds": [0, 1], "knn_neighbors": 15, "fractions": [0.01, 1.0]}
    return {"config": config, "tasks": {"kang_pbmc": task}}


def test_goal_lines_name_the_winner_only_beyond_the_spread():
    assert "**text**" in program_goal_lines(_programs([14, 15], [7, 8]))[0]
    assert "**co-expression**" in program_goal_lines(_programs([7, 8], [14, 15]))[0]
    assert "tie" in program_goal_lines(_programs([10, 14], [11, 13]))[0]
    lines = classifier_goal_lines(_classifier(mlp=[0.91, 0.92], knn=[0.80, 0.81]))
    assert "1% of the training cells (~69 cells)" in lines[1]
    assert "mlp 0.915 ± 0.007 vs kNN 0.805 ± 0.007" in lines[1]
    assert lines[1].endswith("beats it by more than the spread.")
    assert "within the spread" in classifier_goal_lines(_classifier(mlp=[0.8, 0.9], knn=[0.85, 0.86]))[1]


def test_parts_written_separately_end_up_in_one_report(tmp_path):
    write_report(tmp_path, programs=_programs([14, 15], [7, 8]))
    results = write_report(tmp_path, classifier=_classifier([0.9, 0.9], [0.8, 0.8]))
    assert set(results) >= {"programs", "classifier"}
    assert json.loads((tmp_path / "results.json").read_text()) == results
    report = (tmp_path / "report.md").read_text()
    assert "## Gene programs" in report
    assert "## Classifiers on cell embeddings" in report
    assert (tmp_path / "figures" / "classifier_learning_curves.png").is_file()


def test_committed_report_is_rendered_from_its_results():
    if not (REPORT / "results.json").is_file():
        pytest.fail(f"{REPORT} is missing; run `textcell bench programs` and `textcell bench classifier`")
    results = json.loads((REPORT / "results.json").read_text())
    assert (REPORT / "report.md").read_text() == render_markdown(results)
    assert {"programs", "classifier"} <= set(results)
