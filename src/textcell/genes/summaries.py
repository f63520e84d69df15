"""RefSeq summaries shipped with the corpus: textcell's own file format, written and read here.

``human.summaries.json.gz`` holds ``{"format", "format_version", "species", "corpus_sha256",
"summaries": {entrez: text}}`` (canonical JSON, gzip without a timestamp, so rebuilding gives the
same bytes). Its manifest records the sha256, the counts, the source and the licences. The file
answers only for the corpus it was matched against (``corpus_sha256``).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import zlib
from collections.abc import Mapping
from pathlib import Path

from ..errors import CorpusError
from .build import manifest_path, write_document

FORMAT = "textcell-gene-summaries"
FORMAT_VERSION = 1
SOURCE = {
    "RefSeq summaries": "NCBI RefSeq release 220 (2023-09), the 'Summary' paragraph of each gene's "
    "NCBI Gene record, via the R package GeneSummary (Zuguang Gu)",
}
LICENCES = {
    "RefSeq summaries": "public domain (NCBI, US government work)",
    "GeneSummary package": "MIT",
}


def write_summaries(
    summaries: Mapping[str, str], path: str | os.PathLike, *, corpus_sha256: str, species: str, counts: dict
) -> dict:
    """Write ``path`` and its manifest; ``summaries`` maps Entrez IDs of the corpus to text."""
    path = Path(path)
    document = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "species": species,
        "corpus_sha256": corpus_sha256,
        "summaries": dict(sorted(summaries.items(), key=lambda item: int(item[0]))),
    }
    return write_document(
        document,
        path,
        format=(FORMAT, FORMAT_VERSION),
        sources=SOURCE,
        licences=LICENCES,
        counts={"summaries": len(summaries), **counts},
        corpus_sha256=corpus_sha256,
    )


def read_summaries(path: str | os.PathLike, *, corpus_sha256: str) -> dict[str, str]:
    """The summaries of a file written by :func:`write_summaries`, checked against its manifest and
    against the corpus they were matched to."""
    path = Path(path)
    try:
        payload = gzip.decompress(path.read_bytes())
        document = json.loads(payload)
    except (OSError, EOFError, zlib.error, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CorpusError(f"Summaries file {path} is corrupt ({exc}); reinstall textcell.") from exc
    manifest = manifest_path(path)
    if (
        manifest.is_file()
        and json.loads(manifest.read_text())["sha256"] != hashlib.sha256(payload).hexdigest()
    ):
        raise CorpusError(f"Summaries file {path} does not match its manifest checksum; reinstall textcell.")
    if document.get("format") != FORMAT or document.get("format_version") != FORMAT_VERSION:
        raise CorpusError(f"{path} is not a textcell summaries file of format version {FORMAT_VERSION}.")
    if document["corpus_sha256"] != corpus_sha256:
        raise CorpusError(
            f"Summaries file {path} was matched to another corpus ({document['corpus_sha256'][:12]}, "
            f"not {corpus_sha256[:12]}); rebuild it with scripts/build_summaries.py."
        )
    return document["summaries"]
