"""Writes a res101.mat-shaped file: features 2048 x 37,322 float64 (ReLU'd normals, like pool5),
labels 37,322 x 1 uint8, image_files 37,322 x 1 cell of paths; compressed, as xlsa17 ships it."""
import sys

import numpy as np
import scipy.io

n, d = 37322, 2048
rng = np.random.default_rng(0)
features = np.empty((d, n), dtype=np.float64, order="F")
for j in range(0, n, 4096):
    block = rng.standard_normal((d, min(4096, n - j)))
    np.maximum(block, 0, out=block)
    features[:, j : j + block.shape[1]] = block
labels = (np.arange(n) % 50 + 1).astype(np.uint8).reshape(n, 1)
files = np.empty((n, 1), dtype=object)
for i in range(n):
    files[i, 0] = np.array([f"/BS/xian/work/data/Animals_with_Attributes2//JPEGImages/c{i % 50}/c{i % 50}_{10001 + i}.jpg"])
scipy.io.savemat(sys.argv[1], {"features": features, "labels": labels, "image_files": files}, do_compression=True)
