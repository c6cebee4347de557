package reports_test

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"io"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gnaudit/gnaudit/auditor/noise"
	"github.com/gnaudit/gnaudit/internal/approx"
	"github.com/gnaudit/gnaudit/plugins"
	"github.com/gnaudit/gnaudit/plugins/builtin"
	"github.com/gnaudit/gnaudit/plugins/synth"
	"github.com/gnaudit/gnaudit/reports"
)

func testSet(t testing.TB, step int) *noise.Set {
	t.Helper()
	set, err := synth.Set(synth.Spec{
		Seed: 11, Pool: 2400, Batches: 60, BatchSizes: []int{4, 16, 64},
		Layers: []synth.LayerSpec{
			{Name: "conv1", Parameter: "conv1.weight", Laws: synth.Repeat(80, synth.Gaussian)},
			{Name: "conv1", Parameter: "conv1.bias", Laws: synth.Repeat(8, synth.Exponential)},
			{Name: "fc", Parameter: "fc.weight", Laws: append(synth.Repeat(40, synth.Cauchy), synth.Repeat(6, synth.Zero)...)},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	set.Step = step
	set.Layers[1].Kind = "bias"
	return set
}

// extra is an external-like analysis with a number, an array, a
// histogram and a model value.
type extra struct{}

func (extra) Describe(context.Context) (plugins.Description, error) {
	return plugins.Description{Name: "extra", Version: "2.1"}, nil
}
func (extra) Start(context.Context, *plugins.StartRequest) (plugins.Session, error) {
	return extra{}, nil
}
func (extra) Layer(_ context.Context, in *plugins.LayerInput) (*plugins.LayerResult, error) {
	h, _ := plugins.NewHistogram([]float64{0, 1}, []float64{0.5})
	return &plugins.LayerResult{Parameter: in.Layer.Parameter,
		PerCoordinate: []plugins.Value{plugins.Arr("score", 16, make([]float64, len(in.Layer.Coords)))},
		Summary: []plugins.Value{plugins.Num("score_mean", 16, 0.25), plugins.Num("undefined", 0, math.NaN()),
			plugins.Arr("q", 0, []float64{1, math.Inf(1)}), plugins.Hist("h", 64, h)}}, nil
}
func (extra) Finish(context.Context) ([]plugins.Value, error) {
	return []plugins.Value{plugins.Num("total", 0, 3)}, nil
}

type broken struct{ extra }

func (broken) Describe(context.Context) (plugins.Description, error) {
	return plugins.Description{Name: "broken", Version: "0"}, nil
}
func (broken) Start(context.Context, *plugins.StartRequest) (plugins.Session, error) {
	return nil, io.ErrUnexpectedEOF
}

func buildReport(t testing.TB, perCoordinate bool) *reports.Report {
	t.Helper()
	r := reports.New("test", reports.Model{File: "models/alexnet|cifar.onnx", SHA256: strings.Repeat("ab", 32), Opset: 13, Parameters: 2_473_546},
		reports.Data{Name: "CIFAR-10", Samples: 50000, Split: "train", Preprocessing: []string{"scale to [0,1]", "normalize mean/std per channel"}},
		&reports.Training{Optimizer: "sgd-momentum", Momentum: 0.9, WeightDecay: 5e-4, BatchSize: 128, Steps: 300, Seed: 1,
			Schedule: []reports.LRStep{{0, 0.1}, {150, 0.01}, {225, 0.001}}})
	for s := 0; s <= 300; s += 10 {
		r.Training.Loss = append(r.Training.Loss, reports.LossPoint{Step: s, Loss: reports.Number(2.3 * math.Exp(-float64(s)/100))})
	}
	r.Training.Loss[3].Loss = reports.Number(math.NaN()) // a diverged step: null
	for _, step := range []int{0, 300} {
		set := testSet(t, step)
		var cands []plugins.Candidate
		for _, a := range builtin.All() {
			cands = append(cands, plugins.Candidate{Analysis: a, Origin: "builtin"})
		}
		cands = append(cands, plugins.Candidate{Analysis: extra{}, Origin: "plugin", Path: "/opt/extra", SHA256: strings.Repeat("cd", 32)},
			plugins.Candidate{Analysis: broken{}, Origin: "plugin"})
		res, err := (&plugins.Runner{Timeout: time.Minute}).Run(context.Background(), set, cands)
		if err != nil {
			t.Fatal(err)
		}
		r.Checkpoints = append(r.Checkpoints, reports.BuildCheckpoint(set, res, reports.BuildOptions{PerCoordinate: perCoordinate}))
	}
	return r
}

func TestReportValidatesAndRoundTrips(t *testing.T) {
	for _, per := range []bool{false, true} {
		r := buildReport(t, per)
		data, err := reports.Marshal(r) // validates against the schema
		if err != nil {
			t.Fatal(err)
		}
		back, err := reports.Parse(data)
		if err != nil {
			t.Fatal(err)
		}
		again, err := reports.Marshal(back)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(data, again) {
			t.Errorf("perCoordinate=%v: JSON changes on a round trip", per)
		}
		if per != strings.Contains(string(data), `"per_coordinate"`) {
			t.Errorf("perCoordinate=%v: per_coordinate present = %v", per, !per)
		}
	}
}

func TestReportContent(t *testing.T) {
	r := buildReport(t, false)
	cp := r.Checkpoints[1]
	if cp.Step != 300 || len(cp.Layers) != 3 || len(cp.Analyses) != 6 {
		t.Fatalf("checkpoint %+v", cp)
	}
	l := cp.Layers[2] // fc: 40 Cauchy + 6 dead coordinates
	if l.TestedCoordinates != 46 || len(l.Gaussianity) != 3 {
		t.Fatalf("fc layer %+v", l)
	}
	for _, g := range l.Gaussianity {
		// Cauchy columns fail SW; the 6 dead ones count as Gaussian.
		if g.Degenerate != 6 || g.Tested != 46 || g.Gaussian < 6 || g.Gaussian > 8 {
			t.Errorf("fc gaussianity %+v", g)
		}
		approx.Rel(t, "fc Gaussian percent", float64(g.Percent), 100*float64(g.Gaussian)/46, approx.Float64)
	}
	kb := l.KurtosisBound
	if kb == nil || kb.ZeroVariance != 6 || len(kb.PerBatch) != 3 || kb.PerBatch[0].MeasuredPercent == nil ||
		float64(*kb.PerBatch[0].MeasuredPercent) != float64(l.Gaussianity[0].Percent) {
		t.Errorf("fc kurtosis bound %+v", kb)
	}
	if ti := l.TailIndex; ti == nil || ti.PerBatch[1].UndefinedMcCulloch != 6 {
		t.Errorf("fc tail index %+v", ti)
	} else {
		// Cauchy columns: α = 1.
		approx.Abs(t, "fc McCulloch median", float64(ti.PerBatch[1].McCullochMedian), 1, 0.25)
	}
	set := testSet(t, 300)
	if ns := cp.Layers[0].NoiseScale; ns == nil || ns.BSimplePlugIn.Float() != set.Layers[0].TraceCov/set.Layers[0].GradNormSq || !ns.BSimple.Defined() || !ns.SE.Defined() {
		t.Errorf("noise scale %+v", ns)
	}
	if len(l.Plugins) != 1 || l.Plugins[0].Analysis != "extra" || len(cp.Plugins) != 1 {
		t.Errorf("plugin values %+v / %+v", l.Plugins, cp.Plugins)
	}
	var failed *reports.AnalysisRun
	for i, a := range cp.Analyses {
		if a.Name == "broken" {
			failed = &cp.Analyses[i]
		}
	}
	if failed == nil || failed.Status != "failed" || failed.Failure.Stage != "start" {
		t.Errorf("failed analysis %+v", failed)
	}
}

func TestSchemaRejects(t *testing.T) {
	r := buildReport(t, false)
	good, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		mutate func(m map[string]any)
		want   string
	}{
		{"wrong schema id", func(m map[string]any) { m["schema"] = "gnaudit.report/v2" }, `/schema: "gnaudit.report/v2", want "gnaudit.report/v1"`},
		{"missing model", func(m map[string]any) { delete(m, "model") }, `/: missing required property "model"`},
		{"unknown property", func(m map[string]any) { m["extra"] = 1 }, `unknown property "extra"`},
		{"percent above 100", func(m map[string]any) {
			layer(m, 0, 0)["gaussianity"].([]any)[0].(map[string]any)["percent"] = 130
		}, "/checkpoints/0/layers/0/gaussianity/0/percent: 130 > maximum 100"},
		{"fractional count", func(m map[string]any) {
			layer(m, 0, 1)["tested_coordinates"] = 2.5
		}, "/checkpoints/0/layers/1/tested_coordinates: number, want integer"},
		{"value with two kinds", func(m map[string]any) {
			v := layer(m, 1, 0)["plugins"].([]any)[0].(map[string]any)["summary"].([]any)[0].(map[string]any)
			v["array"] = []any{1}
		}, "matches 2 of the oneOf alternatives"},
		{"bad sha", func(m map[string]any) { m["model"].(map[string]any)["sha256"] = "xyz" }, `/model/sha256: "xyz" does not match`},
		{"bad status", func(m map[string]any) {
			m["checkpoints"].([]any)[0].(map[string]any)["analyses"].([]any)[0].(map[string]any)["status"] = "meh"
		}, `"meh" is not one of`},
		{"string for number", func(m map[string]any) {
			layer(m, 0, 0)["noise_scale"].(map[string]any)["b_simple"] = "12"
		}, "b_simple: string, want number or null"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var m map[string]any
			json.Unmarshal(good, &m)
			tc.mutate(m)
			bad, _ := json.Marshal(m)
			err := reports.Validate(bad)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want containing %q", err, tc.want)
			}
		})
	}
	if err := reports.Validate([]byte("{")); err == nil {
		t.Error("truncated JSON accepted")
	}
}

