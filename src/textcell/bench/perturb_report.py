"""The perturbation benchmark's report: goal lines (README) and the markdown section."""

from __future__ import annotations

from ..perturb.metrics import METRIC_LABELS, METRICS
from .perturb import BASELINE, GOAL_BASELINE
from .perturb_protocol import (
    CEILING,
    HALF_BASELINE,
    HEADLINE,
    NEAREST,
    REFERENCES,
    REPLICATES,
    RESIDUAL_METRICS,
)
from .stats import format_interval, format_summary

KNOWLEDGE = ("text", "GO")  # random vectors are the control, not knowledge


def _gain(comparison: dict) -> str:
    return f"{comparison['gain']['mean']:+.3f} {format_interval(comparison['ci_low'], comparison['ci_high'])}"


def _tally(comparison: dict) -> str:
    return f"{comparison['better']}/{comparison['worse']}, sign p {comparison['sign_p']:.2g}"


def headline_subset(task: dict) -> str:
    """Conditions the goal is judged on: those whose effect replicates between halves."""
    return "replicating" if "replicating" in task["comparisons"] else "all"


def goal_verdicts(task_key: str, task: dict) -> dict:
    """Knowledge models (text, GO) whose paired 95% CI over the goal baseline lies above zero, on
    the replicating conditions, and the same for random-vector models and the ceiling."""
    subset = task["comparisons"][headline_subset(task)]
    baseline = GOAL_BASELINE[task_key]
    rows = {
        name: entry["versus"][baseline][HEADLINE]
        for name, entry in subset["models"].items()
        if baseline in entry.get("versus", {}) and task["models"][name]["knowledge"] is not None
    }
    knowledge = {n: c for n, c in rows.items() if task["models"][n]["knowledge"] in KNOWLEDGE}
    random = {n: c for n, c in rows.items() if task["models"][n]["knowledge"] == "random"}
    best = max(knowledge, key=lambda n: knowledge[n]["gain"]["mean"]) if knowledge else None
    return {
        "baseline": baseline,
        "subset": headline_subset(task),
        "n": subset["n"],
        "winners": [n for n, c in knowledge.items() if c["beats"]],
        "random_winners": [n for n, c in random.items() if c["beats"]],
        "best": best,
        "best_comparison": knowledge.get(best),
        "ceiling": subset["references"][CEILING]["versus"][HALF_BASELINE][HEADLINE],
    }


def goal_lines(results: dict) -> list[str]:
    """Plain statements, one per dataset: does a knowledge-based model beat the goal baseline
    (train-mean; additive for doubles) on Pearson-delta (top-20 DE) with its paired 95% CI above
    zero, on the conditions whose effect replicates, and where does the split-half ceiling lie?"""
    lines, met = [], []
    for key, task in results["tasks"].items():
        verdict = goal_verdicts(key, task)
        n_all = len(task["conditions"])
        subset = task["comparisons"][verdict["subset"]]
        base = subset["models"][verdict["baseline"]]["summary"][HEADLINE]
        head = f"- **{key}** ({verdict['n']} of {n_all} conditions replicate)"
        if verdict["best"] is None:
            lines.append(
                f"{head}: no knowledge-based model in this task "
                f"({verdict['baseline']} {format_summary(base)})."
            )
            continue
        best, comparison = verdict["best"], verdict["best_comparison"]
        ours = subset["models"][best]["summary"][HEADLINE]
        twin = subset["models"][best].get("versus_random_twin", {}).get(HEADLINE)
        winners = verdict["winners"]
        met += [f"{key} ({', '.join(winners)})"] if winners else []
        text = (
            f"{head}: best knowledge model {best} {format_summary(ours)} vs {verdict['baseline']} "
            f"{format_summary(base)}, paired gain {_gain(comparison)} (better/worse {_tally(comparison)}); "
            + (
                f"beat it with the CI above 0: {', '.join(winners)}"
                if winners
                else "no knowledge model beats it with the CI above 0"
            )
        )
        if verdict["random_winners"]:
            text += f"; so do random vectors: {', '.join(verdict['random_winners'])}"
        if twin is not None:
            text += f"; {best} vs its random twin {_gain(twin)}"
        if key == "mcfaline":
            same = subset["models"][best]["versus"].get(
                next(b for b in task["baselines"] if b != BASELINE), {}
            )
            if same:
                text += f"; vs the same knockout in the other lines {_gain(same[HEADLINE])}"
        ceiling = verdict["ceiling"]
        text += f". Split-half ceiling's gain over train-mean {_gain(ceiling)}."
        lines.append(text)
    lines.append(
        "- **Goal: met** on "
        + "; ".join(met)
        + " (paired 95% CI of the gain above zero, replicating conditions)."
        if met
        else "- **Goal: not met.** No knowledge-based model (text or GO vectors) beats train-mean "
        "(additive for "
        "doubles) with its paired 95% CI above zero on any dataset's replicating conditions; the split-half "
        "ceilings are beside each dataset above."
    )
    lines.append(_knowledge_versus_random_line(results))
    reverse = _reverse_pooled(results)
    if reverse:
        lines.append(_reverse_line(reverse))
    lines.append(time_line(results))
    return lines


