"""Writes the PyTorch-made fixtures of the `onnx` backbone's tests (scripts/onnx-fixtures.sh runs it).

For each architecture, with seeded random weights (BatchNorm statistics randomised too, so inference-mode
BN is not the identity): `<arch>.onnx` (legacy TorchScript exporter, `dynamo=False`, opset 17, dynamic
batch) and `<arch>/` with reference values computed by PyTorch itself in float64 from the same weights:

  x.npy            N × S × S × 3 input (NHWC; the test feeds it with identity preprocessing)
  features.npy     N × D penultimate features (the input of the last Linear)
  fc_w.npy, fc_b.npy   the last Linear (D × C, C)
  labels.npy       N class indices for stage B
  tapK/            for the two taps K = 0, 1:
    name.txt       the ONNX value name of the tap
    tap.npy        N × h × w × k activations (NHWC)
    alpha.npy      N × k stage B importances Σ_ij ∂o_y/∂A_ij (autograd)
    wu.npy, mu.npy D × n_u stage D weights and the λ pull centre; targets.npy n_u × k; pairs.npy (image, class)
    loss.npy, grad.npy  stage D loss and ∂L/∂W_u by double backprop (create_graph=True)

The architectures follow torchvision's (ResNet-18, VGG-11-BN, MobileNetV3-small, DenseNet-121) in plain
PyTorch (torchvision from PyPI needs a CUDA torch here), at small inputs (64², DenseNet 32²); VGG's classifier hidden width is
512 instead of 4096 (same layers, 60× smaller file). `custom` is a small CNN with the remaining ops.

  python scripts/onnx-fixtures.py OUT_DIR [resnet18] [vgg11_bn] [mobilenet_v3_small] [densenet121] [custom]
  python scripts/onnx-fixtures.py --train OUT_DIR SHAPES_ROOT   # e2e: train a small CNN on the seen classes
"""
import json
import os
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))

# ---------------------------------------------------------------- architectures (torchvision's)


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        idt = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + idt)


class ResNet18(nn.Module):
    def __init__(self, num_classes):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        self.layer1 = nn.Sequential(BasicBlock(64, 64), BasicBlock(64, 64))
        self.layer2 = nn.Sequential(BasicBlock(64, 128, 2), BasicBlock(128, 128))
        self.layer3 = nn.Sequential(BasicBlock(128, 256, 2), BasicBlock(256, 256))
        self.layer4 = nn.Sequential(BasicBlock(256, 512, 2), BasicBlock(512, 512))
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(512, num_classes)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


class Vgg11Bn(nn.Module):
    def __init__(self, num_classes, size, hidden=512):
        super().__init__()
        layers, cin = [], 3
        for v in [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"]:
            if v == "M":
                layers.append(nn.MaxPool2d(2, 2))
            else:
                layers += [nn.Conv2d(cin, v, 3, padding=1), nn.BatchNorm2d(v), nn.ReLU(inplace=True)]
                cin = v
        self.features = nn.Sequential(*layers)
        s = size // 32  # torchvision: AdaptiveAvgPool2d((7, 7)), the identity at 224; here the identity at `size`
        self.avgpool = nn.AdaptiveAvgPool2d((s, s))
        self.classifier = nn.Sequential(
            nn.Linear(512 * s * s, hidden), nn.ReLU(True), nn.Dropout(),
            nn.Linear(hidden, hidden), nn.ReLU(True), nn.Dropout(),
            nn.Linear(hidden, num_classes),
        )

    def forward(self, x):
        return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))


