"""Rebuild the bundled human gene corpus (src/textcell/genes/data/human.json.gz).

    python scripts/build_corpus.py                      # Debian's Bioconductor SQLite files
    python scripts/build_corpus.py --source ncbi        # NCBI gene_info + gene2go + go-basic.obo

The Debian route pins the package versions (textcell.genes.build.DEBIAN_PACKAGES), so a rebuild
reproduces the committed file: the sha256 in human.manifest.json must not change.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from textcell.genes.build import build

BUNDLED = Path(__file__).resolve().parents[1] / "src" / "textcell" / "genes" / "data" / "human.json.gz"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--source", choices=("debian", "ncbi"), default="debian")
    parser.add_argument("--files", nargs="+", help="source files instead of fetching them")
    parser.add_argument("--output", type=Path, default=BUNDLED)
    args = parser.parse_args()
    manifest = build(args.source, output=args.output, paths=args.files)
    print(json.dumps(manifest, indent=2))


if __name__ == "__main__":
    main()
