#!/usr/bin/env bash
# Creates (once) a Python virtual environment with PyTorch (CPU) and the ONNX exporter's needs, for
# the `onnx` backbone's tests (scripts/onnx-fixtures.py exports PyTorch networks and their reference
# outputs/gradients) and the forward benchmark.
#
#   scripts/torch-venv.sh             # prints the venv's python path as the last stdout line
#   NIWT_TORCH_VENV=/some/dir scripts/torch-venv.sh
#
# Idempotent: a marker file naming the pinned versions makes reruns instant. Safe when several
# processes call it at once (the install runs under flock; latecomers wait, then see the marker).
# Progress goes to stderr so callers can take the last stdout line.
set -euo pipefail

# Pinned exactly. `torch==2.13.0` resolves to a CPU wheel here; a bare `torch` (or torchvision, whose
# PyPI builds need a CUDA torch 2.14.1) pulls multi-GB CUDA builds, so the test architectures are written
# in plain PyTorch (scripts/onnx-fixtures.py). The legacy TorchScript exporter (`dynamo=False`) is used:
# it needs the `onnx` package only (the dynamo exporter also needs onnxscript) and names nodes stably.
TORCH_VERSION="2.13.0"
ONNX_VERSION="1.23.2"

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${NIWT_TORCH_VENV:-$repo/.cache/torch-venv}"
python_bin="${NIWT_PYTHON:-python3}"
marker="$venv/.niwt-torch-$TORCH_VERSION-onnx-$ONNX_VERSION"
py="$venv/bin/python"

if [[ -f "$marker" && -x "$py" ]]; then
  echo "$py"
  exit 0
fi

mkdir -p "$(dirname "$venv")"
lock="$venv.lock"
exec 9>"$lock"
echo "torch-venv: taking $lock (waits while another process installs)" >&2
flock 9

if [[ ! -f "$marker" || ! -x "$py" ]]; then
  if ! command -v "$python_bin" >/dev/null 2>&1; then
    echo "torch-venv: '$python_bin' not found; install Python 3.10+ or set NIWT_PYTHON" >&2
    exit 1
  fi
  if [[ ! -x "$py" ]]; then
    echo "torch-venv: creating $venv" >&2
    "$python_bin" -m venv "$venv" >&2 || {
      echo "torch-venv: '$python_bin -m venv' failed (on Debian/Ubuntu: apt-get install python3-venv)" >&2
      exit 1
    }
  fi
  echo "torch-venv: installing torch==$TORCH_VERSION onnx==$ONNX_VERSION (first run takes a few minutes)" >&2
  "$py" -m pip install --disable-pip-version-check --quiet "torch==$TORCH_VERSION" "onnx==$ONNX_VERSION" numpy >&2
  "$py" -c "import torch, onnx, sys; assert torch.__version__.startswith(sys.argv[1]), torch.__version__" \
    "$TORCH_VERSION" >&2
  rm -f "$venv"/.niwt-torch-*
  touch "$marker"
fi

flock -u 9
echo "$py"
