#!/usr/bin/env bash
# Reads a res101.mat-sized MAT file (features 2048 × 37,322 doubles, zlib-compressed, written by
# SciPy) with the project's MAT reader and prints JSON: MB/s and peak RSS.
#
#   bench/mat-read/run.sh             # writes the file once under .cache/bench/mat-read/, then reuses it
#   bench/mat-read/run.sh --float64   # decode as Float64Array instead of Float32Array
#
# The SciPy venv is scripts/scipy-venv.sh's (under .cache/). The reader runs from the built package
# (packages/datasets/dist), rebuilt here with tsc -b so the numbers are for the current source.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
out="$repo/.cache/bench/mat-read"
file="$out/res101-2048x37322.mat"
mkdir -p "$out"
py="$("$repo/scripts/scipy-venv.sh" | tail -1)"
if [[ ! -f "$file" ]]; then
  echo "mat-read: writing $file with scipy (once; about a minute)" >&2
  "$py" "$repo/bench/mat-read/write_res101.py" "$file.tmp"
  mv "$file.tmp" "$file"
fi
(cd "$repo" && npx tsc -b packages/datasets/tsconfig.lib.json) >&2
node "$repo/bench/mat-read/read.mjs" "$file" "$@"
