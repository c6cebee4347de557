package grpcplugin_test

import (
	"context"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	"github.com/gnaudit/gnaudit/auditor/noise"
	"github.com/gnaudit/gnaudit/plugins"
	"github.com/gnaudit/gnaudit/plugins/builtin"
	"github.com/gnaudit/gnaudit/plugins/grpcplugin"
	pb "github.com/gnaudit/gnaudit/plugins/grpcplugin/internal/proto"
	"github.com/gnaudit/gnaudit/plugins/synth"
)

func testSet(t testing.TB) *noise.Set {
	t.Helper()
	set, err := synth.Set(synth.Spec{
		Seed: 7, Pool: 2000, Batches: 40, BatchSizes: []int{4, 16, 64},
		Layers: []synth.LayerSpec{
			{Name: "a", Parameter: "a.weight", Laws: synth.Repeat(60, synth.Gaussian)},
			{Name: "b", Parameter: "b.bias", Laws: append(synth.Repeat(20, synth.Cauchy), synth.Repeat(5, synth.Zero)...)},
			{Name: "c", Parameter: "c.weight", Laws: synth.Repeat(33, synth.Exponential)},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	// The pool is drawn from a data set of M = 2500 (revision 1 sends M).
	set.Collection = &noise.Collection{DataSize: testDataSize, PoolSize: set.Pool, BatchesPerSize: set.Batches}
	return set
}

const testDataSize = 2500

// remote serves impl on a local gRPC connection and returns the client side.
func remote(t *testing.T, impl plugins.Analysis, chunkBytes int) *grpcplugin.Client {
	t.Helper()
	conn, srv := plugin.TestGRPCConn(t, func(s *grpc.Server) {
		pb.RegisterAnalysisServer(s, grpcplugin.NewServer(impl))
	})
	t.Cleanup(func() { conn.Close(); srv.Stop() })
	return grpcplugin.NewClient(conn, chunkBytes)
}

func run(t *testing.T, set *noise.Set, as []plugins.Analysis, timeout time.Duration) []*plugins.Result {
	t.Helper()
	var cands []plugins.Candidate
	for _, a := range as {
		cands = append(cands, plugins.Candidate{Analysis: a})
	}
	r := &plugins.Runner{Timeout: timeout}
	res, err := r.Run(context.Background(), set, cands)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// equalResults compares results, NaN equal to NaN, ignoring durations.
func equalResults(t *testing.T, a, b []*plugins.Result) {
	t.Helper()
	if len(a) != len(b) {
		t.Fatalf("%d vs %d results", len(a), len(b))
	}
	for i := range a {
		x, y := *a[i], *b[i]
		x.Duration, y.Duration = 0, 0
		if x.Failed() || y.Failed() {
			t.Fatalf("failure: %v / %v", x.Failure, y.Failure)
		}
		if !reflect.DeepEqual(nanless(x), nanless(y)) {
			t.Errorf("analysis %s: results differ in-process vs over gRPC", x.Description.Name)
		}
	}
}

// nanless replaces NaN by a sentinel so that DeepEqual treats NaN == NaN.
func nanless(r plugins.Result) plugins.Result {
	fix := func(vs []plugins.Value) []plugins.Value {
		out := make([]plugins.Value, len(vs))
		for i, v := range vs {
			if math.IsNaN(v.Number) {
				v.Number = -12345.678
			}
			if v.Array != nil {
				arr := make([]float64, len(v.Array))
				for j, x := range v.Array {
					if math.IsNaN(x) {
						x = -12345.678
					}
					arr[j] = x
				}
				v.Array = arr
			}
			out[i] = v
		}
		return out
	}
	var layers []*plugins.LayerResult
	for _, l := range r.Layers {
		layers = append(layers, &plugins.LayerResult{Parameter: l.Parameter, PerCoordinate: fix(l.PerCoordinate), Summary: fix(l.Summary)})
	}
	r.Layers = layers
	r.Model = fix(r.Model)
	return r
}

// TestBuiltinsOverGRPCEqualInProcess: the built-ins give identical results
// through the protocol, with chunk sizes that split every array into many
// messages and with the default.
func TestBuiltinsOverGRPCEqualInProcess(t *testing.T) {
	set := testSet(t)
	local := run(t, set, builtin.All(), 0)
	for _, chunk := range []int{64, 1000, 0} {
		var rem []plugins.Analysis
		for _, a := range builtin.All() {
			rem = append(rem, remote(t, a, chunk))
		}
		equalResults(t, local, run(t, set, rem, 0))
	}
	// The prior (normality → kurtosis-bound) crossed the wire.
	kb := local[1]
	if kb.Description.Name != builtin.KurtosisBoundName {
		t.Fatalf("order: %s", kb.Description.Name)
	}
	if math.IsNaN(kb.Layers[0].Number(builtin.KeyMeasuredPercent, 16)) {
		t.Error("measured percent missing: prior not passed")
	}
}

// echo returns what it received, so the test can check that a layer is
// reassembled exactly from its chunks.
type echo struct{}

func (echo) Describe(context.Context) (plugins.Description, error) {
	return plugins.Description{Name: "echo", Version: "1"}, nil
}

func (echo) Start(_ context.Context, req *plugins.StartRequest) (plugins.Session, error) {
	return &echoSession{info: req.Set}, nil
}

type echoSession struct {
	info   plugins.SetInfo
	layers []*noise.Layer
}

func (s *echoSession) Layer(_ context.Context, in *plugins.LayerInput) (*plugins.LayerResult, error) {
	s.layers = append(s.layers, in.Layer)
	return &plugins.LayerResult{Parameter: in.Layer.Parameter}, nil
}

func (s *echoSession) Finish(context.Context) ([]plugins.Value, error) { return nil, nil }

func TestLayerReassembledExactly(t *testing.T) {
	set := testSet(t)
	set.Layers[1].TraceCov = math.Inf(1) // odd values travel too
	set.Layers[0].MiniBatch[0][3] = float32(math.NaN())
	impl := &recorder{}
	run(t, set, []plugins.Analysis{remote(t, impl, 100)}, 0)
	if len(impl.sess.layers) != len(set.Layers) {
		t.Fatalf("%d layers received", len(impl.sess.layers))
	}
	for i := range set.Layers {
		want, got := set.Layers[i], *impl.sess.layers[i]
		if math.IsNaN(float64(want.MiniBatch[0][3])) {
			if !math.IsNaN(float64(got.MiniBatch[0][3])) {
				t.Error("NaN lost")
			}
			want.MiniBatch = cloneWithout(want.MiniBatch)
			got.MiniBatch = cloneWithout(got.MiniBatch)
		}
		if !reflect.DeepEqual(want, got) {
			t.Errorf("layer %d differs after the trip:\nwant %+v\ngot  %+v", i, want.Coords[:3], got.Coords[:3])
		}
	}
	if !reflect.DeepEqual(impl.sess.info, plugins.InfoOf(set)) {
		t.Errorf("set info %+v, want %+v", impl.sess.info, plugins.InfoOf(set))
	}
}

func cloneWithout(m [][]float32) [][]float32 {
	out := make([][]float32, len(m))
	for i := range m {
		out[i] = append([]float32(nil), m[i]...)
		for j, x := range out[i] {
			if x != x {
				out[i][j] = 0
			}
		}
	}
	return out
}

type recorder struct {
	echo
	sess *echoSession
}

func (r *recorder) Start(ctx context.Context, req *plugins.StartRequest) (plugins.Session, error) {
	s, _ := r.echo.Start(ctx, req)
	r.sess = s.(*echoSession)
	return s, nil
}

// bad misbehaves in a chosen way.
type bad struct {
	mode string
}

func (b bad) Describe(context.Context) (plugins.Description, error) {
	return plugins.Description{Name: "bad-" + b.mode, Version: "1"}, nil
}

func (b bad) Start(context.Context, *plugins.StartRequest) (plugins.Session, error) {
	if b.mode == "start-error" {
		return nil, errors.New("cannot start: no GPU")
	}
	return &badSession{mode: b.mode}, nil
}

type badSession struct{ mode string }

func (s *badSession) Layer(ctx context.Context, in *plugins.LayerInput) (*plugins.LayerResult, error) {
	switch s.mode {
	case "short-array":
		return &plugins.LayerResult{Parameter: in.Layer.Parameter, PerCoordinate: []plugins.Value{plugins.Arr("x", 0, []float64{1})}}, nil
	case "wrong-layer":
		return &plugins.LayerResult{Parameter: "other"}, nil
	case "bad-batch":
		return &plugins.LayerResult{Parameter: in.Layer.Parameter, Summary: []plugins.Value{plugins.Num("x", 3, 1)}}, nil
	case "bad-hist":
		return &plugins.LayerResult{Parameter: in.Layer.Parameter, Summary: []plugins.Value{plugins.Hist("h", 0, &plugins.Histogram{Edges: []float64{1, 0}, Counts: []int64{1}})}}, nil
	case "panic":
		panic("index out of range [7]")
	case "hang":
		time.Sleep(10 * time.Second) // ignores ctx
	case "error":
		return nil, errors.New("out of memory in layer")
	}
	return &plugins.LayerResult{Parameter: in.Layer.Parameter}, nil
}

func (s *badSession) Finish(context.Context) ([]plugins.Value, error) { return nil, nil }

func TestFailuresOverGRPC(t *testing.T) {
	set := testSet(t)
	for _, tc := range []struct {
		mode, stage, reason string
	}{
		{"short-array", "layer a.weight", "malformed result: per-coordinate array \"x\" (batch size 0) has 1 entries for 60"},
		{"wrong-layer", "layer a.weight", "malformed result: result names layer \"other\""},
		{"bad-batch", "layer a.weight", "batch size 3 was not audited"},
		{"bad-hist", "layer a.weight", "not strictly increasing"},
		{"panic", "layer a.weight", "panic: index out of range [7]"},
		{"error", "layer a.weight", "out of memory in layer"},
		{"start-error", "start", "cannot start: no GPU"},
		{"hang", "layer a.weight", "timed out after 300ms"},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			res := run(t, set, []plugins.Analysis{remote(t, bad{mode: tc.mode}, 0), remote(t, builtin.NoiseScale{}, 0)}, 300*time.Millisecond)
			f := res[0].Failure
			if f == nil {
				t.Fatal("no failure reported")
			}
			if f.Stage != tc.stage || !strings.Contains(f.Reason, tc.reason) {
				t.Errorf("failure at %q: %q; want at %q containing %q", f.Stage, f.Reason, tc.stage, tc.reason)
			}
			if res[0].Layers != nil {
				t.Error("results of a failed analysis kept")
			}
			if res[1].Failed() || len(res[1].Layers) != len(set.Layers) {
				t.Errorf("the other analysis did not survive: %+v", res[1].Failure)
			}
		})
	}
}

// rawServer sends hand-made (malformed) responses.
type rawServer struct {
	pb.UnimplementedAnalysisServer
	reply func(layer *pb.LayerBegin) []*pb.RunResponse
}

func (s *rawServer) Describe(context.Context, *pb.DescribeRequest) (*pb.Description, error) {
	return &pb.Description{Name: "raw", Version: "1"}, nil
}

func (s *rawServer) Run(stream pb.Analysis_RunServer) error {
	var begin *pb.LayerBegin
	for {
		m, err := stream.Recv()
		if err != nil {
			return err
		}
		switch x := m.Msg.(type) {
		case *pb.RunRequest_Start:
			stream.Send(&pb.RunResponse{Msg: &pb.RunResponse_Started{Started: &pb.Started{}}})
		case *pb.RunRequest_LayerBegin:
			begin = x.LayerBegin
		case *pb.RunRequest_LayerEnd:
			for _, r := range s.reply(begin) {
				if err := stream.Send(r); err != nil {
					return err
				}
			}
		case *pb.RunRequest_Finish:
			return stream.Send(&pb.RunResponse{Msg: &pb.RunResponse_Finished{Finished: &pb.Finished{}}})
		}
	}
}

func val(key string, arr *pb.ArrayChunk) *pb.RunResponse {
	return &pb.RunResponse{Msg: &pb.RunResponse_Value{Value: &pb.ValueChunk{Section: pb.Section_PER_COORDINATE, Key: key, Value: &pb.ValueChunk_Array{Array: arr}}}}
}

func done(p string) *pb.RunResponse {
	return &pb.RunResponse{Msg: &pb.RunResponse_LayerDone{LayerDone: &pb.LayerDone{Parameter: p}}}
}

func TestMalformedChunks(t *testing.T) {
	set := testSet(t)
	for _, tc := range []struct {
		name   string
		reply  func(b *pb.LayerBegin) []*pb.RunResponse
		reason string
	}{
		{"gap", func(b *pb.LayerBegin) []*pb.RunResponse {
			return []*pb.RunResponse{val("x", &pb.ArrayChunk{Offset: 0, Total: b.Coords, Values: []float64{1}}),
				val("x", &pb.ArrayChunk{Offset: 5, Total: b.Coords, Values: []float64{1}}), done(b.Parameter)}
		}, "array chunk at offset 5 (+1), expected offset 1"},
		{"incomplete", func(b *pb.LayerBegin) []*pb.RunResponse {
			return []*pb.RunResponse{val("x", &pb.ArrayChunk{Offset: 0, Total: b.Coords, Values: []float64{1}}), done(b.Parameter)}
		}, "received 1 of 60 array entries"},
		{"huge", func(b *pb.LayerBegin) []*pb.RunResponse {
			return []*pb.RunResponse{val("x", &pb.ArrayChunk{Offset: 0, Total: 1 << 40}), done(b.Parameter)}
		}, "first array chunk at offset 0 of 1099511627776"},
		{"empty", func(b *pb.LayerBegin) []*pb.RunResponse {
			return []*pb.RunResponse{{Msg: &pb.RunResponse_Value{Value: &pb.ValueChunk{Section: pb.Section_LAYER_SUMMARY, Key: "k"}}}, done(b.Parameter)}
		}, "has no content"},
		{"finished-early", func(b *pb.LayerBegin) []*pb.RunResponse {
			return []*pb.RunResponse{{Msg: &pb.RunResponse_Finished{Finished: &pb.Finished{}}}}
		}, "protocol error"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conn, srv := plugin.TestGRPCConn(t, func(s *grpc.Server) {
				pb.RegisterAnalysisServer(s, &rawServer{reply: tc.reply})
			})
			defer srv.Stop()
			defer conn.Close()
			res := run(t, set, []plugins.Analysis{grpcplugin.NewClient(conn, 0)}, 2*time.Second)
			if f := res[0].Failure; f == nil || !strings.Contains(f.Reason, tc.reason) {
				t.Errorf("failure %v, want reason containing %q", f, tc.reason)
			}
		})
	}
}

// TestPluginGlue runs an analysis through go-plugin's own gRPC plumbing
// (GRPCPlugin, Dispense) without a subprocess.
func TestPluginGlue(t *testing.T) {
	ps := grpcplugin.PluginSets(builtin.NoiseScale{}, 0)[grpcplugin.ProtocolVersion]
	client, server := plugin.TestPluginGRPCConn(t, false, ps)
	defer client.Close()
	defer server.Stop()
	raw, err := client.Dispense(grpcplugin.PluginName)
	if err != nil {
		t.Fatal(err)
	}
	a, ok := raw.(plugins.Analysis)
	if !ok {
		t.Fatalf("dispensed %T", raw)
	}
	set := testSet(t)
	equalResults(t, run(t, set, []plugins.Analysis{builtin.NoiseScale{}}, 0), run(t, set, []plugins.Analysis{a}, 0))
}
