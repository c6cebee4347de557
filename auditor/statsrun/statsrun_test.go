package statsrun

import (
	"bytes"
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/gnaudit/gnaudit/auditor/matrix"
	"github.com/gnaudit/gnaudit/internal/approx"
)

type refColumn struct {
	Name             string    `json:"name"`
	ShapiroW         float64   `json:"shapiro_w"`
	ShapiroP         float64   `json:"shapiro_p"`
	Mean             float64   `json:"mean"`
	Variance         float64   `json:"variance"`
	Skewness         float64   `json:"skewness"`
	ExcessKurtosis   float64   `json:"excess_kurtosis"`
	Abs3Standardized float64   `json:"abs3_standardized"`
	SqrtKurtosis     float64   `json:"sqrt_kurtosis"`
	BerryEsseen      []float64 `json:"berry_esseen"`
	Mohammadi        float64   `json:"mohammadi"`
	McCulloch        struct {
		Alpha, Beta, Scale, Location float64
	} `json:"mcculloch"`
}

type reference struct {
	BatchSizes []int       `json:"batch_sizes"`
	Columns    []refColumn `json:"columns"`
}

func loadReference(t *testing.T) reference {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "stats_reference.json"))
	if err != nil {
		t.Fatal(err)
	}
	var ref reference
	if err := json.Unmarshal(b, &ref); err != nil {
		t.Fatal(err)
	}
	return ref
}

// The example matrix (written by numpy, as .npy and as .csv with a header)
// gives scipy 1.10's values: scipy.stats.shapiro (single-precision Fortran,
// hence the looser tolerance), numpy moments, scipy.stats.skew/kurtosis,
// levy_stable._fitstart_S1 (McCulloch) and a numpy log-moment estimator.
func TestExampleAgainstScipy(t *testing.T) {
	ref := loadReference(t)
	for _, file := range []string{"example.npy", "example.csv"} {
		t.Run(file, func(t *testing.T) {
			m, err := matrix.Load(filepath.Join("testdata", file))
			if err != nil {
				t.Fatal(err)
			}
			rep, err := Run(m, Options{BatchSizes: ref.BatchSizes})
			if err != nil {
				t.Fatal(err)
			}
			if len(rep.Columns) != len(ref.Columns) || rep.Rows != 200 {
				t.Fatalf("%d columns × %d rows", len(rep.Columns), rep.Rows)
			}
			if file == "example.csv" {
				var names []string
				for _, c := range ref.Columns {
					names = append(names, c.Name)
				}
				if !slices.Equal(rep.ColumnNames, names) {
					t.Errorf("column names %q, want %q", rep.ColumnNames, names)
				}
			} else if rep.ColumnNames != nil {
				t.Errorf("column names for .npy: %q", rep.ColumnNames)
			}
			for j, want := range ref.Columns {
				c := rep.Columns[j]
				name := want.Name + "."
				if c.Shapiro.Status != StatusOK || c.Moments.Error != "" || c.TailIndex.MohammadiError != "" || c.TailIndex.McCulloch.Error != "" {
					t.Errorf("%s: unexpected error: %+v %+v %+v", want.Name, c.Shapiro, c.Moments, c.TailIndex)
				}
				approx.Within(t, name+"W", float64(c.Shapiro.W), want.ShapiroW, 2e-6, 0)
				approx.Within(t, name+"p", float64(c.Shapiro.P), want.ShapiroP, 1e-7, 1e-3)
				approx.Within(t, name+"mean", float64(c.Moments.Mean), want.Mean, 1e-15, 1e-13)
				approx.Within(t, name+"variance", float64(c.Moments.Variance), want.Variance, 0, 1e-12)
				approx.Within(t, name+"skewness", float64(c.Moments.Skewness), want.Skewness, 1e-13, 1e-10)
				approx.Within(t, name+"excess_kurtosis", float64(c.Moments.ExcessKurtosis), want.ExcessKurtosis, 1e-13, 1e-10)
				approx.Within(t, name+"abs3_standardized", float64(c.Moments.Abs3Standardized), want.Abs3Standardized, 0, 1e-10)
				approx.Within(t, name+"sqrt_kurtosis", float64(c.Moments.SqrtKurtosis), want.SqrtKurtosis, 0, 1e-10)
				for k, b := range c.BerryEsseen {
					if b.BatchSize != ref.BatchSizes[k] {
						t.Errorf("%s: batch size %d, want %d", want.Name, b.BatchSize, ref.BatchSizes[k])
					}
					approx.Within(t, name+"berry_esseen", float64(b.Bound), want.BerryEsseen[k], 0, 1e-10)
				}
				approx.Within(t, name+"mohammadi", float64(c.TailIndex.Mohammadi), want.Mohammadi, 0, 1e-9)
				mc := c.TailIndex.McCulloch
				approx.Within(t, name+"alpha", float64(mc.Alpha), want.McCulloch.Alpha, 1e-12, 1e-10)
				approx.Within(t, name+"beta", float64(mc.Beta), want.McCulloch.Beta, 1e-12, 1e-10)
				approx.Within(t, name+"scale", float64(mc.Scale), want.McCulloch.Scale, 1e-12, 1e-10)
				approx.Within(t, name+"location", float64(mc.Location), want.McCulloch.Location, 1e-12, 1e-10)
			}
		})
	}
}