def _knowledge_versus_random_line(results: dict) -> str:
    """Which text or GO models beat the same model with random gene vectors (GEARS' graph vs
    Scouter's text vs nothing), on the replicating conditions of each dataset."""
    found, n_models, checks = [], 0, 0
    for key, task in results["tasks"].items():
        subset = task["comparisons"][headline_subset(task)]
        models = [n for n, m in task["models"].items() if m["knowledge"] in KNOWLEDGE]
        n_models = max(n_models, len(models))
        for name in models:
            checks += "versus_random_twin" in subset["models"][name]
            twin = subset["models"][name].get("versus_random_twin", {}).get(HEADLINE)
            if twin is not None and twin["beats"]:
                found.append(f"{key} {name} {_gain(twin)}")
    return (
        "- Knowledge vs random vectors (each text or GO model against the same model with random gene "
        f"vectors, paired 95% CI above zero, replicating conditions; {n_models} such models per dataset): "
        + ("; ".join(found) if found else "none on any dataset")
        + f". With no difference at all, about {0.025 * checks:.1f} of these {checks} checks would clear "
        "zero by chance."
    )


def time_line(results: dict) -> str:
    """Wall time (under whatever load the shared machine had) and CPU time, which load does not
    inflate: half of it is the wall time on two free cores."""
    line = (
        f"- Time: {results['wall_seconds'] / 60:.1f} min wall with {results.get('jobs', 1)} worker "
        "process(es) on a shared 2-core machine, timed under load"
    )
    if "cpu_seconds" in results:
        cpu = results["cpu_seconds"] / 60
        line += f"; {cpu:.1f} min of CPU in all, about {cpu / 2:.1f} min on two free cores"
    return line + "."


# ---------------------------------------------------------------------------- reverse


def _reverse_pooled(results: dict) -> dict | None:
    """Reverse hits of every Norman query (singles and doubles) pooled per ranker."""
    tasks = [t for t in results["tasks"].values() if "reverse" in t]
    if not tasks:
        return None
    rankers = [r for r in tasks[0]["reverse"] if all(r in t["reverse"] for t in tasks)]
    pooled = {
        r: {k: [v for t in tasks for v in t["reverse"][r][k]] for k in ("top1", "top5", "rank")}
        for r in rankers
    }
    return {
        "n_queries": sum(len(t["conditions"]) for t in tasks),
        "n_candidates": len(tasks[0]["candidates"]),
        "rankers": pooled,
        "knowledge": {r: tasks[0]["models"][r]["knowledge"] for r in rankers if r in tasks[0]["models"]},
    }


def _mean(values) -> float:
    return float(sum(values) / len(values))


def _reverse_line(reverse: dict) -> str:
    n = reverse["n_candidates"]
    models = {r: v for r, v in reverse["rankers"].items() if reverse["knowledge"].get(r) in KNOWLEDGE}
    best = max(models, key=lambda r: (_mean(models[r]["top5"]), _mean(models[r]["top1"])))
    near = reverse["rankers"][NEAREST]
    return (
        f"- Reverse prediction on Norman ({reverse['n_queries']} held-out conditions, {n} candidates): best "
        f"knowledge model {best} top-1 {_mean(models[best]['top1']):.3f}, "
        f"top-5 {_mean(models[best]['top5']):.3f}; "
        f"{NEAREST} top-1 {_mean(near['top1']):.3f}, top-5 {_mean(near['top5']):.3f}; random ranking "
        f"top-1 {1 / n:.3f}, top-5 {min(5 / n, 1):.3f}."
    )


# ---------------------------------------------------------------------------- markdown


