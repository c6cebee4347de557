package plugins_test

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/gnaudit/gnaudit/auditor/noise"
	"github.com/gnaudit/gnaudit/internal/approx"
	"github.com/gnaudit/gnaudit/plugins"
	"github.com/gnaudit/gnaudit/plugins/synth"
)

// fake is a configurable in-process analysis.
type fake struct {
	desc  plugins.Description
	layer func(ctx context.Context, in *plugins.LayerInput) (*plugins.LayerResult, error)
	seen  *[]string
}

func (f fake) Describe(context.Context) (plugins.Description, error) { return f.desc, nil }

func (f fake) Start(_ context.Context, req *plugins.StartRequest) (plugins.Session, error) {
	if f.seen != nil {
		*f.seen = append(*f.seen, "start "+f.desc.Name)
	}
	return f, nil
}

func (f fake) Layer(ctx context.Context, in *plugins.LayerInput) (*plugins.LayerResult, error) {
	if f.seen != nil {
		*f.seen = append(*f.seen, f.desc.Name+" "+in.Layer.Parameter)
	}
	if f.layer != nil {
		return f.layer(ctx, in)
	}
	return &plugins.LayerResult{Parameter: in.Layer.Parameter, Summary: []plugins.Value{plugins.Num("n", 0, float64(len(in.Layer.Coords)))}}, nil
}

func (f fake) Finish(context.Context) ([]plugins.Value, error) {
	return []plugins.Value{plugins.Num("done", 0, 1)}, nil
}

func desc(name string, needs ...string) plugins.Description {
	return plugins.Description{Name: name, Version: "0.1", Needs: needs,
		Params: []plugins.Param{{Name: "k", Type: plugins.TypeInt, Default: "3"}}}
}

func set(t *testing.T) *synth.Spec {
	return &synth.Spec{Seed: 1, Pool: 100, Batches: 5, BatchSizes: []int{2, 4},
		Layers: []synth.LayerSpec{
			{Name: "l1", Parameter: "p1", Laws: synth.Repeat(3, synth.Gaussian)},
			{Name: "l2", Parameter: "p2", Laws: synth.Repeat(2, synth.Gaussian)},
		}}
}

func TestRunnerOrderPriorAndFailures(t *testing.T) {
	s, err := synth.Set(*set(t))
	if err != nil {
		t.Fatal(err)
	}
	var seen []string
	var priorSeen []float64
	cands := []plugins.Candidate{
		{Analysis: fake{desc: desc("uses", "base"), seen: &seen, layer: func(_ context.Context, in *plugins.LayerInput) (*plugins.LayerResult, error) {
			priorSeen = append(priorSeen, in.Prior["base"].Number("n", 0))
			return &plugins.LayerResult{Parameter: in.Layer.Parameter}, nil
		}}},
		{Analysis: fake{desc: desc("base"), seen: &seen}},
		{Name: "missing.bin", Err: errors.New("exec format error")},
		{Analysis: fake{desc: desc("panics"), layer: func(context.Context, *plugins.LayerInput) (*plugins.LayerResult, error) {
			var m map[string]int
			m["x"]++ //lint:ignore SA5000 the deliberate panic under test
			return nil, nil
		}}},
		{Analysis: fake{desc: desc("hangs"), layer: func(ctx context.Context, in *plugins.LayerInput) (*plugins.LayerResult, error) {
			select {} // ignores ctx
		}}},
		{Analysis: fake{desc: desc("base")}}, // duplicate name
		{Analysis: fake{desc: desc("cyc1", "cyc2")}},
		{Analysis: fake{desc: desc("cyc2", "cyc1")}},
		{Analysis: fake{desc: desc("wants-absent", "absent")}},
		{Analysis: fake{desc: plugins.Description{Name: "Bad Name", Version: "1"}}},
	}
	r := &plugins.Runner{Timeout: 200 * time.Millisecond, Params: map[string]map[string]string{"base": {"k": "7"}}}
	res, err := r.Run(context.Background(), s, cands)
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]*plugins.Result{}
	var order []string
	for _, x := range res {
		order = append(order, x.Description.Name)
		if byName[x.Description.Name] == nil {
			byName[x.Description.Name] = x
		}
	}
	if order[0] != "base" || order[1] != "uses" {
		t.Errorf("order %v: base must run before uses", order)
	}
	want := []string{"start base", "start uses", "base p1", "uses p1", "base p2", "uses p2"}
	if !reflect.DeepEqual(seen, want) {
		t.Errorf("calls %v, want %v (layer-major)", seen, want)
	}
	if !reflect.DeepEqual(priorSeen, []float64{3, 2}) {
		t.Errorf("prior values %v, want [3 2]", priorSeen)
	}
	if got := byName["base"].Params["k"]; got != "7" {
		t.Errorf("param k = %q, want 7", got)
	}
	if got := byName["uses"].Params["k"]; got != "3" {
		t.Errorf("default k = %q, want 3", got)
	}
	for _, tc := range []struct{ name, stage, reason string }{
		{"missing.bin", "load", "exec format error"},
		{"panics", "layer p1", "panic: assignment to entry in nil map"},
		{"hangs", "layer p1", "timed out after 200ms"},
		{"cyc1", "start", "dependency cycle"},
		{"cyc2", "start", "dependency cycle"},
		{"Bad Name", "describe", "invalid analysis name"},
	} {
		x := byName[tc.name]
		if x == nil || x.Failure == nil || x.Failure.Stage != tc.stage || !strings.Contains(x.Failure.Reason, tc.reason) {
			t.Errorf("%s: failure %+v, want at %q containing %q", tc.name, x.Failure, tc.stage, tc.reason)
		}
	}
	dups := 0
	for _, x := range res {
		if x.Description.Name == "base" && x.Failed() && strings.Contains(x.Failure.Reason, "already named") {
			dups++
		}
	}
	if dups != 1 {
		t.Error("duplicate name not reported")
	}
	if w := byName["wants-absent"]; w.Failed() || len(w.Warnings) != 1 {
		t.Errorf("missing need: %+v", w)
	}
	if b := byName["base"]; len(b.Layers) != 2 || b.Model[0].Number != 1 {
		t.Errorf("base results lost: %+v", b)
	}
}