// awkward builds a matrix whose columns exercise every error path.
func awkward(rows int) *matrix.Matrix {
	rng := rand.New(rand.NewPCG(7, 8))
	cols := make([][]float64, 6)
	for j := range cols {
		cols[j] = make([]float64, rows)
	}
	for i := 0; i < rows; i++ {
		cols[0][i] = rng.NormFloat64()           // fine
		cols[1][i] = 3.25                        // constant: degenerate
		cols[2][i] = rng.NormFloat64()           // NaN at row 2
		cols[3][i] = math.Exp(rng.NormFloat64()) // skewed, fine
		cols[4][i] = float64(i % 2)              // two values: q25 == q75 possible
		cols[5][i] = rng.NormFloat64() * 1e-300  // tiny
	}
	if rows > 2 {
		cols[2][2] = math.NaN()
	}
	m, _ := matrix.FromColumns(cols...)
	return m
}

// Every column object has exactly the schema's keys; error keys appear
// exactly when a value is null; no NaN reaches the JSON.
func TestSchemaKeys(t *testing.T) {
	for _, rows := range []int{50, 2} {
		rep, err := Run(awkward(rows), Options{BatchSizes: []int{64, 128}})
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		if err := WriteJSON(&buf, rep); err != nil {
			t.Fatal(err)
		}
		var doc map[string]any
		if err := json.Unmarshal(buf.Bytes(), &doc); err != nil {
			t.Fatalf("invalid JSON: %v\n%s", err, buf.Bytes())
		}
		if got := sortedKeys(doc); !slices.Equal(got, []string{"columns", "rows", "schema"}) {
			t.Errorf("top-level keys %v", got)
		}
		if doc["schema"] != "gnaudit.stats/v1" || doc["rows"] != float64(rows) {
			t.Errorf("schema/rows: %v %v", doc["schema"], doc["rows"])
		}
		for _, ci := range doc["columns"].([]any) {
			c := ci.(map[string]any)
			wantKeys(t, c, []string{"index", "n", "shapiro", "moments", "berry_esseen", "tail_index"}, nil)
			wantKeys(t, c["shapiro"].(map[string]any), []string{"w", "p", "status"}, []string{"w", "p"})
			wantKeys(t, c["moments"].(map[string]any), []string{"mean", "variance", "skewness", "excess_kurtosis", "abs3_standardized", "sqrt_kurtosis"},
				[]string{"mean", "variance", "skewness", "excess_kurtosis", "abs3_standardized", "sqrt_kurtosis"})
			for _, b := range c["berry_esseen"].([]any) {
				wantKeys(t, b.(map[string]any), []string{"batch_size", "bound"}, []string{"bound"})
			}
			ti := c["tail_index"].(map[string]any)
			wantKeys(t, ti, []string{"mohammadi", "mcculloch"}, []string{"mohammadi"})
			wantKeys(t, ti["mcculloch"].(map[string]any), []string{"alpha", "beta", "scale", "location"}, []string{"alpha", "beta", "scale", "location"})
			if st := c["shapiro"].(map[string]any)["status"]; st != "ok" && st != "degenerate" && st != "error" {
				t.Errorf("status %v", st)
			}
		}
		if rows == 2 {
			sh := doc["columns"].([]any)[0].(map[string]any)["shapiro"].(map[string]any)
			if sh["status"] != "error" || !strings.Contains(sh["error"].(string), "n=2") {
				t.Errorf("n=2: %v", sh)
			}
		}
	}
}

