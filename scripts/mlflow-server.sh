#!/usr/bin/env bash
# Starts a local MLflow tracking server for tests and for trying `tracking.uri: http://…`:
# SQLite backend, proxied artifacts (mlflow-artifacts:/), loopback only. Runs in the foreground
# (exec), so the caller's pid is the server's; stop it with SIGTERM to its process group.
#
#   scripts/mlflow-server.sh <data-dir> [port]     # port defaults to a free one, printed on stderr
#
# MLflow comes from scripts/mlflow-venv.sh (pinned, cached in .cache/mlflow-venv). The server's
# background job runner (7 huey consumers) is disabled: the tracking API does not need it.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
data="${1:?usage: scripts/mlflow-server.sh <data-dir> [port]}"
mkdir -p "$data/artifacts"
data="$(cd "$data" && pwd)"
python="$("$repo/scripts/mlflow-venv.sh" | tail -n 1)"
port="${2:-$("$python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}"
echo "mlflow-server: http://127.0.0.1:$port (data in $data)" >&2

export MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false
exec "$(dirname "$python")/mlflow" server \
  --backend-store-uri "sqlite:///$data/mlflow.db" \
  --artifacts-destination "$data/artifacts" \
  --serve-artifacts \
  --host 127.0.0.1 --port "$port" --workers 1
