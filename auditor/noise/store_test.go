package noise

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/gnaudit/gnaudit/internal/approx"
)

// sample builds a small consistent set: two layers, two batch sizes, three
// rows, values that exercise float32/float64 edge cases.
func sample() *Set {
	s := &Set{Version: Version, Model: "m.onnx", Step: 7, Seed: -3, Pool: 100, Batches: 3, BatchSizes: []int{8, 64},
		Collection: &Collection{Data: "d", DataSize: 1000, PoolSize: 100, BatchesPerSize: 3, CoordsPerLayer: 4, Scheme: "in-memory"}}
	for li, spec := range []struct {
		name  string
		shape []int
		coord []int
	}{{"conv1.weight", []int{2, 3}, []int{0, 2, 5}}, {"conv1.bias", []int{2}, []int{0, 1}}} {
		nc := len(spec.coord)
		l := Layer{Name: "conv1", Parameter: spec.name, Kind: "weight", Shape: spec.shape, Coords: spec.coord,
			TraceCov: 1.5 + float64(li), GradNormSq: 0.25, SumNormSq: 175, Overlap: []bool{false, true}}
		l.Size = 1
		for _, d := range spec.shape {
			l.Size *= d
		}
		for c := 0; c < nc; c++ {
			x := float64(c+1) * (1 + float64(li))
			l.Mean = append(l.Mean, -x*1e-7)
			l.S2 = append(l.S2, x*x)
			l.S3 = append(l.S3, -x*x*x/3)
			l.S4 = append(l.S4, math.Nextafter(x*x*x*x, 0))
			l.A3 = append(l.A3, x*x*x)
		}
		for k := range s.BatchSizes {
			m := make([]float32, s.Batches*nc)
			for i := range m {
				m[i] = float32(i-k) * 0.1
			}
			if k == 1 {
				m[0] = math.SmallestNonzeroFloat32
				m[1] = float32(math.Inf(-1))
			}
			l.MiniBatch = append(l.MiniBatch, m)
		}
		s.Layers = append(s.Layers, l)
	}
	return s
}

func TestSaveLoadRoundTrip(t *testing.T) {
	s := sample()
	dir := filepath.Join(t.TempDir(), "set")
	if err := Save(dir, s); err != nil {
		t.Fatal(err)
	}
	got, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, s) {
		t.Errorf("round trip differs:\n got %+v\nwant %+v", got, s)
	}
	// The binary file has the documented size: header, 5 float64 arrays and
	// 2 float32 matrices per layer.
	st, _ := os.Stat(filepath.Join(dir, BinaryName))
	if want := int64(16 + (3+2)*5*8 + (3+2)*2*3*4); st.Size() != want {
		t.Errorf("binary size %d, want %d", st.Size(), want)
	}
	// Saving again over it works (atomic replace) and leaves no temporaries.
	s.Step = 8
	if err := Save(dir, s); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 2 {
		t.Errorf("directory holds %d entries", len(entries))
	}
	if got, err := Load(dir); err != nil || got.Step != 8 {
		t.Errorf("reload: %v", err)
	}
	// A partial set with coverage information also round-trips.
	p := sample()
	p.Partial = true
	p.Pool = 40
	p.Collection.PoolRanges = [][2]int{{0, 20}, {60, 80}}
	p.Collection.Rows = [][]int{{0, 1, 2}, {0, 1, 2}}
	p.Collection.Reason = "stopped"
	if err := Save(dir, p); err != nil {
		t.Fatal(err)
	}
	if got, err := Load(dir); err != nil || !reflect.DeepEqual(got, p) {
		t.Errorf("partial round trip: %v", err)
	}
}

