// Package plugins defines the Analysis interface shared by the built-in
// analyses and by plugin subprocesses, the values they return, and the Runner
// that drives a list of analyses over a noise.Set with failure isolation.
//
// An analysis sees a noise.Set one layer at a time: Start opens a session for
// the whole set (its metadata and the resolved parameters), Layer is called
// once per layer in the set's order, and Finish returns model-level values.
// Over the gRPC protocol (package plugins/grpcplugin) each layer travels as a
// stream of chunks well under gRPC's message-size limit; the analysis itself
// always receives a whole noise.Layer.
package plugins

import (
	"context"

	"github.com/gnaudit/gnaudit/auditor/noise"
)

// Analysis is one analysis of gradient noise: a built-in running in-process,
// or a plugin subprocess behind the gRPC adapter. Implementations must be safe
// for one session at a time; the Runner never runs two sessions of the same
// Analysis concurrently.
type Analysis interface {
	// Describe returns the name, version and parameters of the analysis.
	Describe(ctx context.Context) (Description, error)
	// Start opens a session over one noise set. The parameters in req are
	// already resolved against the Description (every declared parameter is
	// present, defaults filled in, types checked).
	Start(ctx context.Context, req *StartRequest) (Session, error)
}

// Session is one run of an Analysis over one noise set.
type Session interface {
	// Layer analyses one layer and returns its results. It is called once
	// per layer of the set, in order. An error fails the whole analysis.
	Layer(ctx context.Context, in *LayerInput) (*LayerResult, error)
	// Finish ends the session and returns model-level values (possibly none).
	Finish(ctx context.Context) ([]Value, error)
}

// StartRequest opens a session.
type StartRequest struct {
	Set    SetInfo
	Params Params
}

// SetInfo is the metadata of a noise.Set, without its layers.
type SetInfo struct {
	Version    int    `json:"version"`
	Model      string `json:"model"`
	Step       int    `json:"step"`
	Seed       int64  `json:"seed"`
	Pool       int    `json:"pool"`    // N, samples in the pool
	Batches    int    `json:"batches"` // n, mini-batches per batch size
	BatchSizes []int  `json:"batch_sizes"`
	Layers     int    `json:"layers"` // number of layers that will follow
	// DataSize is M, the samples of the data set the pool was drawn from
	// (0: not known, treated as infinite). It crosses the plugin protocol
	// since revision 1 (grpcplugin.ProtocolRevision); a plugin served by an
	// older host sees 0.
	DataSize int `json:"data_size,omitempty"`
}

// InfoOf returns the metadata of set.
func InfoOf(set *noise.Set) SetInfo {
	return SetInfo{
		Version:    set.Version,
		Model:      set.Model,
		Step:       set.Step,
		Seed:       set.Seed,
		Pool:       set.Pool,
		Batches:    set.Batches,
		BatchSizes: append([]int(nil), set.BatchSizes...),
		Layers:     len(set.Layers),
		DataSize:   dataSize(set),
	}
}

func dataSize(set *noise.Set) int {
	if set.Collection == nil {
		return 0
	}
	return set.Collection.DataSize
}

// LayerInput is what a session receives for one layer.
type LayerInput struct {
	// Index is the position of the layer in the set.
	Index int
	// Layer is the noise of the layer. It is shared: read it, never modify it.
	Layer *noise.Layer
	// Prior holds, for each analysis named in the Description's Needs that
	// has succeeded so far, its result for this same layer. An analysis
	// whose need failed or was not run gets no entry and must cope.
	Prior map[string]*LayerResult
}

// Description says what an analysis is and which parameters it takes.
type Description struct {
	// Name identifies the analysis in reports, flags and policies:
	// lower case letters, digits, '-' and '_'.
	Name    string  `json:"name"`
	Version string  `json:"version"`
	Summary string  `json:"summary,omitempty"`
	Params  []Param `json:"params,omitempty"`
	// Needs names analyses whose per-layer results this one reads from
	// LayerInput.Prior. The Runner runs those first.
	Needs []string `json:"needs,omitempty"`
}

// Param declares one parameter of an analysis. Values travel as strings.
type Param struct {
	Name    string    `json:"name"`
	Type    ParamType `json:"type"`
	Default string    `json:"default"`
	Doc     string    `json:"doc,omitempty"`
}

// ParamType is the type of a parameter value.
type ParamType string

// Parameter types.
const (
	TypeFloat  ParamType = "float"
	TypeInt    ParamType = "int"
	TypeBool   ParamType = "bool"
	TypeString ParamType = "string"
)
