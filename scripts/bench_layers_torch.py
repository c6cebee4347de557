#!/usr/bin/python3
"""Per-layer times of torch 1.13 on the zoo's alexnet-cifar at batch 128,
float32, CPU (the torch side of the per-layer comparison in
docs/performance.md, section exec4): for each layer of
scripts/bench/persample_torch.py's AlexNetCifar, its forward and its
backward (given the output gradient; the input gradient is computed for
every layer but conv1, as in a plain training step) are timed on the
layer's own input shape, --reps times after one warm-up; the minimum wall
and the minimum process CPU time (all threads) are printed in ms:

    layer  fwd_wall  fwd_cpu  bwd_wall  bwd_cpu

followed by the convolution backend torch picks (mkldnn when
torch.backends.mkldnn is on and the input is float32 on the CPU) and the
whole model's forward + backward (the "batched" figure of
persample_torch.py).
"""
import argparse
import time

import torch
import torch.nn.functional as F

from bench.persample_torch import AlexNetCifar


def timed(fn, reps):
    fn()
    walls, cpus = [], []
    for _ in range(reps):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    return 1e3 * min(walls), 1e3 * min(cpus)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--reps", type=int, default=20)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--model", default="alexnet-cifar", choices=["alexnet-cifar", "resnet20"])
    args = ap.parse_args()
    if args.model == "resnet20":
        return resnet20(args)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    B = args.batch
    m = AlexNetCifar().eval()
    relu_pool = lambda x: F.max_pool2d(F.relu(x), 2)
    # (name, function, input shape, input needs grad)
    layers = [
        ("conv1", m.conv1, (B, 3, 32, 32), False),
        ("relu+pool1", relu_pool, (B, 64, 8, 8), True),
        ("conv2", m.conv2, (B, 64, 4, 4), True),
        ("relu+pool2", relu_pool, (B, 192, 4, 4), True),
        ("conv3", m.conv3, (B, 192, 2, 2), True),
        ("relu3", F.relu, (B, 384, 2, 2), True),
        ("conv4", m.conv4, (B, 384, 2, 2), True),
        ("relu4", F.relu, (B, 256, 2, 2), True),
        ("conv5", m.conv5, (B, 256, 2, 2), True),
        ("relu+pool5", relu_pool, (B, 256, 2, 2), True),
        ("fc1+relu", lambda x: F.relu(m.fc1(x)), (B, 256), True),
        ("fc2+relu", lambda x: F.relu(m.fc2(x)), (B, 256), True),
        ("fc3", m.fc3, (B, 256), True),
    ]
    print(f"torch {torch.__version__} threads {torch.get_num_threads()} "
          f"mkldnn {torch.backends.mkldnn.is_available() and torch.backends.mkldnn.enabled}")
    print("layer fwd_wall_ms fwd_cpu_ms bwd_wall_ms bwd_cpu_ms")
    for name, fn, shape, needs in layers:
        x = torch.randn(shape, requires_grad=needs)
        with torch.no_grad():
            gy = torch.randn_like(fn(x))

        def fwd():
            with torch.no_grad():
                fn(x)

        y = [None]

        def bwd():
            # the forward with the graph kept is not timed
            m.zero_grad(set_to_none=True)
            y[0].backward(gy, retain_graph=True)

        fw, fc = timed(fwd, args.reps)
        y[0] = fn(x)
        bw, bc = timed(bwd, args.reps)
        print(f"{name} {fw:.3f} {fc:.3f} {bw:.3f} {bc:.3f}", flush=True)
    x = torch.randn(B, 3, 32, 32)
    lab = torch.randint(0, 10, (B,))

    def step():
        m.zero_grad(set_to_none=True)
        F.cross_entropy(m(x), lab, reduction="sum").backward()

    w, c = timed(step, args.reps)
    print(f"model_fwd+bwd {w:.3f} {c:.3f}")


def resnet20(args):
    """resnet20's convolutions (3×3 pad 1, no bias; the layer names of
    BenchmarkResNet20ConvLayers in auditor/graph): forward, input gradient
    (dx) and weight gradient (dw) timed separately, then BatchNorm (training
    mode) + ReLU forward and backward on each stage's map."""
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    B = args.batch
    convs = [
        ("conv0_3to16_32x32", 3, 16, 32, 1),
        ("s1_16to16_32x32", 16, 16, 32, 1),
        ("s2a_16to32_s2", 16, 32, 32, 2),
        ("s2_32to32_16x16", 32, 32, 16, 1),
        ("s3a_32to64_s2", 32, 64, 16, 2),
        ("s3_64to64_8x8", 64, 64, 8, 1),
    ]
    print(f"torch {torch.__version__} threads {torch.get_num_threads()} "
          f"mkldnn {torch.backends.mkldnn.is_available() and torch.backends.mkldnn.enabled}")
    print("layer fwd_wall_ms fwd_cpu_ms dx_wall_ms dx_cpu_ms dw_wall_ms dw_cpu_ms")
    for name, c, m, hw, s in convs:
        conv = torch.nn.Conv2d(c, m, 3, stride=s, padding=1, bias=False)
        x = torch.randn(B, c, hw, hw, requires_grad=True)

        def fwd():
            with torch.no_grad():
                conv(x)

        y = conv(x)
        gy = torch.randn_like(y)
        fw, fc = timed(fwd, args.reps)
        xw, xc = timed(lambda: torch.autograd.grad(y, x, gy, retain_graph=True), args.reps)
        ww, wc = timed(lambda: torch.autograd.grad(y, conv.weight, gy, retain_graph=True), args.reps)
        print(f"{name} {fw:.3f} {fc:.3f} {xw:.3f} {xc:.3f} {ww:.3f} {wc:.3f}", flush=True)
    print("layer fwd_wall_ms fwd_cpu_ms bwd_wall_ms bwd_cpu_ms")
    for c, hw in [(16, 32), (32, 16), (64, 8)]:
        bn = torch.nn.BatchNorm2d(c).train()
        x = torch.randn(B, c, hw, hw, requires_grad=True)
        fn = lambda: F.relu(bn(x))
        fw, fc = timed(lambda: fn(), args.reps)
        y = fn()
        gy = torch.randn_like(y)
        bw, bc = timed(lambda: torch.autograd.grad(y, [x, bn.weight, bn.bias], gy, retain_graph=True), args.reps)
        print(f"bn+relu_{c}x{hw}x{hw} {fw:.3f} {fc:.3f} {bw:.3f} {bc:.3f}", flush=True)


if __name__ == "__main__":
    main()
