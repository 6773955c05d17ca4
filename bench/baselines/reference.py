"""The same epochs as bench/baselines/run.mjs, written the usual way: ALE's per-sample SGD in NumPy (as the
public ports do) and DEM's official mini-batch step in PyTorch (per-image rows, Adam). Prints one JSON line.

    python reference.py ale|dem DATA_DIR [THREADS]
"""
import json
import os
import resource
import sys
import time

import numpy as np

kind, data = sys.argv[1], sys.argv[2]
threads = int(sys.argv[3]) if len(sys.argv) > 3 else None
x = np.load(os.path.join(data, "features.npy"))
labels = np.load(os.path.join(data, "labels.npy")).astype(np.int64)
att = np.load(os.path.join(data, "attributes.npy"))
N, D = x.shape
C, E = att.shape
rng = np.random.default_rng(1)


def peak_mb():
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


if kind == "ale":
    # Xian-style preprocessing and unit-L2 class rows (setup, not timed).
    mean = x.mean(0)
    std = x.std(0)
    std[std == 0] = 1
    xs = (x - mean) / std
    xs /= xs.max()
    xs = xs.astype(np.float32)
    A = (att / np.linalg.norm(att, axis=1, keepdims=True)).astype(np.float32)
    W = (rng.standard_normal((D, E)) / np.sqrt(D)).astype(np.float32)
    beta = np.concatenate([[0.0], np.cumsum(1.0 / np.arange(1, C))])
    lr, margin = 0.01, 1.0
    t = time.perf_counter()
    updates = 0
    for n in rng.permutation(N):
        xn = xs[n]
        y = labels[n]
        F = A @ (xn @ W)
        draws = rng.integers(0, C - 1, size=C - 1)
        draws[draws >= y] += 1
        for k, j in enumerate(draws, start=1):
            if margin + F[j] > F[y]:
                W += np.outer(xn, (lr * beta[(C - 1) // k]) * (A[y] - A[j])).astype(np.float32)
                updates += 1
                break
    seconds = time.perf_counter() - t
    print(json.dumps({"seconds": round(seconds, 2), "peakRssMB": peak_mb(), "numpy": np.__version__, "updates": updates}))
else:
    import torch

    if threads:
        torch.set_num_threads(threads)
    torch.manual_seed(1)
    H, lam, lr, B = 1600, 1e-3, 1e-4, 64

    def tn(*shape):
        w = torch.empty(*shape)
        torch.nn.init.trunc_normal_(w, std=0.1, a=-0.2, b=0.2)
        return w

    w1 = tn(E, H).requires_grad_()
    b1 = torch.full((H,), 0.1, requires_grad=True)
    w2 = tn(H, D).requires_grad_()
    b2 = torch.full((D,), 0.1, requires_grad=True)
    params = [w1, b1, w2, b2]
    opt = torch.optim.Adam(params, lr=lr)
    X = torch.from_numpy(x)
    Y = torch.from_numpy(labels)
    K = torch.from_numpy(att)
    t = time.perf_counter()
    total, steps = 0.0, 0
    for idx in torch.randperm(N).split(B):
        a = K[Y[idx]]
        f = torch.relu(torch.relu(a @ w1 + b1) @ w2 + b2)
        loss = ((f - X[idx]) ** 2).mean() + lam * 0.5 * sum((p * p).sum() for p in params)
        opt.zero_grad()
        loss.backward()
        opt.step()
        total += loss.item()
        steps += 1
    seconds = time.perf_counter() - t
    print(json.dumps({"seconds": round(seconds, 2), "peakRssMB": peak_mb(), "torch": torch.__version__, "threads": torch.get_num_threads(), "steps": steps, "meanLoss": total / steps}))
