package models

import (
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"

	"google.golang.org/protobuf/proto"

	"github.com/gnaudit/gnaudit/internal/onnxpb"
)

// graphBuilder accumulates the nodes and initializers of one ONNX graph.
// Intermediate values are named after the node that produces them.
type graphBuilder struct {
	seed  int64
	nodes []*onnxpb.NodeProto
	inits []*onnxpb.TensorProto
	names map[string]bool // value and node names already used
	total int64           // initializer elements so far
	err   error
}

func newGraphBuilder(seed int64) *graphBuilder {
	return &graphBuilder{seed: seed, names: map[string]bool{}}
}

// claim reserves a name; reusing one is a programming error reported by Build.
func (g *graphBuilder) claim(name string) {
	if g.names[name] && g.err == nil {
		g.err = fmt.Errorf("models: internal error: name %q used twice", name)
	}
	g.names[name] = true
}

// node appends a node named name whose single output is also called name
// (or out, when given) and returns the output's name.
func (g *graphBuilder) node(op, name string, inputs []string, attrs []*onnxpb.AttributeProto, out ...string) string {
	output := name
	if len(out) > 0 {
		output = out[0]
	}
	g.claim(output)
	g.nodes = append(g.nodes, &onnxpb.NodeProto{
		Name:      proto.String(name),
		OpType:    proto.String(op),
		Input:     inputs,
		Output:    []string{output},
		Attribute: attrs,
	})
	return output
}

// tensor adds a float32 initializer filled by fill (nil: zeros).
func (g *graphBuilder) tensor(name string, dims []int64, fill func(i int) float32) string {
	g.claim(name)
	n := int64(1)
	for _, d := range dims {
		n *= d
	}
	g.total += n
	if g.total > maxParams {
		if g.err == nil {
			g.err = fmt.Errorf("more than %d parameters (limit reached at %s)", maxParams, name)
		}
		return name
	}
	raw := make([]byte, 4*n)
	if fill != nil {
		for i := 0; i < int(n); i++ {
			binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(fill(i)))
		}
	}
	g.inits = append(g.inits, &onnxpb.TensorProto{
		Name:     proto.String(name),
		Dims:     append([]int64(nil), dims...),
		DataType: proto.Int32(int32(onnxpb.TensorProto_FLOAT)),
		RawData:  raw,
	})
	return name
}

// constant returns a fill function for a constant value.
func constant(v float32) func(int) float32 { return func(int) float32 { return v } }

// heNormal returns a fill function drawing N(0, 2/fanIn) (Kaiming normal,
// fan_in mode, ReLU gain) from a stream that depends only on the seed and the
// tensor's name, so a tensor's values do not change when other layers do.
func (g *graphBuilder) heNormal(name string, fanIn int64) func(int) float32 {
	h := fnv.New64a()
	h.Write([]byte(name))
	src := rand.NewPCG(uint64(g.seed), h.Sum64())
	std := math.Sqrt(2 / float64(fanIn))
	var spare float64
	haveSpare := false
	uniform := func() float64 { // in (0, 1], from the top 53 bits
		return (float64(src.Uint64()>>11) + 1) / (1 << 53)
	}
	return func(int) float32 {
		if haveSpare {
			haveSpare = false
			return float32(std * spare)
		}
		// Box–Muller: written out so the values depend only on PCG's
		// specified output, not on math/rand's normal sampler.
		r := math.Sqrt(-2 * math.Log(uniform()))
		theta := 2 * math.Pi * uniform()
		spare = r * math.Sin(theta)
		haveSpare = true
		return float32(std * r * math.Cos(theta))
	}
}

