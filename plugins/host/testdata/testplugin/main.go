// Command testplugin is a plugin for the host tests: "testplugin builtin
// NAME" serves a built-in (as gnaudit plugins serve NAME does); the other
// modes misbehave on purpose: crash, hang, malformed, slow-start,
// bad-version.
package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/hashicorp/go-plugin"

	"github.com/gnaudit/gnaudit/plugins"
	"github.com/gnaudit/gnaudit/plugins/builtin"
	"github.com/gnaudit/gnaudit/plugins/grpcplugin"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: testplugin MODE [NAME]")
		os.Exit(2)
	}
	mode := os.Args[1]
	switch mode {
	case "builtin":
		a, err := builtin.Lookup(os.Args[2])
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		grpcplugin.Serve(a)
	case "slow-start":
		time.Sleep(time.Minute)
	case "bad-version":
		plugin.Serve(&plugin.ServeConfig{
			HandshakeConfig: plugin.HandshakeConfig{ProtocolVersion: 99, MagicCookieKey: grpcplugin.Handshake.MagicCookieKey,
				MagicCookieValue: grpcplugin.Handshake.MagicCookieValue},
			VersionedPlugins: map[int]plugin.PluginSet{99: {grpcplugin.PluginName: &grpcplugin.GRPCPlugin{Impl: bad{mode}}}},
			GRPCServer:       plugin.DefaultGRPCServer,
		})
	default:
		grpcplugin.Serve(bad{mode})
	}
}

type bad struct{ mode string }

func (b bad) Describe(context.Context) (plugins.Description, error) {
	return plugins.Description{Name: b.mode, Version: "0.0.1", Summary: "misbehaves: " + b.mode}, nil
}

func (b bad) Start(context.Context, *plugins.StartRequest) (plugins.Session, error) { return b, nil }

func (b bad) Layer(ctx context.Context, in *plugins.LayerInput) (*plugins.LayerResult, error) {
	switch b.mode {
	case "crash":
		fmt.Fprintln(os.Stderr, "testplugin: about to crash")
		go func() { panic("simulated crash in layer " + in.Layer.Parameter) }()
		time.Sleep(time.Minute)
	case "hang":
		select {}
	case "malformed":
		return &plugins.LayerResult{Parameter: in.Layer.Parameter,
			PerCoordinate: []plugins.Value{plugins.Arr("x", 0, make([]float64, len(in.Layer.Coords)+1))}}, nil
	}
	return &plugins.LayerResult{Parameter: in.Layer.Parameter}, nil
}

func (b bad) Finish(context.Context) ([]plugins.Value, error) { return nil, nil }
