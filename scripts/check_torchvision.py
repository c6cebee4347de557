#!/usr/bin/python3
"""Check gnaudit's per-sample gradients on full-size torchvision 0.14 models.

    /usr/bin/python3 scripts/check_torchvision.py [--gnaudit bin/gnaudit] [--opset 17] [--audit] [MODEL ...]

For each model (default: all of MODELS; random weights perturbed so that no two
initializers are equal, random BatchNorm statistics, 3 samples of 3x32x32) it
exports ONNX at opset 17 or --opset (dynamic batch, constant folding off), runs
`gnaudit grads` on it, and compares every parameter's per-sample gradient with
functorch vmap(grad) in float64, printing the worst error relative to each
tensor's scale and how many parameters took the batch-1 fallback. Exit status 1
if any model fails to run or differs by more than 1e-4. With --audit, each
export also runs a short `gnaudit audit` end to end on random data. Takes minutes; it is a
manual check (torch needed), not part of `make test`.
"""
import argparse
import copy
import io
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import torch
import torch.nn.functional as F
import torchvision
from functorch import grad, make_functional_with_buffers, vmap

M = torchvision.models
MODELS = {
    "resnet18": lambda: M.resnet18(num_classes=10),
    "mobilenet_v2": lambda: M.mobilenet_v2(num_classes=10),
    "mobilenet_v3_small": lambda: M.mobilenet_v3_small(num_classes=10),
    "efficientnet_b0": lambda: M.efficientnet_b0(num_classes=10),
    "squeezenet1_1": lambda: M.squeezenet1_1(num_classes=10),
    "shufflenet_v2_x0_5": lambda: M.shufflenet_v2_x0_5(num_classes=10),
    "regnet_y_400mf": lambda: M.regnet_y_400mf(num_classes=10),
    "googlenet": lambda: M.googlenet(num_classes=10, aux_logits=False, init_weights=True),
    "densenet121": lambda: M.densenet121(num_classes=10),
    "convnext_tiny": lambda: M.convnext_tiny(num_classes=10),
    "vit_small": lambda: M.VisionTransformer(image_size=32, patch_size=8, num_layers=2, num_heads=4,
                                             hidden_dim=64, mlp_dim=128, num_classes=10),
    "swin_t": lambda: M.swin_t(num_classes=10),
    # VGG-BN as CIFAR code uses it at 32x32: torchvision's features, without the
    # AdaptiveAvgPool2d((7, 7)) that upsamples the 1x1 map (its export is
    # refused at this size) and with the classifier on 512 features.
    "vgg11_bn": lambda: vgg_cifar(M.vgg11_bn),
}


def vgg_cifar(ctor):
    m = ctor(num_classes=10)
    m.avgpool = torch.nn.Identity()
    m.classifier = torch.nn.Sequential(torch.nn.Linear(512, 256), torch.nn.ReLU(True), torch.nn.Dropout(),
                                       torch.nn.Linear(256, 10))
    return m


def check(name, gnaudit, tmp, opset, audit=False):
    torch.manual_seed(1)
    m = MODELS[name]().eval()
    with torch.no_grad():
        for p in m.parameters():
            p.add_(0.05 * torch.randn_like(p))
        for mod in m.modules():
            if isinstance(mod, torch.nn.BatchNorm2d):
                mod.running_mean.copy_(0.1 * torch.randn_like(mod.running_mean))
                mod.running_var.copy_(0.5 + torch.rand_like(mod.running_var))
    x, y = torch.randn(3, 3, 32, 32), torch.tensor([1, 3, 7])
    buf = io.BytesIO()
    torch.onnx.export(m, x, buf, opset_version=opset, input_names=["input"], output_names=["logits"],
                      dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
                      training=torch.onnx.TrainingMode.PRESERVE, do_constant_folding=False)
    f = os.path.join(tmp, "%s-%d.onnx" % (name, opset))
    open(f, "wb").write(buf.getvalue())
    np.save(os.path.join(tmp, "x.npy"), x.numpy())
    np.save(os.path.join(tmp, "y.npy"), y.numpy())
    out = os.path.join(tmp, "g_" + name)
    r = subprocess.run([gnaudit, "grads", "--model", f, "--input", os.path.join(tmp, "x.npy"),
                        "--labels", os.path.join(tmp, "y.npy"), "--out", out], capture_output=True, text=True)
    if r.returncode != 0:
        return False, "gnaudit grads failed: " + r.stderr.strip().splitlines()[-1]
    fallback = r.stderr.count("batch-1 passes (")
    m64 = copy.deepcopy(m).double()
    fm, ps, bs = make_functional_with_buffers(m64)

    def loss1(p, b, xi, yi):
        return F.cross_entropy(fm(p, b, xi.unsqueeze(0)), yi.unsqueeze(0), reduction="sum")

    g = vmap(grad(loss1), in_dims=(None, None, 0, 0))(ps, bs, x.double(), y)
    files = {p["name"]: p["file"] for p in json.load(open(os.path.join(out, "manifest.json")))["parameters"]}
    worst, missing = 0.0, []
    for (pn, _), gg in zip(m64.named_parameters(), g):
        if pn not in files:
            missing.append(pn)
            continue
        a = np.load(os.path.join(out, files[pn])).astype(np.float64)
        b = gg.detach().numpy()
        worst = max(worst, float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-30)))
    ok = worst <= 1e-4 and not missing
    if audit:
        d = os.path.join(tmp, "data")
        if not os.path.exists(d):
            os.makedirs(d)
            rng = np.random.default_rng(0)
            np.save(os.path.join(d, "images.npy"), rng.random((256, 3, 32, 32), dtype=np.float32))
            np.save(os.path.join(d, "labels.npy"), rng.integers(0, 10, 256).astype(np.int64))
        r = subprocess.run([gnaudit, "audit", "--model", f, "--data", d, "--normalize", "none",
                            "--finetune-steps", "5", "--finetune-batch", "8", "--batch-sizes", "4,8",
                            "--batches", "10", "--eval-samples", "0", "--force",
                            "--out", os.path.join(tmp, "audit_" + name)], capture_output=True, text=True)
        if r.returncode != 0:
            return False, "gnaudit audit failed: " + r.stderr.strip().splitlines()[-1]
    return ok, "%d parameters, worst relative error %.2e, %d by batch-1 passes%s" % (
        len(files), worst, fallback, ", not trainable: %s" % missing if missing else "")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--gnaudit", default="bin/gnaudit")
    ap.add_argument("--opset", type=int, default=17, help="ONNX opset of the export (13 or 17)")
    ap.add_argument("--audit", action="store_true",
                    help="also run a short `gnaudit audit` on each export (random 3x32x32 data)")
    ap.add_argument("models", nargs="*")
    a = ap.parse_args()
    bad = 0
    with tempfile.TemporaryDirectory() as tmp:
        for name in a.models or list(MODELS):
            try:
                ok, msg = check(name, a.gnaudit, tmp, a.opset, a.audit)
            except Exception as e:  # noqa: BLE001 (report and go on)
                ok, msg = False, "%s: %s" % (type(e).__name__, e)
            bad += not ok
            print("%-20s %s  %s" % (name, "ok  " if ok else "FAIL", msg), flush=True)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
