"""The docs site includes the README instead of copying it: every section is on a page, once.

The Sphinx build itself (CI's docs command) checks the rest; this fails in a second, without it.
"""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
# Sections that are about this repository, not about textcell: not pages of the site.
NOT_ON_THE_SITE = ("## Documentation",)

INCLUDE = re.compile(r"```\{include\} \.\./README\.md\n((?::[a-z-]+: .*\n)*)```")
OPTION = re.compile(r':([a-z-]+): "(.*)"')


def _included_spans() -> list[tuple[str, int, int]]:
    spans = []
    for page in sorted((ROOT / "docs").glob("*.md")):
        for block in INCLUDE.finditer(page.read_text()):
            options = dict(OPTION.findall(block.group(1)))
            start, end = options.get("start-after"), options.get("end-before")
            begin = README.index(start) + len(start) if start else 0
            stop = README.index(end, begin) if end else len(README)
            spans.append((page.name, begin, stop))
    return spans


def test_every_include_marker_names_one_place_in_the_readme():
    markers = [
        marker
        for page in (ROOT / "docs").glob("*.md")
        for block in INCLUDE.finditer(page.read_text())
        for _, marker in OPTION.findall(block.group(1))
    ]
    assert markers
    for marker in markers:
        assert README.count(marker) == 1, f"{marker!r} is in README.md {README.count(marker)} times"


def test_every_readme_section_is_on_one_page_of_the_site():
    spans = _included_spans()
    skipped = [(README.index(h), README.find("\n## ", README.index(h) + 1)) for h in NOT_ON_THE_SITE]
    offset = 0
    for line in README.splitlines(keepends=True):
        text, position = line.strip(), offset
        offset += len(line)
        if not text or text.startswith("#") or any(a <= position < b for a, b in skipped):
            continue
        pages = [page for page, begin, stop in spans if begin <= position < stop]
        assert len(pages) == 1, f"README line {text[:60]!r} is on {len(pages)} pages of the site: {pages}"
