"""Write the README's results blocks from benchmark report folders.

    textcell bench all -o benchmarks/report
    textcell bench annotate -o benchmarks/report-annotation
    python benchmarks/readme_results.py benchmarks/report benchmarks/report-annotation

For each folder, replaces the lines between ``<!-- results:NAME -->`` and ``<!-- /results:NAME -->``
in README.md (NAME: the folder's name) with :func:`textcell.bench.report.readme_table` of
``FOLDER/results.json``: the README's numbers are never typed by hand (tests/bench/test_readme.py
checks that they equal the committed reports).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from textcell._io import atomic_write
from textcell.bench.report import readme_table

README = Path(__file__).resolve().parents[1] / "README.md"


def markers(name: str) -> tuple[str, str]:
    return f"<!-- results:{name} -->", f"<!-- /results:{name} -->"


def with_results(readme: str, name: str, results: dict) -> str:
    """``readme`` with the results block ``name`` replaced by the table of ``results``."""
    start, end = markers(name)
    head, rest = readme.split(start, 1)
    _, tail = rest.split(end, 1)
    return f"{head}{start}\n{readme_table(results)}{end}{tail}"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("reports", type=Path, nargs="+", help="folders written by `textcell bench ... -o`")
    args = parser.parse_args()
    readme = README.read_text()
    for folder in args.reports:
        readme = with_results(readme, folder.name, json.loads((folder / "results.json").read_text()))
    with atomic_write(README, "w") as handle:
        handle.write(readme)
    print(f"Updated {README}")


if __name__ == "__main__":
    main()
