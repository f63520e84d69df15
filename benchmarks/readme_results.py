"""Write the README's results block from a benchmark report folder.

    textcell bench all -o benchmarks/report && python benchmarks/readme_results.py benchmarks/report

Replaces the lines between ``<!-- results -->`` and ``<!-- /results -->`` in README.md with
:func:`textcell.bench.report.readme_table` of ``REPORT/results.json``: the README's numbers are
never typed by hand (tests/bench/test_readme.py checks that they equal the committed report).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from textcell._io import atomic_write
from textcell.bench.report import readme_table

README = Path(__file__).resolve().parents[1] / "README.md"
START, END = "<!-- results -->", "<!-- /results -->"


def with_results(readme: str, results: dict) -> str:
    """``readme`` with its results block replaced by the table of ``results``."""
    head, rest = readme.split(START, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{START}\n{readme_table(results)}{END}{tail}"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("report", type=Path, help="folder written by `textcell bench all -o ...`")
    args = parser.parse_args()
    results = json.loads((args.report / "results.json").read_text())
    with atomic_write(README, "w") as handle:
        handle.write(with_results(README.read_text(), results))
    print(f"Updated {README}")


if __name__ == "__main__":
    main()