func layer(m map[string]any, cp, l int) map[string]any {
	return m["checkpoints"].([]any)[cp].(map[string]any)["layers"].([]any)[l].(map[string]any)
}

func TestSchemaCompilerRefusesUnknownKeywords(t *testing.T) {
	if _, err := reports.CompileSchema([]byte(`{"type":"object","uniqueItems":true}`)); err == nil || !strings.Contains(err.Error(), "unsupported keyword") {
		t.Errorf("unknown keyword: %v", err)
	}
	if _, err := reports.CompileSchema([]byte(`{"$ref":"#/$defs/missing"}`)); err == nil {
		t.Error("dangling $ref accepted")
	}
}

func TestRender(t *testing.T) {
	r := buildReport(t, false)
	r.Gates = &reports.Gates{Policy: "gates.yaml", Passed: false, Checks: []reports.GateCheck{
		{Gate: "min_gaussianity", Step: 300, Layer: "conv1.weight", BatchSize: 64, Measured: 93, Op: ">=", Threshold: 80, Pass: true},
		{Gate: "min_gaussianity", Step: 300, Layer: "fc.weight", BatchSize: 64, Measured: 13, Op: ">=", Threshold: 80, Pass: false},
	}}
	for _, format := range []string{"svg", "png"} {
		dir := t.TempDir()
		if err := reports.RenderWith(dir, r, reports.RenderOptions{Format: format}); err != nil {
			t.Fatal(err)
		}
		mdb, err := os.ReadFile(filepath.Join(dir, "report.md"))
		if err != nil {
			t.Fatal(err)
		}
		md := string(mdb)
		// Verdict and gates come first, failures first in the table.
		iv, ig, il := strings.Index(md, "**Verdict: ❌ FAIL** — 1 of 2 gate checks failed"), strings.Index(md, "| `min_gaussianity` | 300 | `fc.weight` | 64 | 13 | — | >= 80 | ❌ fail |"), strings.Index(md, "### Gaussianity")
		if iv < 0 || ig < iv || il < ig {
			t.Errorf("verdict/gates/tables order: %d %d %d\n%s", iv, ig, il, md[:min(len(md), 1500)])
		}
		for _, want := range []string{
			"| Layer | Parameter | Tested | B=4 | B=16 | B=64 | non-Gaussian |",
			"| conv1 | `conv1.weight` | 80 |",
			"`models/alexnet\\|cifar.onnx`", // a pipe in a table cell is escaped
			"| **model** |",
			"### Plugin: extra",
			"| broken | 0 | plugin | ❌ failed at start: unexpected EOF",
			"![training loss](plots/training-loss." + format + ")",
		} {
			if !strings.Contains(md, want) {
				t.Errorf("%s: report.md lacks %q", format, want)
			}
		}
		// Every image link is relative and exists.
		links := regexp.MustCompile(`!\[[^\]]*\]\(([^)]+)\)`).FindAllStringSubmatch(md, -1)
		if len(links) != 7 { // 3 per checkpoint + loss
			t.Errorf("%d plots linked, want 7", len(links))
		}
		for _, l := range links {
			if filepath.IsAbs(l[1]) || !strings.HasPrefix(l[1], "plots/") {
				t.Errorf("link %q not relative", l[1])
			}
			data, err := os.ReadFile(filepath.Join(dir, l[1]))
			if err != nil {
				t.Fatal(err)
			}
			switch format {
			case "svg":
				if err := wellFormedXML(data); err != nil {
					t.Errorf("%s: %v", l[1], err)
				}
			case "png":
				if !bytes.HasPrefix(data, []byte("\x89PNG\r\n\x1a\n")) {
					t.Errorf("%s is not a PNG", l[1])
				}
			}
		}
	}
	if err := reports.RenderWith(t.TempDir(), r, reports.RenderOptions{Format: "gif"}); err == nil {
		t.Error("gif accepted")
	}
}

func wellFormedXML(data []byte) error {
	d := xml.NewDecoder(bytes.NewReader(data))
	for {
		_, err := d.Token()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

func TestWriteReadFile(t *testing.T) {
	r := buildReport(t, false)
	path := filepath.Join(t.TempDir(), "report.json")
	if err := reports.WriteFile(path, r); err != nil {
		t.Fatal(err)
	}
	back, err := reports.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if back.Checkpoints[1].Layers[0].Gaussianity[2] != r.Checkpoints[1].Layers[0].Gaussianity[2] {
		t.Error("round trip changed a value")
	}
	if !math.IsNaN(float64(back.Training.Loss[3].Loss)) {
		t.Error("null loss did not read back as NaN")
	}
	os.WriteFile(path, []byte(`{"schema":"gnaudit.report/v1"}`), 0o644)
	if _, err := reports.ReadFile(path); err == nil || !strings.Contains(err.Error(), "report.json: /: missing required property") {
		t.Errorf("invalid file: %v", err)
	}
}
