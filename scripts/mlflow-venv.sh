#!/usr/bin/env bash
# Creates (once) a Python virtual environment with a pinned MLflow, for browsing ./mlruns and for
# the tracking package's integration tests (which also start `mlflow ui` / `mlflow server` from it).
#
#   scripts/mlflow-venv.sh            # prints the venv's python path as the last stdout line
#   NIWT_MLFLOW_VENV=/some/dir scripts/mlflow-venv.sh
#
# Idempotent: a marker file naming the pinned version makes reruns instant. Safe when several
# processes call it at once (the install runs under flock; latecomers wait, then see the marker).
# Progress goes to stderr so callers can take the last stdout line.
set -euo pipefail

# Pinned exactly: the FileStore layout and its MLFLOW_ALLOW_FILE_STORE opt-out change between
# 3.x releases, and packages/tracking/README.md documents the version verified here. 3.18.0 is
# listed on PyPI but its mlflow-skinny/mlflow-tracing 3.18.0 were not installable here (2026-11).
MLFLOW_VERSION="3.17.2"

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${NIWT_MLFLOW_VENV:-$repo/.cache/mlflow-venv}"
python_bin="${NIWT_PYTHON:-python3}"
marker="$venv/.niwt-mlflow-$MLFLOW_VERSION"
py="$venv/bin/python"

if [[ -f "$marker" && -x "$py" ]]; then
  echo "$py"
  exit 0
fi

mkdir -p "$(dirname "$venv")"
lock="$venv.lock"
exec 9>"$lock"
echo "mlflow-venv: taking $lock (waits while another process installs)" >&2
flock 9

# Another process may have finished while we waited.
if [[ ! -f "$marker" || ! -x "$py" ]]; then
  if ! command -v "$python_bin" >/dev/null 2>&1; then
    echo "mlflow-venv: '$python_bin' not found; install Python 3.10+ or set NIWT_PYTHON" >&2
    exit 1
  fi
  if ! "$python_bin" -c 'import sys; sys.exit(sys.version_info < (3, 10))'; then
    echo "mlflow-venv: mlflow $MLFLOW_VERSION needs Python >= 3.10; '$python_bin' is $("$python_bin" -V 2>&1). Set NIWT_PYTHON to a newer one" >&2
    exit 1
  fi
  if [[ ! -x "$py" ]]; then
    echo "mlflow-venv: creating $venv" >&2
    "$python_bin" -m venv "$venv" >&2 || {
      echo "mlflow-venv: '$python_bin -m venv' failed (on Debian/Ubuntu: apt-get install python3-venv)" >&2
      exit 1
    }
  fi
  echo "mlflow-venv: installing mlflow==$MLFLOW_VERSION (first run takes a few minutes)" >&2
  "$py" -m pip install --disable-pip-version-check --quiet "mlflow==$MLFLOW_VERSION" >&2
  "$py" -c "import mlflow, sys; assert mlflow.__version__ == sys.argv[1], mlflow.__version__" "$MLFLOW_VERSION" >&2
  rm -f "$venv"/.niwt-mlflow-*
  touch "$marker"
fi

flock -u 9
echo "$py"
