package data

import (
	"fmt"
	"math"
	"slices"
	"strings"
)

// Step records one transform of a Dataset's pipeline, for reports.
type Step struct {
	// Op is "scale", "normalize", "pad", "crop", "resize" or "replicate".
	Op     string `json:"op"`
	In     Shape  `json:"in"`
	Out    Shape  `json:"out"`
	Detail string `json:"detail"` // a sentence saying what the step does
	// Parameters, by Op.
	Factor float64   `json:"factor,omitempty"` // scale: x·Factor
	Mean   []float64 `json:"mean,omitempty"`   // normalize: per channel
	Std    []float64 `json:"std,omitempty"`    // normalize: per channel
	Pad    []int     `json:"pad,omitempty"`    // pad, crop: top, bottom, left, right (rows/columns added, or removed)
	Value  float64   `json:"value,omitempty"`  // pad: fill value
	Method string    `json:"method,omitempty"` // resize: "nearest" or "bilinear"
}

// step is one transform of the pipeline.
type step interface {
	outShape() Shape
	// apply writes the transform of src (inShape) into dst (outShape); dst
	// and src do not overlap.
	apply(dst, src []float64)
	record() Step
}

// with returns d with s appended to its pipeline.
func (d Dataset) with(s step) Dataset {
	d.steps = append(slices.Clip(d.steps), s)
	d.shape = s.outShape()
	return d
}

// Scale returns d with every value multiplied by factor.
func (d Dataset) Scale(factor float64) (Dataset, error) {
	if math.IsNaN(factor) || math.IsInf(factor, 0) || factor == 0 {
		return Dataset{}, fmt.Errorf("data set %s: scale factor %v must be finite and non-zero", d.name, factor)
	}
	return d.with(scaleStep{shape: d.shape, f: factor}), nil
}

// Scale01 returns d with values divided by 255, mapping 8-bit pixels to
// [0, 1] (the usual ToTensor scaling).
func (d Dataset) Scale01() Dataset {
	return d.with(scaleStep{shape: d.shape, f: 1.0 / 255, unit: true})
}

type scaleStep struct {
	shape Shape
	f     float64
	unit  bool
}

func (s scaleStep) outShape() Shape { return s.shape }
func (s scaleStep) apply(dst, src []float64) {
	for i, v := range src {
		dst[i] = v * s.f
	}
}
func (s scaleStep) record() Step {
	detail := fmt.Sprintf("multiply every value by %g", s.f)
	if s.unit {
		detail = "divide every value by 255 (8-bit pixels to [0,1])"
	}
	return Step{Op: "scale", In: s.shape, Out: s.shape, Factor: s.f, Detail: detail}
}

// Normalize returns d with channel c mapped to (x − mean[c]) / std[c]. A
// single mean and std apply to every channel.
func (d Dataset) Normalize(mean, std []float64) (Dataset, error) {
	c := d.shape.C
	if len(mean) == 1 && len(std) == 1 && c > 1 {
		mean = slices.Repeat(mean, c)
		std = slices.Repeat(std, c)
	}
	if len(mean) != c || len(std) != c {
		return Dataset{}, fmt.Errorf("data set %s: normalisation needs %d means and standard deviations (one per channel of %v), got %d and %d",
			d.name, c, d.shape, len(mean), len(std))
	}
	for i := range std {
		if !(std[i] > 0) || math.IsInf(std[i], 0) || math.IsNaN(mean[i]) || math.IsInf(mean[i], 0) {
			return Dataset{}, fmt.Errorf("data set %s: channel %d: mean %v and std %v (std must be finite and positive)", d.name, i, mean[i], std[i])
		}
	}
	return d.with(normStep{shape: d.shape, mean: slices.Clone(mean), std: slices.Clone(std)}), nil
}

// NormalizeToStats normalises every channel with the data set's own
// per-channel mean and standard deviation ([Dataset.ChannelStats]).
func (d Dataset) NormalizeToStats() (Dataset, error) {
	mean, std := d.ChannelStats()
	return d.Normalize(mean, std)
}

type normStep struct {
	shape     Shape
	mean, std []float64
}

