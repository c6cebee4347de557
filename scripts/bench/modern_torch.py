#!/usr/bin/python3
"""PyTorch side of scripts/bench_modern.sh: per-sample gradients of the
testdata/modern ViT and nn.TransformerEncoderLayer text models (built by
scripts/fixtures/gen_modern.py's constructors) at batch 64, float32, CPU:
  batched  one forward + backward of the summed cross-entropy
  vmap     functorch vmap(grad) over the batch
Prints "torch <model> <method> <wall s> <CPU s>" (minimum over --reps).
"""
import argparse
import importlib.util
import os
import time

import torch
import torch.nn.functional as F
from functorch import grad, make_functional, vmap

here = os.path.dirname(os.path.abspath(__file__))
spec = importlib.util.spec_from_file_location("gen_modern", os.path.join(here, "..", "fixtures", "gen_modern.py"))
gm = importlib.util.module_from_spec(spec)
spec.loader.exec_module(gm)


def timeit(fn, reps):
    fn()
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
    ap.add_argument("--batch", type=int, default=64)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    for name in ("vit", "transformer"):
        desc, ctor, shape, _, vocab = gm.MODELS[name]
        gen = torch.Generator().manual_seed(1)
        model = gm.randomize(ctor(), gen).eval()
        if vocab:
            x = torch.randint(0, vocab, (a.batch,) + shape, generator=gen)
        else:
            x = torch.randn((a.batch,) + shape, generator=gen)
        y = torch.randint(0, gm.CLASSES, (a.batch,), generator=gen)

        def batched():
            model.zero_grad()
            F.cross_entropy(model(x), y, reduction="sum").backward()

        fmodel, params = make_functional(model)

        def loss1(p, xi, yi):
            return F.cross_entropy(fmodel(p, xi.unsqueeze(0)), yi.unsqueeze(0), reduction="sum")

        per = vmap(grad(loss1), in_dims=(None, 0, 0))

        def vm():
            per(params, x, y)

        for meth, fn in (("batched", batched), ("vmap", vm)):
            w, c = timeit(fn, a.reps)
            print("torch %s %s %.6f %.6f" % (name, meth, w, c), flush=True)


if __name__ == "__main__":
    main()
