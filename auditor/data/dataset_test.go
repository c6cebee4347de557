package data

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/gnaudit/gnaudit/internal/approx"
)

// synth builds an in-memory data set: n samples of shape s, value
// v(i, k) = i + k/10 for flat index k, label i mod classes.
func synth(t *testing.T, n int, s Shape, classes int) Dataset {
	t.Helper()
	pix := make([]float32, n*s.Size())
	labels := make([]int, n)
	for i := 0; i < n; i++ {
		for k := 0; k < s.Size(); k++ {
			pix[i*s.Size()+k] = float32(i) + float32(k)/10
		}
		labels[i] = i % classes
	}
	d, err := New("synth", s, pix, labels, classes)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestNewValidation(t *testing.T) {
	s := Shape{1, 2, 2}
	for _, c := range []struct {
		shape   Shape
		pix     int
		labels  []int
		classes int
		want    string
	}{
		{Shape{0, 2, 2}, 0, nil, 2, "invalid sample shape"},
		{s, 7, []int{0, 1}, 2, "7 pixel values for 2 labels"},
		{s, 8, []int{0, 2}, 2, "label 2 of sample 1 outside [0,2)"},
		{s, 8, []int{0, 1}, 0, "class count 0"},
	} {
		_, err := New("x", c.shape, make([]float32, c.pix), c.labels, c.classes)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("error %v, want %q", err, c.want)
		}
	}
}

func TestScaleNormalize(t *testing.T) {
	d := synth(t, 3, Shape{2, 1, 3}, 2)
	s := d.Scale01()
	n, err := s.Normalize([]float64{0.5, 1}, []float64{2, 4})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		got := n.Sample(i, nil)
		for k, v := range got {
			x := (float64(float32(i) + float32(k)/10)) / 255
			m, sd := 0.5, 2.0
			if k >= 3 {
				m, sd = 1, 4
			}
			if !approx.Within(t, fmt.Sprintf("sample %d value %d", i, k), v, (x-m)/sd, 1e-15, 1e-15) {
				t.FailNow()
			}
		}
	}
	if got := d.Sample(1, nil)[0]; got != 1 {
		t.Errorf("the original data set changed: %v", got)
	}
	// One mean/std for every channel.
	if _, err := s.Normalize([]float64{0}, []float64{1}); err != nil {
		t.Error(err)
	}
	for _, c := range [][2][]float64{{{0, 0, 0}, {1, 1, 1}}, {{0, 0}, {1, 0}}, {{math.NaN(), 0}, {1, 1}}} {
		if _, err := d.Normalize(c[0], c[1]); err == nil {
			t.Errorf("Normalize(%v, %v): no error", c[0], c[1])
		}
	}
	if _, err := d.Scale(0); err == nil {
		t.Error("Scale(0): no error")
	}

	// ChannelStats against a direct two-pass computation, and
	// NormalizeToStats gives mean 0, std 1.
	mean, std := d.ChannelStats()
	for c := 0; c < 2; c++ {
		var vals []float64
		for i := 0; i < 3; i++ {
			vals = append(vals, d.Sample(i, nil)[c*3:(c+1)*3]...)
		}
		m := 0.0
		for _, v := range vals {
			m += v
		}
		m /= float64(len(vals))
		q := 0.0
		for _, v := range vals {
			q += (v - m) * (v - m)
		}
		approx.Within(t, fmt.Sprintf("channel %d mean", c), mean[c], m, 1e-14, 1e-14)
		approx.Within(t, fmt.Sprintf("channel %d std", c), std[c], math.Sqrt(q/float64(len(vals))), 1e-14, 1e-14)
	}
	z, err := d.NormalizeToStats()
	if err != nil {
		t.Fatal(err)
	}
	zm, zs := z.ChannelStats()
	for c := range zm {
		approx.Abs(t, fmt.Sprintf("normalised channel %d mean", c), zm[c], 0, approx.Float64)
		approx.Abs(t, fmt.Sprintf("normalised channel %d std", c), zs[c], 1, approx.Float64)
	}
}

