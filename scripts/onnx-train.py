"""Trains a small CNN on images in PyTorch and exports it to ONNX: the end-to-end test of the `onnx` backbone
("train in PyTorch → export → NIWT in this project"). The network is the `small-cnn` backbone's anatomy
(three 3×3 conv + ReLU + 2×2 max-pool blocks, fc1 128 + ReLU + dropout, a seen-class layer), trained with
Adam on NHWC RGB [0, 255] images under preprocessing 'tf' (x/127.5 − 1), which the exported model declares
in its metadata (`niwt.preprocessing`), so the config needs no `preprocessing:`.

  python scripts/onnx-train.py OUT_DIR PIXELS.npy LABELS.npy [EPOCHS]   # prints the .onnx path last
"""
import os
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))


def export(m, size, path):
    m.eval()
    x = torch.zeros(1, 3, size, size)
    torch.onnx.export(
        m, (x,), path, dynamo=False, opset_version=17, input_names=["input"], output_names=["logits"],
        dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
    )


class ShapesCnn(nn.Module):
    """The e2e network: the small CNN of the `small-cnn` backbone, written and trained in PyTorch."""

    def __init__(self, num_classes, widths=(16, 32, 64), hidden=128, size=32):
        super().__init__()
        self.conv1 = nn.Conv2d(3, widths[0], 3, padding=1)
        self.relu1 = nn.ReLU()
        self.pool1 = nn.MaxPool2d(2)
        self.conv2 = nn.Conv2d(widths[0], widths[1], 3, padding=1)
        self.relu2 = nn.ReLU()
        self.pool2 = nn.MaxPool2d(2)
        self.conv3 = nn.Conv2d(widths[1], widths[2], 3, padding=1)
        self.relu3 = nn.ReLU()
        self.pool3 = nn.MaxPool2d(2)
        self.fc1 = nn.Linear(widths[2] * (size // 8) ** 2, hidden)
        self.relu4 = nn.ReLU()
        self.drop = nn.Dropout(0.25)
        self.fc2 = nn.Linear(hidden, num_classes)

    def forward(self, x):
        x = self.pool1(self.relu1(self.conv1(x)))
        x = self.pool2(self.relu2(self.conv2(x)))
        x = self.pool3(self.relu3(self.conv3(x)))
        return self.fc2(self.drop(self.relu4(self.fc1(torch.flatten(x, 1)))))


def train(out, pixels_npy, labels_npy, epochs):
    """Trains ShapesCnn on NHWC RGB [0, 255] images (preprocessing 'tf': x/127.5 − 1) and exports it with
    the preprocessing declared in the model's metadata (`niwt.preprocessing`)."""
    import onnx

    torch.manual_seed(0)
    x = torch.from_numpy(np.load(pixels_npy)).permute(0, 3, 1, 2).float() / 127.5 - 1
    y = torch.from_numpy(np.load(labels_npy).astype(np.int64))
    n_cls = int(y.max()) + 1
    m = ShapesCnn(n_cls, size=x.shape[2])
    opt = torch.optim.Adam(m.parameters(), lr=2e-3, weight_decay=1e-4)
    g = torch.Generator().manual_seed(0)
    for epoch in range(epochs):
        m.train()
        order = torch.randperm(len(y), generator=g)
        total, correct = 0.0, 0
        for s in range(0, len(y), 32):
            idx = order[s:s + 32]
            logits = m(x[idx])
            loss = F.cross_entropy(logits, y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += float(loss) * len(idx)
            correct += int((logits.argmax(1) == y[idx]).sum())
        print("train epoch %d: loss %.4f, acc %.3f" % (epoch + 1, total / len(y), correct / len(y)), file=sys.stderr)
    m.eval()
    path = os.path.join(out, "shapes-cnn.onnx")
    export(m, x.shape[2], path)
    model = onnx.load(path)
    entry = model.metadata_props.add()
    entry.key, entry.value = "niwt.preprocessing", "tf"
    onnx.save(model, path)
    print(path)



if __name__ == "__main__":
    a = sys.argv[1:]
    train(a[0], a[1], a[2], int(a[3]) if len(a) > 3 else 8)