// wantKeys checks that m has exactly the keys base, plus an error key when
// one of the nullable keys is null (and only then).
func wantKeys(t *testing.T, m map[string]any, base, nullable []string) {
	t.Helper()
	anyNull := false
	for _, k := range nullable {
		if v, ok := m[k]; ok && v == nil {
			anyNull = true
		}
	}
	want := slices.Clone(base)
	if anyNull {
		errKey := "error"
		if slices.Equal(nullable, []string{"mohammadi"}) {
			errKey = "mohammadi_error"
		}
		want = append(want, errKey)
	}
	if _, ok := m["status"]; ok && m["status"] == "error" && !anyNull {
		want = append(want, "error")
	}
	sort.Strings(want)
	got := sortedKeys(m)
	if !slices.Equal(got, want) {
		t.Errorf("keys %v, want %v (object %v)", got, want, m)
	}
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// The awkward columns carry the documented outcomes.
func TestErrorColumns(t *testing.T) {
	rep, err := Run(awkward(50), Options{BatchSizes: []int{64}})
	if err != nil {
		t.Fatal(err)
	}
	c := rep.Columns
	if c[0].Shapiro.Status != StatusOK || !c[0].Shapiro.P.Defined() {
		t.Errorf("normal column: %+v", c[0].Shapiro)
	}
	if c[1].Shapiro.Status != StatusDegenerate || c[1].Shapiro.W != 1 || c[1].Shapiro.P != 1 {
		t.Errorf("constant column: %+v", c[1].Shapiro)
	}
	if c[1].Moments.Mean != 3.25 || c[1].Moments.Variance != 0 || c[1].Moments.Skewness.Defined() || !strings.Contains(c[1].Moments.Error, "zero variance") {
		t.Errorf("constant column moments: %+v", c[1].Moments)
	}
	if c[1].BerryEsseen[0].Bound.Defined() || !strings.Contains(c[1].BerryEsseen[0].Error, "zero variance") {
		t.Errorf("constant column Berry–Esseen: %+v", c[1].BerryEsseen)
	}
	if c[1].TailIndex.Mohammadi.Defined() || c[1].TailIndex.MohammadiError == "" || c[1].TailIndex.McCulloch.Error == "" {
		t.Errorf("constant column tail index: %+v %+v", c[1].TailIndex, c[1].TailIndex.McCulloch)
	}
	nanCol := c[2]
	for what, msg := range map[string]string{
		"shapiro": nanCol.Shapiro.Error, "moments": nanCol.Moments.Error, "mohammadi": nanCol.TailIndex.MohammadiError,
		"mcculloch": nanCol.TailIndex.McCulloch.Error,
	} {
		// Each message must point at row 2 of the column, not a sorted position.
		if !strings.Contains(msg, "2") || !strings.Contains(strings.ToLower(msg), "nan") {
			t.Errorf("NaN column %s error %q", what, msg)
		}
	}
	if nanCol.Shapiro.Status != StatusError || !strings.Contains(nanCol.Shapiro.Error, "x[2]") {
		t.Errorf("NaN column Shapiro: %+v", nanCol.Shapiro)
	}
}

// The hand-written JSON encoder produces the bytes of json.Marshal.
func TestWriteJSONMatchesEncodingJSON(t *testing.T) {
	m := awkward(40)
	m.Names = []string{"a", "b\"|<x>", "c", "d", "é", ""}
	for _, secs := range []Section{AllSections, SectionShapiro, SectionMoments | SectionTailIndex} {
		rep, err := Run(m, Options{Sections: secs, BatchSizes: []int{1, 2, 3}})
		if err != nil {
			t.Fatal(err)
		}
		// Add numbers in every formatting range of encoding/json.
		rep.Columns[0].Moments = &Moments{1e-7, 1e21, -1e-300, 123456789.125, 0, Number(math.Copysign(0, -1)), ""}
		var buf bytes.Buffer
		if err := WriteJSON(&buf, rep); err != nil {
			t.Fatal(err)
		}
		want, err := json.Marshal(rep)
		if err != nil {
			t.Fatal(err)
		}
		var got bytes.Buffer
		if err := json.Compact(&got, buf.Bytes()); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got.Bytes(), append(want, '\n')) && !bytes.Equal(got.Bytes(), want) {
			t.Errorf("sections %v:\n got %s\nwant %s", secs, got.Bytes(), want)
		}
		// And it decodes back to the same report (null → NaN).
		var back Report
		if err := json.Unmarshal(buf.Bytes(), &back); err != nil {
			t.Fatal(err)
		}
		again, _ := json.Marshal(&back)
		if !bytes.Equal(again, want) {
			t.Errorf("round trip differs")
		}
	}
}

