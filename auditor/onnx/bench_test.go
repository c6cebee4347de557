package onnx

import (
	"encoding/binary"
	"math"
	"strconv"
	"testing"

	"github.com/gnaudit/gnaudit/auditor/ir"
	"github.com/gnaudit/gnaudit/internal/onnxpb"
	"google.golang.org/protobuf/proto"
)

// bigMLP is a 3-layer MLP with about 4.2 million float32 parameters stored
// as raw_data, as exporters write them.
func bigMLP(b testing.TB) []byte {
	g := newGraph(13).input("x", "N", 1024).output("y")
	dims := [][2]int64{{1024, 2048}, {2048, 1024}, {1024, 10}}
	x := "x"
	for k, d := range dims {
		raw := make([]byte, 4*d[0]*d[1])
		for i := int64(0); i < d[0]*d[1]; i++ {
			binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(float32(i%97)/97))
		}
		w, bias := "w"+strconv.Itoa(k), "b"+strconv.Itoa(k)
		g.init(&onnxpb.TensorProto{Name: proto.String(w), DataType: proto.Int32(int32(ir.Float)), Dims: []int64{d[0], d[1]}, RawData: raw})
		g.initF(bias, d[1])
		out := "h" + strconv.Itoa(k)
		if k == len(dims)-1 {
			out = "y"
		}
		g.node("Gemm", []string{x, w, bias}, []string{out})
		x = out
	}
	return g.bytes(b)
}

// BenchmarkDecode compares decoding through onnx-go (the design's path)
// with reading the protobuf alone, on a 4.2M-parameter MLP.
func BenchmarkDecode(b *testing.B) {
	data := bigMLP(b)
	for _, c := range []struct {
		name   string
		onnxGo bool
	}{{"onnx-go", true}, {"onnxpb-only", false}} {
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			for i := 0; i < b.N; i++ {
				if _, _, err := decode(data, "big.onnx", c.onnxGo); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
