#!/usr/bin/env bash
# Prints the path of a Python with PyTorch CPU (exactly torch==2.13.0: a bare `torch` pulls a multi-GB CUDA
# build) for the benches' PyTorch peers. In order: $NIWT_TORCH_PYTHON; the project's
# scripts/torch-venv.sh when present; else a venv at $NIWT_TORCH_VENV (default .cache/torch-venv), created
# once under a lock. Progress goes to stderr.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
if [[ -n "${NIWT_TORCH_PYTHON:-}" ]]; then echo "$NIWT_TORCH_PYTHON"; exit 0; fi
if [[ -x "$repo/scripts/torch-venv.sh" ]]; then "$repo/scripts/torch-venv.sh" | tail -n 1; exit 0; fi
venv="${NIWT_TORCH_VENV:-$repo/.cache/torch-venv}"
marker="$venv/.niwt-torch-2.13.0"
if [[ ! -f "$marker" ]]; then
  mkdir -p "$(dirname "$venv")"
  exec 9>"$venv.lock"
  flock 9
  if [[ ! -f "$marker" ]]; then
    echo "torch-python: installing torch==2.13.0 (CPU) into $venv" >&2
    [[ -x "$venv/bin/python" ]] || python3 -m venv "$venv" >&2
    "$venv/bin/python" -m pip install --disable-pip-version-check --quiet torch==2.13.0 >&2
    touch "$marker"
  fi
fi
echo "$venv/bin/python"
