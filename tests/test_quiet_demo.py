"""The demo, as a new user runs it (a fresh cache, so the model loads and converts), prints no
warnings: nothing from Numba, OpenVINO's telemetry, transformers, scanpy or anndata."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest


@pytest.mark.slow
def test_the_demo_says_nothing_on_stderr(tmp_path):
    env = {**os.environ, "TEXTCELL_CACHE_DIR": str(tmp_path / "cache"), "HF_HUB_OFFLINE": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "textcell", "-q", "demo", "--out", str(tmp_path / "demo")],
        capture_output=True, text=True, cwd=tmp_path, env=env, timeout=900,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Wrote the report to" in done.stdout
    assert done.stderr == ""