def _comparison_table(task: dict, subset_name: str) -> list[str]:
    subset = task["comparisons"][subset_name]
    baselines = task["baselines"]
    header = (
        "| model | Pearson-delta (top-20 DE) | Pearson-delta (all genes) | "
        + " | ".join(f"gain vs {b} [95% CI] (better/worse, sign p)" for b in baselines)
        + " | gain vs random twin [95% CI] |"
    )
    out = [header, "|---" * (4 + len(baselines)) + "|"]
    for name, entry in subset["models"].items():
        summary = entry["summary"]
        cells = [format_summary(summary[HEADLINE]), format_summary(summary["pearson_delta"])]
        for base in baselines:
            comparison = entry.get("versus", {}).get(base, {}).get(HEADLINE)
            cells.append("–" if comparison is None else f"{_gain(comparison)} ({_tally(comparison)})")
        twin = entry.get("versus_random_twin", {}).get(HEADLINE)
        cells.append("–" if twin is None else _gain(twin))
        out.append(f"| {name} | " + " | ".join(cells) + " |")
    for name, entry in subset["references"].items():
        summary = entry["summary"]
        comparison = entry.get("versus", {}).get(HALF_BASELINE, {}).get(HEADLINE)
        cells = [format_summary(summary[HEADLINE]), format_summary(summary["pearson_delta"])]
        cells.append(
            "–" if comparison is None else f"{_gain(comparison)} vs half-B train-mean ({_tally(comparison)})"
        )
        cells += ["–"] * len(baselines)
        out.append(f"| *reference:* {name} | " + " | ".join(cells) + " |")
    return out


def _full_table(task: dict, baseline: str) -> list[str]:
    subset = task["comparisons"]["all"]
    out = [
        "| model | "
        + " | ".join(METRIC_LABELS[m] for m in METRICS)
        + f" | gain vs {baseline} (top-20 DE) [95% CI] | fit time (s) |"
    ]
    out.append("|---" * (len(METRICS) + 3) + "|")
    for name, entry in subset["models"].items():
        cells = " | ".join(format_summary(entry["summary"][m]) for m in METRICS)
        comparison = entry.get("versus", {}).get(baseline, {}).get(HEADLINE)
        gain = "–" if comparison is None else f"{_gain(comparison)} ({_tally(comparison)})"
        out.append(f"| {name} | {cells} | {gain} | {format_summary(task['fit_seconds'][name], 1)} |")
    for name, entry in subset["references"].items():
        cells = " | ".join(format_summary(entry["summary"][m]) for m in METRICS)
        out.append(f"| *reference:* {name} | {cells} | – | – |")
    return out


def _per_condition_table(task: dict) -> list[str]:
    """Doubles, one row each: what is known about them and every model's headline score."""
    names = list(task["scores"])
    out = [
        "| double | singles seen | GI type | ceiling | " + " | ".join(names) + " |",
        "|---" * (4 + len(names)) + "|",
    ]
    for i, condition in enumerate(task["conditions"]):
        info = task["info"][condition]
        cells = [
            condition,
            str(info.get("singles_seen", "")),
            info.get("gi_type") or "–",
            f"{task['references'][CEILING][HEADLINE][i]:.2f}",
            *(f"{task['scores'][n][HEADLINE][i]:.2f}" for n in names),
        ]
        out.append("| " + " | ".join(cells) + " |")
    return out


def _residual_table(task: dict) -> list[str]:
    residual = task["residual"]
    out = [
        f"Residual from additive, on the {len(residual['conditions'])} doubles whose singles were both seen "
        f"({', '.join(residual['conditions'])}): "
        + "; ".join(f"`{k}` = {v}" for k, v in RESIDUAL_METRICS.items())
        + ". A model beats additive on a double when its recovery is above 0.\n",
        "| model | residual Pearson | residual recovery | recovery > 0: mean [95% CI] (better/worse) |",
        "|---|---|---|---|",
    ]
    for name, entry in residual.items():
        if name == "conditions":
            continue
        scores, beats = entry["scores"], entry["beats_additive"]
        out.append(
            f"| {name} | {_mean(scores['residual_pearson']):.3f} | "
            f"{_mean(scores['residual_recovery']):.3f} | "
            f"{_gain(beats)} ({beats['better']}/{beats['worse']}) |"
        )
    return out


