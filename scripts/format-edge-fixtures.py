"""Writes the format-edge fixtures of apps/runner/src/__tests__/format-edges.spec.ts with h5py / NumPy / zipfile
(independent writers): a Keras 3 `.keras` archive (config.json, metadata.json and model.weights.h5 in the
`layers/<name>/vars/<i>` layout), a plain weights .h5, and one .npy per NumPy integer / float dtype."""
import json
import sys
import zipfile
from pathlib import Path

import h5py
import numpy as np

out = Path(sys.argv[1])
out.mkdir(parents=True, exist_ok=True)
w = out / "model.weights.h5"
with h5py.File(w, "w") as f:
    g = f.create_group("layers")
    d = g.create_group("dense").create_group("vars")
    d["0"] = np.arange(12, dtype=np.float32).reshape(3, 4)
    d["1"] = np.zeros(4, dtype=np.float32)
    g.create_group("dense_1").create_group("vars")["0"] = np.ones((4, 2), dtype=np.float32)
with zipfile.ZipFile(out / "model.keras", "w", compression=zipfile.ZIP_DEFLATED) as z:
    z.writestr("metadata.json", json.dumps({"keras_version": "3.10.0", "date_saved": "2026-12-04@19:00:00"}))
    z.writestr("config.json", json.dumps({"class_name": "Sequential", "config": {"name": "tiny", "layers": [{}, {}, {}]}}))
    z.write(w, "model.weights.h5")
(out / "plain.h5").write_bytes(w.read_bytes())
vals = [0, 1, 2, 3, 100, 7]
for dt in ["<i1", "<i2", "<i4", "<i8", "<u1", "<u2", "<u4", "<u8", "<f2", "<f4", "<f8", ">i4", ">f8", "|b1"]:
    a = np.array(vals, dtype=dt).reshape(2, 3)
    np.save(out / f"a{dt.replace('<', 'le').replace('>', 'be').replace('|', 'na')}.npy", a)