// Parallel and serial runs give identical reports.
func TestParallelEqualsSerial(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	rows, cols := 123, 300
	data := make([]float64, rows*cols)
	for i := range data {
		data[i] = rng.NormFloat64() * (1 + float64(i%7))
		if i%997 == 0 {
			data[i] = math.Inf(1)
		}
	}
	m, _ := matrix.FromRowMajor(rows, cols, data)
	var outs [][]byte
	for _, workers := range []int{1, 2, 7, 0} {
		rep, err := Run(m, Options{Workers: workers})
		if err != nil {
			t.Fatal(err)
		}
		for j, c := range rep.Columns {
			if c.Index != j {
				t.Fatalf("column %d has index %d", j, c.Index)
			}
		}
		var buf bytes.Buffer
		if err := WriteJSON(&buf, rep); err != nil {
			t.Fatal(err)
		}
		outs = append(outs, buf.Bytes())
	}
	for i := 1; i < len(outs); i++ {
		if !bytes.Equal(outs[0], outs[i]) {
			t.Fatalf("run %d differs from the serial run", i)
		}
	}
}

func TestSectionsAndOptions(t *testing.T) {
	m := awkward(30)
	rep, err := Run(m, Options{Sections: SectionShapiro})
	if err != nil {
		t.Fatal(err)
	}
	c := rep.Columns[0]
	if c.Shapiro == nil || c.Moments != nil || c.BerryEsseen != nil || c.TailIndex != nil {
		t.Errorf("shapiro only: %+v", c)
	}
	rep, _ = Run(m, Options{Sections: SectionBerryEsseen})
	if c := rep.Columns[0]; c.Moments != nil || len(c.BerryEsseen) != len(DefaultBatchSizes) || !c.BerryEsseen[0].Bound.Defined() {
		t.Errorf("berry_esseen only: %+v", c)
	}
	for _, tc := range []struct {
		in   string
		want Section
		err  bool
	}{
		{"all", AllSections, false},
		{"shapiro", SectionShapiro, false},
		{"moments, tail_index", SectionMoments | SectionTailIndex, false},
		{"shapiro,kurtosis", 0, true},
		{"", 0, true},
	} {
		got, err := ParseSections(tc.in)
		if got != tc.want || (err != nil) != tc.err {
			t.Errorf("ParseSections(%q) = %v, %v", tc.in, got, err)
		}
	}
	if _, err := Run(m, Options{BatchSizes: []int{64, 0}}); err == nil {
		t.Error("batch size 0 accepted")
	}
	if _, err := Run(nil, Options{}); err == nil {
		t.Error("nil matrix accepted")
	}
	// NoCenter: the Mohammadi estimate of data far from 0 is meaningless
	// uncentred (≈1 for a large offset) and sensible centred.
	shifted := make([]float64, 400)
	rng := rand.New(rand.NewPCG(1, 1))
	for i := range shifted {
		shifted[i] = 1000 + rng.NormFloat64()
	}
	sm, _ := matrix.FromColumns(shifted)
	centred, _ := Run(sm, Options{Sections: SectionTailIndex})
	raw, _ := Run(sm, Options{Sections: SectionTailIndex, NoCenter: true})
	if a := float64(centred.Columns[0].TailIndex.Mohammadi); a < 1.6 {
		t.Errorf("centred Gaussian α = %v, want near 2", a)
	}
	approx.Abs(t, "uncentred α", float64(raw.Columns[0].TailIndex.Mohammadi), 1, 0.05)
	// Empty matrices are valid input.
	for _, em := range []*matrix.Matrix{{Rows: 0, Cols: 2, Data: nil}, {Rows: 5, Cols: 0}} {
		rep, err := Run(em, Options{})
		if err != nil || len(rep.Columns) != em.Cols {
			t.Errorf("%d×%d: %v %v", em.Rows, em.Cols, rep, err)
		}
		var buf bytes.Buffer
		if err := WriteJSON(&buf, rep); err != nil || !json.Valid(buf.Bytes()) {
			t.Errorf("%d×%d JSON: %v %s", em.Rows, em.Cols, err, buf.Bytes())
		}
	}
}