func TestPadCropReplicate(t *testing.T) {
	d := synth(t, 2, Shape{1, 2, 3}, 2)
	p, err := d.Pad(5, 6, 0)
	if err != nil {
		t.Fatal(err)
	}
	if p.Shape() != (Shape{1, 5, 6}) {
		t.Fatal(p.Shape())
	}
	// 2×3 in 5×6: top 1, bottom 2, left 1, right 2.
	got := p.Sample(1, nil)
	want := make([]float64, 30)
	for y := 0; y < 2; y++ {
		for x := 0; x < 3; x++ {
			want[(y+1)*6+x+1] = float64(float32(1) + float32(y*3+x)/10)
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("pad:\n got %v\nwant %v", got, want)
	}
	if st := p.Describe().Transforms[0]; !slices.Equal(st.Pad, []int{1, 2, 1, 2}) || st.Op != "pad" {
		t.Errorf("pad step %+v", st)
	}
	// Crop undoes the pad.
	c, err := p.Crop(2, 3)
	if err != nil {
		t.Fatal(err)
	}
	// Centre crop of 5×6 to 2×3 removes top 1, left 1: exactly the image.
	if !slices.Equal(c.Sample(1, nil), d.Sample(1, nil)) {
		t.Errorf("crop(pad(x)) = %v, want %v", c.Sample(1, nil), d.Sample(1, nil))
	}
	r, err := c.Replicate(3)
	if err != nil {
		t.Fatal(err)
	}
	rs := r.Sample(0, nil)
	if r.Shape() != (Shape{3, 2, 3}) || !slices.Equal(rs[:6], rs[6:12]) || !slices.Equal(rs[:6], rs[12:]) {
		t.Errorf("replicate: %v %v", r.Shape(), rs)
	}
	if _, err := r.Replicate(3); err == nil {
		t.Error("replicating 3 channels: no error")
	}
	if _, err := d.Pad(1, 3, 0); err == nil {
		t.Error("pad to smaller: no error")
	}
	if _, err := d.Crop(3, 3); err == nil {
		t.Error("crop to larger: no error")
	}
	v, _ := d.Pad(4, 3, -1)
	if s := v.Sample(0, nil); s[0] != -1 || s[3] != 0 {
		t.Errorf("pad value: %v", s)
	}
}

// TestResizeTorch compares Resize with PyTorch's F.interpolate
// (testdata/resize.json, scripts/fixtures/gen_data.py).
func TestResizeTorch(t *testing.T) {
	b, err := os.ReadFile("testdata/resize.json")
	if err != nil {
		t.Fatal(err)
	}
	var ref struct {
		Shape [3]int
		In    []float64
		Cases []struct {
			H, W   int
			Method string
			Out    []float64
		}
	}
	if err := json.Unmarshal(b, &ref); err != nil {
		t.Fatal(err)
	}
	s := Shape{ref.Shape[0], ref.Shape[1], ref.Shape[2]}
	pix := make([]float32, len(ref.In))
	for i, v := range ref.In {
		pix[i] = float32(v) // exact: multiples of 0.25
	}
	d, err := New("ref", s, pix, []int{0}, 1)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range ref.Cases {
		r, err := d.Resize(c.H, c.W, c.Method)
		if err != nil {
			t.Fatal(err)
		}
		got := r.Sample(0, nil)
		if len(got) != len(c.Out) {
			t.Fatalf("%s %dx%d: %d values, want %d", c.Method, c.H, c.W, len(got), len(c.Out))
		}
		for k := range got {
			if !approx.Within(t, fmt.Sprintf("%s %dx%d value %d against torch", c.Method, c.H, c.W, k), got[k], c.Out[k], 1e-12, 1e-12) {
				t.FailNow()
			}
		}
	}
	if _, err := d.Resize(4, 4, "bicubic"); err == nil {
		t.Error("unknown method: no error")
	}
}

func TestAdapt(t *testing.T) {
	d := synth(t, 2, Shape{1, 28, 28}, 10)
	target := Shape{3, 32, 32}
	a, info, err := d.Adapt(target, Policy{Spatial: SpatialPad, Channels: ChannelsReplicate})
	if err != nil {
		t.Fatal(err)
	}
	if a.Shape() != target || len(info.Steps) != 2 || info.Steps[0].Op != "pad" || info.Steps[1].Op != "replicate" {
		t.Fatalf("adapt: %v %+v", a.Shape(), info)
	}
	if !strings.Contains(info.String(), "zero-padded 28×28 to 32×32, centred; replicated the grey channel to 3 channels") {
		t.Errorf("explanation %q", info)
	}
	x := a.Sample(1, nil)
	// Pixel (y, x) of the original is at (y+2, x+2) in each channel.
	for c := 0; c < 3; c++ {
		if x[c*1024+2*32+2] != 1 || x[c*1024] != 0 || x[c*1024+(2+27)*32+2+27] != float64(float32(1)+float32(783)/10) {
			t.Fatalf("channel %d misplaced", c)
		}
	}
	// Same shape: no steps.
	same, info, err := d.Adapt(Shape{1, 28, 28}, Policy{})
	if err != nil || len(info.Steps) != 0 || same.Shape() != d.Shape() || !strings.Contains(info.String(), "already matches") {
		t.Errorf("identity adapt: %v %v", info, err)
	}
	// pad-crop: 28 → 24 high (crop), 28 → 30 wide (pad).
	pc, info, err := d.Adapt(Shape{1, 24, 30}, Policy{Spatial: SpatialPadCrop})
	if err != nil || pc.Shape() != (Shape{1, 24, 30}) || len(info.Steps) != 2 {
		t.Errorf("pad-crop: %v %+v %v", pc.Shape(), info, err)
	}
	bl, info, err := d.Adapt(Shape{3, 32, 32}, Policy{Spatial: SpatialBilinear, Channels: ChannelsReplicate})
	if err != nil || bl.Shape() != target || info.Steps[0].Method != Bilinear {
		t.Errorf("bilinear: %v %+v %v", bl.Shape(), info, err)
	}
	for _, c := range []struct {
		target Shape
		p      Policy
		want   string
	}{
		{Shape{1, 32, 32}, Policy{}, "spatial policy is strict"},
		{Shape{1, 20, 20}, Policy{Spatial: SpatialPad}, "padding cannot shrink"},
		{Shape{3, 28, 28}, Policy{}, "channel counts differ (1 vs 3)"},
		{Shape{1, 30, 30}, Policy{Spatial: "zoom"}, `unknown spatial policy "zoom"`},
		{Shape{3, 28, 28}, Policy{Channels: "avg"}, `unknown channel policy "avg"`},
	} {
		_, _, err := d.Adapt(c.target, c.p)
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "[1,28,28]") {
			t.Errorf("%v %+v: error %v, want %q", c.target, c.p, err, c.want)
		}
	}
	rgb := synth(t, 1, Shape{3, 4, 4}, 2)
	if _, _, err := rgb.Adapt(Shape{1, 4, 4}, Policy{Channels: ChannelsReplicate}); err == nil || !strings.Contains(err.Error(), "only a 1-channel") {
		t.Errorf("rgb to grey: %v", err)
	}
}