func (s normStep) outShape() Shape { return s.shape }
func (s normStep) apply(dst, src []float64) {
	hw := s.shape.H * s.shape.W
	for c := 0; c < s.shape.C; c++ {
		m, inv := s.mean[c], 1/s.std[c]
		for i := c * hw; i < (c+1)*hw; i++ {
			dst[i] = (src[i] - m) * inv
		}
	}
}
func (s normStep) record() Step {
	return Step{Op: "normalize", In: s.shape, Out: s.shape, Mean: s.mean, Std: s.std,
		Detail: fmt.Sprintf("per channel (x − mean)/std with mean %s, std %s", floats(s.mean), floats(s.std))}
}

// floats formats a short list of floats.
func floats(v []float64) string {
	parts := make([]string, len(v))
	for i, x := range v {
		parts[i] = fmt.Sprintf("%.6g", x)
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

// Pad returns d zero-padded (or padded with value) to h×w, the image centred:
// top = (h − H)/2 rows, the remaining rows at the bottom, and likewise for
// columns. h and w must be at least the current size.
func (d Dataset) Pad(h, w int, value float64) (Dataset, error) {
	in := d.shape
	if h < in.H || w < in.W {
		return Dataset{}, fmt.Errorf("data set %s: cannot pad %v to %d×%d (smaller; crop or resize instead)", d.name, in, h, w)
	}
	top, left := (h-in.H)/2, (w-in.W)/2
	return d.with(padStep{in: in, out: Shape{in.C, h, w}, top: top, left: left, value: value}), nil
}

type padStep struct {
	in, out   Shape
	top, left int
	value     float64
}

func (s padStep) outShape() Shape { return s.out }
func (s padStep) apply(dst, src []float64) {
	if s.value == 0 {
		clear(dst)
	} else {
		for i := range dst {
			dst[i] = s.value
		}
	}
	for c := 0; c < s.in.C; c++ {
		for y := 0; y < s.in.H; y++ {
			o := (c*s.out.H+y+s.top)*s.out.W + s.left
			i := (c*s.in.H + y) * s.in.W
			copy(dst[o:o+s.in.W], src[i:i+s.in.W])
		}
	}
}
func (s padStep) record() Step {
	pad := []int{s.top, s.out.H - s.in.H - s.top, s.left, s.out.W - s.in.W - s.left}
	return Step{Op: "pad", In: s.in, Out: s.out, Pad: pad, Value: s.value,
		Detail: fmt.Sprintf("pad %d×%d to %d×%d with %g, centred (top %d, bottom %d, left %d, right %d)",
			s.in.H, s.in.W, s.out.H, s.out.W, s.value, pad[0], pad[1], pad[2], pad[3])}
}

// Crop returns the centred h×w crop of d: top = (H − h)/2 rows removed, the
// rest at the bottom, likewise for columns.
func (d Dataset) Crop(h, w int) (Dataset, error) {
	in := d.shape
	if h > in.H || w > in.W || h <= 0 || w <= 0 {
		return Dataset{}, fmt.Errorf("data set %s: cannot crop %v to %d×%d", d.name, in, h, w)
	}
	return d.with(cropStep{in: in, out: Shape{in.C, h, w}, top: (in.H - h) / 2, left: (in.W - w) / 2}), nil
}

type cropStep struct {
	in, out   Shape
	top, left int
}

func (s cropStep) outShape() Shape { return s.out }
func (s cropStep) apply(dst, src []float64) {
	for c := 0; c < s.in.C; c++ {
		for y := 0; y < s.out.H; y++ {
			i := (c*s.in.H+y+s.top)*s.in.W + s.left
			o := (c*s.out.H + y) * s.out.W
			copy(dst[o:o+s.out.W], src[i:i+s.out.W])
		}
	}
}
func (s cropStep) record() Step {
	pad := []int{s.top, s.in.H - s.out.H - s.top, s.left, s.in.W - s.out.W - s.left}
	return Step{Op: "crop", In: s.in, Out: s.out, Pad: pad,
		Detail: fmt.Sprintf("centre-crop %d×%d to %d×%d (remove top %d, bottom %d, left %d, right %d)",
			s.in.H, s.in.W, s.out.H, s.out.W, pad[0], pad[1], pad[2], pad[3])}
}

// Resize methods.
const (
	Nearest  = "nearest"
	Bilinear = "bilinear"
)

// Resize returns d resized to h×w by method [Nearest] or [Bilinear], with
// the conventions of PyTorch's F.interpolate (align_corners=False, no
// antialiasing): nearest takes source pixel floor(dst·in/out); bilinear
// samples at source coordinate (dst + 0.5)·in/out − 0.5, clamped at 0, and
// blends the two neighbours (the last pixel is repeated at the edge).
func (d Dataset) Resize(h, w int, method string) (Dataset, error) {
	if h <= 0 || w <= 0 {
		return Dataset{}, fmt.Errorf("data set %s: resize to %d×%d", d.name, h, w)
	}
	if method != Nearest && method != Bilinear {
		return Dataset{}, fmt.Errorf("data set %s: resize method %q (want %q or %q)", d.name, method, Nearest, Bilinear)
	}
	in := d.shape
	s := resizeStep{in: in, out: Shape{in.C, h, w}, method: method}
	s.ys = axis(in.H, h, method)
	s.xs = axis(in.W, w, method)
	return d.with(s), nil
}

// tap is one output coordinate's source pixels and the weight of the second.
type tap struct {
	i0, i1 int
	l      float64
}

// axis precomputes the source taps of an axis resized from n to m.
func axis(n, m int, method string) []tap {
	t := make([]tap, m)
	scale := float64(n) / float64(m)
	for o := range t {
		if method == Nearest {
			i := min(int(math.Floor(float64(o)*scale)), n-1)
			t[o] = tap{i0: i, i1: i}
			continue
		}
		src := (float64(o)+0.5)*scale - 0.5
		if src < 0 {
			src = 0
		}
		i0 := min(int(math.Floor(src)), n-1)
		i1 := min(i0+1, n-1)
		t[o] = tap{i0: i0, i1: i1, l: src - float64(i0)}
	}
	return t
}

type resizeStep struct {
	in, out Shape
	method  string
	ys, xs  []tap
}

func (s resizeStep) outShape() Shape { return s.out }
func (s resizeStep) apply(dst, src []float64) {
	for c := 0; c < s.in.C; c++ {
		plane := src[c*s.in.H*s.in.W:]
		for oy, ty := range s.ys {
			r0 := plane[ty.i0*s.in.W:]
			r1 := plane[ty.i1*s.in.W:]
			o := dst[(c*s.out.H+oy)*s.out.W:]
			for ox, tx := range s.xs {
				top := r0[tx.i0] + tx.l*(r0[tx.i1]-r0[tx.i0])
				bot := r1[tx.i0] + tx.l*(r1[tx.i1]-r1[tx.i0])
				o[ox] = top + ty.l*(bot-top)
			}
		}
	}
}
func (s resizeStep) record() Step {
	return Step{Op: "resize", In: s.in, Out: s.out, Method: s.method,
		Detail: fmt.Sprintf("resize %d×%d to %d×%d, %s (PyTorch interpolate, align_corners=False)", s.in.H, s.in.W, s.out.H, s.out.W, s.method)}
}

// Replicate returns a grey (one-channel) data set with its channel copied to
// c channels.
func (d Dataset) Replicate(c int) (Dataset, error) {
	if d.shape.C != 1 || c < 1 {
		return Dataset{}, fmt.Errorf("data set %s: can only replicate a 1-channel image to c ≥ 1 channels (sample shape %v, c = %d)", d.name, d.shape, c)
	}
	return d.with(replicateStep{in: d.shape, out: Shape{c, d.shape.H, d.shape.W}}), nil
}

type replicateStep struct{ in, out Shape }

func (s replicateStep) outShape() Shape { return s.out }
func (s replicateStep) apply(dst, src []float64) {
	n := s.in.Size()
	for c := 0; c < s.out.C; c++ {
		copy(dst[c*n:(c+1)*n], src[:n])
	}
}
func (s replicateStep) record() Step {
	return Step{Op: "replicate", In: s.in, Out: s.out,
		Detail: fmt.Sprintf("replicate the grey channel to %d channels", s.out.C)}
}