func TestLoadRejects(t *testing.T) {
	base := t.TempDir()
	mk := func(name string) string {
		d := filepath.Join(base, name)
		if err := Save(d, sample()); err != nil {
			t.Fatal(err)
		}
		return d
	}
	editManifest := func(d string, edit func(map[string]any)) {
		p := filepath.Join(d, ManifestName)
		b, _ := os.ReadFile(p)
		var m map[string]any
		json.Unmarshal(b, &m)
		edit(m)
		b, _ = json.Marshal(m)
		os.WriteFile(p, b, 0o644)
	}
	editBinary := func(d string, edit func([]byte) []byte) {
		p := filepath.Join(d, BinaryName)
		b, _ := os.ReadFile(p)
		os.WriteFile(p, edit(b), 0o644)
	}
	cases := []struct {
		name string
		prep func(string)
		want string
	}{
		{"version", func(d string) { editManifest(d, func(m map[string]any) { m["version"] = 2 }) }, "unsupported noise set version 2 (this gnaudit reads version 1)"},
		{"noversion", func(d string) { editManifest(d, func(m map[string]any) { delete(m, "version") }) }, "version missing"},
		{"format", func(d string) { editManifest(d, func(m map[string]any) { m["format"] = "other" }) }, "not a gnaudit noise set"},
		{"binversion", func(d string) {
			editBinary(d, func(b []byte) []byte { b[8] = 9; return b })
		}, "version 9 in the binary header"},
		{"magic", func(d string) { editBinary(d, func(b []byte) []byte { b[0] = 'X'; return b }) }, "not a gnaudit noise array file"},
		{"flip", func(d string) { editBinary(d, func(b []byte) []byte { b[40] ^= 1; return b }) }, "SHA-256"},
		{"truncated", func(d string) { editBinary(d, func(b []byte) []byte { return b[:len(b)-4] }) }, "truncated"},
		{"batches", func(d string) { editManifest(d, func(m map[string]any) { m["batches"] = 4.0 }) }, "arrays need"},
		{"nomanifest", func(d string) { os.Remove(filepath.Join(d, ManifestName)) }, "manifest.json"},
		{"nobinary", func(d string) { os.Remove(filepath.Join(d, BinaryName)) }, "arrays.bin"},
		{"badjson", func(d string) { os.WriteFile(filepath.Join(d, ManifestName), []byte("{"), 0o644) }, "manifest.json"},
	}
	for _, c := range cases {
		d := mk(c.name)
		c.prep(d)
		_, err := Load(d)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want %q", c.name, err, c.want)
		}
		if c.name == "version" && !errors.Is(err, ErrVersion) {
			t.Errorf("version error does not wrap ErrVersion: %v", err)
		}
	}
}

func TestValidate(t *testing.T) {
	cases := []struct {
		mod  func(*Set)
		want string
	}{
		{func(s *Set) { s.Version = 0 }, "version 0"},
		{func(s *Set) { s.BatchSizes = []int{64, 8} }, "ascending"},
		{func(s *Set) { s.Layers[1].Parameter = s.Layers[0].Parameter }, "empty or repeated"},
		{func(s *Set) { s.Layers[0].Size = 5 }, "does not match shape"},
		{func(s *Set) { s.Layers[0].Coords = []int{0, 6, 5} }, "out of range [0,6) or not ascending"},
		{func(s *Set) { s.Layers[0].A3 = s.Layers[0].A3[:2] }, "a3 has 2 values for 3"},
		{func(s *Set) { s.Layers[1].MiniBatch = s.Layers[1].MiniBatch[:1] }, "1 mini-batch matrices for 2"},
		{func(s *Set) { s.Layers[1].MiniBatch[0] = s.Layers[1].MiniBatch[0][1:] }, "5 mini-batch values, want 3×2"},
		{func(s *Set) { s.Layers[1].Overlap = []bool{true} }, "1 overlap flags"},
		{func(s *Set) { s.Collection.Rows = [][]int{{0, 1, 2}} }, "rows for 1 batch sizes"},
		{func(s *Set) { s.Collection.Rows = [][]int{{0, 1, 2}, {0, 2, 1}} }, "not ascending"},
		{func(s *Set) { s.Collection.PoolRanges = [][2]int{{0, 50}, {40, 90}} }, "disjoint intervals"},
		{func(s *Set) { s.Collection.PoolRanges = [][2]int{{0, 50}} }, "hold 50 samples, the set says 100"},
	}
	for _, c := range cases {
		s := sample()
		c.mod(s)
		err := s.Validate()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("error %v, want %q", err, c.want)
		}
		if err := Save(t.TempDir(), s); err == nil {
			t.Errorf("Save accepted an invalid set (%s)", c.want)
		}
	}
	if err := sample().Validate(); err != nil {
		t.Error(err)
	}
}

