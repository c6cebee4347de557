#!/usr/bin/python3
"""Independent check of gnaudit's model zoo files (run by models' Go tests).

Usage: /usr/bin/python3 check_zoo.py SPEC.json

SPEC.json is a list of {"file", "name", "input": [C, H, W], "classes", "params"}.
For each exported ONNX file it checks, with onnx 1.12 and torch 1.13:

  1. onnx.checker.check_model(full_check=True) passes;
  2. strict shape inference gives the output "logits" the shape [batch, classes];
  3. a PyTorch reference module written here from METHOD.md section 8 (not from
     the Go code) has exactly the same parameter and buffer names and shapes as
     the ONNX initializers, and the same number of trainable parameters as Go's
     ParamCount;
  4. the ONNX graph, evaluated op by op with torch.nn.functional in float64,
     gives the same logits as the reference module on a random batch, after
     the 1-D initializers (biases, BN scale/bias/mean/var) are set to random
     values in both, so that wiring mistakes cannot hide behind zeros and ones.

Exit status 0: all good; 1: a check failed (message on stderr); 77: torch or onnx
cannot be imported (the Go test skips).
"""

import json
import sys
from collections import OrderedDict

try:
    import numpy as np
    import onnx
    from onnx import numpy_helper, shape_inference
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
except Exception as e:  # noqa: BLE001
    print("cannot import onnx/torch: %s" % e, file=sys.stderr)
    sys.exit(77)


def conv_out(n, k, s, p):
    return (n + 2 * p - k) // s + 1


class AlexNetCIFAR(nn.Module):
    """conv1 64x11x11/4 p5, conv2 192x5x5 p2, conv3 384, conv4 256, conv5 256 3x3 p1,
    ReLU each, 2x2 max-pool after conv1, conv2, conv5 (kernel 1 on an axis of size 1;
    none at 1x1), FC 256, 256, classes; BN before every ReLU, without bias before BN."""

    CONVS = [(64, 11, 4, 5, True), (192, 5, 1, 2, True), (384, 3, 1, 1, False),
             (256, 3, 1, 1, False), (256, 3, 1, 1, True)]

    def __init__(self, c, h, w, classes, bn):
        super().__init__()
        self.bn, self.pools = bn, []
        for i, (out, k, s, p, pool) in enumerate(self.CONVS, 1):
            setattr(self, "conv%d" % i, nn.Conv2d(c, out, k, s, p, bias=not bn))
            if bn:
                setattr(self, "bn%d" % i, nn.BatchNorm2d(out))
            c, h, w = out, conv_out(h, k, s, p), conv_out(w, k, s, p)
            kk = None
            if pool and (h >= 2 or w >= 2):
                kk = (2 if h >= 2 else 1, 2 if w >= 2 else 1)
                h, w = h // kk[0], w // kk[1]
            self.pools.append(kk)
        self.fc1 = nn.Linear(c * h * w, 256, bias=not bn)
        self.fc2 = nn.Linear(256, 256, bias=not bn)
        self.fc3 = nn.Linear(256, classes)
        if bn:
            self.bn_fc1, self.bn_fc2 = nn.BatchNorm1d(256), nn.BatchNorm1d(256)

    def forward(self, x):
        for i in range(1, 6):
            x = getattr(self, "conv%d" % i)(x)
            if self.bn:
                x = getattr(self, "bn%d" % i)(x)
            x = F.relu(x)
            if self.pools[i - 1]:
                x = F.max_pool2d(x, self.pools[i - 1])
        x = torch.flatten(x, 1)
        for i in (1, 2):
            x = getattr(self, "fc%d" % i)(x)
            if self.bn:
                x = getattr(self, "bn_fc%d" % i)(x)
            x = F.relu(x)
        return self.fc3(x)


