// Package grpcplugin is the only place that knows gRPC and go-plugin: it
// serves a plugins.Analysis from a plugin executable (Serve) and runs a
// plugin executable as a plugins.Analysis (Launch), over the versioned
// protocol of plugins/grpcplugin/internal/proto/analysis.proto.
package grpcplugin

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/gnaudit/gnaudit/auditor/atomicfile"
	"github.com/gnaudit/gnaudit/plugins"
	pb "github.com/gnaudit/gnaudit/plugins/grpcplugin/internal/proto"
)

// ProtocolVersion is the application protocol version of analysis.proto,
// the second field of go-plugin's handshake line.
const ProtocolVersion = 1

// ProtocolRevision is the revision of analysis.proto within ProtocolVersion:
// it counts additive changes, which old plugins ignore and old hosts leave at
// their zero value. The host sends it in Start.revision.
//
//	0  the first protocol
//	1  SetInfo.data_size (M, for the finite-population factor)
const ProtocolRevision = 1

// PluginName is the name under which a plugin serves its analysis.
const PluginName = "analysis"

// Handshake is the go-plugin handshake: the host sets the environment
// variable MagicCookieKey=MagicCookieValue when it starts a plugin, and a
// plugin started without it refuses to run (it is not meant to be run by
// hand).
var Handshake = plugin.HandshakeConfig{
	ProtocolVersion:  ProtocolVersion,
	MagicCookieKey:   "GNAUDIT_PLUGIN_COOKIE",
	MagicCookieValue: "gnaudit-analysis-9c1e7f2a",
}

// GRPCPlugin is the go-plugin glue for the analysis service. Impl is set on
// the plugin side; ChunkBytes on the host side.
type GRPCPlugin struct {
	plugin.NetRPCUnsupportedPlugin
	Impl       plugins.Analysis
	ChunkBytes int
}

// GRPCServer implements plugin.GRPCPlugin.
func (p *GRPCPlugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	if p.Impl == nil {
		return errors.New("grpcplugin: no analysis to serve")
	}
	pb.RegisterAnalysisServer(s, NewServer(p.Impl))
	return nil
}

// GRPCClient implements plugin.GRPCPlugin.
func (p *GRPCPlugin) GRPCClient(_ context.Context, _ *plugin.GRPCBroker, c *grpc.ClientConn) (any, error) {
	return NewClient(c, p.ChunkBytes), nil
}

// PluginSets returns the versioned plugin sets for impl (nil on the host).
func PluginSets(impl plugins.Analysis, chunkBytes int) map[int]plugin.PluginSet {
	return map[int]plugin.PluginSet{
		ProtocolVersion: {PluginName: &GRPCPlugin{Impl: impl, ChunkBytes: chunkBytes}},
	}
}

// Serve serves a as a plugin over the protocol and exits when the host
// closes the connection. Call it from the main function of a plugin
// executable; it does not return.
func Serve(a plugins.Analysis) {
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig:  Handshake,
		VersionedPlugins: PluginSets(a, 0),
		GRPCServer:       plugin.DefaultGRPCServer,
		Logger:           hclog.New(&hclog.LoggerOptions{Level: hclog.Warn, Output: os.Stderr, JSONFormat: true}),
	})
}

// Config says how to launch a plugin executable.
type Config struct {
	Path string
	Args []string
	// SHA256 pins the executable: when set, a file with another SHA-256
	// is refused before it runs.
	SHA256 []byte
	// StartTimeout bounds the start of the process up to the handshake
	// (0: 1 minute).
	StartTimeout time.Duration
	// ChunkBytes bounds the payload of one streamed message (0: 1 MiB).
	ChunkBytes int
	// Stderr, when set, also receives the plugin's standard error.
	Stderr io.Writer
}

// Plugin is a launched plugin subprocess; it implements plugins.Analysis.
// Close kills it.
type Plugin struct {
	*Client
	cfg    Config
	client *plugin.Client
	tail   *tailBuffer
}

