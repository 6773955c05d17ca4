#!/usr/bin/env bash
# Forward throughput of VGG16 and ResNet-101 (224×224, batch 16) on each extraction engine — onnxruntime, tfjs
# on native TensorFlow and tfjs on WASM (in process, and with 2 WASM extraction workers) — and PyTorch CPU
# (bench/lib/torch-python.sh), with each engine's ratio to PyTorch and the best. JSON on stdout.
#   bench/backbone-forward/run.sh      (run `npm run build` and scripts/tfjs-native.sh first)
#   BACKENDS=tensorflow,wasm  BATCH=16  (onnxruntime is measured in the first backend's process)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
backends="${BACKENDS:-tensorflow,wasm}"
batch="${BATCH:-16}"
runs=()
first=1
for b in ${backends//,/ }; do
  engines=tfjs
  [[ $first -eq 1 ]] && engines=onnx,tfjs
  first=0
  runs+=("$(cd "$repo" && NIWT_BACKEND="$b" ENGINES="$engines" BATCH="$batch" TF_CPP_MIN_LOG_LEVEL=2 node "$here/bench.mjs")")
done
python="$("$here/../lib/torch-python.sh" | tail -n 1)"
torch="$("$python" "$here/torch_bench.py" "$batch" 2>/dev/null || echo null)"
python3 - "$torch" "${runs[@]}" <<'PY'
import json, sys
p = json.loads(sys.argv[1])
runs = [json.loads(a) for a in sys.argv[2:]]
out = {"engines": runs, "pytorch": p, "ratio": {}}
for m in runs[0]["models"]:
    each = {}
    for r in runs:
        x = r["models"][m]
        if (x.get("onnx") or {}).get("imagesPerSecond"): each["onnx"] = x["onnx"]["imagesPerSecond"]
        if x.get("imagesPerSecond"): each["tfjs-" + r["backend"]] = x["imagesPerSecond"]
        if x.get("imagesPerSecond2Workers"): each["tfjs-" + r["backend"] + "-2workers"] = x["imagesPerSecond2Workers"]
    if p and each:
        ratios = {k: round(v / p["models"][m]["imagesPerSecond"], 3) for k, v in each.items()}
        best = max(ratios, key=ratios.get)
        out["ratio"][m] = {**ratios, "best": ratios[best], "bestEngine": best}
out["goal"] = "forward on the best engine >= 1x PyTorch CPU"
print(json.dumps(out, indent=2))
PY
