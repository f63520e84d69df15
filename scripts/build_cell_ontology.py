"""Rebuild the bundled Cell Ontology extract (src/textcell/ontology/data/cl.json.gz).

    pip install zstandard   # only this script needs it
    python scripts/build_cell_ontology.py

The Cell Ontology comes inside the PyPI package ``cellxgene-ontology-guide`` (pinned below), as a
zstd-compressed JSON of every CL term: label, definition, synonyms, ancestors with their distance.
The script downloads that wheel (``pip download --no-deps``, no install), reads the CL file out of
it and writes what textcell needs — the terms that are not deprecated, with label, definition,
synonyms and ancestors — as gzipped JSON, with a manifest (versions, licence, attribution, sha256).
The output is byte-for-byte reproducible: the sha256 in ``cl.manifest.json`` must not change on a
rebuild from the same pinned package.

The Cell Ontology (https://obofoundry.org/ontology/cl.html) is released under CC BY 4.0: Diehl et
al. (2016) The Cell Ontology 2016: enhanced content, modularization, and ontology
interoperability. J Biomed Semantics 7:44. doi:10.1186/s13326-016-0088-7.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import json
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

PACKAGE, PACKAGE_VERSION = "cellxgene-ontology-guide", "1.11.1"
CL_FILE = "cellxgene_ontology_guide/data/CL-ontology-v2026-03-26.json.zst"
CL_VERSION = "v2026-03-26"
OUTPUT = Path(__file__).resolve().parents[1] / "src" / "textcell" / "ontology" / "data" / "cl.json.gz"
ATTRIBUTION = (
    "Cell Ontology (CL), https://obofoundry.org/ontology/cl.html, CC BY 4.0. Diehl AD et al. "
    "(2016) The Cell Ontology 2016: enhanced content, modularization, and ontology interoperability. "
    "J Biomed Semantics 7:44, doi:10.1186/s13326-016-0088-7. Extracted from the CL release as "
    "distributed by CZ CELLxGENE's cellxgene-ontology-guide (MIT); terms filtered (deprecated terms "
    "dropped) and fields reduced, not otherwise changed."
)


def download_wheel(folder: Path) -> Path:
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "--dest", str(folder),
         f"{PACKAGE}=={PACKAGE_VERSION}"],
        check=True,
    )  # fmt: skip
    return next(folder.glob("*.whl"))


def read_terms(wheel: Path) -> dict:
    import zstandard

    with zipfile.ZipFile(wheel) as archive:
        compressed = archive.read(CL_FILE)
    with zstandard.ZstdDecompressor().stream_reader(io.BytesIO(compressed)) as reader:
        return json.loads(reader.read())


def extract(terms: dict) -> dict:
    """Terms that are not deprecated: ``{id: {label, definition, synonyms, ancestors}}``, where
    ``ancestors`` maps each ancestor CL ID to its distance (1: a parent)."""
    kept = {}
    for term_id in sorted(terms):
        term = terms[term_id]
        if term.get("deprecated") or not term_id.startswith("CL:"):
            continue
        kept[term_id] = {
            "label": term["label"],
            "definition": term.get("description", ""),
            "synonyms": sorted(set(term.get("synonyms", []))),
            "ancestors": {a: d for a, d in sorted(term["ancestors"].items()) if a.startswith("CL:")},
        }
    return kept


def write(kept: dict, output: Path) -> dict:
    payload = json.dumps(kept, sort_keys=True, separators=(",", ":")).encode()
    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0, filename="") as handle:
        handle.write(payload)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_bytes(buffer.getvalue())
    manifest = {
        "file": output.name,
        "format": "textcell-cell-ontology",
        "format_version": 1,
        "ontology": "Cell Ontology (CL)",
        "version": CL_VERSION,
        "source": f"PyPI {PACKAGE}=={PACKAGE_VERSION}: {CL_FILE}",
        "licence": "CC BY 4.0",
        "attribution": ATTRIBUTION,
        "n_terms": len(kept),
        "sha256": hashlib.sha256(buffer.getvalue()).hexdigest(),
    }
    manifest_path = output.with_name("cl.manifest.json")
    manifest_path.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return manifest


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--wheel", type=Path, help="an already downloaded wheel of the pinned package")
    parser.add_argument("--output", type=Path, default=OUTPUT)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        wheel = args.wheel or download_wheel(Path(folder))
        manifest = write(extract(read_terms(wheel)), args.output)
    print(json.dumps(manifest, indent=2))


if __name__ == "__main__":
    main()
