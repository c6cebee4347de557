// Package models is gnaudit's model zoo: it writes the paper's networks (CIFAR
// AlexNet with and without BatchNorm, CIFAR ResNet-20 and ResNet-56) as real
// ONNX files, freshly initialised, for fine-tuning and auditing.
//
// Every model is opset 13 with one input "input" [batch, C, H, W] (float32,
// symbolic batch dimension "batch") and one output "logits" [batch, classes].
// Weights are He-normal (Kaiming, fan_in, gain √2) drawn from a stream that
// depends only on the seed and the initializer's name; biases are 0;
// BatchNormalization starts at scale 1, bias 0, running mean 0, running
// variance 1 (epsilon 1e-5). Fully connected layers are Gemm with transB=1 and
// weights stored [out, in] as in PyTorch. See docs/models.md.
package models

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"google.golang.org/protobuf/proto"

	"github.com/gnaudit/gnaudit/auditor/atomicfile"
	"github.com/gnaudit/gnaudit/internal/onnxpb"
)

// Opset is the ONNX operator set version of every zoo model.
const Opset = 13

// irVersion is the ONNX IR version released with opset 13 (onnx 1.8).
const irVersion = 7

// Names of the graph's input, output and symbolic batch dimension.
const (
	InputName  = "input"
	OutputName = "logits"
	BatchParam = "batch"
)

// Defaults used for zero fields of Options.
var (
	DefaultInput   = [3]int{3, 32, 32}
	DefaultClasses = 10
)

// Limits on Options, to refuse absurd requests before allocating.
const (
	maxChannels = 4096
	maxSpatial  = 4096
	maxClasses  = 1 << 20
	maxParams   = 1 << 28 // 1 GiB of float32 weights
)

// Options parameterise a zoo model. The zero value means a 3×32×32 input,
// 10 classes and seed 0.
type Options struct {
	Input   [3]int // C, H, W of one sample; all zero means DefaultInput
	Classes int    // number of classes; 0 means DefaultClasses
	Seed    int64  // seed of the He initialisation
}

func (o Options) withDefaults() Options {
	if o.Input == [3]int{} {
		o.Input = DefaultInput
	}
	if o.Classes == 0 {
		o.Classes = DefaultClasses
	}
	return o
}

func (o Options) validate() error {
	c, h, w := o.Input[0], o.Input[1], o.Input[2]
	if c < 1 || c > maxChannels {
		return fmt.Errorf("input channels %d out of range [1, %d]", c, maxChannels)
	}
	if h < 1 || h > maxSpatial || w < 1 || w > maxSpatial {
		return fmt.Errorf("input size %dx%d out of range [1, %d]", h, w, maxSpatial)
	}
	if o.Classes < 1 || o.Classes > maxClasses {
		return fmt.Errorf("classes %d out of range [1, %d]", o.Classes, maxClasses)
	}
	return nil
}

// Spec describes one model of the zoo.
type Spec struct {
	Name        string
	Description string
	build       func(g *graphBuilder, o Options) error
}

var zoo = []Spec{
	{
		Name: "alexnet-cifar",
		Description: "the paper's CIFAR AlexNet: 5 convs (64 11x11/4, 192 5x5, 384, 256, 256 3x3), " +
			"ReLU, 2x2 max-pools after conv1, conv2, conv5; FC 256, 256, classes",
		build: func(g *graphBuilder, o Options) error { return buildAlexNet(g, o, false) },
	},
	{
		Name:        "alexnet-cifar-bn",
		Description: "alexnet-cifar with BatchNormalization before every ReLU (conv and FC)",
		build:       func(g *graphBuilder, o Options) error { return buildAlexNet(g, o, true) },
	},
	{
		Name: "resnet20",
		Description: "CIFAR ResNet-20: conv 16, 3 stages x 3 basic blocks (16, 32, 64 channels), " +
			"1x1 conv+BN projection shortcuts, global average pool, FC",
		build: func(g *graphBuilder, o Options) error { return buildResNet(g, o, 3) },
	},
	{
		Name: "resnet56",
		Description: "CIFAR ResNet-56: conv 16, 3 stages x 9 basic blocks (16, 32, 64 channels), " +
			"1x1 conv+BN projection shortcuts, global average pool, FC",
		build: func(g *graphBuilder, o Options) error { return buildResNet(g, o, 9) },
	},
}

// List returns the zoo's models in a fixed order.
func List() []Spec {
	return append([]Spec(nil), zoo...)
}

// Names returns the zoo's model names in List order.
func Names() []string {
	names := make([]string, len(zoo))
	for i, s := range zoo {
		names[i] = s.Name
	}
	return names
}