// TestMergeHalves splits a set by hand into two parts (pool halves, rows
// 0 and 1–2) and checks that Merge restores it.
func TestMergeHalves(t *testing.T) {
	whole := sample()
	a, b := sample(), sample()
	a.Partial, b.Partial = true, true
	a.Pool, b.Pool = 30, 70
	a.Batches, b.Batches = 1, 2
	a.Collection.PoolRanges, b.Collection.PoolRanges = [][2]int{{0, 30}}, [][2]int{{30, 100}}
	a.Collection.Rows, b.Collection.Rows = [][]int{{0}, {0}}, [][]int{{1, 2}, {1, 2}}
	for l := range whole.Layers {
		wl, la, lb := &whole.Layers[l], &a.Layers[l], &b.Layers[l]
		nc := len(wl.Coords)
		for c := 0; c < nc; c++ {
			// Split each sum in two exactly representable parts.
			la.S2[c], lb.S2[c] = wl.S2[c]/4, wl.S2[c]-wl.S2[c]/4
			la.S3[c], lb.S3[c] = wl.S3[c]/4, wl.S3[c]-wl.S3[c]/4
			la.S4[c], lb.S4[c] = wl.S4[c]/4, wl.S4[c]-wl.S4[c]/4
			la.A3[c], lb.A3[c] = wl.A3[c]/4, wl.A3[c]-wl.A3[c]/4
		}
		la.SumNormSq, lb.SumNormSq = 25, 150
		for k := range whole.BatchSizes {
			la.MiniBatch[k] = wl.MiniBatch[k][:nc]
			lb.MiniBatch[k] = wl.MiniBatch[k][nc:]
		}
	}
	for _, order := range [][2]*Set{{a, b}, {b, a}} {
		m, err := Merge(order[0], order[1])
		if err != nil {
			t.Fatal(err)
		}
		if m.Partial || m.Pool != 100 || m.Batches != 3 || m.Collection.PoolRanges != nil || m.Collection.Rows != nil {
			t.Fatalf("merged: %+v %+v", m, m.Collection)
		}
		for l := range whole.Layers {
			wl, ml := whole.Layers[l], m.Layers[l]
			for c := range wl.Coords {
				for _, p := range []struct {
					name      string
					whole, mg float64
				}{{"S2", wl.S2[c], ml.S2[c]}, {"S3", wl.S3[c], ml.S3[c]}, {"S4", wl.S4[c], ml.S4[c]}, {"A3", wl.A3[c], ml.A3[c]}} {
					approx.Within(t, fmt.Sprintf("%s: merged %s[%d]", wl.Parameter, p.name, c), p.mg, p.whole, 0, approx.Rounding)
				}
			}
			if !reflect.DeepEqual(wl.MiniBatch, ml.MiniBatch) {
				t.Errorf("%s: rows not restored in order", wl.Parameter)
			}
			if want := 175.0/100 - 0.25; ml.SumNormSq != 175 || ml.TraceCov != want {
				t.Errorf("%s: Σ|g|² %v, trace %v (want %v)", wl.Parameter, ml.SumNormSq, ml.TraceCov, want)
			}
		}
	}
	// Overlapping rows are refused even when the pools are disjoint.
	b.Collection.Rows = [][]int{{0, 2}, {1, 2}}
	if _, err := Merge(a, b); err == nil || !strings.Contains(err.Error(), "share mini-batch 0 of batch size 8") {
		t.Errorf("shared row: %v", err)
	}
	// Sets without collection information cannot be checked.
	c := sample()
	c.Collection = nil
	if _, err := Merge(c, a); err == nil || !strings.Contains(err.Error(), "without collection information") {
		t.Errorf("no collection: %v", err)
	}
	d := sample()
	d.Layers[0].Coords = []int{0, 1, 5}
	if _, err := Merge(d, a); err == nil || !strings.Contains(err.Error(), "layer 0 differs") {
		t.Errorf("different coordinates: %v", err)
	}
}
