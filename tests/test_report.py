"""The HTML report, opened in headless Chromium: it must render its figures and its table."""

import re
import shutil
import subprocess

import numpy as np
import pytest
from PIL import Image

import textcell
from conftest import need
from textcell.cli import main
from textcell.report import annotation_report

TAB10_BLUE = (31, 119, 180)  # the first label's colour in the UMAP
VERIFIED_ROW = (217, 242, 217)  # the background of a verified row in the table


@pytest.fixture(scope="module")
def annotated():
    adata = textcell.datasets.pbmc68k_reduced()
    textcell.tl.resolve_genes(adata)
    textcell.tl.annotate(adata, groupby="louvain", use_raw=True)
    return adata


def _chromium() -> str:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        need("no chromium on PATH; run scripts/setup_chromium.sh")
    return browser


def _pixels_near(image: np.ndarray, colour, tolerance: int = 6) -> int:
    return int((np.abs(image[..., :3].astype(int) - colour).max(axis=-1) <= tolerance).sum())


def test_report_renders_in_chromium(annotated, tmp_path):
    page = tmp_path / "report.html"
    annotation_report(annotated, page)
    html = page.read_text()
    n_groups = annotated.obs["louvain"].nunique()
    assert html.count('src="data:image/png;base64,') == 2  # self-contained: UMAP and evidence
    browser = _chromium()
    run = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars"]
    dom = subprocess.run([*run, "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120)
    table = re.search(r'<table id="evidence">(.*?)</table>', dom.stdout, re.S)
    assert table is not None, dom.stderr[-2000:]
    assert table.group(1).count("<tr") == n_groups + 1  # header + one row per group
    shot = tmp_path / "shot.png"
    subprocess.run(
        [*run, "--window-size=1280,4000", f"--screenshot={shot}", page.as_uri()],
        capture_output=True, timeout=120, check=True,
    )  # fmt: skip
    image = np.asarray(Image.open(shot).convert("RGB"))
    assert image.shape[1] == 1280
    assert _pixels_near(image, TAB10_BLUE) > 500  # the UMAP's points were drawn
    assert _pixels_near(image, VERIFIED_ROW) > 2000  # the table's verified rows were drawn
    assert _pixels_near(image, (255, 255, 255)) < 0.95 * image.shape[0] * image.shape[1]


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
