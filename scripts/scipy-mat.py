#!/usr/bin/env python3
"""Independent MAT-file writer/reader for the tests and the bench (run inside scripts/scipy-venv.sh's venv).

  scipy-mat.py write OUT.mat [--no-compress] < spec.json   writes variables with scipy.io.savemat
  scipy-mat.py dump IN.mat                                    prints scipy.io.loadmat's view as JSON
  scipy-mat.py write73 OUT.mat < spec.json                    writes a MATLAB v7.3 (HDF5) file with h5py, in
                                                              MATLAB's layout (512-byte header block, arrays
                                                              transposed, MATLAB_class attributes, cells as
                                                              object references into #refs#)

A spec maps variable names to one of:
  {"dtype": "float64"|"float32"|"uint8"|"uint16"|"int32"|..., "shape": [r, c], "data": [...]}  # data column-major (MATLAB order)
  {"cellstr": ["a", "b"], "shape": [n, 1]}                                                      # cell of char rows
  {"char": "text"}                                                                             # one char row
  {"random": {"shape": [r, c], "seed": 1, "dtype": "float64", "scale": 1.0, "relu": true}}     # seeded normal values
  {"struct": {"field": <spec>, ...}}                                                           # 1x1 struct
"""
import json
import sys

import numpy as np
import scipy.io


def build(spec):
    if "cellstr" in spec:
        items = spec["cellstr"]
        shape = spec.get("shape", [len(items), 1])
        arr = np.empty(len(items), dtype=object)
        for i, s in enumerate(items):
            arr[i] = np.array([s]) if s != "" else np.array("")
        return arr.reshape(shape, order="F")
    if "char" in spec:
        return np.array([spec["char"]])
    if "random" in spec:
        r = spec["random"]
        rng = np.random.default_rng(r.get("seed", 0))
        x = rng.standard_normal(tuple(r["shape"])) * r.get("scale", 1.0)
        if r.get("relu"):
            np.maximum(x, 0, out=x)
        return np.asfortranarray(x.astype(r.get("dtype", "float64")))
    if "struct" in spec:
        return {k: build(v) for k, v in spec["struct"].items()}
    data = np.array(spec["data"], dtype=spec["dtype"])
    return data.reshape(spec["shape"], order="F")


def to_json(x):
    if isinstance(x, np.ndarray):
        if x.dtype == object:
            return {"cell": [to_json(v) for v in x.flatten(order="F")], "shape": list(x.shape)}
        if x.dtype.kind == "U":
            return {"str": [str(v) for v in x.flatten(order="F")], "shape": list(x.shape)}
        if x.dtype.names:
            return {"struct": {n: to_json(x[n][0, 0]) for n in x.dtype.names}}
        if np.iscomplexobj(x):
            return {"dtype": str(x.dtype), "shape": list(x.shape), "re": x.real.flatten(order="F").tolist(), "im": x.imag.flatten(order="F").tolist()}
        return {"dtype": str(x.dtype), "shape": list(x.shape), "data": x.flatten(order="F").tolist()}
    if scipy.sparse.issparse(x):
        return to_json(x.toarray())
    return {"other": repr(x)}


def write73(path, spec):
    import h5py

    with h5py.File(path, "w", userblock_size=512) as f:
        refs = f.create_group("#refs#")
        counter = [0]

        def put(group, name, value):
            if isinstance(value, dict):
                g = group.create_group(name)
                g.attrs["MATLAB_class"] = np.bytes_("struct")
                for k, v in value.items():
                    put(g, k, v)
                return g
            if value.dtype == object:
                ref_names = []
                for item in value.flatten(order="F"):
                    counter[0] += 1
                    ref_names.append(put(refs, f"r{counter[0]}", item).ref)
                d = group.create_dataset(name, data=np.array(ref_names, dtype=h5py.ref_dtype).reshape(value.shape[::-1]))
                d.attrs["MATLAB_class"] = np.bytes_("cell")
                return d
            if value.dtype.kind == "U":
                text = str(value.flatten()[0]) if value.size else ""
                codes = np.array([ord(c) for c in text], dtype=np.uint16).reshape(len(text), 1)
                d = group.create_dataset(name, data=codes)
                d.attrs["MATLAB_class"] = np.bytes_("char")
                d.attrs["MATLAB_int_decode"] = np.int32(2)
                return d
            arr = np.atleast_2d(value)
            d = group.create_dataset(name, data=np.ascontiguousarray(arr.T))
            cls = {"float64": "double", "float32": "single"}.get(str(arr.dtype), str(arr.dtype))
            d.attrs["MATLAB_class"] = np.bytes_(cls)
            return d

        for k, v in spec.items():
            put(f, k, build(v))
    header = b"MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: Thu Nov 26 12:00:00 2026 HDF5 schema 1.00 ."
    block = header.ljust(116, b" ") + b"\x00" * 8 + b"\x00\x02" + b"IM"
    with open(path, "r+b") as fh:
        fh.write(block.ljust(512, b"\x00"))


def main():
    cmd, path = sys.argv[1], sys.argv[2]
    if cmd == "write":
        spec = json.load(sys.stdin)
        data = {k: build(v) for k, v in spec.items()}
        scipy.io.savemat(path, data, do_compression="--no-compress" not in sys.argv, oned_as="column")
    elif cmd == "write73":
        write73(path, json.load(sys.stdin))
    elif cmd == "dump":
        m = scipy.io.loadmat(path)
        print(json.dumps({k: to_json(v) for k, v in m.items() if not k.startswith("__")}))
    else:
        sys.exit(f"unknown command {cmd}")


if __name__ == "__main__":
    main()