func TestMarkdown(t *testing.T) {
	m, err := matrix.Load(filepath.Join("testdata", "example.csv"))
	if err != nil {
		t.Fatal(err)
	}
	rep, err := Run(m, Options{BatchSizes: []int{64, 256}})
	if err != nil {
		t.Fatal(err)
	}
	ref := loadReference(t)
	gaussian := 0
	for _, c := range ref.Columns {
		if c.ShapiroP > 0.05 {
			gaussian++
		}
	}
	var buf bytes.Buffer
	if err := WriteMarkdown(&buf, rep, MarkdownOptions{Source: "example.csv"}); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, want := range []string{
		"Input: `example.csv`, 200 rows × 6 columns",
		"| column | name | n | W | p | SW |",
		"BE B=64 | BE B=256 |",
		"| 0 | normal | 200 | ",
		"**" + strconv.Itoa(gaussian) + " of 6 tested columns Gaussian",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("markdown lacks %q:\n%s", want, out)
		}
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	nTable := 0
	for _, l := range lines {
		if strings.HasPrefix(l, "| ") {
			nTable++
			if got := len(strings.Split(strings.Trim(l, "|"), "|")); got != 18 { // incl. name and 2 BE columns
				t.Errorf("row has %d cells: %s", got, l)
			}
		}
	}
	if nTable != 7 {
		t.Errorf("%d table rows, want header + 6", nTable)
	}
	// Errors show up as notes, with the table intact.
	rep, _ = Run(awkward(20), Options{})
	buf.Reset()
	WriteMarkdown(&buf, rep, MarkdownOptions{Alpha: 0.01})
	if !strings.Contains(buf.String(), "moments: describe:") || !strings.Contains(buf.String(), "α = 0.01") {
		t.Errorf("markdown of awkward matrix:\n%s", buf.String())
	}
}

