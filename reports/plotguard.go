package reports

import (
	"fmt"
	"math"

	"gonum.org/v1/plot"

	"github.com/gnaudit/gnaudit/plugins"
)

// The plot guards: gonum/plot panics ("illegal range") or loops in its
// tick generation on non-finite values, on huge ones and on ranges tiny
// against their magnitude (a model whose weights are all 1e30 gives such a
// loss curve). Values outside ±maxPlotValue never reach a plot, every axis
// gets a range gonum can draw, and a panic while drawing becomes an error.

// maxPlotValue bounds the magnitude of a drawn value.
const maxPlotValue = 1e12

// plottable reports whether v may be drawn.
func plottable(v float64) bool {
	return !math.IsNaN(v) && !math.IsInf(v, 0) && math.Abs(v) <= maxPlotValue
}

// safeRange sets the axis range to cover [lo, hi] with a span gonum can
// tick: a degenerate or relatively tiny span is widened around its centre.
func safeRange(a *plot.Axis, lo, hi float64) {
	if lo > hi {
		lo, hi = hi, lo
	}
	scale := math.Max(1, math.Max(math.Abs(lo), math.Abs(hi)))
	if hi-lo < 1e-6*scale {
		c := lo/2 + hi/2
		lo, hi = c-1e-3*scale, c+1e-3*scale
	}
	a.Min, a.Max = lo, hi
}

// histogramPlottable reports whether h has increasing, plottable edges,
// one count per bin.
func histogramPlottable(h *plugins.Histogram) bool {
	if h == nil || len(h.Counts) == 0 || len(h.Edges) != len(h.Counts)+1 {
		return false
	}
	for i, e := range h.Edges {
		if !plottable(e) || (i > 0 && !(e > h.Edges[i-1])) {
			return false
		}
	}
	lo, hi := h.Edges[0], h.Edges[len(h.Edges)-1]
	return hi-lo >= 1e-6*math.Max(1, math.Max(math.Abs(lo), math.Abs(hi)))
}

// drawSafely runs draw, turning a panic of gonum/plot into an error.
func drawSafely(path string, draw func()) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("drawing %s: %v", path, r)
		}
	}()
	draw()
	return nil
}
