"""The marker databases on the Cell Ontology: which genes independent databases agree on per CL term.

PanglaoDB, CellMarker 2.0 and ScType each list markers per cell type (loaded by
:func:`textcell.markers.load_markers`, which maps every type onto a CL term: CellMarker through its
own ``cellontology_id``, the others by name). Whether a database-only type — a CL term textcell's own table
does not have — may be verified with the genes that at least ``min_sources`` of the databases list
for that term (one database alone mixes canonical markers with genes merely detected in the type:
PanglaoDB lists PTPRC for most immune types, CellMarker many genes named once; genes independent
curations agree on should be the canonical ones) was measured, and the answer is no: such types
are ``weak`` at best by default, and ``tl.annotate(consensus=3)`` opts in.

**How the rule was chosen** (``textcell bench annotate``, section "When database-only markers may
verify" of its report; chosen on the validation dataset only, Kang et al.'s IFN-β PBMCs): every
group is annotated with textcell's own table removed, so each label must come from the databases
alone, once per ``min_sources`` in 1, 2, 3. A verified label that is not right for its group's
majority type counts as wrong there (even a type the dataset does not label: the majority type is
known). The rule would be the smallest agreement that gives no wrong verified label on the
validation data; none does: one database alone and all three agreeing both verified neutrophils
for CD14 monocytes (S100A8 and S100A9 are agreed neutrophil markers), two verified plasmacytoid
dendritic cells for B cells, and no level verified a right type there. The databases' consensus
lists are long and mix broad genes (PTPRC, HLA class II, S100A8/9) with the specific ones. So no
database-only type is verified by default. The report shows the same measurement on the reported
datasets (where it agrees: every level makes wrong verified labels somewhere).
"""

from __future__ import annotations

import logging

import pandas as pd

from ..errors import InputError

logger = logging.getLogger("textcell")
DATABASES = ("panglaodb", "cellmarker", "sctype")
CONSENSUS_SOURCES = None  # measured: every agreement level verified a wrong type on the validation data
SPECIES_OF = {"panglaodb": ("human", "mouse"), "cellmarker": ("human", "mouse"), "sctype": ("human",)}


def consensus_markers(
    *,
    species: str = "human",
    min_sources: int = 3,
    databases=DATABASES,
    paths: dict | None = None,
    resolver=None,
) -> pd.DataFrame | None:
    """Genes that at least ``min_sources`` marker databases list for the same CL term:
    ``cell_ontology, gene, n_sources, sources, n_types`` (``n_types``: how many CL terms the gene is
    agreed on for), best first within a term — most sources, then fewest types (PTPRC, agreed on
    for most immune types, comes last); ``None`` when fewer than ``min_sources`` databases are
    available (not shipped: see :func:`textcell.markers.load_markers`).

    ScType has human markers only; for mouse its symbols go through the orthologs like the data.
    """
    from ..markers import load_markers

    tables = []
    for name in databases:
        path = (paths or {}).get(name)
        try:
            table = load_markers(name, species=species if species in SPECIES_OF[name] else "human",
                                 path=path, resolver=resolver)  # fmt: skip
        except InputError as error:
            logger.info(
                "Marker database %s is not available (%s); the consensus does without it.", name, error
            )
            continue
        table = table[(table["sign"] > 0) & (table["cell_ontology"] != "")]
        tables.append(table[["cell_ontology", "gene"]].drop_duplicates().assign(source=name))
    if len(tables) < min_sources:
        return None
    rows = pd.concat(tables, ignore_index=True)
    grouped = rows.groupby(["cell_ontology", "gene"])["source"]
    frame = pd.DataFrame(
        {"n_sources": grouped.nunique(), "sources": grouped.agg(lambda s: ";".join(sorted(set(s))))}
    )
    frame = frame[frame["n_sources"] >= min_sources].reset_index()
    frame["n_types"] = frame.groupby("gene")["cell_ontology"].transform("nunique")
    order = ["cell_ontology", "n_sources", "n_types", "gene"]
    return frame.sort_values(order, ascending=[True, False, True, True]).reset_index(drop=True)
