"""PyTorch CPU peer of bench/backbone-finetune: full fine-tuning steps of VGG16 and ResNet-101 at 224x224
(softmax cross-entropy over 4 classes, Adam, weight decay, every layer trained; batch 4 in micro-batches of 2,
as the tfjs bench), random weights. Each network in its own process (peak RSS is its own). JSON on stdout.
    python torch_finetune.py [vgg16,resnet101] [steps=2]"""
import json, os, resource, subprocess, sys, time

def run_one(name, steps):
    import torch
    import torch.nn as nn
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), '..', 'backbone-forward'))
    from torch_bench import vgg16, resnet101  # the same plain torch.nn networks as the forward bench
    torch.manual_seed(1)
    body = vgg16() if name == 'vgg16' else resnet101()
    dim = 4096 if name == 'vgg16' else 2048
    model = nn.Sequential(body, nn.Linear(dim, 4)).train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=5e-4)
    x = torch.rand(4, 3, 224, 224) * 255
    y = torch.tensor([0, 1, 2, 3])
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        opt.zero_grad()
        for m in (0, 2):  # micro-batches of 2
            loss = nn.functional.cross_entropy(model(x[m:m + 2]), y[m:m + 2]) / 2
            loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        opt.step()
        times.append(round(time.perf_counter() - t0, 2))
    steady = times[1:] or times
    return {"stepSeconds": times, "imagesPerSecond": round(4 / (sum(steady) / len(steady)), 3),
            "peakRssGiB": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20, 2),
            "threads": torch.get_num_threads(), "torch": torch.__version__}

if __name__ == '__main__':
    if len(sys.argv) > 1 and sys.argv[1] == '--one':
        print(json.dumps(run_one(sys.argv[2], int(sys.argv[3]))))
        sys.exit(0)
    models = (sys.argv[1] if len(sys.argv) > 1 else 'vgg16,resnet101').split(',')
    steps = int(sys.argv[2]) if len(sys.argv) > 2 else 2
    out = {}
    for m in models:
        r = subprocess.run([sys.executable, __file__, '--one', m, str(steps)], capture_output=True, text=True)
        out[m] = json.loads(r.stdout.strip().splitlines()[-1]) if r.returncode == 0 else {"error": r.stderr[-800:]}
    print(json.dumps({"models": out}))
