"""The conventions every tool follows (after scanpy's tests/test_package_structure.py)."""

import importlib.util
import inspect
import subprocess
import sys
from pathlib import Path

import pytest

import textcell

TOOLS = [getattr(textcell.tl, name) for name in textcell.tl.__all__ if not name.endswith("_to_file")]
FILE_WRITERS = [getattr(textcell.tl, name) for name in textcell.tl.__all__ if name.endswith("_to_file")]


@pytest.mark.parametrize("tool", TOOLS, ids=lambda f: f.__name__)
def test_tools_take_adata_first_then_keyword_only_options(tool):
    params = list(inspect.signature(tool).parameters.values())
    assert params[0].name == "adata"
    assert params[0].kind is inspect.Parameter.POSITIONAL_OR_KEYWORD
    assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in params[1:])
    names = {p.name for p in params}
    assert {"key_added", "copy"} <= names
    assert inspect.signature(tool).parameters["copy"].default is False
    assert tool.__doc__
    assert "Parameters" in tool.__doc__


@pytest.mark.parametrize("writer", FILE_WRITERS, ids=lambda f: f.__name__)
def test_file_writers_take_a_backed_adata_and_a_destination(writer):
    params = list(inspect.signature(writer).parameters.values())
    assert [p.name for p in params[:2]] == ["adata", "destination"]
    assert all(p.kind in (p.KEYWORD_ONLY, p.VAR_KEYWORD) for p in params[2:])
    assert "key_added" in {p.name for p in params}
    assert "Parameters" in writer.__doc__


HEAVY = ("scanpy", "anndata", "torch", "sentence_transformers", "sklearn", "numba", "pandas", "matplotlib")


def _imported_after(code: str) -> set[str]:
    probe = f"import sys; {code}; print(','.join(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return set(out.stdout.strip().split(","))


def test_import_has_no_side_effects():
    code = (
        "import logging, sys; import textcell; "
        "assert not logging.getLogger('textcell').handlers; assert not logging.getLogger().handlers; "
        "print('ok')"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "ok"


@pytest.mark.parametrize(
    "code",
    [
        "import textcell",
        "from textcell.cli import build_parser; build_parser().format_help()",
        "from textcell.cli import main; main(['embed-cells', '--help'])",
    ],
    ids=["import", "help", "subcommand help"],
)
def test_import_and_help_load_no_heavy_library(code):
    quiet = "contextlib.suppress(SystemExit), contextlib.redirect_stdout(io.StringIO())"
    code = f"import contextlib, io\nwith {quiet}: {code}"
    loaded = _imported_after(code)
    assert not [name for name in HEAVY if name in loaded]


def test_every_namespace_is_reachable_after_a_plain_import():
    for name in textcell.__all__:
        module = getattr(textcell, name)
        assert module is not None, name
        if name != "settings":
            assert module.__doc__, f"textcell.{name} has no docstring"
    assert textcell.pl.program_heatmap.__doc__
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        _ = textcell.nope


def test_every_model_follows_the_fitted_model_contract():
    from textcell.models import FittedModel

    exported = [getattr(textcell.models, name) for name in textcell.models.__all__]
    models = [
        m for m in exported if isinstance(m, type) and issubclass(m, FittedModel) and m is not FittedModel
    ]
    assert models
    formats = [m.FORMAT for m in models]
    assert len(set(formats)) == len(formats)
    for model in models:
        assert isinstance(model.FORMAT_VERSION, int)
        assert model.__doc__
        assert "Parameters" in model.__doc__
        assert model.KIND != FittedModel.KIND, f"{model.__name__} should name its kind for messages"


def test_errors_share_one_base():
    from textcell import errors

    for name in (
        "InputError",
        "GeneIdError",
        "CorpusError",
        "CacheError",
        "BackendError",
        "RateLimitError",
        "AuthError",
        "ResponseError",
    ):
        assert issubclass(getattr(errors, name), errors.TextcellError)


@pytest.mark.slow
def test_scanpys_standard_neighbours_work_with_the_installed_dependencies():
    """Above 4,096 cells scanpy uses pynndescent; 0.7 returns sparse arrays scanpy 1.11 cannot read."""
    import anndata as ad
    import numpy as np
    import scanpy as sc

    adata = ad.AnnData(np.random.default_rng(0).normal(size=(4200, 10)).astype(np.float32))
    sc.pp.neighbors(adata, use_rep="X", n_neighbors=15)
    assert adata.obsp["connectivities"].shape == (4200, 4200)
    assert adata.obsp["distances"].getnnz(axis=1).min() >= 14


SCRIPTS = sorted(
    path
    for folder in ("benchmarks", "scripts")
    for path in (Path(__file__).resolve().parents[1] / folder).glob("*.py")
)


@pytest.mark.parametrize("path", SCRIPTS, ids=lambda path: f"{path.parent.name}/{path.name}")
def test_benchmark_and_build_scripts_import(path, monkeypatch):
    """The README runs these by hand; an import the library no longer has must fail here first."""
    monkeypatch.syspath_prepend(str(path.parent))  # as when run: a script's folder is on the path
    spec = importlib.util.spec_from_file_location(f"_script_{path.stem}", path)
    spec.loader.exec_module(importlib.util.module_from_spec(spec))
