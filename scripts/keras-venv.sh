#!/usr/bin/env bash
# Creates (once) a Python virtual environment with a pinned TensorFlow (CPU) under .cache/, for writing
# Keras-made test fixtures (scripts/keras-fixtures.py). TensorFlow is large (~600 MB): the first run takes
# minutes, later runs are instant (a marker file names the pinned version).
#
#   scripts/keras-venv.sh            # prints the venv's python path as the last stdout line
#   NIWT_KERAS_VENV=/some/dir scripts/keras-venv.sh
#
# Safe when several processes call it at once (flock). Progress goes to stderr.
set -euo pipefail

# tensorflow-cpu 2.21.0 is what PyPI offers here (`pip index versions tensorflow-cpu`); it brings Keras 3.
TF_PACKAGE="${NIWT_TF_PACKAGE:-tensorflow-cpu==2.21.0}"

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${NIWT_KERAS_VENV:-$repo/.cache/keras-venv}"
python_bin="${NIWT_PYTHON:-python3}"
marker="$venv/.niwt-$(echo "$TF_PACKAGE" | tr -c 'A-Za-z0-9.=-' '_')"
py="$venv/bin/python"

if [[ -f "$marker" && -x "$py" ]]; then
  echo "$py"
  exit 0
fi

mkdir -p "$(dirname "$venv")"
exec 9>"$venv.lock"
echo "keras-venv: taking $venv.lock (waits while another process installs)" >&2
flock 9
if [[ ! -f "$marker" || ! -x "$py" ]]; then
  if ! command -v "$python_bin" >/dev/null 2>&1; then
    echo "keras-venv: '$python_bin' not found; install Python 3.10+ or set NIWT_PYTHON" >&2
    exit 1
  fi
  if [[ ! -x "$py" ]]; then
    echo "keras-venv: creating $venv" >&2
    "$python_bin" -m venv "$venv" >&2 || { echo "keras-venv: '$python_bin -m venv' failed (Debian: apt-get install python3-venv)" >&2; exit 1; }
  fi
  echo "keras-venv: installing $TF_PACKAGE and h5py (first run takes several minutes)" >&2
  "$py" -m pip install --disable-pip-version-check --quiet "$TF_PACKAGE" h5py >&2
  "$py" -c 'import keras, h5py, tensorflow as tf; print("keras-venv: tensorflow", tf.__version__, "keras", keras.__version__)' >&2
  rm -f "$venv"/.niwt-*
  touch "$marker"
fi
flock -u 9
echo "$py"