func TestRunnerBadInput(t *testing.T) {
	s, _ := synth.Set(*set(t))
	r := &plugins.Runner{Params: map[string]map[string]string{"nope": {"k": "1"}}}
	if _, err := r.Run(context.Background(), s, []plugins.Candidate{{Analysis: fake{desc: desc("a")}}}); err == nil || !strings.Contains(err.Error(), `"nope"`) {
		t.Errorf("unknown analysis in params: %v", err)
	}
	r = &plugins.Runner{Params: map[string]map[string]string{"a": {"k": "x"}}}
	if _, err := r.Run(context.Background(), s, []plugins.Candidate{{Analysis: fake{desc: desc("a")}}}); err == nil || !strings.Contains(err.Error(), "not an integer") {
		t.Errorf("bad param type: %v", err)
	}
	r = &plugins.Runner{Params: map[string]map[string]string{"a": {"q": "1"}}}
	if _, err := r.Run(context.Background(), s, []plugins.Candidate{{Analysis: fake{desc: desc("a")}}}); err == nil || !strings.Contains(err.Error(), "has no parameter") {
		t.Errorf("unknown param: %v", err)
	}
	bad := *s
	bad.Layers = append([]noise.Layer(nil), s.Layers...)
	bad.Layers[1].S2 = bad.Layers[1].S2[:1]
	if _, err := (&plugins.Runner{}).Run(context.Background(), &bad, nil); err == nil || !strings.Contains(err.Error(), `layer "p2": s2 has 1 entries for 2`) {
		t.Errorf("invalid set: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := (&plugins.Runner{}).Run(ctx, s, []plugins.Candidate{{Analysis: fake{desc: desc("a")}}}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
}

func TestValueJSON(t *testing.T) {
	h, err := plugins.NewHistogram([]float64{0, 1, 2}, []float64{-1, 0, 0.5, 1, 2, 3, math.NaN()})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(h.Counts, []int64{2, 2}) || h.Underflow != 1 || h.Overflow != 1 || h.NaN != 1 || h.Total() != 7 {
		t.Errorf("histogram %+v", h)
	}
	vs := []plugins.Value{
		plugins.Num("a", 0, math.NaN()),
		plugins.Num("b", 64, 1.5e-300),
		plugins.Arr("c", 0, []float64{1, math.Inf(1), -2}),
		plugins.Hist("d", 128, h),
	}
	data, err := json.Marshal(vs)
	if err != nil {
		t.Fatal(err)
	}
	want := `[{"key":"a","number":null},{"key":"b","batch_size":64,"number":1.5e-300},{"key":"c","array":[1,null,-2]},` +
		`{"key":"d","batch_size":128,"histogram":{"edges":[0,1,2],"counts":[2,2],"underflow":1,"overflow":1,"nan":1}}]`
	if string(data) != want {
		t.Errorf("JSON\n%s\nwant\n%s", data, want)
	}
	var back []plugins.Value
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatal(err)
	}
	if !math.IsNaN(back[0].Number) || back[1].Number != 1.5e-300 || !math.IsNaN(back[2].Array[1]) || back[3].Hist.Counts[1] != 2 || back[3].BatchSize != 128 {
		t.Errorf("round trip: %+v", back)
	}
}

func TestQuantilesType7(t *testing.T) {
	// numpy.percentile([3, 1, 4, 1, 5, 9, 2, 6], [5, 25, 50, 75, 95])
	// = [1, 1.75, 3.5, 5.25, 7.95]; NaN ignored.
	q, n := plugins.Quantiles([]float64{3, 1, 4, 1, 5, 9, 2, math.NaN(), 6}, plugins.SpineProbs...)
	want := []float64{1, 1.75, 3.5, 5.25, 7.95}
	approx.Slice(t, "quantiles against numpy.percentile", q, want, approx.Float64, 0)
	if n != 8 {
		t.Errorf("used %d values", n)
	}
	if q, _ := plugins.Quantiles(nil, 0.5); !math.IsNaN(q[0]) {
		t.Error("empty quantile should be NaN")
	}
}

func TestParams(t *testing.T) {
	d := plugins.Description{Name: "x", Version: "1", Params: []plugins.Param{
		{Name: "f", Type: plugins.TypeFloat, Default: "0.5"}, {Name: "b", Type: plugins.TypeBool, Default: "true"}}}
	p, err := d.Resolve(map[string]string{"f": "2e-3"})
	if err != nil {
		t.Fatal(err)
	}
	if f, _ := p.Float("f"); f != 2e-3 {
		t.Errorf("f = %v", f)
	}
	if b, _ := p.Bool("b"); !b {
		t.Error("default b lost")
	}
	bad := d
	bad.Params = append([]plugins.Param(nil), d.Params...)
	bad.Params[0].Default = "half"
	if bad.Validate() == nil {
		t.Error("bad default accepted")
	}
	a, k, v, err := plugins.ParseParamFlag("normality.alpha=0.01")
	if err != nil || a != "normality" || k != "alpha" || v != "0.01" {
		t.Errorf("ParseParamFlag: %q %q %q %v", a, k, v, err)
	}
	if _, _, _, err := plugins.ParseParamFlag("alpha=0.01"); err == nil {
		t.Error("param without analysis accepted")
	}
}
