#!/usr/bin/env bash
# Build the virtual environment that runs scGPT's OWN model code, the reference textcell's scGPT
# is tested and benchmarked against: PyPI scgpt==0.2.4 installed --no-deps beside torch, numpy
# and tqdm.
#
#   bash scripts/setup_scgpt_reference.sh [VENV]      # default VENV: <repo>/.venv-scgpt
#
# `import scgpt` fails with torch 2.13 (torchtext 0.18 was built for torch 2.3; IPython is an
# undeclared dependency), so the reference loads scgpt/model/model.py and
# scgpt/data_collator.py on their own (tests/scgpt_reference.py), which needs only torch, numpy
# and tqdm; hence --no-deps and a venv of its own. torch is always the CPU wheel torch==2.13.0
# that pip finds on local disk. Idempotent: a venv whose marker holds the hash of these pins and
# that still imports is left as it is. TEXTCELL_SCGPT_REBUILD=1 starts from an empty venv.
# Progress goes to stderr; the last line on stdout is the venv path.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
venv=${1:-$repo/.venv-scgpt}
python=${PYTHON:-python3.11}
torch_version=2.13.0
scgpt_version=0.2.4

# Everything the reference imports, pinned (pip freeze of a working venv), torch included, so
# no range can pull another torch.
requirements="torch==$torch_version
numpy==2.4.6
tqdm==4.70.1
filelock==4.3.2
fsspec==2026.9.0
jinja2==3.1.6
markupsafe==3.0.4
mpmath==1.3.0
networkx==3.6.1
sympy==1.14.0
typing-extensions==4.16.0"

log() { echo "setup_scgpt_reference: $*" >&2; }

command -v "$python" >/dev/null || { log "$python not found (set PYTHON=...)"; exit 1; }
py_version=$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
[ "$py_version" = "3.11" ] || { log "$python is Python $py_version; this environment is pinned for 3.11"; exit 1; }

stamp=$(printf '%s\n--\nscgpt==%s\n--\n%s\n' "$requirements" "$scgpt_version" "$py_version" | sha256sum | cut -d' ' -f1)
marker="$venv/.textcell-scgpt-requirements.sha256"

# Installed as pinned, and scGPT's model file loads on its own and builds the whole-human model.
check() {
  [ -x "$venv/bin/python" ] || return 1
  "$venv/bin/python" "$repo/tests/scgpt_reference.py" --check "$torch_version" "$scgpt_version" >&2
}

# One setup at a time per venv (say, two test sessions starting together).
if command -v flock >/dev/null; then
  lock="${TMPDIR:-/tmp}/textcell-scgpt-$(printf '%s' "$venv" | sha256sum | cut -c1-16).lock"
  exec 9>"$lock"
  flock 9
fi

if [ "${TEXTCELL_SCGPT_REBUILD:-}" != "1" ] && [ -f "$marker" ] && [ "$(cat "$marker")" = "$stamp" ] && check; then
  log "up to date"
  echo "$venv"
  exit 0
fi

start=$SECONDS
if [ "${TEXTCELL_SCGPT_REBUILD:-}" = "1" ] && [ -f "$venv/pyvenv.cfg" ]; then
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
log "installing (torch $torch_version from local disk, numpy, tqdm; scgpt $scgpt_version without its dependencies)"
# pip says it ignores each missing local index folder: hundreds of lines, dropped.
"$venv/bin/python" -m pip install --disable-pip-version-check --no-input --progress-bar off -q \
  -r "$tmp/requirements.txt" 2>&1 | { grep -v "^WARNING: Location 'file:.*' is ignored" || true; } >&2
"$venv/bin/python" -m pip install --disable-pip-version-check --no-input --progress-bar off -q \
  --no-deps "scgpt==$scgpt_version" 2>&1 | { grep -v "^WARNING: Location 'file:.*' is ignored" || true; } >&2

if ! check; then
  log "the venv does not work after installing (see above)"
  exit 1
fi
echo "$stamp" >"$marker"
log "torch $("$venv/bin/python" -m pip show torch | sed -n 's/^Version: //p'), scgpt $scgpt_version; ready in $((SECONDS - start)) s ($(du -sh "$venv" | cut -f1))"
echo "$venv"
