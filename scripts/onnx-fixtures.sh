#!/usr/bin/env bash
# Writes (once) the PyTorch-made fixtures of the `onnx` backbone's tests (scripts/onnx-fixtures.py) under
# .cache/onnx-fixtures/<hash of the generator>/ (or $NIWT_ONNX_FIXTURES/<hash>), creating the PyTorch
# venv first if needed (scripts/torch-venv.sh). Prints the fixture directory as the last stdout line.
# Architectures whose `<arch>.done` marker exists are skipped; a changed generator writes a new folder.
#
#   scripts/onnx-fixtures.sh [resnet18] [vgg11_bn] [mobilenet_v3_small] [densenet121] [custom]
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
hash="$(sha256sum "$repo/scripts/onnx-fixtures.py" | cut -c1-16)"
out="${NIWT_ONNX_FIXTURES:-$repo/.cache/onnx-fixtures}/$hash"
archs=("$@")
[[ ${#archs[@]} -eq 0 ]] && archs=(resnet18 vgg11_bn mobilenet_v3_small densenet121 custom)
mkdir -p "$out"
exec 8>"$out/.lock"
flock 8
todo=()
for a in "${archs[@]}"; do [[ -f "$out/$a.done" ]] || todo+=("$a"); done
if [[ ${#todo[@]} -gt 0 ]]; then
  py="$("$repo/scripts/torch-venv.sh" | tail -n 1)"
  echo "onnx-fixtures: writing ${todo[*]} into $out" >&2
  "$py" "$repo/scripts/onnx-fixtures.py" "$out" "${todo[@]}" >&2
fi
flock -u 8
echo "$out"