// conv adds a Conv node with a He-initialised weight [cout, cin, k, k]
// named prefix+".weight" and, when bias is set, a zero bias prefix+".bias".
func (g *graphBuilder) conv(prefix, in string, cin, cout, k, stride, pad int64, bias bool) string {
	w := g.tensor(prefix+".weight", []int64{cout, cin, k, k}, g.heNormal(prefix+".weight", cin*k*k))
	inputs := []string{in, w}
	if bias {
		inputs = append(inputs, g.tensor(prefix+".bias", []int64{cout}, nil))
	}
	return g.node("Conv", prefix, inputs, []*onnxpb.AttributeProto{
		onnxpb.IntsAttr("kernel_shape", k, k),
		onnxpb.IntsAttr("strides", stride, stride),
		onnxpb.IntsAttr("pads", pad, pad, pad, pad),
		onnxpb.IntsAttr("dilations", 1, 1),
		onnxpb.IntAttr("group", 1),
	})
}

// gemm adds a fully connected layer: Gemm(x, W, b) with transB=1, so the
// weight is stored [out, in] as in PyTorch's nn.Linear. Without bias the
// Gemm has two inputs.
func (g *graphBuilder) gemm(prefix, in string, fin, fout int64, bias bool, out ...string) string {
	w := g.tensor(prefix+".weight", []int64{fout, fin}, g.heNormal(prefix+".weight", fin))
	inputs := []string{in, w}
	if bias {
		inputs = append(inputs, g.tensor(prefix+".bias", []int64{fout}, nil))
	}
	return g.node("Gemm", prefix, inputs, []*onnxpb.AttributeProto{
		onnxpb.FloatAttr("alpha", 1), onnxpb.FloatAttr("beta", 1), onnxpb.IntAttr("transB", 1),
	}, out...)
}

// batchNorm adds an inference-mode BatchNormalization with scale 1, bias 0,
// running mean 0 and running variance 1 (initializers prefix+".scale",
// ".bias", ".mean", ".var"); it normalises axis 1 of any rank ≥ 2.
func (g *graphBuilder) batchNorm(prefix, in string, c int64) string {
	dims := []int64{c}
	return g.node("BatchNormalization", prefix, []string{
		in,
		g.tensor(prefix+".scale", dims, constant(1)),
		g.tensor(prefix+".bias", dims, nil),
		g.tensor(prefix+".mean", dims, nil),
		g.tensor(prefix+".var", dims, constant(1)),
	}, []*onnxpb.AttributeProto{onnxpb.FloatAttr("epsilon", bnEpsilon), onnxpb.FloatAttr("momentum", 0.9)})
}

func (g *graphBuilder) relu(name, in string) string {
	return g.node("Relu", name, []string{in}, nil)
}

// maxPool adds a MaxPool with the given kernel (= stride) per spatial axis.
func (g *graphBuilder) maxPool(name, in string, kh, kw int64) string {
	return g.node("MaxPool", name, []string{in}, []*onnxpb.AttributeProto{
		onnxpb.IntsAttr("kernel_shape", kh, kw),
		onnxpb.IntsAttr("strides", kh, kw),
		onnxpb.IntsAttr("pads", 0, 0, 0, 0),
	})
}

// bnEpsilon is the BatchNormalization epsilon (PyTorch's default).
const bnEpsilon = 1e-5

// tensorValue is a float32 ValueInfo whose first dimension is symbolic
// (batchParam) and the others fixed.
func tensorValue(name, batchParam string, dims ...int64) *onnxpb.ValueInfoProto {
	shape := &onnxpb.TensorShapeProto{}
	shape.Dim = append(shape.Dim, &onnxpb.TensorShapeProto_Dimension{
		Value: &onnxpb.TensorShapeProto_Dimension_DimParam{DimParam: batchParam},
	})
	for _, d := range dims {
		shape.Dim = append(shape.Dim, &onnxpb.TensorShapeProto_Dimension{
			Value: &onnxpb.TensorShapeProto_Dimension_DimValue{DimValue: d},
		})
	}
	return &onnxpb.ValueInfoProto{
		Name: proto.String(name),
		Type: &onnxpb.TypeProto{Value: &onnxpb.TypeProto_TensorType{TensorType: &onnxpb.TypeProto_Tensor{
			ElemType: proto.Int32(int32(onnxpb.TensorProto_FLOAT)),
			Shape:    shape,
		}}},
	}
}

// onnxpbAttr abbreviates the attribute type in node lists.
type onnxpbAttr = onnxpb.AttributeProto