def _div(v, d=8):
    n = max(d, int(v + d / 2) // d * d)
    return n + d if n < 0.9 * v else n


class ConvBNAct(nn.Sequential):
    def __init__(self, cin, cout, k, stride=1, groups=1, act=nn.ReLU):
        layers = [nn.Conv2d(cin, cout, k, stride, (k - 1) // 2, groups=groups, bias=False), nn.BatchNorm2d(cout)]
        if act is not None:
            layers.append(act(inplace=True))
        super().__init__(*layers)


class SqueezeExcitation(nn.Module):
    def __init__(self, cin, csq):
        super().__init__()
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Conv2d(cin, csq, 1)
        self.fc2 = nn.Conv2d(csq, cin, 1)
        self.activation = nn.ReLU()
        self.scale_activation = nn.Hardsigmoid()

    def forward(self, x):
        s = self.scale_activation(self.fc2(self.activation(self.fc1(self.avgpool(x)))))
        return s * x


class InvertedResidual(nn.Module):
    def __init__(self, cin, k, cexp, cout, se, act, stride):
        super().__init__()
        self.use_res = stride == 1 and cin == cout
        a = nn.Hardswish if act == "HS" else nn.ReLU
        layers = []
        if cexp != cin:
            layers.append(ConvBNAct(cin, cexp, 1, act=a))
        layers.append(ConvBNAct(cexp, cexp, k, stride, groups=cexp, act=a))
        if se:
            layers.append(SqueezeExcitation(cexp, _div(cexp // 4)))
        layers.append(ConvBNAct(cexp, cout, 1, act=None))
        self.block = nn.Sequential(*layers)

    def forward(self, x):
        y = self.block(x)
        return y + x if self.use_res else y


class MobileNetV3Small(nn.Module):
    CFG = [  # cin, k, exp, cout, se, act, stride
        (16, 3, 16, 16, True, "RE", 2), (16, 3, 72, 24, False, "RE", 2), (24, 3, 88, 24, False, "RE", 1),
        (24, 5, 96, 40, True, "HS", 2), (40, 5, 240, 40, True, "HS", 1), (40, 5, 240, 40, True, "HS", 1),
        (40, 5, 120, 48, True, "HS", 1), (48, 5, 144, 48, True, "HS", 1), (48, 5, 288, 96, True, "HS", 2),
        (96, 5, 576, 96, True, "HS", 1), (96, 5, 576, 96, True, "HS", 1),
    ]

    def __init__(self, num_classes):
        super().__init__()
        layers = [ConvBNAct(3, 16, 3, 2, act=nn.Hardswish)]
        layers += [InvertedResidual(*c) for c in self.CFG]
        layers.append(ConvBNAct(96, 576, 1, act=nn.Hardswish))
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(
            nn.Linear(576, 1024), nn.Hardswish(inplace=True), nn.Dropout(0.2, inplace=True), nn.Linear(1024, num_classes)
        )

    def forward(self, x):
        return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))


class DenseLayer(nn.Module):
    def __init__(self, cin, growth, bn_size):
        super().__init__()
        self.norm1 = nn.BatchNorm2d(cin)
        self.relu1 = nn.ReLU(inplace=True)
        self.conv1 = nn.Conv2d(cin, bn_size * growth, 1, bias=False)
        self.norm2 = nn.BatchNorm2d(bn_size * growth)
        self.relu2 = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(bn_size * growth, growth, 3, padding=1, bias=False)

    def forward(self, inputs):
        x = torch.cat(inputs, 1)
        return self.conv2(self.relu2(self.norm2(self.conv1(self.relu1(self.norm1(x))))))


class DenseBlock(nn.ModuleDict):
    def __init__(self, n, cin, growth, bn_size):
        super().__init__()
        for i in range(n):
            self.add_module("denselayer%d" % (i + 1), DenseLayer(cin + i * growth, growth, bn_size))

    def forward(self, x):
        feats = [x]
        for layer in self.values():
            feats.append(layer(feats))
        return torch.cat(feats, 1)


class Transition(nn.Sequential):
    def __init__(self, cin, cout):
        super().__init__()
        self.norm = nn.BatchNorm2d(cin)
        self.relu = nn.ReLU(inplace=True)
        self.conv = nn.Conv2d(cin, cout, 1, bias=False)
        self.pool = nn.AvgPool2d(2, 2)


class DenseNet121(nn.Module):
    def __init__(self, num_classes, growth=32, blocks=(6, 12, 24, 16), init=64, bn_size=4):
        super().__init__()
        f = nn.Sequential()
        f.add_module("conv0", nn.Conv2d(3, init, 7, 2, 3, bias=False))
        f.add_module("norm0", nn.BatchNorm2d(init))
        f.add_module("relu0", nn.ReLU(inplace=True))
        f.add_module("pool0", nn.MaxPool2d(3, 2, 1))
        c = init
        for i, n in enumerate(blocks):
            f.add_module("denseblock%d" % (i + 1), DenseBlock(n, c, growth, bn_size))
            c += n * growth
            if i != len(blocks) - 1:
                f.add_module("transition%d" % (i + 1), Transition(c, c // 2))
                c //= 2
        f.add_module("norm5", nn.BatchNorm2d(c))
        self.features = f
        self.classifier = nn.Linear(c, num_classes)

    def forward(self, x):
        out = F.relu(self.features(x), inplace=True)
        out = torch.flatten(F.adaptive_avg_pool2d(out, (1, 1)), 1)
        return self.classifier(out)


class CustomCnn(nn.Module):
    """The ops the torchvision nets above lack: dilated grouped conv, LeakyReLU, Sigmoid, ReLU6 (Clip), an
    overlapping padded max pool, a padded average pool, a constant Mul and Add, Reshape and MatMul."""

    def __init__(self, num_classes, hidden=32):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1)
        self.pool1 = nn.MaxPool2d(2)
        self.conv2 = nn.Conv2d(8, 16, 3, padding=2, dilation=2, groups=2)
        self.bn2 = nn.BatchNorm2d(16)
        self.pool2 = nn.MaxPool2d(3, 2, 1)
        self.conv3 = nn.Conv2d(16, 16, 3, stride=1, padding=1)
        self.conv4 = nn.Conv2d(16, 24, 1)
        self.pool3 = nn.AvgPool2d(3, 2, 1, count_include_pad=False)
        self.fc1 = nn.Parameter(torch.randn(24 * 4 * 4, hidden) * 0.05)
        self.fc1_b = nn.Parameter(torch.randn(hidden) * 0.05)
        self.fc2 = nn.Linear(hidden, num_classes)

    def forward(self, x):
        x = self.pool1(F.relu(self.conv1(x)))
        a = F.leaky_relu(self.bn2(self.conv2(x)), 0.1)
        x = self.pool2(a)
        x = torch.sigmoid(self.conv3(x)) * 0.5 + x
        x = F.relu6(self.conv4(x))
        x = self.pool3(x)
        x = x.reshape(x.shape[0], -1)
        x = F.relu(torch.matmul(x, self.fc1) + self.fc1_b)
        return self.fc2(x)


# (builder, input size, taps as (ONNX value name, module whose output it is))
def arch(name, num_classes=10):
    if name == "resnet18":
        m = ResNet18(num_classes)
        return m, 64, [("/layer4/layer4.0/relu_1/Relu_output_0", m.layer4[0]), ("/layer3/layer3.1/relu_1/Relu_output_0", m.layer3[1])]
    if name == "vgg11_bn":
        m = Vgg11Bn(num_classes, 64)
        return m, 64, [("/features/features.27/Relu_output_0", m.features[27]), ("/features/features.20/Relu_output_0", m.features[20])]
    if name == "mobilenet_v3_small":
        m = MobileNetV3Small(num_classes)
        return m, 64, [("/features/features.11/Add_output_0", m.features[11]), ("/features/features.12/features.12.2/HardSwish_output_0", m.features[12])]
    if name == "densenet121":
        m = DenseNet121(num_classes)
        return m, 32, [("/features/transition3/pool/AveragePool_output_0", m.features.transition3), ("/features/transition2/pool/AveragePool_output_0", m.features.transition2)]
    if name == "custom":
        m = CustomCnn(num_classes)
        return m, 32, [("/pool2/MaxPool_output_0", m.pool2), ("/LeakyRelu_output_0", None)]
    raise SystemExit("unknown architecture " + name)


def last_linear(m):
    if isinstance(m, CustomCnn):
        return m.fc2
    return [x for x in m.modules() if isinstance(x, nn.Linear)][-1]


def randomise(m, seed):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for mod in m.modules():
            if isinstance(mod, nn.BatchNorm2d):
                mod.weight.copy_(1 + 0.2 * torch.randn(mod.weight.shape, generator=g))
                mod.bias.copy_(0.1 * torch.randn(mod.bias.shape, generator=g))
                mod.running_mean.copy_(0.1 * torch.randn(mod.running_mean.shape, generator=g))
                mod.running_var.copy_(1 + 0.5 * torch.rand(mod.running_var.shape, generator=g))


def export(m, size, path):
    m.eval()
    x = torch.zeros(1, 3, size, size)
    torch.onnx.export(
        m, (x,), path, dynamo=False, opset_version=17, input_names=["input"], output_names=["logits"],
        dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
    )


def nhwc(t):
    return t.detach().permute(0, 2, 3, 1).contiguous().numpy().astype(np.float32)


def save(d, name, arr):
    np.save(os.path.join(d, name), np.ascontiguousarray(arr).astype(np.float32 if arr.dtype.kind == "f" else np.int32))


class TapSwap:
    """Captures a module's output, or replaces it with a given tensor (so the rest is a function of it)."""

    def __init__(self, module):
        self.value, self.replace = None, None
        self.handle = module.register_forward_hook(self.hook)

    def hook(self, _m, _i, out):
        if self.replace is not None:
            return self.replace
        self.value = out.detach().clone()
        return None


def write_arch(out, name):
    torch.manual_seed(1234)
    m, size, taps = arch(name)
    randomise(m, 99)
    m.eval()
    export(m, size, os.path.join(out, name + ".onnx"))
    d = os.path.join(out, name)
    os.makedirs(d, exist_ok=True)
    g = torch.Generator().manual_seed(7)
    n = 4
    x = torch.rand(n, 3, size, size, generator=g) * 2 - 1
    md = m.double()
    fc = last_linear(md)
    feats = {}
    fc.register_forward_pre_hook(lambda _m, inp: feats.__setitem__("h", inp[0]))
    with torch.no_grad():
        logits = md(x.double())
    save(d, "x.npy", nhwc(x))
    save(d, "features.npy", feats["h"].numpy())
    save(d, "logits.npy", logits.numpy())
    save(d, "fc_w.npy", fc.weight.detach().t().numpy())
    save(d, "fc_b.npy", fc.bias.detach().numpy())
    labels = torch.randint(0, 10, (n,), generator=g)
    save(d, "labels.npy", labels.numpy())
    for k, (tap_name, module) in enumerate(taps):
        td = os.path.join(d, "tap%d" % k)
        os.makedirs(td, exist_ok=True)
        with open(os.path.join(td, "name.txt"), "w") as f:
            f.write(tap_name)
        if module is None:  # custom: a functional op; swap it through a wrapper of the forward
            module = md.bn2
            swap = TapSwap(module)
            orig = F.leaky_relu
            # the LeakyRelu follows bn2: capture/replace at the LeakyRelu by wrapping it
            state = {}

            def leaky(t, slope, _orig=orig, _state=state):
                y = _orig(t, slope)
                if "replace" in _state:
                    return _state["replace"]
                _state["value"] = y.detach().clone()
                return y

            swap.handle.remove()
            F.leaky_relu = leaky
            getter = lambda: state["value"]  # noqa: E731
            setter = lambda v: state.__setitem__("replace", v)  # noqa: E731
            cleanup = lambda: setattr(F, "leaky_relu", orig)  # noqa: E731
        else:
            swap = TapSwap(module)
            getter = lambda s=swap: s.value  # noqa: E731
            setter = lambda v, s=swap: setattr(s, "replace", v)  # noqa: E731
            cleanup = swap.handle.remove
        with torch.no_grad():
            md(x.double())
        a0 = getter()
        save(td, "tap.npy", nhwc(a0))
        # stage B: α_y = Σ_ij ∂o_y/∂A_ij
        a = a0.clone().requires_grad_(True)
        setter(a)
        o = md(x.double())
        s = o.gather(1, labels.view(-1, 1)).sum()
        (ga,) = torch.autograd.grad(s, a)
        save(td, "alpha.npy", ga.sum((2, 3)).numpy())
        # stage D: loss and ∂L/∂W_u by double backprop
        D, K, nu = feats["h"].shape[1], a0.shape[1], 3
        wu = (torch.randn(D, nu, generator=g, dtype=torch.float64) * 0.1).requires_grad_(True)
        mu = torch.randn(D, 1, generator=g, dtype=torch.float64).repeat(1, nu) * 0.05
        targets = torch.randn(nu, K, generator=g, dtype=torch.float64)
        pairs = torch.tensor([[0, 0], [1, 1], [2, 2], [3, 0], [1, 2], [2, 1]])
        lam = 1e-2
        ab = a0[pairs[:, 0]].clone().requires_grad_(True)
        setter(ab)
        md(x.double()[pairs[:, 0]])
        h = feats["h"]
        wper = wu[:, pairs[:, 1]].t()
        (g2,) = torch.autograd.grad((h * wper).sum(), ab, create_graph=True)
        alpha = g2.sum((2, 3))
        ahat = alpha / (alpha.norm(dim=1, keepdim=True) + 1e-12)
        that = targets / (targets.norm(dim=1, keepdim=True) + 1e-12)
        loss = (1 - (ahat * that[pairs[:, 1]]).sum(1)).mean() + lam / 2 * ((wu - mu) ** 2).sum()
        (gw,) = torch.autograd.grad(loss, wu)
        for nm, arr in [("wu.npy", wu), ("mu.npy", mu), ("targets.npy", targets), ("grad.npy", gw)]:
            save(td, nm, arr.detach().numpy())
        save(td, "pairs.npy", pairs.numpy())
        save(td, "loss.npy", loss.detach().reshape(1).numpy())
        with open(os.path.join(td, "lambda.json"), "w") as f:
            json.dump({"lambda": lam}, f)
        setter(None)
        cleanup()
    with open(os.path.join(out, name + ".done"), "w") as f:
        f.write("ok\n")


def main(argv):
    out = argv[0]
    os.makedirs(out, exist_ok=True)
    for name in argv[1:] or ["resnet18", "vgg11_bn", "mobilenet_v3_small", "densenet121", "custom"]:
        t0 = time.time()
        write_arch(out, name)
        print("onnx-fixtures: %s in %.1f s" % (name, time.time() - t0), file=sys.stderr)


if __name__ == "__main__":
    main(sys.argv[1:])
