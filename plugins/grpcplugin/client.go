package grpcplugin

import (
	"context"
	"errors"
	"fmt"
	"sort"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/gnaudit/gnaudit/plugins"
	pb "github.com/gnaudit/gnaudit/plugins/grpcplugin/internal/proto"
)

// Client is a plugins.Analysis served by a remote plugin over gRPC.
type Client struct {
	pb         pb.AnalysisClient
	chunkBytes int
	// wrapErr adds context (e.g. the plugin's stderr) to transport errors.
	wrapErr func(error) error
}

// NewClient returns the Analysis behind conn. chunkBytes bounds the payload
// of each streamed message (0: DefaultChunkBytes).
func NewClient(conn grpc.ClientConnInterface, chunkBytes int) *Client {
	return &Client{pb: pb.NewAnalysisClient(conn), chunkBytes: clampChunk(int64(chunkBytes))}
}

func (c *Client) wrap(err error) error {
	if err == nil {
		return nil
	}
	if s, ok := status.FromError(err); ok {
		switch s.Code() {
		case codes.Unknown, codes.Internal, codes.InvalidArgument:
			err = errors.New(s.Message())
		case codes.Canceled, codes.DeadlineExceeded:
			err = fmt.Errorf("%s: %w", s.Message(), context.DeadlineExceeded)
		default:
			err = fmt.Errorf("%s (%s)", s.Message(), s.Code())
		}
	}
	if c.wrapErr != nil {
		return c.wrapErr(err)
	}
	return err
}

// Describe implements plugins.Analysis.
func (c *Client) Describe(ctx context.Context) (plugins.Description, error) {
	d, err := c.pb.Describe(ctx, &pb.DescribeRequest{})
	if err != nil {
		return plugins.Description{}, c.wrap(err)
	}
	return descFromPB(d), nil
}

// Start implements plugins.Analysis: it opens the Run stream. The stream
// outlives ctx; each later call ends it when that call's context ends.
func (c *Client) Start(ctx context.Context, req *plugins.StartRequest) (plugins.Session, error) {
	sctx, cancel := context.WithCancel(context.Background())
	s := &session{c: c, cancel: cancel, info: req.Set}
	err := s.guard(ctx, func() error {
		var err error
		s.stream, err = c.pb.Run(sctx)
		if err != nil {
			return err
		}
		if err := s.stream.Send(&pb.RunRequest{Msg: &pb.RunRequest_Start{Start: &pb.Start{
			Set: setInfoToPB(req.Set), Params: req.Params, ChunkBytes: int64(c.chunkBytes), Revision: ProtocolRevision}}}); err != nil {
			return err
		}
		msg, err := s.stream.Recv()
		if err != nil {
			return err
		}
		if msg.GetStarted() == nil {
			return fmt.Errorf("protocol error: got %T, want Started", msg.Msg)
		}
		return nil
	})
	if err != nil {
		cancel()
		return nil, err
	}
	return s, nil
}

type session struct {
	c      *Client
	stream pb.Analysis_RunClient
	cancel context.CancelFunc
	info   plugins.SetInfo
}

// guard runs fn, cancelling the stream if ctx ends first, and maps errors.
func (s *session) guard(ctx context.Context, fn func() error) error {
	stop := context.AfterFunc(ctx, s.cancel)
	err := fn()
	stop()
	if err != nil {
		s.cancel()
		if ctx.Err() != nil {
			return fmt.Errorf("%w (plugin stream cancelled)", ctx.Err())
		}
		// A send error hides the real one: the stream's status.
		if errors.Is(err, errSend) {
			if _, rerr := s.stream.Recv(); rerr != nil {
				err = rerr
			}
		}
		return s.c.wrap(err)
	}
	return nil
}

var errSend = errors.New("send failed")

func (s *session) send(m *pb.RunRequest) error {
	if err := s.stream.Send(m); err != nil {
		return fmt.Errorf("%w: %v", errSend, err)
	}
	return nil
}

// Layer implements plugins.Session.
func (s *session) Layer(ctx context.Context, in *plugins.LayerInput) (*plugins.LayerResult, error) {
	var res *plugins.LayerResult
	err := s.guard(ctx, func() error {
		if err := sendLayer(s.send, in.Index, in.Layer, s.c.chunkBytes); err != nil {
			return err
		}
		names := make([]string, 0, len(in.Prior))
		for n := range in.Prior {
			names = append(names, n)
		}
		sort.Strings(names)
		sendPrior := func(c *pb.ValueChunk) error {
			return s.send(&pb.RunRequest{Msg: &pb.RunRequest_Prior{Prior: c}})
		}
		for _, n := range names {
			p := in.Prior[n]
			if p == nil {
				continue
			}
			if err := sendValues(sendPrior, pb.Section_PER_COORDINATE, n, p.PerCoordinate, s.c.chunkBytes); err != nil {
				return err
			}
			if err := sendValues(sendPrior, pb.Section_LAYER_SUMMARY, n, p.Summary, s.c.chunkBytes); err != nil {
				return err
			}
		}
		if err := s.send(&pb.RunRequest{Msg: &pb.RunRequest_LayerEnd{LayerEnd: &pb.LayerEnd{}}}); err != nil {
			return err
		}
		asm := newValueAssembler()
		for {
			msg, err := s.stream.Recv()
			if err != nil {
				return err
			}
			switch m := msg.Msg.(type) {
			case *pb.RunResponse_Value:
				if m.Value.Section == pb.Section_MODEL_SUMMARY {
					return fmt.Errorf("malformed result: model value %q inside layer %q", m.Value.Key, in.Layer.Parameter)
				}
				if err := asm.add(m.Value); err != nil {
					return fmt.Errorf("malformed result: %w", err)
				}
			case *pb.RunResponse_LayerDone:
				if err := asm.complete(); err != nil {
					return fmt.Errorf("malformed result: %w", err)
				}
				res = &plugins.LayerResult{
					Parameter:     m.LayerDone.Parameter,
					PerCoordinate: asm.section(pb.Section_PER_COORDINATE, ""),
					Summary:       asm.section(pb.Section_LAYER_SUMMARY, ""),
				}
				return nil
			default:
				return fmt.Errorf("protocol error: got %T during layer %q", msg.Msg, in.Layer.Parameter)
			}
		}
	})
	return res, err
}

// Finish implements plugins.Session.
func (s *session) Finish(ctx context.Context) ([]plugins.Value, error) {
	var out []plugins.Value
	err := s.guard(ctx, func() error {
		if err := s.send(&pb.RunRequest{Msg: &pb.RunRequest_Finish{Finish: &pb.Finish{}}}); err != nil {
			return err
		}
		asm := newValueAssembler()
		for {
			msg, err := s.stream.Recv()
			if err != nil {
				return err
			}
			switch m := msg.Msg.(type) {
			case *pb.RunResponse_Value:
				if m.Value.Section != pb.Section_MODEL_SUMMARY {
					return fmt.Errorf("malformed result: layer value %q after Finish", m.Value.Key)
				}
				if err := asm.add(m.Value); err != nil {
					return fmt.Errorf("malformed result: %w", err)
				}
			case *pb.RunResponse_Finished:
				if err := asm.complete(); err != nil {
					return fmt.Errorf("malformed result: %w", err)
				}
				out = asm.section(pb.Section_MODEL_SUMMARY, "")
				_ = s.stream.CloseSend()
				return nil
			default:
				return fmt.Errorf("protocol error: got %T after Finish", msg.Msg)
			}
		}
	})
	s.cancel()
	return out, err
}

// Close ends the stream (a no-op after Finish).
func (s *session) Close() error {
	s.cancel()
	return nil
}
