package gate_test

import (
	"bytes"
	"encoding/xml"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gnaudit/gnaudit/gate"
	"github.com/gnaudit/gnaudit/reports"
)

func n(x float64) reports.Number { return reports.Number(x) }

// testReport: two checkpoints; the last has conv1 (Gaussian), conv2 (heavy
// tails), a BatchNorm scale, audited at B = 32 and 128.
func testReport() *reports.Report {
	layer := func(name, param string, g32, g128, be, alpha, bs float64) reports.Layer {
		return reports.Layer{Name: name, Parameter: param, Kind: "weight", Shape: []int{4}, Size: 4, TestedCoordinates: 4,
			Gaussianity: []reports.Gaussianity{{BatchSize: 32, Percent: n(g32)}, {BatchSize: 128, Percent: n(g128)}},
			KurtosisBound: &reports.KurtosisBound{PerBatch: []reports.BoundAtB{
				{BatchSize: 32, Bound: reports.Quantiles{P50: n(2 * be)}}, {BatchSize: 128, Bound: reports.Quantiles{P50: n(be)}}}},
			TailIndex: &reports.TailIndex{PerBatch: []reports.TailAtB{
				{BatchSize: 32, MohammadiMedian: n(alpha - 0.1), McCullochMedian: n(alpha - 0.2)},
				{BatchSize: 128, MohammadiMedian: n(alpha), McCullochMedian: n(alpha - 0.05)}}},
			NoiseScale: &reports.NoiseScale{BSimple: n(bs)}}
	}
	r := reports.New("test", reports.Model{File: "m.onnx"}, reports.Data{Name: "d"}, nil)
	r.Checkpoints = []reports.Checkpoint{
		{Step: 0, Pool: 25600, Batches: 200, BatchSizes: []int{32, 128}, Layers: []reports.Layer{layer("conv1", "conv1.weight", 10, 20, 0.5, 1.0, 10)}},
		{Step: 500, Pool: 25600, Batches: 200, BatchSizes: []int{32, 128}, NoiseScale: &reports.NoiseScale{BSimple: n(900)}, Layers: []reports.Layer{
			layer("conv1", "conv1.weight", 85, 95, 0.05, 1.95, 100),
			layer("conv2", "conv2.weight", 40, 70, 0.3, 1.5, 2000),
			layer("bn1", "bn1.scale", 90, 100, math.NaN(), 2, math.NaN()),
		}},
	}
	return r
}

func eval(t *testing.T, policy string) *gate.Result {
	t.Helper()
	p, err := gate.ParsePolicy([]byte(policy), "gates.yaml")
	if err != nil {
		t.Fatal(err)
	}
	res, err := gate.Evaluate(p, testReport())
	if err != nil {
		t.Fatal(err)
	}
	return res
}

type check struct {
	gate, layer string
	b           int
	measured    float64
	pass        bool
	msg         string
}

