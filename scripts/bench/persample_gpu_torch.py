#!/usr/bin/env python3
"""PyTorch peer of cuda.BenchmarkPerSampleAlexNet128, on the same GPU.

The zoo's alexnet-cifar (METHOD.md §8) at batch 128, input 3x32x32, float32
with TF32 disabled (gnaudit's kernels are plain float32), timed per step:
  (a) a plain batched backward of the summed loss (no per-sample gradients),
  (b) a loop of 128 batch-1 backward passes,
  (c) torch.func.vmap(grad) per-sample gradients of every parameter.
Prints one JSON object (milliseconds per step, median of the repeats).
Run: python3 scripts/bench/persample_gpu_torch.py
"""
import json
import statistics
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F


def alexnet_cifar():
    return nn.Sequential(
        nn.Conv2d(3, 64, 11, stride=4, padding=5), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(64, 192, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(192, 384, 3, padding=1), nn.ReLU(),
        nn.Conv2d(384, 256, 3, padding=1), nn.ReLU(),
        nn.Conv2d(256, 256, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 10),
    )


def timed(fn, repeats=20, warmup=3):
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    out = []
    for _ in range(repeats):
        s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        s.record()
        fn()
        e.record()
        torch.cuda.synchronize()
        out.append(s.elapsed_time(e))
    return statistics.median(out)


def main():
    if not torch.cuda.is_available():
        print(json.dumps({"error": "no CUDA device"}))
        return 1
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.manual_seed(0)
    dev = torch.device("cuda")
    model = alexnet_cifar().to(dev).eval()
    B = 128
    x = torch.randn(B, 3, 32, 32, device=dev)
    y = torch.randint(0, 10, (B,), device=dev)

    def batched():
        model.zero_grad(set_to_none=True)
        F.cross_entropy(model(x), y, reduction="sum").backward()

    def loop():
        for i in range(B):
            model.zero_grad(set_to_none=True)
            F.cross_entropy(model(x[i:i + 1]), y[i:i + 1], reduction="sum").backward()

    from torch.func import functional_call, grad, vmap
    params = {k: v.detach() for k, v in model.named_parameters()}

    def loss_one(p, xi, yi):
        out = functional_call(model, p, (xi.unsqueeze(0),))
        return F.cross_entropy(out, yi.unsqueeze(0), reduction="sum")

    ps = vmap(grad(loss_one), in_dims=(None, 0, 0))

    def vmapped():
        g = ps(params, x, y)
        # touch every result so nothing is skipped
        return sum(v.sum() for v in g.values())

    res = {
        "device": torch.cuda.get_device_name(0),
        "torch": torch.__version__,
        "batch": B,
        "ms_batched_backward": timed(batched),
        "ms_loop_batch1": timed(loop, repeats=5, warmup=1),
        "ms_vmap_grad": timed(vmapped),
    }
    print(json.dumps(res))
    return 0


if __name__ == "__main__":
    sys.exit(main())