func TestCheck(t *testing.T) {
	d := synth(t, 4, Shape{1, 28, 28}, 10)
	for _, in := range [][]int{{-1, 1, 28, 28}, {1, 28, 28}, {0, 784}, {64, 1, 28, 28}} {
		if err := d.Check(in, 10); err != nil {
			t.Errorf("Check(%v): %v", in, err)
		}
	}
	for _, c := range []struct {
		in      []int
		classes int
		want    string
	}{
		{[]int{1, 3, 32, 32}, 10, "sample shape [1,28,28], but the model input [1,3,32,32] expects [3,32,32] (adapt it"},
		{[]int{1, 3072}, 10, "sample shape [1,28,28] has 784 values, the model's flat input [1,3072] expects 3072"},
		{[]int{1, 28, 28, 1, 1}, 10, "want [N,C,H,W]"},
		{[]int{1, 1, -1, 28}, 10, "must be fixed and positive"},
		{[]int{1, 1, 28, 28}, 3, "sample 3 (stored index 3) has label 3, but the model has 3 outputs"},
	} {
		err := d.Check(c.in, c.classes)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Check(%v, %d): %v, want %q", c.in, c.classes, err, c.want)
		}
	}
}

func TestSelection(t *testing.T) {
	d := synth(t, 50, Shape{1, 1, 2}, 5)
	a, b := d.Shuffle(7), d.Shuffle(7)
	if !slices.Equal(a.Labels(), b.Labels()) || slices.Equal(a.Labels(), d.Shuffle(8).Labels()) {
		t.Error("shuffle is not a function of the seed")
	}
	seen := make([]bool, 50)
	for i := 0; i < 50; i++ {
		j := a.Index(i)
		if seen[j] {
			t.Fatalf("shuffle repeats %d", j)
		}
		seen[j] = true
		if a.Sample(i, nil)[0] != float64(j) || a.Label(i) != j%5 {
			t.Fatalf("shuffled sample %d is not stored sample %d", i, j)
		}
	}
	tr, ho, err := a.Split(12, 3)
	if err != nil {
		t.Fatal(err)
	}
	if tr.Len() != 38 || ho.Len() != 12 {
		t.Fatalf("split sizes %d %d", tr.Len(), ho.Len())
	}
	all := map[int]bool{}
	for _, p := range []Dataset{tr, ho} {
		for i := 0; i < p.Len(); i++ {
			if all[p.Index(i)] {
				t.Fatalf("split parts overlap at %d", p.Index(i))
			}
			all[p.Index(i)] = true
		}
	}
	if len(all) != 50 {
		t.Errorf("split covers %d samples", len(all))
	}
	tr2, _, _ := a.Split(12, 3)
	if !slices.Equal(tr.Labels(), tr2.Labels()) {
		t.Error("split is not a function of the seed")
	}
	if _, _, err := d.Split(51, 1); err == nil {
		t.Error("hold out more than all: no error")
	}
	f, h, err := d.SplitFraction(0.2, 1)
	if err != nil || f.Len() != 40 || h.Len() != 10 {
		t.Errorf("SplitFraction: %d %d %v", f.Len(), h.Len(), err)
	}
	desc := ho.Describe()
	if len(desc.Selection) != 2 || !strings.Contains(desc.Selection[0], "shuffled (seed 7)") || !strings.Contains(desc.Selection[1], "held-out part of a split (held out 12 of 50, seed 3)") {
		t.Errorf("selection %q", desc.Selection)
	}
	s, err := d.Subset([]int{4, 2, 2})
	if err != nil || s.Len() != 3 || s.Index(0) != 4 || s.Index(2) != 2 {
		t.Errorf("subset: %v %v", s, err)
	}
	if _, err := d.Subset([]int{50}); err == nil {
		t.Error("subset out of range: no error")
	}
	if h := d.Head(5); h.Len() != 5 || h.Index(4) != 4 {
		t.Errorf("head: %v", h)
	}
}

