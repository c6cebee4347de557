// Command jarquebera is an example external analysis plugin for gnaudit: the
// Jarque–Bera normality test on the mini-batch noise of every tested
// coordinate and batch size, a cheaper and less powerful alternative to the
// built-in Shapiro–Wilk analysis.
//
// Build it and hand it to an audit:
//
//	go build -o jarquebera ./plugins/examples/jarquebera
//	gnaudit audit --plugin ./jarquebera ...
//
// It is a complete plugin: Describe declares the name, version and
// parameters; Start receives the set's metadata and the resolved parameters;
// Layer gets one noise.Layer at a time and returns per-coordinate arrays and
// per-layer summary values; grpcplugin.Serve does the rest (handshake,
// protocol, chunking). See docs/plugins.md.
package main

import (
	"context"
	"errors"
	"fmt"
	"math"

	"github.com/gnaudit/gnaudit/plugins"
	"github.com/gnaudit/gnaudit/plugins/grpcplugin"
)

func main() {
	grpcplugin.Serve(jarqueBera{})
}

type jarqueBera struct{}

func (jarqueBera) Describe(context.Context) (plugins.Description, error) {
	return plugins.Description{
		Name:    "jarque-bera",
		Version: "1.0.0",
		Summary: "Jarque–Bera test per coordinate and batch size → normal % per layer",
		Params: []plugins.Param{
			{Name: "alpha", Type: plugins.TypeFloat, Default: "0.05", Doc: "a coordinate is normal when p > alpha"},
		},
	}, nil
}

func (jarqueBera) Start(_ context.Context, req *plugins.StartRequest) (plugins.Session, error) {
	alpha, err := req.Params.Float("alpha")
	if err != nil {
		return nil, err
	}
	if !(alpha > 0 && alpha < 1) {
		return nil, fmt.Errorf("alpha = %v, want 0 < alpha < 1", alpha)
	}
	return &session{alpha: alpha, batchSizes: req.Set.BatchSizes}, nil
}

type session struct {
	alpha      float64
	batchSizes []int
}

func (s *session) Layer(ctx context.Context, in *plugins.LayerInput) (*plugins.LayerResult, error) {
	l := in.Layer
	res := &plugins.LayerResult{Parameter: l.Parameter}
	var col []float64
	for k, b := range s.batchSizes {
		p := make([]float64, len(l.Coords))
		normal := 0
		for c := range l.Coords {
			col = l.Column(k, c, col)
			_, pv, err := JarqueBera(col)
			if errors.Is(err, errConstant) {
				pv = 1 // a point mass: counted normal, as the built-in does
			} else if err != nil {
				return nil, fmt.Errorf("layer %q, coordinate %d, batch size %d: %w", l.Parameter, l.Coords[c], b, err)
			}
			p[c] = pv
			if pv > s.alpha {
				normal++
			}
		}
		res.PerCoordinate = append(res.PerCoordinate, plugins.Arr("p_value", b, p))
		pct := 0.0
		if len(p) > 0 {
			pct = 100 * float64(normal) / float64(len(p))
		}
		res.Summary = append(res.Summary, plugins.Num("normal_percent", b, pct))
	}
	return res, ctx.Err()
}

func (s *session) Finish(context.Context) ([]plugins.Value, error) { return nil, nil }

var errConstant = errors.New("constant sample")

// JarqueBera returns the Jarque–Bera statistic n/6·(S² + (K−3)²/4), with
// the sample skewness S and kurtosis K about the sample mean (biased
// moments, as scipy.stats.jarque_bera), and its asymptotic χ²(2) p-value
// exp(−JB/2).
func JarqueBera(x []float64) (jb, p float64, err error) {
	n := float64(len(x))
	if len(x) < 2 {
		return math.NaN(), math.NaN(), fmt.Errorf("jarque-bera: %d values, need at least 2", len(x))
	}
	mean := 0.0
	for _, v := range x {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return math.NaN(), math.NaN(), fmt.Errorf("jarque-bera: non-finite value %v", v)
		}
		mean += v
	}
	mean /= n
	var m2, m3, m4 float64
	for _, v := range x {
		d := v - mean
		d2 := d * d
		m2 += d2
		m3 += d2 * d
		m4 += d2 * d2
	}
	m2, m3, m4 = m2/n, m3/n, m4/n
	if m2 == 0 {
		return math.NaN(), math.NaN(), errConstant
	}
	s := m3 / math.Pow(m2, 1.5)
	k := m4 / (m2 * m2)
	jb = n / 6 * (s*s + (k-3)*(k-3)/4)
	return jb, math.Exp(-jb / 2), nil
}
