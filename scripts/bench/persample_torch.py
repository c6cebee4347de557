#!/usr/bin/python3
"""PyTorch side of scripts/bench_persample.sh: per-sample gradients of the
paper's CIFAR AlexNet (the zoo's alexnet-cifar: 5 convs 64 11x11/4 p5,
192 5x5 p2, 384/256/256 3x3 p1, ReLU, 2x2 max-pools after conv1, conv2,
conv5; FC 256, 256, 10) or (--model resnet20) the zoo's CIFAR ResNet-20
(conv 16, 3 stages x 3 basic blocks of 16, 32, 64 channels, 1x1 conv + BN
projection shortcuts, BN in eval mode, global average pool, FC) at batch
128, input 3x32x32, float32, on the CPU.

Three ways, each timed over --reps repetitions after one warm-up; the
minimum wall time and the minimum CPU time of the process (all threads,
time.process_time) are printed, the figures least disturbed by other jobs
on the machine:
  (a) batched:  one forward + backward of the summed cross-entropy (no
      per-sample gradients; the floor every method pays);
  (b) loop:     128 forward + backward passes of batch 1, each gradient
      copied into a [128, ...] buffer per parameter;
  (c) vmap:     functorch vmap(grad) over the batch (every per-sample
      gradient materialised).
Prints one line per method: "torch <name> <wall seconds> <CPU seconds>".
"""
import argparse
import time

import torch
import torch.nn as nn
import torch.nn.functional as F
from functorch import grad, make_functional_with_buffers, vmap


class AlexNetCifar(nn.Module):
    def __init__(self, classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 11, stride=4, padding=5)
        self.conv2 = nn.Conv2d(64, 192, 5, padding=2)
        self.conv3 = nn.Conv2d(192, 384, 3, padding=1)
        self.conv4 = nn.Conv2d(384, 256, 3, padding=1)
        self.conv5 = nn.Conv2d(256, 256, 3, padding=1)
        self.fc1 = nn.Linear(256, 256)
        self.fc2 = nn.Linear(256, 256)
        self.fc3 = nn.Linear(256, classes)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)  # 32 -> 8 -> 4
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)  # 4 -> 2
        x = F.relu(self.conv3(x))
        x = F.relu(self.conv4(x))
        x = F.max_pool2d(F.relu(self.conv5(x)), 2)  # 2 -> 1
        x = torch.flatten(x, 1)
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        return self.fc3(x)


class BasicBlock(nn.Module):
    """ResNet basic block; 1x1 conv + BN projection shortcut when the shape changes."""

    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = None
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(
                nn.Conv2d(cin, cout, 1, stride=stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        sc = x if self.shortcut is None else self.shortcut(x)
        return F.relu(out + sc)


class ResNetCifar(nn.Module):
    """The zoo's resnet20 (n = 3) and resnet56 (n = 9), models/nets.go."""

    def __init__(self, n=3, classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 16, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        blocks, cin = [], 16
        for stage in range(3):
            cout = 16 << stage
            for b in range(n):
                blocks.append(BasicBlock(cin, cout, 2 if stage > 0 and b == 0 else 1))
                cin = cout
        self.blocks = nn.Sequential(*blocks)
        self.fc = nn.Linear(64, classes)

    def forward(self, x):
        x = self.blocks(F.relu(self.bn1(self.conv1(x))))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


MODELS = {"alexnet-cifar": AlexNetCifar, "resnet20": lambda: ResNetCifar(3)}


def timeit(fn, reps):
    fn()  # warm-up
    walls, cpus = [], []
    for _ in range(reps):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    return min(walls), min(cpus)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--model", choices=sorted(MODELS), default="alexnet-cifar")
    ap.add_argument("--skip", default="", help="comma-separated methods not to time (batched, loop, vmap)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    B = args.batch
    model = MODELS[args.model]().eval()
    params = list(model.parameters())
    n = sum(p.numel() for p in params)
    x = torch.randn(B, 3, 32, 32)
    y = torch.randint(0, 10, (B,))
    print(f"torch version {torch.__version__} threads {torch.get_num_threads()} params {n}")

    def batched():
        model.zero_grad(set_to_none=True)
        F.cross_entropy(model(x), y, reduction="sum").backward()

    bufs = [torch.empty((B,) + p.shape) for p in params]

    def loop():
        for i in range(B):
            model.zero_grad(set_to_none=True)
            F.cross_entropy(model(x[i : i + 1]), y[i : i + 1], reduction="sum").backward()
            for b, p in zip(bufs, params):
                b[i].copy_(p.grad)

    # BatchNorm's running statistics are buffers (eval mode: constants).
    fmodel, fparams, fbuffers = make_functional_with_buffers(model)

    def loss1(ps, bs, xi, yi):
        return F.cross_entropy(fmodel(ps, bs, xi.unsqueeze(0)), yi.unsqueeze(0), reduction="sum")

    ps_grad = vmap(grad(loss1), in_dims=(None, None, 0, 0))

    def vmapped():
        g = ps_grad(fparams, fbuffers, x, y)
        assert g[0].shape[0] == B

    for name, fn in (("batched", batched), ("loop", loop), ("vmap", vmapped)):
        if name in args.skip.split(","):
            continue
        wall, cpu = timeit(fn, args.reps)
        print(f"torch {name} {wall:.6f} {cpu:.6f}", flush=True)


if __name__ == "__main__":
    main()
