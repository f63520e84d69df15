"""The HTML report, opened in headless Chromium at 1400 and 800 px: it must render its figures and
its table, fit the window (no page-wide horizontal scrollbar), number every group on the UMAP, and
draw supporting and contradicting markers in different ring colours, as its legend says."""

import base64
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import textcell
from conftest import need
from textcell.annotation.result import AnnotationResult
from textcell.cli import main
from textcell.pl.annotation import ROLES
from textcell.report import annotation_report

TAB10_BLUE = (31, 119, 180)  # the first group's colour in the UMAP
VERIFIED_ROW = (217, 242, 217)  # the background of a verified row in the table
WEAK_ROW = (255, 244, 204)
SUPPORTING, CONTRADICTING = ROLES["supporting"][0], ROLES["contradicting"][0]
# a lab's own panel that says T cells lack NKG7 and GZMA: the cytotoxic (CD8) T cells express both,
# so that group is left unknown, its closest candidate contradicted by two expressed markers
PANEL = {
    "B cells (panel)": ["MS4A1", "CD79A", "CD79B"],
    "Monocytes (panel)": ["LYZ", "CST3", "S100A9"],
    "T cells (panel)": {"positive": ["CD3D", "CD3E", "CD2"], "negative": ["NKG7", "GZMA"]},
    "NK cells (panel)": {"positive": ["GNLY", "NKG7"], "negative": ["CD3D"]},
}


@pytest.fixture(scope="module")
def annotated():
    adata = textcell.datasets.pbmc68k_reduced()
    textcell.tl.resolve_genes(adata)
    textcell.tl.annotate(adata, groupby="louvain", use_raw=True)
    return adata


@pytest.fixture(scope="module")
def annotated_with_panel():
    adata = textcell.datasets.pbmc68k_reduced()
    textcell.tl.resolve_genes(adata)
    textcell.tl.annotate(adata, groupby="louvain", use_raw=True, markers=PANEL, text=False)
    return adata


def _chromium() -> str:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        need("no chromium on PATH; run scripts/setup_chromium.sh")
    return browser


def _headless(*options: str, timeout: int = 120) -> subprocess.CompletedProcess:
    run = [_chromium(), "--headless", "--no-sandbox", "--disable-gpu", *options]
    return subprocess.run(run, capture_output=True, text=True, timeout=timeout)


def _pixels_near(image: np.ndarray, colour, tolerance: int = 6) -> int:
    colour = np.asarray(colour if not isinstance(colour, str) else _rgb(colour))
    return int((np.abs(image[..., :3].astype(int) - colour).max(axis=-1) <= tolerance).sum())


def _rgb(hex_colour: str) -> tuple[int, int, int]:
    return tuple(int(hex_colour.lstrip("#")[i : i + 2], 16) for i in (0, 2, 4))


def _figure_svg(html: str, name: str) -> str:
    """The SVG of the report's figure ``name``, decoded from its data URI."""
    data = re.search(rf'<figure id="{name}">.*?src="data:image/svg\+xml;base64,([^"]+)"', html, re.S)
    assert data is not None, f"no figure {name!r}"
    return base64.b64decode(data.group(1)).decode()


def _strokes(svg: str, gid: str) -> set[str]:
    """The stroke colours drawn inside the SVG element with id ``gid``."""
    start = svg.index(f'<g id="{gid}">')
    depth, position = 0, start
    for tag in re.finditer(r"<(/?)g[ >]", svg[start:]):
        depth += -1 if tag.group(1) else 1
        if depth == 0:
            position = start + tag.end()
            break
    return set(re.findall(r"stroke: (#[0-9a-f]{6})", svg[start:position]))


def _horizontal_overflow(page: Path, width: int, tmp_path: Path) -> int:
    """How many CSS pixels the page is wider than a ``width``-px window (0: no horizontal
    scrollbar), measured by Chromium once the page and its images have loaded."""
    probe = tmp_path / f"probe-{width}.html"
    script = (
        "<script>addEventListener('load', () => { const d = document.documentElement;"
        " document.body.dataset.overflow = d.scrollWidth - d.clientWidth; });</script>"
    )
    probe.write_text(page.read_text().replace("</body>", script + "</body>"))
    dom = _headless(f"--window-size={width},900", "--virtual-time-budget=10000", "--dump-dom", probe.as_uri())
    measured = re.search(r'<body data-overflow="(-?\d+)"', dom.stdout)
    assert measured is not None, dom.stderr[-2000:]
    return int(measured.group(1))


def _screenshot(page: Path, width: int, tmp_path: Path) -> np.ndarray:
    shot = tmp_path / f"shot-{width}.png"
    done = _headless(
        "--hide-scrollbars", f"--window-size={width},4000", f"--screenshot={shot}", page.as_uri()
    )
    assert shot.exists(), done.stderr[-2000:]
    image = np.asarray(Image.open(shot).convert("RGB"))
    assert image.shape[1] == width
    return image


