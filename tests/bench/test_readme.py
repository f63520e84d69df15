"""The README's results are the committed reports', and the library's defaults are their choice."""

import json
from pathlib import Path

import pytest

from textcell.bench.cells import default_config
from textcell.bench.report import readme_table

ROOT = Path(__file__).resolve().parents[2]
REPORTS = [
    "report",
    "report-annotation",
    "report-programs",
    "report-perturb",
    "report-knowledge",
    "report-scgpt",
]


@pytest.mark.parametrize("name", REPORTS)
def test_readme_results_block_equals_the_committed_report(name):
    readme = (ROOT / "README.md").read_text()
    block = readme.split(f"<!-- results:{name} -->\n", 1)[1].split(f"<!-- /results:{name} -->", 1)[0]
    assert block == readme_table(json.loads((ROOT / "benchmarks" / name / "results.json").read_text()))


def test_library_defaults_are_the_configuration_chosen_on_validation_data():
    results = json.loads((ROOT / "benchmarks" / "report" / "results.json").read_text())
    assert default_config() == results["cells"]["config"]


def test_every_report_section_names_functions_that_exist():
    import importlib

    from textcell.bench.report import SECTIONS

    for section in SECTIONS.values():
        for what in ("store", "markdown", "readme", "console"):
            reference = getattr(section, what)
            if reference:
                module, name = reference.split(":")
                assert callable(getattr(importlib.import_module(f"textcell.bench.{module}"), name, None)), (
                    reference
                )
