package models

import (
	"fmt"

	"github.com/gnaudit/gnaudit/internal/onnxpb"
)

// convOut is the output size of a convolution or pooling along one axis.
func convOut(in, k, stride, pad int64) int64 {
	if in+2*pad < k {
		return 0
	}
	return (in+2*pad-k)/stride + 1
}

// poolKernel is the kernel (= stride) of a "2×2" max-pool along an axis of
// size n: 2, or 1 when the axis has already shrunk to a single position
// (a 2-wide window would not fit; a 1-wide one is the identity).
func poolKernel(n int64) int64 {
	if n >= 2 {
		return 2
	}
	return 1
}

// alexNetConvs are the paper's five CIFAR AlexNet convolutions.
var alexNetConvs = []struct {
	out, k, stride, pad int64
	pool                bool // 2×2 max-pool after the ReLU
}{
	{64, 11, 4, 5, true},
	{192, 5, 1, 2, true},
	{384, 3, 1, 1, false},
	{256, 3, 1, 1, false},
	{256, 3, 1, 1, true},
}

// alexNetHidden is the width of the two hidden fully connected layers.
const alexNetHidden = 256

// buildAlexNet writes the CIFAR AlexNet of METHOD.md §8. Pooling is floor
// mode, non-overlapping 2×2; a pool over an axis already of size 1 uses a
// kernel of 1 there (and is left out when both axes are 1), so small inputs
// such as 1×28×28 work: 28 → conv1 7 → pool 3 → conv2 3 → pool 1 → 1 → 1.
// The first FC's in-features are 256·H'·W' for the final map H'×W'.
// With bn, every conv and the two hidden FCs are followed by
// BatchNormalization (named bn1..bn5, bn_fc1, bn_fc2) before the ReLU, and
// those layers have no bias (BN's bias takes its place).
func buildAlexNet(g *graphBuilder, o Options, bn bool) error {
	cin, h, w := int64(o.Input[0]), int64(o.Input[1]), int64(o.Input[2])
	x := InputName
	for i, c := range alexNetConvs {
		id := i + 1
		name := fmt.Sprintf("conv%d", id)
		x = g.conv(name, x, cin, c.out, c.k, c.stride, c.pad, !bn)
		h, w = convOut(h, c.k, c.stride, c.pad), convOut(w, c.k, c.stride, c.pad)
		if h < 1 || w < 1 {
			return fmt.Errorf("%s output would be empty", name)
		}
		cin = c.out
		if bn {
			x = g.batchNorm(fmt.Sprintf("bn%d", id), x, cin)
		}
		x = g.relu(fmt.Sprintf("relu%d", id), x)
		if c.pool {
			kh, kw := poolKernel(h), poolKernel(w)
			if kh > 1 || kw > 1 {
				x = g.maxPool(fmt.Sprintf("pool%d", id), x, kh, kw)
				h, w = h/kh, w/kw
			}
		}
	}
	x = g.node("Flatten", "flatten", []string{x}, []*onnxpbAttr{onnxpb.IntAttr("axis", 1)})
	fin := cin * h * w
	for i := 1; i <= 2; i++ {
		name := fmt.Sprintf("fc%d", i)
		x = g.gemm(name, x, fin, alexNetHidden, !bn)
		if bn {
			x = g.batchNorm(fmt.Sprintf("bn_fc%d", i), x, alexNetHidden)
		}
		x = g.relu(fmt.Sprintf("relu_fc%d", i), x)
		fin = alexNetHidden
	}
	g.gemm("fc3", x, fin, int64(o.Classes), true, OutputName)
	return nil
}

// buildResNet writes a CIFAR ResNet with 6n+2 layers (n = 3: ResNet-20,
// n = 9: ResNet-56): conv1 16×C×3×3 + BN + ReLU; three stages of n basic
// blocks with 16, 32 and 64 channels, the first block of stages 2 and 3
// having stride 2 and a 1×1 conv (stride 2) + BN projection shortcut; global
// average pooling; FC 64 → classes. Blocks are named layer<stage>.<block>
// (conv1, bn1, relu1, conv2, bn2, shortcut.conv, shortcut.bn, add, relu2) as
// in torchvision. Convolutions have no bias.
func buildResNet(g *graphBuilder, o Options, n int) error {
	cin, h, w := int64(o.Input[0]), int64(o.Input[1]), int64(o.Input[2])
	x := g.conv("conv1", InputName, cin, 16, 3, 1, 1, false)
	x = g.batchNorm("bn1", x, 16)
	x = g.relu("relu1", x)
	cin = 16
	for stage := 1; stage <= 3; stage++ {
		cout := int64(16) << (stage - 1)
		for b := 0; b < n; b++ {
			stride := int64(1)
			if stage > 1 && b == 0 {
				stride = 2
			}
			p := fmt.Sprintf("layer%d.%d", stage, b)
			y := g.conv(p+".conv1", x, cin, cout, 3, stride, 1, false)
			y = g.batchNorm(p+".bn1", y, cout)
			y = g.relu(p+".relu1", y)
			y = g.conv(p+".conv2", y, cout, cout, 3, 1, 1, false)
			y = g.batchNorm(p+".bn2", y, cout)
			sc := x
			if stride != 1 || cin != cout {
				sc = g.conv(p+".shortcut.conv", x, cin, cout, 1, stride, 0, false)
				sc = g.batchNorm(p+".shortcut.bn", sc, cout)
			}
			x = g.node("Add", p+".add", []string{y, sc}, nil)
			x = g.relu(p+".relu2", x)
			h, w = convOut(h, 3, stride, 1), convOut(w, 3, stride, 1)
			cin = cout
		}
	}
	if h < 1 || w < 1 {
		return fmt.Errorf("feature map would be empty")
	}
	x = g.node("GlobalAveragePool", "avgpool", []string{x}, nil)
	x = g.node("Flatten", "flatten", []string{x}, []*onnxpbAttr{onnxpb.IntAttr("axis", 1)})
	g.gemm("fc", x, cin, int64(o.Classes), true, OutputName)
	return nil
}