func TestEvaluate(t *testing.T) {
	for _, tc := range []struct {
		name   string
		policy string
		want   []check
	}{
		{"gaussianity all layers", `
min_gaussianity:
  - {layer: "*", batch_size: 128, percent: 80}`, []check{
			{"min_gaussianity", "conv1.weight", 128, 95, true, ""},
			{"min_gaussianity", "conv2.weight", 128, 70, false, "70 < 80"},
			{"min_gaussianity", "bn1.scale", 128, 100, true, ""},
		}},
		{"glob on parameter and on layer name", `
min_gaussianity:
  - {layer: "conv?.weight", batch_size: 32, percent: 50}
  - {layer: "bn*", batch_size: 32, percent: 95}`, []check{
			{"min_gaussianity", "conv1.weight", 32, 85, true, ""},
			{"min_gaussianity", "conv2.weight", 32, 40, false, "40 < 50"},
			{"min_gaussianity", "bn1.scale", 32, 90, false, "90 < 95"},
		}},
		{"berry-esseen with an undefined median", `
max_berry_esseen_median:
  - {layer: "*", batch_size: 128, value: 0.1}`, []check{
			{"max_berry_esseen_median", "conv1.weight", 128, 0.05, true, ""},
			{"max_berry_esseen_median", "conv2.weight", 128, 0.3, false, "0.3 > 0.1"},
			{"max_berry_esseen_median", "bn1.scale", 128, math.NaN(), false, "Berry–Esseen bound (zero variance) undefined for this layer"},
		}},
		{"tail index, both estimators", `
min_tail_index_median:
  - {layer: conv1.weight, batch_size: 128, value: 1.9}
  - {layer: conv1.weight, batch_size: 128, value: 1.92, estimator: mcculloch}`, []check{
			{"min_tail_index_median", "conv1.weight", 128, 1.95, true, ""},
			{"min_tail_index_median", "conv1.weight", 128, 1.9, false, "1.9 < 1.92"},
		}},
		{"noise scale, model and layers", `
max_noise_scale:
  - {layer: model, value: 1000}
  - {layer: "conv*", value: 1000}`, []check{
			{"max_noise_scale", "model", 0, 900, true, ""},
			{"max_noise_scale", "conv1.weight", 0, 100, true, ""},
			{"max_noise_scale", "conv2.weight", 0, 2000, false, "2000 > 1000"},
		}},
		{"missing batch size and no match", `
min_gaussianity:
  - {layer: "conv1*", batch_size: 64, percent: 50}
  - {layer: "fc*", batch_size: 32, percent: 50}`, []check{
			{"min_gaussianity", "conv1.weight", 64, math.NaN(), false, "batch size 64 was not audited (audited: [32 128])"},
			{"min_gaussianity", "fc*", 32, math.NaN(), false, `no layer matches "fc*"`},
		}},
		{"allow missing", `
allow_missing: true
min_gaussianity:
  - {layer: "fc*", batch_size: 32, percent: 50}`, []check{
			{"min_gaussianity", "fc*", 32, math.NaN(), true, `no layer matches "fc*"`},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := eval(t, tc.policy)
			if len(res.Checks) != len(tc.want) {
				t.Fatalf("%d checks, want %d: %+v", len(res.Checks), len(tc.want), res.Checks)
			}
			for i, w := range tc.want {
				c := res.Checks[i]
				same := float64(c.Measured) == w.measured || math.IsNaN(float64(c.Measured)) && math.IsNaN(w.measured)
				if c.Gate != w.gate || c.Layer != w.layer || c.BatchSize != w.b || !same || c.Pass != w.pass || c.Message != w.msg || c.Step != 500 {
					t.Errorf("check %d: %+v\nwant %+v", i, c, w)
				}
			}
			wantPass := true
			for _, w := range tc.want {
				wantPass = wantPass && w.pass
			}
			if res.Passed() != wantPass || (res.ExitCode() == gate.ExitPass) != wantPass {
				t.Errorf("passed %v, want %v", res.Passed(), wantPass)
			}
		})
	}
}

func TestCheckpointSelection(t *testing.T) {
	res := eval(t, "checkpoint: all\nmin_gaussianity: [{layer: conv1.weight, batch_size: 128, percent: 50}]")
	if len(res.Checks) != 2 || res.Checks[0].Step != 0 || res.Checks[0].Pass || res.Checks[1].Step != 500 || !res.Checks[1].Pass {
		t.Errorf("all: %+v", res.Checks)
	}
	res = eval(t, "checkpoint: '0'\nmin_gaussianity: [{layer: conv1.weight, batch_size: 128, percent: 15}]")
	if len(res.Checks) != 1 || res.Checks[0].Step != 0 || !res.Checks[0].Pass {
		t.Errorf("step 0: %+v", res.Checks)
	}
	p, _ := gate.ParsePolicy([]byte("checkpoint: 7\nmax_noise_scale: [{layer: model, value: 1}]"), "p")
	if _, err := gate.Evaluate(p, testReport()); err == nil || !strings.Contains(err.Error(), "no checkpoint at step 7") {
		t.Errorf("missing step: %v", err)
	}
}

