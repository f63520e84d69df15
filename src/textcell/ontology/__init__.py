"""Cell-type knowledge: the Cell Ontology extract, textcell's canonical marker table (human and
mouse) and the marker databases mapped onto CL terms.

:class:`CellOntology` is the bundled Cell Ontology (labels, definitions, synonyms, ancestors);
:class:`CellTypes` is textcell's table of cell types with canonical markers, each on a CL term;
:func:`references` lists the publications its markers come from.
"""

from .celltypes import CellType, CellTypes, references
from .cl import CellOntology, normalise_name

__all__ = ["CellOntology", "CellType", "CellTypes", "normalise_name", "references"]
