#!/usr/bin/env bash
# Writes (once) the Keras-made fixtures of @niwt/backbones' tests under .cache/keras-fixtures/ (or $1),
# creating the TensorFlow venv first if needed (scripts/keras-venv.sh). Prints the fixture directory as the
# last stdout line. Architectures whose `<arch>.done` marker exists are skipped.
#
#   scripts/keras-fixtures.sh [OUT_DIR] [vgg16] [resnet50] [resnet101]
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="${1:-$repo/.cache/keras-fixtures}"
shift || true
archs=("$@")
[[ ${#archs[@]} -eq 0 ]] && archs=(vgg16 resnet50 resnet101)
mkdir -p "$out"
exec 8>"$out/.lock"
flock 8
todo=()
for a in "${archs[@]}"; do [[ -f "$out/$a.done" ]] || todo+=("$a"); done
if [[ ${#todo[@]} -gt 0 ]]; then
  py="$("$repo/scripts/keras-venv.sh" | tail -n 1)"
  echo "keras-fixtures: writing ${todo[*]} into $out" >&2
  "$py" "$repo/scripts/keras-fixtures.py" "$out" "${todo[@]}" >&2
fi
flock -u 8
echo "$out"