class Block(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = None
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(OrderedDict(
                conv=nn.Conv2d(cin, cout, 1, stride, bias=False), bn=nn.BatchNorm2d(cout)))

    def forward(self, x):
        y = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        return F.relu(y + (x if self.shortcut is None else self.shortcut(x)))


class ResNetCIFAR(nn.Module):
    def __init__(self, c, n, classes):
        super().__init__()
        self.conv1 = nn.Conv2d(c, 16, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        cin = 16
        for stage, cout in enumerate((16, 32, 64), 1):
            blocks = []
            for b in range(n):
                blocks.append(Block(cin, cout, 2 if stage > 1 and b == 0 else 1))
                cin = cout
            setattr(self, "layer%d" % stage, nn.Sequential(*blocks))
        self.fc = nn.Linear(64, classes)

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.fc(x.mean((2, 3)))


def reference(name, c, h, w, classes):
    if name == "alexnet-cifar":
        return AlexNetCIFAR(c, h, w, classes, False)
    if name == "alexnet-cifar-bn":
        return AlexNetCIFAR(c, h, w, classes, True)
    if name == "resnet20":
        return ResNetCIFAR(c, 3, classes)
    if name == "resnet56":
        return ResNetCIFAR(c, 9, classes)
    raise ValueError("no reference for %s" % name)


def onnx_name(model, torch_name):
    """ONNX initializer name of a torch parameter/buffer (BN: scale/bias/mean/var)."""
    mod_name, _, leaf = torch_name.rpartition(".")
    mod = model.get_submodule(mod_name)
    if isinstance(mod, (nn.BatchNorm1d, nn.BatchNorm2d)):
        leaf = {"weight": "scale", "running_mean": "mean", "running_var": "var"}.get(leaf, leaf)
    return mod_name + "." + leaf


def attrs(node):
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def run_onnx(m, inits, x):
    """Evaluate the graph with torch functional ops (float64)."""
    env = dict(inits)
    env[m.graph.input[0].name] = x
    for n in m.graph.node:
        a = attrs(n)
        i = [env[v] for v in n.input]
        if n.op_type == "Conv":
            p = a["pads"]
            assert p[:2] == p[2:], "asymmetric conv pads in %s" % n.name
            y = F.conv2d(i[0], i[1], i[2] if len(i) > 2 else None, a["strides"], p[:2],
                         a.get("dilations", [1, 1]), a.get("group", 1))
        elif n.op_type == "Relu":
            y = F.relu(i[0])
        elif n.op_type == "MaxPool":
            assert not any(a.get("pads", [0])), "pool pads in %s" % n.name
            y = F.max_pool2d(i[0], a["kernel_shape"], a["strides"])
        elif n.op_type == "BatchNormalization":
            y = F.batch_norm(i[0], i[3], i[4], i[1], i[2], False, 0.0, a["epsilon"])
        elif n.op_type == "Flatten":
            y = torch.flatten(i[0], a["axis"])
        elif n.op_type == "Gemm":
            assert a.get("transB") == 1 and not a.get("transA"), n.name
            y = a["alpha"] * i[0] @ i[1].T
            if len(i) > 2:
                y = y + a["beta"] * i[2]
        elif n.op_type == "Add":
            y = i[0] + i[1]
        elif n.op_type == "GlobalAveragePool":
            y = i[0].mean((2, 3), keepdim=True)
        else:
            raise ValueError("unexpected op %s (%s)" % (n.op_type, n.name))
        assert len(n.output) == 1
        env[n.output[0]] = y
    return env[m.graph.output[0].name]


def check(spec):
    f, name = spec["file"], spec["name"]
    c, h, w = spec["input"]
    classes = spec["classes"]
    m = onnx.load(f)
    onnx.checker.check_model(m, full_check=True)
    inf = shape_inference.infer_shapes(m, check_type=True, strict_mode=True)
    out = inf.graph.output[0]
    dims = [d.dim_param or d.dim_value for d in out.type.tensor_type.shape.dim]
    if out.name != "logits" or dims != ["batch", classes]:
        raise AssertionError("%s: output %s %s, want logits ['batch', %d]" % (f, out.name, dims, classes))
    inp = m.graph.input[0]
    idims = [d.dim_param or d.dim_value for d in inp.type.tensor_type.shape.dim]
    if inp.name != "input" or idims != ["batch", c, h, w]:
        raise AssertionError("%s: input %s %s" % (f, inp.name, idims))
    # every intermediate value got a 4-D or 2-D shape with the symbolic batch
    for vi in inf.graph.value_info:
        d0 = vi.type.tensor_type.shape.dim[0]
        if d0.dim_param != "batch":
            raise AssertionError("%s: %s lost the batch dim" % (f, vi.name))

    ref = reference(name, c, h, w, classes).double().eval()
    inits = {t.name: torch.from_numpy(numpy_helper.to_array(t).astype(np.float64))
             for t in m.graph.initializer}
    sd = {k: v for k, v in ref.state_dict().items() if not k.endswith("num_batches_tracked")}
    mapped = {onnx_name(ref, k): k for k in sd}
    if set(mapped) != set(inits):
        raise AssertionError("%s: initializers differ from the reference: extra %s, missing %s" % (
            f, sorted(set(inits) - set(mapped))[:8], sorted(set(mapped) - set(inits))[:8]))
    for on, tn in mapped.items():
        if tuple(inits[on].shape) != tuple(sd[tn].shape):
            raise AssertionError("%s: %s shape %s, reference %s %s" % (
                f, on, tuple(inits[on].shape), tn, tuple(sd[tn].shape)))
    nparams = sum(p.numel() for p in ref.parameters())
    if nparams != spec["params"]:
        raise AssertionError("%s: reference has %d trainable parameters, Go says %d" % (
            f, nparams, spec["params"]))
    # He init: weights have std sqrt(2/fan_in); 1-D initializers are 0 or 1.
    for on, t in inits.items():
        if t.dim() == 1:
            want = 1.0 if on.endswith(".scale") or on.endswith(".var") else 0.0
            if not torch.all(t == want):
                raise AssertionError("%s: %s is not all %g" % (f, on, want))
        elif t.numel() >= 2000:
            fan_in = t[0].numel()
            std = t.std().item() * (fan_in / 2.0) ** 0.5
            mean = t.mean().item() / (2.0 / fan_in) ** 0.5
            if abs(std - 1) > 0.1 or abs(mean) > 0.15:
                raise AssertionError("%s: %s: mean/std_he = %.3f, std/std_he = %.3f" % (
                    f, on, mean, std))

    g = torch.Generator().manual_seed(7)
    for on, t in inits.items():
        if t.dim() == 1:
            r = torch.rand(t.shape, generator=g, dtype=torch.float64)
            inits[on] = 0.5 + r if on.endswith(".var") or on.endswith(".scale") else r - 0.5
    ref.load_state_dict({tn: inits[on] for on, tn in mapped.items()}, strict=False)
    x = torch.randn((3, c, h, w), generator=g, dtype=torch.float64)
    with torch.no_grad():
        want = ref(x)
        got = run_onnx(m, inits, x)
    if tuple(got.shape) != (3, classes):
        raise AssertionError("%s: logits shape %s" % (f, tuple(got.shape)))
    err = (got - want).abs().max().item() / max(want.abs().max().item(), 1e-30)
    if err > 1e-10:
        raise AssertionError("%s: ONNX graph and reference differ (rel %.3g)" % (f, err))
    print("%s %s %dx%dx%d classes %d: ok (%d params, rel err %.1e)" % (
        f, name, c, h, w, classes, nparams, err))


def main():
    with open(sys.argv[1]) as fh:
        specs = json.load(fh)
    torch.set_num_threads(1)
    ok = True
    for s in specs:
        try:
            check(s)
        except Exception as e:  # noqa: BLE001
            print("FAIL %s: %s: %s" % (s.get("file"), type(e).__name__, e), file=sys.stderr)
            ok = False
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