// Build returns a freshly initialised ONNX model of the zoo.
func Build(name string, opt Options) (*onnxpb.ModelProto, error) {
	var spec *Spec
	for i := range zoo {
		if zoo[i].Name == name {
			spec = &zoo[i]
		}
	}
	if spec == nil {
		return nil, fmt.Errorf("models: unknown model %q (have %s)", name, strings.Join(Names(), ", "))
	}
	opt = opt.withDefaults()
	if err := opt.validate(); err != nil {
		return nil, fmt.Errorf("models: %s: %w", name, err)
	}
	g := newGraphBuilder(opt.Seed)
	if err := spec.build(g, opt); err != nil {
		return nil, fmt.Errorf("models: %s with input %s: %w", name, FormatInput(opt.Input), err)
	}
	if g.err != nil {
		return nil, fmt.Errorf("models: %s with input %s: %w", name, FormatInput(opt.Input), g.err)
	}
	c, h, w := int64(opt.Input[0]), int64(opt.Input[1]), int64(opt.Input[2])
	graph := &onnxpb.GraphProto{
		Name:        proto.String(name),
		Node:        g.nodes,
		Initializer: g.inits,
		Input:       []*onnxpb.ValueInfoProto{tensorValue(InputName, BatchParam, c, h, w)},
		Output:      []*onnxpb.ValueInfoProto{tensorValue(OutputName, BatchParam, int64(opt.Classes))},
	}
	meta := func(k, v string) *onnxpb.StringStringEntryProto {
		return &onnxpb.StringStringEntryProto{Key: proto.String(k), Value: proto.String(v)}
	}
	m := &onnxpb.ModelProto{
		IrVersion:       proto.Int64(irVersion),
		OpsetImport:     []*onnxpb.OperatorSetIdProto{{Domain: proto.String(""), Version: proto.Int64(Opset)}},
		ProducerName:    proto.String("gnaudit"),
		ProducerVersion: proto.String("models"),
		ModelVersion:    proto.Int64(1),
		DocString:       proto.String(spec.Description),
		Graph:           graph,
		MetadataProps: []*onnxpb.StringStringEntryProto{
			meta("gnaudit.model", name),
			meta("gnaudit.input", FormatInput(opt.Input)),
			meta("gnaudit.classes", strconv.Itoa(opt.Classes)),
			meta("gnaudit.seed", strconv.FormatInt(opt.Seed, 10)),
		},
	}
	return m, nil
}

// Write marshals m and writes it to path (through a temporary file in the
// same directory, renamed into place).
func Write(path string, m *onnxpb.ModelProto) error {
	if m == nil {
		return errors.New("models: write: nil model")
	}
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
	if err != nil {
		return fmt.Errorf("models: encode %s: %w", path, err)
	}
	if err := atomicfile.WriteFile(path, b); err != nil {
		return fmt.Errorf("models: %w", err)
	}
	return nil
}

// Param describes one initializer of a model.
type Param struct {
	Name      string
	Dims      []int64
	Size      int64 // number of elements
	Trainable bool  // false for BatchNormalization running mean and variance
}

// Params lists the initializers of m in file order. An initializer is
// trainable unless it is only used as the running mean or variance (inputs 3
// and 4) of BatchNormalization nodes.
func Params(m *onnxpb.ModelProto) []Param {
	g := m.GetGraph()
	stats := map[string]bool{}  // used as BN mean/var
	others := map[string]bool{} // used elsewhere
	for _, n := range g.GetNode() {
		for i, in := range n.GetInput() {
			if n.GetOpType() == "BatchNormalization" && (i == 3 || i == 4) {
				stats[in] = true
			} else {
				others[in] = true
			}
		}
	}
	out := make([]Param, 0, len(g.GetInitializer()))
	for _, t := range g.GetInitializer() {
		size := int64(1)
		for _, d := range t.GetDims() {
			size *= d
		}
		out = append(out, Param{
			Name:      t.GetName(),
			Dims:      append([]int64(nil), t.GetDims()...),
			Size:      size,
			Trainable: !stats[t.GetName()] || others[t.GetName()],
		})
	}
	return out
}

// ParamCount is the number of trainable parameters (elements) of m.
func ParamCount(m *onnxpb.ModelProto) int64 {
	var n int64
	for _, p := range Params(m) {
		if p.Trainable {
			n += p.Size
		}
	}
	return n
}

// ParseInput parses an input shape written C×H×W as "3x32x32" (also "3,32,32").
func ParseInput(s string) ([3]int, error) {
	var out [3]int
	parts := strings.FieldsFunc(strings.ToLower(s), func(r rune) bool { return r == 'x' || r == ',' || r == '×' })
	if len(parts) != 3 {
		return out, fmt.Errorf("input shape %q: want CxHxW, e.g. 3x32x32", s)
	}
	for i, p := range parts {
		v, err := strconv.Atoi(strings.TrimSpace(p))
		if err != nil || v < 1 {
			return out, fmt.Errorf("input shape %q: %q is not a positive integer", s, p)
		}
		out[i] = v
	}
	return out, nil
}

// FormatInput writes an input shape as "3x32x32".
func FormatInput(in [3]int) string {
	return fmt.Sprintf("%dx%dx%d", in[0], in[1], in[2])
}
