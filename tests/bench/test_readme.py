"""The README's results are the committed report's, and the library's defaults are its choice."""

import json
from pathlib import Path

from textcell.bench.cells import default_config
from textcell.bench.report import readme_table

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "benchmarks" / "report" / "results.json"


def test_readme_results_block_equals_the_committed_report():
    readme = (ROOT / "README.md").read_text()
    block = readme.split("<!-- results -->\n", 1)[1].split("<!-- /results -->", 1)[0]
    assert block == readme_table(json.loads(RESULTS.read_text()))


def test_library_defaults_are_the_configuration_chosen_on_validation_data():
    assert default_config() == json.loads(RESULTS.read_text())["cells"]["config"]
