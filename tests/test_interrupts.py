"""Interrupted writes: SIGTERM, Ctrl-C and SIGKILL during `textcell embed-cells -o` leave no file
under the final name and, after the next run at the latest, no temporary file beside it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import anndata as ad
import pytest

import textcell
from textcell._io import TEMP_TAG, _host, atomic_path, remove_stale_temp_files
from textcell.cli import DEMO_OUTPUTS, main


@pytest.fixture(scope="module")
def kang_with_genes(shared_data, tmp_path_factory) -> Path:
    """Kang PBMC (8,684 cells) with its gene embeddings, so a run goes straight to the cells."""
    adata = ad.read_h5ad(shared_data / "cells" / "kang2018_pbmc.h5ad")
    textcell.tl.embed_genes(adata)
    path = tmp_path_factory.mktemp("kang") / "kang.h5ad"
    adata.write_h5ad(path)
    return path


def _temp_files(folder: Path, name: str) -> list[Path]:
    return sorted(folder.glob(f".{name}.{TEMP_TAG}.*"))


def _embed_cells(source: Path, output: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "textcell", "-q", "embed-cells", str(source), "-o", str(output)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def _signal_during_write(source: Path, output: Path, signum: int) -> tuple[int, str]:
    """Start the command, send ``signum`` as soon as h5py has written into its temporary output
    file, and return its exit code and stderr."""
    process = _embed_cells(source, output)
    deadline = time.monotonic() + 300
    while not any(p.stat().st_size for p in _temp_files(output.parent, output.name)):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"the write never started: {process.communicate()[1][-2000:]}")
        time.sleep(0.001)
    process.send_signal(signum)
    _, err = process.communicate(timeout=120)
    return process.returncode, err


@pytest.mark.slow
def test_sigterm_during_the_write_leaves_nothing(kang_with_genes, tmp_path):
    output = tmp_path / "out.h5ad"
    code, err = _signal_during_write(kang_with_genes, output, signal.SIGTERM)
    assert code == 143, err
    assert err.strip().splitlines()[-1] == "terminated; cached work is kept and a rerun resumes"
    assert "Traceback" not in err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_ctrl_c_during_the_write_exits_130_without_the_file(kang_with_genes, tmp_path):
    output = tmp_path / "out.h5ad"
    code, err = _signal_during_write(kang_with_genes, output, signal.SIGINT)
    assert code == 130, err
    assert err.strip().splitlines()[-1] == "interrupted; cached work is kept and a rerun resumes"
    assert "Traceback" not in err
    assert "Exception ignored" not in err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_the_next_run_removes_the_temp_file_of_a_killed_run(kang_with_genes, tmp_path):
    output = tmp_path / "out.h5ad"
    code, _ = _signal_during_write(kang_with_genes, output, signal.SIGKILL)
    assert code == -signal.SIGKILL
    (left,) = _temp_files(tmp_path, output.name)  # SIGKILL cannot be caught: it stays for now
    assert not output.exists()
    rerun = _embed_cells(kang_with_genes, output)
    _, err = rerun.communicate(timeout=600)
    assert rerun.returncode == 0, err
    assert not left.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["out.h5ad"]
    assert ad.read_h5ad(output, backed="r").obsm["X_textcell"].shape[0] == 8684


def _temp_file_of(folder: Path, target: str, pid: int, host: str | None = None) -> Path:
    random = f"{len(list(folder.iterdir())):08d}"  # as tempfile.mkstemp makes them: unique
    path = folder / f".{target}.{TEMP_TAG}.{host or _host()}.{pid}.{random}.h5ad"
    path.write_bytes(b"partial")
    return path


def test_stale_temp_files_go_and_live_ones_stay(tmp_path):
    target = tmp_path / "out.h5ad"
    with subprocess.Popen(["sleep", "60"]) as alive, subprocess.Popen(["true"]) as gone:
        gone.wait()  # reaped: its pid is free
        live = _temp_file_of(tmp_path, "out.h5ad", alive.pid)
        dead = _temp_file_of(tmp_path, "out.h5ad", gone.pid)
        reused = _temp_file_of(tmp_path, "out.h5ad", alive.pid)
        past = time.time() - 3600  # written before the process that has its pid now started
        os.utime(reused, (past, past))
        mine = _temp_file_of(tmp_path, "out.h5ad", os.getpid())  # an earlier process with this pid
        other_host = _temp_file_of(tmp_path, "out.h5ad", gone.pid, host="0badc0de")
        old_other_host = _temp_file_of(tmp_path, "out.h5ad", gone.pid, host="1badc0de")
        os.utime(old_other_host, (time.time() - 2 * 86400,) * 2)
        other_target = _temp_file_of(tmp_path, "other.h5ad", gone.pid)
        removed = remove_stale_temp_files(target)
        alive.kill()
    assert sorted(removed) == sorted([dead, reused, mine, old_other_host])
    assert all(p.exists() for p in (live, other_host, other_target))


def test_a_write_in_progress_is_not_stale(tmp_path):
    target = tmp_path / "out.h5ad"
    with atomic_path(target) as first:
        first.write_bytes(b"one")
        with atomic_path(target) as second:  # the same process, the same target: both live
            assert first.exists()
            second.write_bytes(b"two")
        assert first.exists()
    assert target.read_bytes() == b"one"
    assert list(tmp_path.iterdir()) == [target]


def test_main_gives_back_the_signal_handlers(tmp_path, capsys):
    before = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM), sys.unraisablehook
    assert main(["genes", "describe", "CD3E", "--view", "name"]) == 0
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM), sys.unraisablehook) == before
    with atomic_path(tmp_path / "after.txt") as tmp:  # no interrupt is left pending
        tmp.write_text("done")
    assert (tmp_path / "after.txt").read_text() == "done"


def test_a_rerun_of_the_demo_starts_clean(tmp_path, capsys):
    out = tmp_path / "textcell-demo"
    out.mkdir()
    for name in DEMO_OUTPUTS:
        (out / name).write_text("from an earlier run")
    (out / "notes.txt").write_text("the user's own file")
    # fails once the gene texts are written, at the embedding step
    assert main(["demo", "--out", str(out), "--model", "local:/nonexistent/model"]) == 2
    assert "Could not load the model" in capsys.readouterr().err
    assert sorted(p.name for p in out.iterdir()) == ["coverage.json", "genes.tsv", "notes.txt"]
    assert (out / "genes.tsv").read_text().startswith("var_name\tentrez\tsymbol\troute\ttext\n")
