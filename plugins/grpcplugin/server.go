package grpcplugin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime/debug"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/gnaudit/gnaudit/plugins"
	pb "github.com/gnaudit/gnaudit/plugins/grpcplugin/internal/proto"
)

// server serves a plugins.Analysis over the gRPC protocol.
type server struct {
	pb.UnimplementedAnalysisServer
	impl plugins.Analysis
}

// NewServer returns the gRPC service implementation for impl (register it
// with pb.RegisterAnalysisServer). Panics in impl become gRPC errors.
func NewServer(impl plugins.Analysis) pb.AnalysisServer { return &server{impl: impl} }

func protect(err *error) {
	if p := recover(); p != nil {
		*err = status.Errorf(codes.Internal, "panic: %v\n%s", p, debug.Stack())
	}
}

func (s *server) Describe(ctx context.Context, _ *pb.DescribeRequest) (d *pb.Description, err error) {
	defer protect(&err)
	desc, err := s.impl.Describe(ctx)
	if err != nil {
		return nil, status.Error(codes.Unknown, err.Error())
	}
	return descToPB(desc), nil
}

func (s *server) Run(stream pb.Analysis_RunServer) (err error) {
	defer protect(&err)
	ctx := stream.Context()
	msg, err := stream.Recv()
	if err != nil {
		return err
	}
	st := msg.GetStart()
	if st == nil {
		return status.Error(codes.InvalidArgument, "first message of Run must be Start")
	}
	info := setInfoFromPB(st.Set)
	chunk := clampChunk(st.ChunkBytes)
	sess, err := s.impl.Start(ctx, &plugins.StartRequest{Set: info, Params: plugins.Params(st.Params)})
	if err != nil {
		return status.Error(codes.Unknown, err.Error())
	}
	if sess == nil {
		return status.Error(codes.Internal, "Start returned no session")
	}
	if err := stream.Send(&pb.RunResponse{Msg: &pb.RunResponse_Started{Started: &pb.Started{}}}); err != nil {
		return err
	}
	sendValue := func(c *pb.ValueChunk) error {
		return stream.Send(&pb.RunResponse{Msg: &pb.RunResponse_Value{Value: c}})
	}
	var asm *layerAssembler
	for {
		msg, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return status.Error(codes.InvalidArgument, "stream ended before Finish")
		}
		if err != nil {
			return err
		}
		if asm == nil {
			switch msg.Msg.(type) {
			case *pb.RunRequest_LayerBegin, *pb.RunRequest_Finish:
			default:
				return status.Errorf(codes.InvalidArgument, "unexpected %T outside a layer", msg.Msg)
			}
		}
		switch m := msg.Msg.(type) {
		case *pb.RunRequest_LayerBegin:
			if asm != nil {
				return status.Errorf(codes.InvalidArgument, "LayerBegin %q inside layer %q", m.LayerBegin.Parameter, asm.layer.Parameter)
			}
			if asm, err = newLayerAssembler(info, m.LayerBegin); err != nil {
				return status.Error(codes.InvalidArgument, err.Error())
			}
		case *pb.RunRequest_Moments:
			if err := asm.moments(m.Moments); err != nil {
				return status.Error(codes.InvalidArgument, err.Error())
			}
		case *pb.RunRequest_Matrix:
			if err := asm.matrix(m.Matrix); err != nil {
				return status.Error(codes.InvalidArgument, err.Error())
			}
		case *pb.RunRequest_Prior:
			if err := asm.prior.add(m.Prior); err != nil {
				return status.Error(codes.InvalidArgument, err.Error())
			}
		case *pb.RunRequest_LayerEnd:
			in, err := asm.done()
			if err != nil {
				return status.Error(codes.InvalidArgument, err.Error())
			}
			res, err := sess.Layer(ctx, in)
			if err != nil {
				return status.Error(codes.Unknown, fmt.Sprintf("layer %q: %v", in.Layer.Parameter, err))
			}
			if res == nil {
				return status.Errorf(codes.Internal, "layer %q: no result", in.Layer.Parameter)
			}
			if err := sendValues(sendValue, pb.Section_PER_COORDINATE, "", res.PerCoordinate, chunk); err != nil {
				return err
			}
			if err := sendValues(sendValue, pb.Section_LAYER_SUMMARY, "", res.Summary, chunk); err != nil {
				return err
			}
			if err := stream.Send(&pb.RunResponse{Msg: &pb.RunResponse_LayerDone{LayerDone: &pb.LayerDone{Parameter: res.Parameter}}}); err != nil {
				return err
			}
			asm = nil
		case *pb.RunRequest_Finish:
			if asm != nil {
				return status.Errorf(codes.InvalidArgument, "Finish inside layer %q", asm.layer.Parameter)
			}
			vals, err := sess.Finish(ctx)
			if err != nil {
				return status.Error(codes.Unknown, fmt.Sprintf("finish: %v", err))
			}
			if err := sendValues(sendValue, pb.Section_MODEL_SUMMARY, "", vals, chunk); err != nil {
				return err
			}
			return stream.Send(&pb.RunResponse{Msg: &pb.RunResponse_Finished{Finished: &pb.Finished{}}})
		default:
			return status.Errorf(codes.InvalidArgument, "unknown message %T", msg.Msg)
		}
	}
}
