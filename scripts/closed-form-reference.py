"""Independent NumPy/SciPy references of ESZSL (Romera-Paredes & Torr 2015) and SAE (Kodirov et al. 2017), for
packages/baselines/src/__tests__/closed-form.spec.ts. Reads JSON on stdin:
  {method, features (N x D), labels (N, global), knowledge (numClasses x E), seen, train, val, grid, test (M x D),
   mode?}
and writes {chosen, scores (M x numClasses)}: features L2-normalised per image, class rows L2-normalised, the grid
searched on train -> val (per-class mean accuracy, first best kept), the model refit on all seen classes."""
import json
import sys

import numpy as np
from scipy.linalg import solve_sylvester


def l2rows(m):
    n = np.linalg.norm(m, axis=1, keepdims=True)
    n[n == 0] = 1
    return m / n


def eszsl(x, y, s, gamma, lam):
    Y = -np.ones((x.shape[0], s.shape[0]))
    Y[np.arange(x.shape[0]), y] = 1
    D = x.shape[1]
    E = s.shape[1]
    V = np.linalg.inv(x.T @ x + gamma * np.eye(D)) @ x.T @ Y @ s @ np.linalg.inv(s.T @ s + lam * np.eye(E))
    return lambda xt, st: xt @ V @ st.T


def sae(x, y, s, lam, mode):
    S = s[y].T  # E x N
    X = x.T  # D x N
    W = solve_sylvester(S @ S.T, lam * X @ X.T, (1 + lam) * S @ X.T)  # E x D

    def cos(a, b):
        return l2rows(a) @ l2rows(b).T

    return (lambda xt, st: cos(xt @ W.T, st)) if mode == "encoder" else (lambda xt, st: cos(xt, st @ W))


def main():
    q = json.load(sys.stdin)
    feats = l2rows(np.array(q["features"], dtype=np.float64))
    labels = np.array(q["labels"])
    emb = l2rows(np.array(q["knowledge"], dtype=np.float64))
    test = l2rows(np.array(q["test"], dtype=np.float64))

    def fit(classes, h):
        rows = np.isin(labels, classes)
        pos = {c: i for i, c in enumerate(classes)}
        y = np.array([pos[c] for c in labels[rows]])
        if q["method"] == "eszsl":
            return eszsl(feats[rows], y, emb[classes], h["gamma"], h["lambda"])
        return sae(feats[rows], y, emb[classes], h, q.get("mode", "encoder"))

    train, val = q["train"], q["val"]
    vrows = np.isin(labels, val)
    best, chosen = -1.0, None
    for h in q["grid"]:
        f = fit(train, h)
        pred = np.array(val)[np.argmax(f(feats[vrows], emb[val]), axis=1)]
        acc = np.mean([np.mean(pred[labels[vrows] == c] == c) for c in val])
        if acc > best:
            best, chosen = acc, h
    f = fit(q["seen"], chosen)
    json.dump({"chosen": chosen, "val_acc": best, "scores": f(test, emb).tolist()}, sys.stdout)


main()