func TestSummarize(t *testing.T) {
	r := &Report{Columns: []Column{
		{Shapiro: &Shapiro{P: 0.5, Status: StatusOK}},
		{Shapiro: &Shapiro{P: 0.01, Status: StatusOK}},
		{Shapiro: &Shapiro{W: 1, P: 1, Status: StatusDegenerate}},
		{Shapiro: &Shapiro{P: Number(math.NaN()), Status: StatusError}},
		{},
	}}
	got := Summarize(r, 0.05)
	want := Summary{Columns: 5, Tested: 3, Gaussian: 2, Degenerate: 1, Errors: 1}
	if got != want {
		t.Errorf("Summarize = %+v, want %+v", got, want)
	}
}

// The example matrix shows what it claims: the Gaussian column passes
// Shapiro–Wilk, the heavy-tailed ones fail it with tail indices below 2,
// the constant one is degenerate.
func TestExampleMatrix(t *testing.T) {
	m, err := ExampleMatrix(600, 1)
	if err != nil {
		t.Fatal(err)
	}
	again, _ := ExampleMatrix(600, 1)
	if !slices.Equal(m.Data, again.Data) {
		t.Fatal("not reproducible")
	}
	rep, err := Run(m, Options{})
	if err != nil {
		t.Fatal(err)
	}
	col := func(name string) Column { return rep.Columns[slices.Index(ExampleColumns, name)] }
	if p := col("normal").Shapiro.P; !(p > 0.01) {
		t.Errorf("normal column p = %v", p)
	}
	for _, name := range []string{"student_t3", "uniform", "laplace", "exponential", "stable_a1.5", "cauchy"} {
		if p := col(name).Shapiro.P; !(p < 0.01) {
			t.Errorf("%s column p = %v, want < 0.01", name, p)
		}
	}
	approx.Abs(t, "cauchy McCulloch α", float64(col("cauchy").TailIndex.McCulloch.Alpha), 1, 0.25)
	approx.Abs(t, "stable McCulloch α", float64(col("stable_a1.5").TailIndex.McCulloch.Alpha), 1.5, 0.25)
	if s := col("constant").Shapiro.Status; s != StatusDegenerate {
		t.Errorf("constant column status %s", s)
	}
	if _, err := ExampleMatrix(0, 1); err == nil {
		t.Error("0 rows accepted")
	}
}

// A float32-stored matrix gives the same report as its float64 copy.
func TestFloat32StorageSameReport(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 14))
	rows, cols := 200, 70
	m32 := &matrix.Matrix{Rows: rows, Cols: cols, Data32: make([]float32, rows*cols)}
	m64 := &matrix.Matrix{Rows: rows, Cols: cols, Data: make([]float64, rows*cols)}
	for i := range m32.Data32 {
		m32.Data32[i] = float32(rng.NormFloat64())
		switch i {
		case 3*rows + 7:
			m32.Data32[i] = float32(math.NaN())
		case 5*rows + 1:
			m32.Data32[i] = float32(math.Inf(-1))
		}
		if i/rows == 9 {
			m32.Data32[i] = 1.5 // constant column
		}
		m64.Data[i] = float64(m32.Data32[i])
	}
	for _, secs := range []Section{AllSections, SectionShapiro, SectionShapiro | SectionMoments, SectionTailIndex} {
		var outs [2]bytes.Buffer
		for k, m := range []*matrix.Matrix{m32, m64} {
			rep, err := Run(m, Options{Workers: 3, Sections: secs})
			if err != nil {
				t.Fatal(err)
			}
			if err := WriteJSON(&outs[k], rep); err != nil {
				t.Fatal(err)
			}
		}
		if !bytes.Equal(outs[0].Bytes(), outs[1].Bytes()) {
			t.Errorf("sections %v: float32 and float64 storage give different reports", secs)
		}
		if secs&SectionShapiro != 0 && !strings.Contains(outs[0].String(), `"error":"shapiro-wilk: x[7]=NaN: non-finite value"`) {
			t.Errorf("sections %v: NaN row not named", secs)
		}
	}
}