func TestBadPolicies(t *testing.T) {
	for _, tc := range []struct{ policy, want string }{
		{"", "empty"},
		{"min_gausianity: [{layer: '*', batch_size: 1, percent: 1}]", `line 1: unknown key "min_gausianity" (known keys: checkpoint,`},
		{"min_gaussianity: [{layer: '*', percent: 80}]", "min_gaussianity[0]: missing or invalid batch_size"},
		{"min_gaussianity: [{layer: '*', batch_size: 8, percent: 180}]", "percent 180: want a number in 0…100"},
		{"min_gaussianity: [{layer: '*', batch_size: 8, percent: .nan}]", "percent NaN: want a number in 0…100"},
		{"min_gaussianity: [{layer: '*', batch_size: 8}]", "percent must be given, 0…100"},
		{"min_gaussianity: [{layer: '*', batch_size: abc, percent: 5}]", "line 1: min_gaussianity[0].batch_size: want an integer, got the string `abc`"},
		{"max_noise_scale: [{layr: model, value: 1}]", `line 1: max_noise_scale[0]: unknown key "layr" (known keys: layer, batch_size, percent, value, estimator)`},
		{"min_gaussianity: [{layer: '*', batch_size: 8, value: 80}]", "use percent, not value"},
		{"max_noise_scale: [{layer: model, batch_size: 8, value: 80}]", "batch_size does not apply"},
		{"max_berry_esseen_median: [{layer: '*', batch_size: 8}]", "missing value"},
		{"min_tail_index_median: [{layer: '*', batch_size: 8, value: 1.5, estimator: hill}]", `estimator "hill"`},
		{"max_noise_scale: [{value: 3}]", "missing layer pattern"},
		{"checkpoint: first\nmax_noise_scale: [{layer: model, value: 3}]", `checkpoint "first"`},
		{"checkpoint: last", "no gates"},
		{"min_gaussianity: 80", "line 1: min_gaussianity: want a list, got the integer 80"},
	} {
		_, err := gate.ParsePolicy([]byte(tc.policy), "gates.yaml")
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "gates.yaml") ||
			strings.Contains(err.Error(), "gate.") || strings.Contains(err.Error(), "[]") { // no Go type names

			t.Errorf("%q: error %v, want containing %q", tc.policy, err, tc.want)
		}
	}
}

func TestJUnitAndSummary(t *testing.T) {
	res := eval(t, `
min_gaussianity:
  - {layer: "*", batch_size: 128, percent: 80}
max_noise_scale:
  - {layer: model, value: 1000}`)
	var b bytes.Buffer
	if err := res.WriteJUnit(&b); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Tests    int `xml:"tests,attr"`
		Failures int `xml:"failures,attr"`
		Suite    struct {
			Name  string `xml:"name,attr"`
			Cases []struct {
				Class   string `xml:"classname,attr"`
				Name    string `xml:"name,attr"`
				Failure *struct {
					Message string `xml:"message,attr"`
				} `xml:"failure"`
			} `xml:"testcase"`
		} `xml:"testsuite"`
	}
	if err := xml.Unmarshal(b.Bytes(), &doc); err != nil {
		t.Fatalf("JUnit is not XML: %v\n%s", err, b.String())
	}
	if doc.Tests != 4 || doc.Failures != 1 || len(doc.Suite.Cases) != 4 || doc.Suite.Name != "gnaudit gate: gates.yaml" {
		t.Fatalf("JUnit %+v", doc)
	}
	c := doc.Suite.Cases[1]
	if c.Class != "gnaudit.gate.min_gaussianity" || c.Name != "conv2.weight B=128 step 500" || c.Failure == nil || c.Failure.Message != "70 < 80" {
		t.Errorf("failed case %+v", c)
	}
	if doc.Suite.Cases[3].Name != "model step 500" || doc.Suite.Cases[3].Failure != nil {
		t.Errorf("model case %+v", doc.Suite.Cases[3])
	}

	sum := filepath.Join(t.TempDir(), "summary.md")
	os.WriteFile(sum, []byte("earlier step\n"), 0o644)
	t.Setenv("GITHUB_STEP_SUMMARY", sum)
	if ok, err := res.AppendStepSummary("report.json"); !ok || err != nil {
		t.Fatalf("step summary: %v %v", ok, err)
	}
	got, _ := os.ReadFile(sum)
	for _, want := range []string{"earlier step\n### gnaudit gate: ❌ FAIL", "1 of 4 checks of `gates.yaml` failed on `report.json`",
		"| `min_gaussianity` | 500 | `conv2.weight` | 128 | 70 | — | >= 80 | ❌ fail: 70 &lt; 80 |"} {
		if !strings.Contains(string(got), want) {
			t.Errorf("summary lacks %q:\n%s", want, got)
		}
	}
	t.Setenv("GITHUB_STEP_SUMMARY", "")
	if ok, _ := res.AppendStepSummary("r"); ok {
		t.Error("wrote a summary without GITHUB_STEP_SUMMARY")
	}
	var txt bytes.Buffer
	res.WriteText(&txt)
	if !strings.Contains(txt.String(), "FAIL: 1 of 4 checks failed") {
		t.Errorf("text:\n%s", txt.String())
	}
	// The gates section fits the report schema.
	rep := testReport()
	rep.Gates = res.Report()
	if _, err := reports.Marshal(rep); err != nil {
		t.Errorf("report with gates: %v", err)
	}
}
