#!/usr/bin/env bash
# Forward throughput of VGG16 and ResNet-101 (224×224, batch 16) on each extraction engine — onnxruntime, and
# tfjs on the active backend (in process and with 2 WASM extraction workers) — and PyTorch CPU in its own venv
# (.cache/torch-venv), with each engine's ratio and the best. JSON on stdout.
#   bench/backbone-forward/run.sh            (run `npm run build` first; ENGINES=onnx or tfjs measures one engine)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
venv="$repo/.cache/torch-venv"
if [[ ! -f "$venv/.niwt-torch-2.13.0" ]]; then
  python3 -m venv "$venv" >&2
  "$venv/bin/python" -m pip install --disable-pip-version-check --quiet torch==2.13.0 >&2 && touch "$venv/.niwt-torch-2.13.0"
fi
engines="$(cd "$repo" && node "$here/bench.mjs")"
torch="$("$venv/bin/python" "$here/torch_bench.py" 16 2>/dev/null || echo null)"
python3 - "$engines" "$torch" <<'PY'
import json, sys
t, p = json.loads(sys.argv[1]), json.loads(sys.argv[2])
out = {"engines": t, "pytorch": p, "ratio": {}}
for m, r in t["models"].items():
    each = {"onnx": (r["onnx"] or {}).get("imagesPerSecond"), "tfjs": r["imagesPerSecond"], "tfjs2Workers": r["imagesPerSecond2Workers"]}
    each = {k: v for k, v in each.items() if v is not None}
    if p and each:
        ratios = {k: round(v / p["models"][m]["imagesPerSecond"], 3) for k, v in each.items()}
        best = max(ratios, key=ratios.get)
        out["ratio"][m] = {**ratios, "best": ratios[best], "bestEngine": best}
out["target"] = "best engine >= 0.5 x PyTorch CPU"
print(json.dumps(out, indent=2))
PY
