"""Cell-type annotation with marker-gene evidence: the machinery behind :func:`textcell.tl.annotate`.

:class:`AnnotationResult` reads a stored annotation back as tables and a dot plot;
:class:`ChatProposer` adds a chat model as a candidate source; :class:`Thresholds` says when a
marker counts as expressed. The cell types that labels are verified against live in
:mod:`textcell.ontology`.
"""

from .chat import ChatProposer
from .evidence import Thresholds
from .result import AnnotationResult

__all__ = ["AnnotationResult", "ChatProposer", "Thresholds"]
