package grpcplugin_test

import (
	"context"
	"testing"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/gnaudit/gnaudit/plugins"
	"github.com/gnaudit/gnaudit/plugins/builtin"
	"github.com/gnaudit/gnaudit/plugins/grpcplugin"
	pb "github.com/gnaudit/gnaudit/plugins/grpcplugin/internal/proto"
)

// TestDataSizeCrossesProtocol: M reaches a plugin over the wire (revision 1),
// the noise scale's finite-population factor uses it, and the result equals
// the in-process one bit for bit — and differs from data_size = inf, so the
// field is what makes them equal.
func TestDataSizeCrossesProtocol(t *testing.T) {
	set := testSet(t)
	rec := &recorder{}
	run(t, set, []plugins.Analysis{remote(t, rec, 0)}, 0)
	if rec.sess.info.DataSize != testDataSize {
		t.Fatalf("plugin saw data size %d, want %d", rec.sess.info.DataSize, testDataSize)
	}
	ns := []plugins.Analysis{builtin.NoiseScale{}}
	local := run(t, set, ns, 0)
	rem := run(t, set, []plugins.Analysis{remote(t, builtin.NoiseScale{}, 0)}, 0)
	equalResults(t, local, rem)
	for i := range set.Layers {
		if got := rem[0].Layers[i].Number(builtin.KeyDataSize, 0); got != testDataSize {
			t.Errorf("layer %d: remote noise-scale used data_size %v, want %d", i, got, testDataSize)
		}
	}
	inf := &plugins.Runner{Params: map[string]map[string]string{builtin.NoiseScaleName: {"data_size": "inf"}}}
	resInf, err := inf.Run(context.Background(), set, []plugins.Candidate{{Analysis: builtin.NoiseScale{}}})
	if err != nil {
		t.Fatal(err)
	}
	a, b := resInf[0].Layers[0].Number(builtin.KeyBSimple, 0), rem[0].Layers[0].Number(builtin.KeyBSimple, 0)
	if a == b {
		t.Errorf("B_simple %v with M = %d equals the infinite-population value: the factor was not applied", b, testDataSize)
	}
}

// TestOldHost: a host before revision 1 sends neither revision nor
// data_size; the plugin sees M = 0 (unknown, treated as infinite) and runs.
func TestOldHost(t *testing.T) {
	rec := &recorder{}
	conn, srv := plugin.TestGRPCConn(t, func(s *grpc.Server) {
		pb.RegisterAnalysisServer(s, grpcplugin.NewServer(rec))
	})
	defer srv.Stop()
	defer conn.Close()
	stream, err := pb.NewAnalysisClient(conn).Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	start := &pb.Start{Set: &pb.SetInfo{Version: 1, Model: "m", Pool: 100, Batches: 4, BatchSizes: []int64{2}}}
	for _, m := range []*pb.RunRequest{{Msg: &pb.RunRequest_Start{Start: start}}, {Msg: &pb.RunRequest_Finish{Finish: &pb.Finish{}}}} {
		if err := stream.Send(m); err != nil {
			t.Fatal(err)
		}
	}
	for _, want := range []string{"started", "finished"} {
		msg, err := stream.Recv()
		if err != nil {
			t.Fatalf("waiting for %s: %v", want, err)
		}
		if (want == "started") != (msg.GetStarted() != nil) {
			t.Fatalf("got %v, want %s", msg, want)
		}
	}
	if rec.sess.info.DataSize != 0 || rec.sess.info.Pool != 100 {
		t.Errorf("plugin saw %+v from an old host", rec.sess.info)
	}
}

// TestOldPlugin: a plugin built from the revision-0 schema (this schema
// without SetInfo.data_size and Start.revision) decodes a revision-1 Start
// with every old field intact: the change is purely additive.
func TestOldPlugin(t *testing.T) {
	fdp := protodesc.ToFileDescriptorProto(pb.File_analysis_proto)
	drop := map[string]string{"SetInfo": "data_size", "Start": "revision"}
	for _, m := range fdp.MessageType {
		if f, ok := drop[m.GetName()]; ok {
			var kept []*descriptorpb.FieldDescriptorProto
			for _, fd := range m.Field {
				if fd.GetName() != f {
					kept = append(kept, fd)
				}
			}
			if len(kept) != len(m.Field)-1 {
				t.Fatalf("%s.%s not found", m.GetName(), f)
			}
			m.Field = kept
		}
	}
	old, err := protodesc.NewFile(fdp, nil)
	if err != nil {
		t.Fatal(err)
	}
	start := &pb.Start{Set: &pb.SetInfo{Version: 1, Model: "m", Step: 7, Seed: 3, Pool: 100, Batches: 4,
		BatchSizes: []int64{2, 8}, Layers: 5, DataSize: 60000}, Params: map[string]string{"a": "b"}, ChunkBytes: 999,
		Revision: grpcplugin.ProtocolRevision}
	wire, err := proto.Marshal(start)
	if err != nil {
		t.Fatal(err)
	}
	msg := dynamicpb.NewMessage(old.Messages().ByName("Start"))
	if err := proto.Unmarshal(wire, msg); err != nil {
		t.Fatalf("old schema cannot decode a revision-1 Start: %v", err)
	}
	// Re-encode under the old schema (unknown fields dropped) and decode
	// with the new one: every old field survives, the new ones read 0.
	msg.SetUnknown(nil)
	msg.Get(old.Messages().ByName("Start").Fields().ByName("set")).Message().SetUnknown(protoreflect.RawFields(nil))
	back, err := proto.Marshal(msg)
	if err != nil {
		t.Fatal(err)
	}
	var got pb.Start
	if err := proto.Unmarshal(back, &got); err != nil {
		t.Fatal(err)
	}
	want := proto.Clone(start).(*pb.Start)
	want.Revision, want.Set.DataSize = 0, 0
	if !proto.Equal(&got, want) {
		t.Errorf("old plugin read %v, want %v", &got, want)
	}
}
