"""Sphinx configuration of textcell's documentation: ``sphinx-build -W -b html docs docs/_build/html``."""

import os
from importlib.metadata import version as _version

# The tutorial runs offline: the default model's vectors ship with the package.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

project = "textcell"
author = "textcell developers"
copyright = "textcell developers"
release = _version("textcell")
version = release

extensions = [
    "myst_nb",
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.napoleon",
    "sphinxarg.ext",
    "sphinx_copybutton",
]

exclude_patterns = ["_build", "**.ipynb_checkpoints", "Thumbs.db", ".DS_Store"]
templates_path = ["_templates"]

# Markdown pages (MyST) and the tutorial notebook, executed on every build: a broken step fails it.
myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3
# "[text](#name)" links of the README resolve to labels such as "(benchmarks)=" on the pages.
myst_ref_domains = ["std", "py"]
nb_execution_mode = "force"
nb_execution_raise_on_error = True
nb_execution_timeout = 600
nb_execution_show_tb = True
nb_merge_streams = True

# The API reference: one page per public namespace, members as listed in its __all__.
autosummary_generate = True
autosummary_ignore_module_all = False
autosummary_imported_members = False
autodoc_default_options = {"members": True, "show-inheritance": True}
autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autoclass_content = "class"
napoleon_google_docstring = False
napoleon_numpy_docstring = True
napoleon_use_rtype = False
napoleon_use_ivar = True

html_theme = "furo"
html_title = f"textcell {release}"
html_static_path: list[str] = []
