#!/usr/bin/env bash
# Forward throughput of VGG16 and ResNet-101 (224×224, batch 16): tfjs on the active backend (in process and
# with 2 WASM extraction workers) and PyTorch CPU in its own venv (.cache/torch-venv), with the ratio. JSON on stdout.
#   bench/backbone-forward/run.sh            (run `npm run build` first)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
venv="$repo/.cache/torch-venv"
if [[ ! -f "$venv/.niwt-torch-2.13.0" ]]; then
  python3 -m venv "$venv" >&2
  "$venv/bin/python" -m pip install --disable-pip-version-check --quiet torch==2.13.0 >&2 && touch "$venv/.niwt-torch-2.13.0"
fi
tfjs="$(cd "$repo" && node "$here/bench.mjs")"
torch="$("$venv/bin/python" "$here/torch_bench.py" 16 2>/dev/null || echo null)"
python3 - "$tfjs" "$torch" <<'PY'
import json, sys
t, p = json.loads(sys.argv[1]), json.loads(sys.argv[2])
out = {"tfjs": t, "pytorch": p, "ratio": {}}
for m in t["models"]:
    if p:
        best = max(v for v in (t["models"][m]["imagesPerSecond"], t["models"][m]["imagesPerSecond2Workers"]) if v is not None)
        out["ratio"][m] = round(best / p["models"][m]["imagesPerSecond"], 3)
out["target"] = "tfjs >= 0.5 x PyTorch CPU"
print(json.dumps(out, indent=2))
PY
