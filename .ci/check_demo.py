"""Check the files the README's main command announced ("Wrote ...") exist and are what they claim.

python .ci/check_demo.py main.log
"""

from __future__ import annotations

import csv
import json
import re
import sys
from pathlib import Path


def check_h5ad(path: Path) -> str:
    import anndata as ad

    adata = ad.read_h5ad(path)
    embedding = adata.obsm.get("X_textcell")
    if embedding is None or embedding.shape[0] != adata.n_obs or not embedding.any():
        raise ValueError("no cell embedding in obsm['X_textcell']")
    if "textcell" not in adata.varm or "params" not in adata.uns.get("textcell", {}):
        raise ValueError("no gene embeddings with provenance (varm/uns['textcell'])")
    labels = adata.obs.get("textcell_annotation")
    if labels is None or labels.isna().all():
        raise ValueError("no annotation in obs['textcell_annotation']")
    return f"{adata.n_obs} cells, {embedding.shape[1]}-d embedding, {labels.nunique()} labels"


def check_html(path: Path) -> str:
    page = path.read_text(encoding="utf-8")
    images = len(re.findall(r"<img[^>]+src=\"data:image/|<svg", page))
    if "<html" not in page or not images or "verified" not in page:
        raise ValueError("not a complete annotation report (html, figures, verified labels)")
    return f"{len(page):,} characters, {images} figures"


def check_tsv(path: Path) -> str:
    with path.open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    if not rows or not {"entrez", "symbol", "text"} <= set(rows[0]):
        raise ValueError("no gene rows with entrez, symbol and text")
    return f"{len(rows)} genes"


def check_json(path: Path) -> str:
    coverage = json.loads(path.read_text())
    if not coverage.get("n_matched"):
        raise ValueError("no matched genes in the coverage report")
    return f"{coverage['n_matched']} genes matched"


CHECKS = {".h5ad": check_h5ad, ".html": check_html, ".tsv": check_tsv, ".json": check_json}


def main(log: str) -> int:
    text = Path(log).read_text(encoding="utf-8")
    announced = [
        Path(p.rstrip(".,"))
        for line in text.splitlines()
        if line.startswith("Wrote ")
        for p in re.findall(r"(\S+\.(?:h5ad|html|tsv|json))\b", line)
    ]
    if not announced:
        print("check_demo: the main command announced no files", file=sys.stderr)
        return 1
    failed = 0
    for path in announced:
        try:
            if not path.is_file() or path.stat().st_size == 0:
                raise ValueError("missing or empty")
            print(f"check_demo: {path}: {CHECKS[path.suffix](path)}")
        except Exception as exc:
            print(f"check_demo: {path}: {exc}", file=sys.stderr)
            failed += 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
