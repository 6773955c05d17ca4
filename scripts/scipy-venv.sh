#!/usr/bin/env bash
# Creates (once) a Python virtual environment with pinned NumPy, SciPy (and h5py): the INDEPENDENT MAT-file
# writer of the dataset tests (scripts/scipy-write-mat.py) and of bench/mat-read. Our MAT reader is
# checked against files SciPy's `savemat` wrote, not against files our own code wrote.
#
#   scripts/scipy-venv.sh            # prints the venv's python path as the last stdout line
#   NIWT_SCIPY_VENV=/some/dir scripts/scipy-venv.sh
#
# Idempotent (a marker names the pinned versions) and safe when several processes call it at once
# (the install runs under flock). Progress goes to stderr so callers can take the last stdout line.
set -euo pipefail

NUMPY_VERSION="2.2.6"
SCIPY_VERSION="1.15.3"
H5PY_VERSION="3.13.0"   # writes the MATLAB v7.3 (HDF5) fixtures

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${NIWT_SCIPY_VENV:-$repo/.cache/scipy-venv}"
python_bin="${NIWT_PYTHON:-python3}"
marker="$venv/.niwt-scipy-$NUMPY_VERSION-$SCIPY_VERSION-$H5PY_VERSION"
py="$venv/bin/python"

if [[ -f "$marker" && -x "$py" ]]; then
  echo "$py"
  exit 0
fi

mkdir -p "$(dirname "$venv")"
exec 9>"$venv.lock"
echo "scipy-venv: taking $venv.lock (waits while another process installs)" >&2
flock 9
if [[ ! -f "$marker" || ! -x "$py" ]]; then
  command -v "$python_bin" >/dev/null 2>&1 || { echo "scipy-venv: '$python_bin' not found; install Python 3.10+ or set NIWT_PYTHON" >&2; exit 1; }
  if [[ ! -x "$py" ]]; then
    echo "scipy-venv: creating $venv" >&2
    "$python_bin" -m venv "$venv" >&2 || { echo "scipy-venv: '$python_bin -m venv' failed (Debian/Ubuntu: apt-get install python3-venv)" >&2; exit 1; }
  fi
  echo "scipy-venv: installing numpy==$NUMPY_VERSION scipy==$SCIPY_VERSION h5py==$H5PY_VERSION" >&2
  "$py" -m pip install --disable-pip-version-check --quiet "numpy==$NUMPY_VERSION" "scipy==$SCIPY_VERSION" "h5py==$H5PY_VERSION" >&2
  "$py" -c "import numpy, scipy, sys; assert (numpy.__version__, scipy.__version__) == (sys.argv[1], sys.argv[2])" "$NUMPY_VERSION" "$SCIPY_VERSION" >&2
  rm -f "$venv"/.niwt-scipy-*
  touch "$marker"
fi
flock -u 9
echo "$py"