func TestBatches(t *testing.T) {
	d, _ := synth(t, 7, Shape{1, 2, 2}, 3).Pad(3, 3, 0)
	d = d.Shuffle(1)
	var rows, batches int
	for b := range d.Batches(3) {
		batches++
		if b.Start != rows || len(b.X) != b.Rows*9 || len(b.Y) != b.Rows {
			t.Fatalf("batch %+v", b)
		}
		for r := 0; r < b.Rows; r++ {
			if !slices.Equal(b.X[r*9:(r+1)*9], d.Sample(b.Start+r, nil)) || b.Y[r] != d.Label(b.Start+r) {
				t.Fatalf("batch row %d differs from sample %d", r, b.Start+r)
			}
		}
		rows += b.Rows
	}
	if rows != 7 || batches != 3 {
		t.Errorf("%d rows in %d batches", rows, batches)
	}
	x, y, err := d.Batch([]int{6, 0}, nil, nil)
	if err != nil || len(x) != 18 || !slices.Equal(x[:9], d.Sample(6, nil)) || y[1] != d.Label(0) {
		t.Errorf("Batch: %v %v %v", x, y, err)
	}
	if _, _, err := d.Batch([]int{7}, nil, nil); err == nil {
		t.Error("Batch out of range: no error")
	}
	n := 0
	for range d.Batches(0) {
		n++
	}
	if n != 1 {
		t.Errorf("Batches(0) gave %d batches", n)
	}
}

func TestDescribe(t *testing.T) {
	d := synth(t, 3, Shape{1, 28, 28}, 10)
	a, _, _ := d.Adapt(Shape{3, 32, 32}, Policy{Spatial: SpatialNearest, Channels: ChannelsReplicate})
	a = a.Scale01()
	a, _ = a.Normalize([]float64{0.5}, []float64{0.25})
	desc := a.Describe()
	ops := []string{}
	for _, s := range desc.Transforms {
		ops = append(ops, s.Op)
	}
	if !slices.Equal(ops, []string{"resize", "replicate", "scale", "normalize"}) || desc.Shape != (Shape{3, 32, 32}) || desc.RawShape != (Shape{1, 28, 28}) {
		t.Errorf("describe: %+v", desc)
	}
	js, err := json.Marshal(desc)
	if err != nil {
		t.Fatal(err)
	}
	var back Description
	if err := json.Unmarshal(js, &back); err != nil || back.Shape != desc.Shape || len(back.Transforms) != 4 || back.Transforms[3].Std[2] != 0.25 {
		t.Errorf("JSON round trip: %s %v", js, err)
	}
	txt := desc.String()
	for _, want := range []string{"resize 28×28 to 32×32, nearest", "divide every value by 255", "mean [0.5, 0.5, 0.5]"} {
		if !strings.Contains(txt, want) {
			t.Errorf("description lacks %q:\n%s", want, txt)
		}
	}
}