def test_report_renders_in_chromium(annotated, tmp_path):
    page = tmp_path / "report.html"
    annotation_report(annotated, page)
    html = page.read_text()
    groupby = AnnotationResult.from_adata(annotated).params["groupby"]  # louvain, refined into subtypes
    n_groups = annotated.obs[groupby].nunique()
    assert html.count('src="data:image/svg+xml;base64,') == 3  # self-contained: 2 UMAPs, evidence
    dom = _headless("--dump-dom", page.as_uri())
    table = re.search(r'<table id="evidence">(.*?)</table>', dom.stdout, re.S)
    assert table is not None, dom.stderr[-2000:]
    assert table.group(1).count("<tr") == n_groups + 1  # header + one row per group
    image = _screenshot(page, 1280, tmp_path)
    assert _pixels_near(image, TAB10_BLUE) > 300  # the points of group 0 on the UMAP were drawn
    assert _pixels_near(image, VERIFIED_ROW) > 2000  # the table's verified rows were drawn
    assert _pixels_near(image, (255, 255, 255)) < 0.95 * image.shape[0] * image.shape[1]


@pytest.mark.parametrize("width", [1400, 800])
def test_report_fits_the_window_and_shows_its_rings(annotated_with_panel, tmp_path, width):
    page = tmp_path / "report.html"
    annotation_report(annotated_with_panel, page)
    assert _horizontal_overflow(page, width, tmp_path) == 0
    image = _screenshot(page, width, tmp_path)
    assert _pixels_near(image, TAB10_BLUE) > 300  # group 0 on the UMAP
    assert _pixels_near(image, WEAK_ROW) > 2000  # the table
    assert _pixels_near(image, SUPPORTING) > 300  # rings of the supporting markers (and legend)
    assert _pixels_near(image, CONTRADICTING) > 60  # NKG7 and GZMA in group 3 (and legend)


def test_report_figures_say_what_they_show(annotated_with_panel, tmp_path):
    page = tmp_path / "report.html"
    annotation_report(annotated_with_panel, page)
    html = page.read_text()
    groups = sorted(annotated_with_panel.obs["louvain"].astype(str).unique(), key=int)
    for panel in ("umap-label", "umap-status"):  # every group's number, written on the UMAP
        umap = _figure_svg(html, panel)
        for group in groups:
            number = re.search(rf'<g id="group-{group}">.*?<text[^>]*>([^<]*)</text>', umap, re.S)
            assert number is not None, f"group {group} is not numbered on {panel}"
            assert number.group(1) == group
    swatches = re.findall(r'<span class="swatch" style="background:(#[0-9a-f]{6})"></span>', html)
    assert len(swatches) == len(set(swatches)) == len(groups)  # one colour per group, as on the UMAP

    dotplot = _figure_svg(html, "dotplot")
    assert _strokes(dotplot, "ring-supporting") == {SUPPORTING}
    assert _strokes(dotplot, "ring-contradicting") == {CONTRADICTING}
    assert SUPPORTING != CONTRADICTING
    assert _strokes(dotplot, "legend-supporting") == {SUPPORTING}  # the legend matches the rings
    assert _strokes(dotplot, "legend-contradicting") == {CONTRADICTING}
    assert "contradicting: a marker against the label, expressed" in dotplot
    row = re.search(r'<tr class="unknown"><td>.*?>3</td>(.*?)</tr>', html, re.S)
    assert row is not None
    assert "GZMA, NKG7" in row.group(1) or "NKG7, GZMA" in row.group(1)  # why group 3 is unknown

    coverage = annotated_with_panel.uns["textcell_genes"]["coverage"]
    unresolved = re.search(r'<table id="unresolved">(.*?)</table>', html, re.S).group(1)
    listed = re.findall(r"<tr><td>([^<]+)</td>", unresolved)
    assert sorted(listed) == sorted([*coverage["unmatched"], *coverage["ambiguous"]])
    assert len(listed) == coverage["n_total"] - coverage["n_matched"]  # 14: 13 not found, 1 ambiguous
    assert re.search(r"<details><summary>Every parameter \(JSON\)</summary><pre>", html)


def test_cli_annotate_and_report(annotated, tmp_path, capsys):
    data = tmp_path / "pbmc.h5ad"
    textcell.datasets.pbmc68k_reduced().write_h5ad(data)
    out, page = tmp_path / "annotated.h5ad", tmp_path / "r.html"
    assert (
        main(
            [
                "annotate",
                str(data),
                "--groupby",
                "louvain",
                "--use-raw",
                "-o",
                str(out),
                "--report",
                str(page),
            ]
        )
        == 0
    )
    printed = capsys.readouterr().out
    assert re.search(r"\d+ groups: \d+ verified, \d+ weak, \d+ unknown", printed)
    assert "B cells — verified [" in printed  # B cells or a B-cell subtype, with its markers
    assert page.exists()
    again = tmp_path / "again.html"
    assert main(["report", str(out), "-o", str(again)]) == 0
    assert again.read_text().count("<tr") == page.read_text().count("<tr")
