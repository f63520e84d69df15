"""Marker-gene resources as one tidy table: ``cell_type, gene, sign, weight, canonical, source,
cell_ontology``.

``sign`` is +1 for a marker the type expresses and -1 for one it must not (ScType's negative
markers); ``weight`` ranks markers within a type:

- PanglaoDB: ``(0.5 + 0.5 * sensitivity) * (1 - specificity)`` from its human single-cell
  statistics, so a marker detected in most cells of the type and few others weighs about 1, one
  rarely detected or widely shared about 0.5 or less;
- CellMarker: 1 + log of the number of publications naming the marker;
- ScType, textcell's own table and user tables: 1.

Marker symbols go through :class:`~textcell.genes.GeneResolver`, so aliases such as CD20 or
CD16 become official symbols (MS4A1, FCGR3A) and mouse symbols their human orthologs (the
expression of mouse data is resolved the same way); human markers that do not resolve
unambiguously are left out and counted in ``table.attrs["unresolved"]``, while a mouse marker
without a human ortholog keeps its mouse symbol (the data's gene of that name keeps it too).

``cell_ontology`` is each type's Cell Ontology term: CellMarker's own ``cellontology_id``, and for
the other resources the CL term whose label or synonym the type's name is, or that of the textcell
type the name is a synonym of (:meth:`textcell.ontology.CellTypes.cell_ontology_of`); empty when
none matches.

``"textcell"`` is textcell's own table of the major cell types of the main tissues and their
canonical markers, human and mouse (:mod:`textcell.ontology.celltypes`), shipped with the
package. The databases are not shipped (their licences do not allow it): pass the file you
downloaded (``path=``), or keep the files in the shared data folder's ``markers/`` (see
:func:`textcell.datasets.shared_data_dir`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import numpy as np
import pandas as pd

from .datasets import shared_data_dir
from .errors import InputError

COLUMNS = ["cell_type", "gene", "sign", "weight", "canonical", "source", "cell_ontology"]
BUNDLED = "textcell"
RESOURCES = {
    "panglaodb": ("PanglaoDB_raw.tsv.gz", "https://panglaodb.se/markers.html"),
    "cellmarker": ("Cellmarker2_raw.tsv.gz", "http://bio-bigdata.hrbmu.edu.cn/CellMarker/"),
    "sctype": ("ScType_raw.tsv.gz", "https://github.com/IanevskiAleksandr/sc-type"),
}


def load_markers(
    markers, *, tissue: str | list[str] | None = None, species: str = "human", path=None, resolver=None
) -> pd.DataFrame:
    """The marker table of a resource name, a file, a ``{cell type: genes}`` dict or a DataFrame.

    Parameters
    ----------
    markers
        ``"textcell"`` (bundled), ``"panglaodb"``, ``"cellmarker"``, ``"sctype"``; a dict mapping
        each cell type to its marker genes (or to ``{"positive": [...], "negative": [...]}``); or
        a DataFrame with columns ``cell_type`` and ``gene`` (optionally ``sign``, ``weight``,
        ``canonical``).
    tissue
        Keep only these tissues (PanglaoDB ``organ``, CellMarker ``tissue_class`` or
        ``tissue_type``, ScType ``tissueType``), case-insensitive.
    species
        ``"human"`` or ``"mouse"`` (for the databases that have both).
    path
        The resource's file, when it is not in the shared data folder.
    resolver
        A :class:`~textcell.genes.GeneResolver` (the bundled human corpus by default).
    """
    if isinstance(markers, str) and markers.lower() == BUNDLED:
        table = _bundled(species)
    elif isinstance(markers, str) and markers.lower() in RESOURCES:
        name = markers.lower()
        table = _READERS[name](_resource_file(name, path), _tissues(tissue), species)
    elif isinstance(markers, pd.DataFrame):
        table = _from_frame(markers)
    elif isinstance(markers, Mapping):
        table = _from_dict(markers)
    elif isinstance(markers, str | os.PathLike) and os.path.exists(markers):
        table = _from_frame(pd.read_csv(markers, sep=None, engine="python"))
    else:
        raise InputError(
            f"Unknown markers {markers!r}: use one of {BUNDLED}, {', '.join(RESOURCES)}, a file, a dict of "
            "cell type → genes, or a DataFrame with columns cell_type and gene."
        )
    return _on_ontology(_resolved(table, resolver, species))


def _resource_file(name: str, path) -> str:
    filename, url = RESOURCES[name]
    if path is not None:
        if not os.path.exists(path):
            raise InputError(f"Marker file {path} not found.")
        return path
    root = shared_data_dir()
    if root is not None and (root / "markers" / filename).exists():
        return root / "markers" / filename
    raise InputError(
        f"{name}'s marker table is not shipped with textcell (its licence does not allow it). "
        f"Download it from {url} and pass it (Python: path=...; command line: --marker-file), "
        f"or put it at <shared data>/markers/{filename}."
    )


def _tissues(tissue) -> set[str] | None:
    if tissue is None:
        return None
    return {t.lower() for t in ([tissue] if isinstance(tissue, str) else tissue)}


def _in(values: pd.Series, tissues: set[str] | None) -> np.ndarray:
    return np.ones(len(values), bool) if tissues is None else values.str.lower().isin(tissues).to_numpy()


def _panglaodb(path, tissues, species) -> pd.DataFrame:
    raw = pd.read_csv(path, sep="\t", dtype=str).fillna("")
    code = {"human": "Hs", "mouse": "Mm"}[species]
    raw = raw[raw["species"].str.contains(code) & _in(raw["organ"], tissues)]
    sensitivity = pd.to_numeric(raw["sensitivity_human"], errors="coerce").fillna(0.5)
    specificity = pd.to_numeric(raw["specificity_human"], errors="coerce").fillna(0.0)
    return pd.DataFrame(
        {
            "cell_type": raw["cell.type"],
            "gene": raw["official.gene.symbol"],
            "sign": 1,
            "weight": (0.5 + 0.5 * sensitivity) * (1.0 - specificity),
            "canonical": raw["canonical.marker"] == "1",
            "source": "PanglaoDB",
            "cell_ontology": "",
        }
    )


def _cellmarker(path, tissues, species) -> pd.DataFrame:
    raw = pd.read_csv(path, sep="\t", dtype=str).fillna("")
    raw = raw[raw["species"].str.lower() == species]
    raw = raw[_in(raw["tissue_class"], tissues) | _in(raw["tissue_type"], tissues)]
    raw = raw.assign(gene=raw["Symbol"].where(raw["Symbol"] != "", raw["marker"]))
    counts = raw.groupby(["cell_name", "gene"]).size().rename("papers").reset_index()
    ontology = raw.groupby("cell_name")["cellontology_id"].agg(lambda ids: ids.mode().iloc[0])
    return pd.DataFrame(
        {
            "cell_type": counts["cell_name"],
            "gene": counts["gene"],
            "sign": 1,
            "weight": 1.0 + np.log(counts["papers"]),
            "canonical": counts["papers"] >= 3,
            "source": "CellMarker 2.0",
            "cell_ontology": counts["cell_name"].map(ontology).str.replace("_", ":").to_numpy(),
        }
    )


def _sctype(path, tissues, species) -> pd.DataFrame:
    raw = pd.read_csv(path, sep="\t", dtype=str).fillna("")
    raw = raw[_in(raw["tissueType"], tissues)]
    rows = [
        {"cell_type": row.cellName.strip(), "gene": gene.strip(), "sign": sign}
        for row in raw.itertuples()
        for sign, genes in ((1, row.geneSymbolmore1), (-1, row.geneSymbolmore2))
        for gene in genes.split(",")
        if gene.strip()
    ]
    table = pd.DataFrame(rows, columns=["cell_type", "gene", "sign"])
    return table.assign(weight=1.0, canonical=True, source="ScType", cell_ontology="")


def _bundled(species: str = "human") -> pd.DataFrame:
    """textcell's table; for mouse, a type's mouse markers (as mouse symbols) where it has them."""
    from .ontology import CellTypes

    rows = [
        {"cell_type": name, "gene": gene, "sign": sign, "cell_ontology": cell_type.cell_ontology}
        for name, cell_type in CellTypes.bundled().types.items()
        for sign, genes in (
            (1, cell_type.mouse if species == "mouse" and cell_type.mouse else cell_type.positive),
            (-1, cell_type.negative),
        )
        for gene in genes
    ]
    return pd.DataFrame(rows).assign(weight=1.0, canonical=True, source="textcell")[COLUMNS]


_READERS = {"panglaodb": _panglaodb, "cellmarker": _cellmarker, "sctype": _sctype}


def _from_dict(markers: Mapping) -> pd.DataFrame:
    rows = []
    for cell_type, genes in markers.items():
        signed = genes if isinstance(genes, Mapping) else {"positive": genes}
        unknown = set(signed) - {"positive", "negative"}
        if unknown:
            raise InputError(f"Markers of {cell_type!r}: use keys 'positive' and 'negative', not {unknown}.")
        for key, sign in (("positive", 1), ("negative", -1)):
            rows += [{"cell_type": cell_type, "gene": g, "sign": sign} for g in signed.get(key, ())]
    return _from_frame(pd.DataFrame(rows, columns=["cell_type", "gene", "sign"]))


def _from_frame(frame: pd.DataFrame) -> pd.DataFrame:
    missing = {"cell_type", "gene"} - set(frame.columns)
    if missing:
        raise InputError(f"A marker table needs columns cell_type and gene; missing {sorted(missing)}.")
    defaults = {"sign": 1, "weight": 1.0, "canonical": True, "source": "user", "cell_ontology": ""}
    return frame.assign(**{k: frame.get(k, v) for k, v in defaults.items()})[COLUMNS]


def _resolved(table: pd.DataFrame, resolver, species: str) -> pd.DataFrame:
    """Marker symbols → official symbols; one row per (cell type, gene, sign), the largest weight."""
    if table.empty:
        raise InputError("The marker table is empty (check the tissue and species filters).")
    if resolver is None:
        from .genes import GeneCorpus, GeneResolver

        resolver = GeneResolver(GeneCorpus.load())
    table = table[table["gene"].astype(str).str.strip() != ""]
    genes = table["gene"].astype(str).str.strip()
    result = resolver.resolve(list(dict.fromkeys(genes)), species=species)
    symbol = result.table["symbol"].reindex(genes.to_numpy()).fillna("").to_numpy()
    if species == "mouse":  # no human ortholog: the mouse symbol, as the data's genes keep it
        symbol = np.where(symbol != "", symbol, genes.to_numpy())
    table = table.assign(gene=symbol)
    resolved = table[table["gene"] != ""]
    resolved = resolved.sort_values("weight", ascending=False).drop_duplicates(["cell_type", "gene", "sign"])
    resolved = resolved.sort_values(["cell_type", "sign", "gene"], ascending=[True, False, True])
    resolved = resolved.reset_index(drop=True)
    if resolved.empty:
        examples = ", ".join(list(dict.fromkeys(genes))[:5])
        raise InputError(
            f"None of the marker genes is a known {species} gene (e.g. {examples}); check the symbols "
            "and species=."
        )
    resolved.attrs["unresolved"] = int((table["gene"] == "").sum())
    return resolved


def _on_ontology(table: pd.DataFrame) -> pd.DataFrame:
    """``cell_ontology`` filled in by name where the resource did not give it."""
    from .ontology import CellOntology, CellTypes

    vocabulary, ontology = CellTypes.bundled(), CellOntology.bundled()
    given = table["cell_ontology"].fillna("").astype(str)
    given = given.where(given.map(ontology.__contains__), "")  # obsolete or not a CL term
    names = table.loc[given == "", "cell_type"].astype(str).unique()
    found = {name: vocabulary.cell_ontology_of(name) or "" for name in names}
    filled = given.where(given != "", table["cell_type"].astype(str).map(found).fillna(""))
    out = table.assign(cell_ontology=filled.to_numpy())
    out.attrs = dict(table.attrs)
    return out