// ErrChecksum is returned by Launch when the executable does not match its
// pinned SHA-256.
var ErrChecksum = errors.New("SHA-256 does not match the pin")

// FileSHA256 returns the SHA-256 of a file.
func FileSHA256(path string) ([]byte, error) { return atomicfile.SHA256Sum(path) }

// Launch starts the plugin executable, checks its pin (before it starts
// and again just before the exec), performs the handshake and returns the Analysis it serves.
func Launch(cfg Config) (*Plugin, error) {
	if cfg.SHA256 != nil {
		// Checked here for a clear message; the runner checks again right
		// before the exec.
		sum, err := FileSHA256(cfg.Path)
		if err != nil {
			return nil, fmt.Errorf("plugin %s: %w", cfg.Path, err)
		}
		if !bytes.Equal(sum, cfg.SHA256) {
			return nil, fmt.Errorf("plugin %s: %w: file has %s, pinned %s; refusing to run it",
				cfg.Path, ErrChecksum, hex.EncodeToString(sum), hex.EncodeToString(cfg.SHA256))
		}
	}
	tail := &tailBuffer{max: 4096}
	var stderr io.Writer = tail
	if cfg.Stderr != nil {
		stderr = io.MultiWriter(tail, cfg.Stderr)
	}
	st := cfg.StartTimeout
	if st <= 0 {
		st = time.Minute
	}
	cc := &plugin.ClientConfig{
		HandshakeConfig:  Handshake,
		VersionedPlugins: PluginSets(nil, cfg.ChunkBytes),
		RunnerFunc:       newGroupRunner(cfg.Path, cfg.Args, cfg.SHA256),
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		StartTimeout:     st,
		Stderr:           stderr,
		SyncStderr:       stderr,
		SyncStdout:       io.Discard,
		Logger:           hclog.NewNullLogger(),
	}
	pc := plugin.NewClient(cc)
	p := &Plugin{cfg: cfg, client: pc, tail: tail}
	rpc, err := pc.Client()
	if err != nil {
		pc.Kill()
		if errors.Is(err, plugin.ErrChecksumsDoNotMatch) {
			return nil, fmt.Errorf("plugin %s: %w; refusing to run it", cfg.Path, ErrChecksum)
		}
		return nil, p.wrapErr(fmt.Errorf("starting plugin %s: %w", cfg.Path, err))
	}
	raw, err := rpc.Dispense(PluginName)
	if err != nil {
		pc.Kill()
		return nil, p.wrapErr(fmt.Errorf("plugin %s: %w", cfg.Path, err))
	}
	c, ok := raw.(*Client)
	if !ok {
		pc.Kill()
		return nil, fmt.Errorf("plugin %s: unexpected client type %T", cfg.Path, raw)
	}
	c.wrapErr = p.wrapErr
	p.Client = c
	return p, nil
}

// wrapErr adds whether the process exited and the end of its stderr.
func (p *Plugin) wrapErr(err error) error {
	if err == nil {
		return nil
	}
	var parts []string
	if p.client != nil && (status.Code(err) == codes.Unavailable || strings.Contains(err.Error(), "(Unavailable)")) {
		// The connection broke: give a dying process a moment to be seen.
		for i := 0; i < 50 && !p.client.Exited(); i++ {
			time.Sleep(10 * time.Millisecond)
		}
	}
	if p.client != nil && p.client.Exited() {
		parts = append(parts, "plugin process exited")
	}
	if t := strings.TrimSpace(p.tail.String()); t != "" {
		parts = append(parts, "stderr: "+t)
	}
	if len(parts) == 0 {
		return err
	}
	return fmt.Errorf("%w [%s]", err, strings.Join(parts, "; "))
}

// Exited reports whether the plugin process has exited.
func (p *Plugin) Exited() bool { return p.client.Exited() }

// Close kills the plugin process. It is safe to call more than once.
func (p *Plugin) Close() error {
	p.client.Kill()
	return nil
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = append([]byte(nil), t.b[len(t.b)-t.max:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.b)
}
