#!/usr/bin/env bash
# Measures NIWT's map held-out classes / refit on few and many seen classes over seeds; one JSON per run.
#   bash bench/niwt-heldout/run.sh [small|large40] [seeds...]   (after npm run build; results in bench/niwt-heldout/out/)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
which="${1:-small}"; shift || true
seeds=("${@:-7 1 2 3 4}")
mkdir -p "$here/out"
cd "$here"
for s in ${seeds[@]}; do
  node "$repo/apps/runner/dist/main.js" run "$which.yaml" --set seed="$s" --set cacheDir="$here/.cache" --set tracking.uri="file:$here/mlruns" --json -q > "out/$which-$s.json"
done