def _reverse_table(task: dict) -> list[str]:
    n = len(task["candidates"])
    subset = task["comparisons"]["all"]["reverse"]
    out = ["| ranker | top-1 | top-5 | expected rank |", "|---|---|---|---|"]
    for ranker, entry in subset.items():
        out.append(
            f"| {ranker} | {format_summary(entry['top1'])} | {format_summary(entry['top5'])} | "
            f"{format_summary(entry['rank'], 1)} |"
        )
    out.append(f"| random ranking | {1 / n:.3f} | {min(5 / n, 1):.3f} | {(n + 1) / 2:.1f} |")
    return out


def perturb_markdown(results: dict) -> str:
    """The report section of a :func:`~textcell.bench.perturb.perturbation_benchmark` run."""
    out = [
        "## Perturbation responses\n",
        f"{time_line(results)[2:]} One protocol for every dataset: the control cells "
        "are split at random (within each cell line or type; seed below): the models are fitted on, and "
        "predict from, one half; the held-out condition's observed shift and its top-20 DE genes (|Welch t|) "
        "use only the other half. Each held-out condition's cells are halved at random (10 times) to "
        "check that its effect replicates: a condition replicates when half A predicts half B with "
        f"Pearson-delta (top-20 DE) ≥ {REPLICATES} (the split-half noise ceiling). Models are compared "
        "condition by condition: the paired gain's mean with a percentile-bootstrap 95% CI (10,000 "
        "resamples of the conditions) and a two-sided sign test; a model beats a baseline when the CI "
        "lies above zero. Many models are compared: with no real difference, about one CI in forty "
        "would lie above zero by chance. Hyperparameters are the models' defaults, fixed before these "
        "runs (ridge's penalty by "
        "leave-one-out inside each fold's training genes, kNN k = 5, Scouter's defaults with at most 200 "
        "training cells per condition and cell type, a time budget that binds on Papalexi and Kang); "
        "nothing was "
        "tuned on the reported folds. A gene without a vector (IER5L has no GO terms) gets the zero "
        "vector: the model knows nothing about it.\n",
        "### Where we stand\n",
        *goal_lines(results),
        "",
    ]
    for key, task in results["tasks"].items():
        n, n_rep = len(task["conditions"]), sum(task["replicates"])
        out.append(
            f"### {key}: {task['dataset']}\n\n{task['n_cells']:,} cells × {task['n_genes']:,} genes; "
            f"{task['design']}; {n} held-out conditions, {n_rep} replicate; Scouter seeds {task['seeds']}; "
            f"control split seed {task['control_seed']}.\n"
        )
        subset = headline_subset(task)
        out.append(f"**Replicating conditions ({task['comparisons'][subset]['n']})**, Pearson-delta:\n")
        out += [*_comparison_table(task, subset), ""]
        for extra in task["comparisons"]:
            if extra not in ("all", "replicating"):
                out.append(f"**{extra} ({task['comparisons'][extra]['n']})**:\n")
                out += [*_comparison_table(task, extra), ""]
        out.append(f"**All conditions ({n}), every metric** (the full table):\n")
        out += [*_full_table(task, GOAL_BASELINE.get(key, BASELINE)), ""]
        if "residual" in task:
            out += [*_residual_table(task), ""]
        if key == "norman_doubles":
            out.append("Per double, Pearson-delta (top-20 DE):\n")
            out += [*_per_condition_table(task), ""]
        if "reverse" in task:
            out.append(
                "Reverse prediction: each held-out condition's observed shift against the predicted "
                "shifts of "
                f"{len(task['candidates'])} candidates (every gene of the screen as a single, and the "
                f"screen's doubles), ranked by Pearson (all genes); hits in expectation over ties. "
                f"{NEAREST}: training conditions by their observed shift, a double of seen singles by their "
                "sum, other candidates last.\n"
            )
            out += [*_reverse_table(task), ""]
        out.append(
            "- Reference rows use the held-out cells (not models): "
            + ", ".join(REFERENCES)
            + "; their gains are over train-mean scored on the same half B."
        )
        for what, why in task.get("not_applicable", {}).items():
            out.append(f"- {what}: not run ({why}).")
        for row in task.get("renamed", []):
            out.append(f"- perturbed gene {row['name']} resolved to {row['symbol']} ({row['route']}).")
        if "scouter_full_fit" in task:
            fit = task["scouter_full_fit"]
            out.append(
                f"- Scouter · MiniLM fitted on all of {key} (raw counts): {fit['seconds']:.1f} s on "
                f"{fit['torch_threads']} torch thread, {fit['epochs']} epochs ({fit['validation']})."
            )
        out.append("")
    return "\n".join(out)


__all__ = ["goal_lines", "perturb_markdown"]
