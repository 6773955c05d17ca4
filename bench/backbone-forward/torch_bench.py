"""PyTorch CPU forward images/s of VGG16 and ResNet-101 at 224x224, batch 16 (plain torch.nn: torchvision is not importable here)."""
import json, sys, time
import torch
import torch.nn as nn

def vgg16():
    layers, c = [], 3
    for n, w in [(2, 64), (2, 128), (3, 256), (3, 512), (3, 512)]:
        for _ in range(n):
            layers += [nn.Conv2d(c, w, 3, padding=1), nn.ReLU(inplace=True)]
            c = w
        layers.append(nn.MaxPool2d(2))
    return nn.Sequential(*layers, nn.Flatten(), nn.Linear(25088, 4096), nn.ReLU(True), nn.Linear(4096, 4096), nn.ReLU(True))

class Bottleneck(nn.Module):
    def __init__(self, cin, f, stride):
        super().__init__()
        self.c1, self.b1 = nn.Conv2d(cin, f, 1, stride), nn.BatchNorm2d(f)
        self.c2, self.b2 = nn.Conv2d(f, f, 3, 1, 1), nn.BatchNorm2d(f)
        self.c3, self.b3 = nn.Conv2d(f, 4 * f, 1), nn.BatchNorm2d(4 * f)
        self.sc = nn.Sequential(nn.Conv2d(cin, 4 * f, 1, stride), nn.BatchNorm2d(4 * f)) if (stride != 1 or cin != 4 * f) else nn.Identity()
    def forward(self, x):
        h = torch.relu(self.b1(self.c1(x)))
        h = torch.relu(self.b2(self.c2(h)))
        return torch.relu(self.sc(x) + self.b3(self.c3(h)))

def resnet101():
    mods, cin = [nn.Conv2d(3, 64, 7, 2, 3), nn.BatchNorm2d(64), nn.ReLU(True), nn.MaxPool2d(3, 2, 1)], 64
    for s, n in enumerate([3, 4, 23, 3]):
        for b in range(n):
            mods.append(Bottleneck(cin, 64 * 2 ** s, 2 if (b == 0 and s > 0) else 1)); cin = 4 * 64 * 2 ** s
    return nn.Sequential(*mods, nn.AdaptiveAvgPool2d(1), nn.Flatten())

if __name__ == '__main__':
    batch = int(sys.argv[1]) if len(sys.argv) > 1 else 16
    out = {"torch": torch.__version__, "threads": torch.get_num_threads(), "models": {}}
    x = torch.rand(batch, 3, 224, 224) * 255
    for name, build in [("vgg16", vgg16), ("resnet101", resnet101)]:
        m = build().eval()
        with torch.no_grad():
            m(x)
            t0 = time.perf_counter(); m(x); dt = time.perf_counter() - t0
        out["models"][name] = {"imagesPerSecond": round(batch / dt, 2)}
    print(json.dumps(out))
