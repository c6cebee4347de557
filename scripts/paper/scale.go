package paper

// The paper at its own scale (experiments/paper/scale, scripts/paper/scale.sh):
// the training stage's plateau rule and epoch records, the number of tested
// coordinates a stated uncertainty needs, and the committed results' layout.

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/gnaudit/gnaudit/reports"
)

// Header returns the "# key: value" lines of a config's leading comment
// block (the first line of each key; the value up to two spaces, so that a
// trailing explanation is left out).
func Header(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("config header: %w", err)
	}
	defer f.Close()
	re := regexp.MustCompile(`^# ([a-z_]+): *(.*)$`)
	out := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "#") {
			break
		}
		m := re.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		v := m[2]
		if i := strings.Index(v, "  "); i >= 0 {
			v = v[:i]
		}
		if _, ok := out[m[1]]; !ok {
			out[m[1]] = strings.TrimSpace(v)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("config header %s: %w", path, err)
	}
	return out, nil
}

// Ints parses a space-separated list of integers ("1 2 3").
func Ints(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Fields(s) {
		v, err := strconv.Atoi(f)
		if err != nil {
			return nil, fmt.Errorf("%q: not an integer list: %w", s, err)
		}
		out = append(out, v)
	}
	return out, nil
}

// PlateauRule is the training stage's stopping rule: a phase of constant
// learning rate LRs[p] ends when the best held-out accuracy of its last K
// epochs exceeds the best before them by at most Delta points; the run ends
// after the last phase, or after MaxEpochs epochs in all.
type PlateauRule struct {
	Delta     float64   `json:"delta_points"`
	K         int       `json:"k_epochs"`
	LRs       []float64 `json:"lr_phases"`
	MaxEpochs int       `json:"max_epochs"`
}

// ParsePlateauRule reads the rule from a config header ("plateau: 0.2 3",
// "lr_phases: 0.01 0.001", "max_epochs: 40").
func ParsePlateauRule(h map[string]string) (PlateauRule, error) {
	var r PlateauRule
	p := strings.Fields(h["plateau"])
	if len(p) != 2 {
		return r, fmt.Errorf(`want a header line "# plateau: DELTA K", got %q`, h["plateau"])
	}
	var err error
	if r.Delta, err = strconv.ParseFloat(p[0], 64); err != nil || r.Delta < 0 {
		return r, fmt.Errorf("plateau delta %q: want a number >= 0", p[0])
	}
	if r.K, err = strconv.Atoi(p[1]); err != nil || r.K < 1 {
		return r, fmt.Errorf("plateau k %q: want an integer >= 1", p[1])
	}
	for _, f := range strings.Fields(h["lr_phases"]) {
		v, err := strconv.ParseFloat(f, 64)
		if err != nil || v <= 0 {
			return r, fmt.Errorf("lr_phases %q: want positive rates", h["lr_phases"])
		}
		r.LRs = append(r.LRs, v)
	}
	if len(r.LRs) == 0 {
		return r, fmt.Errorf(`want a header line "# lr_phases: LR..."`)
	}
	if r.MaxEpochs, err = strconv.Atoi(h["max_epochs"]); err != nil || r.MaxEpochs < 1 {
		return r, fmt.Errorf("max_epochs %q: want an integer >= 1", h["max_epochs"])
	}
	return r, nil
}

// Plateaued reports whether accuracies (in %, epoch order) have plateaued
// under the rule: at least K+1 epochs, and max(last K) − max(before) <= Delta.
func (r PlateauRule) Plateaued(acc []float64) bool {
	if len(acc) < r.K+1 {
		return false
	}
	best := func(xs []float64) float64 {
		b := math.Inf(-1)
		for _, x := range xs {
			if !math.IsNaN(x) && x > b {
				b = x
			}
		}
		return b
	}
	n := len(acc)
	return best(acc[n-r.K:])-best(acc[:n-r.K]) <= r.Delta+1e-9 // 86.2 − 86 is 0.2000…03 in floats
}

// EpochRecord is one epoch of a training run (one gnaudit audit run).
type EpochRecord struct {
	Epoch int     `json:"epoch"`
	LR    float64 `json:"lr"`
	// FirstStep and Steps: the global step before the epoch and its updates.
	FirstStep int `json:"first_step"`
	Steps     int `json:"steps"`
	// HeldOutAcc (in %) and HeldOutLoss after the epoch, on HeldOutSamples
	// test images; HeldOutAccBefore before it.
	HeldOutAcc       float64 `json:"held_out_accuracy"`
	HeldOutAccBefore float64 `json:"held_out_accuracy_before"`
	HeldOutLoss      float64 `json:"held_out_loss"`
	HeldOutSamples   int     `json:"held_out_samples"`
	// TrainLoss is the mean batch loss over the epoch's updates.
	TrainLoss float64 `json:"train_loss"`
	Seconds   float64 `json:"seconds"`
	Phase     int     `json:"phase"`
}

// TrainingRun is what the training stage did for one model and seed.
type TrainingRun struct {
	Config string         `json:"config"`
	Seed   int            `json:"seed"`
	Rule   PlateauRule    `json:"rule"`
	Epochs []EpochRecord  `json:"epochs"`
	Status string         `json:"status"` // "running", "plateau" or "max_epochs"
	Phase  int            `json:"phase"`  // the phase the next epoch belongs to
	Notes  []string       `json:"notes,omitempty"`
	byStep map[int]string // epoch directory of each audited global step
}

func jf(x any) (float64, bool) {
	switch v := x.(type) {
	case float64:
		return v, true
	case int:
		return float64(v), true
	}
	return 0, false
}

// epochOf reads the report of one epoch.
func epochOf(r *reports.Report, epoch, first int) (EpochRecord, error) {
	e := EpochRecord{Epoch: epoch, FirstStep: first, HeldOutAcc: math.NaN(), HeldOutAccBefore: math.NaN(), HeldOutLoss: math.NaN(), TrainLoss: math.NaN()}
	t := r.Training
	if t == nil {
		return e, fmt.Errorf("epoch %d: report has no training section", epoch)
	}
	e.Steps = t.Steps
	if len(t.Schedule) > 0 {
		e.LR = t.Schedule[0].LR
	}
	if s, ok := jf(t.Extra["seconds"]); ok {
		e.Seconds = s
	}
	if evs, ok := t.Extra["evals"].([]any); ok && len(evs) > 0 {
		first, _ := evs[0].(map[string]any)
		last, _ := evs[len(evs)-1].(map[string]any)
		if a, ok := jf(first["acc"]); ok && len(evs) > 1 {
			e.HeldOutAccBefore = 100 * a
		}
		if a, ok := jf(last["acc"]); ok {
			e.HeldOutAcc = 100 * a
		}
		if l, ok := jf(last["loss"]); ok {
			e.HeldOutLoss = l
		}
		if n, ok := jf(last["samples"]); ok {
			e.HeldOutSamples = int(n)
		}
	}
	var s float64
	var n int
	for _, p := range t.Loss {
		if v := float64(p.Loss); !math.IsNaN(v) {
			s += v
			n++
		}
	}
	if n > 0 {
		e.TrainLoss = s / float64(n)
	}
	return e, nil
}

// EpochDir is the directory of epoch e of a training run.
func EpochDir(run string, e int) string { return filepath.Join(run, fmt.Sprintf("epoch-%03d", e)) }

// EpochModel is the model saved after epoch e.
func EpochModel(run string, e int) string {
	return filepath.Join(run, fmt.Sprintf("epoch-%03d.onnx", e))
}

// completeAudit reports whether dir/audit.json says "complete".
func completeAudit(dir string) bool {
	b, err := os.ReadFile(filepath.Join(dir, "audit.json"))
	if err != nil {
		return false
	}
	var a struct {
		Status string `json:"status"`
	}
	return json.Unmarshal(b, &a) == nil && a.Status == "complete"
}

// LastEpoch is the last finished epoch of a training run directory: the
// end of the unbroken sequence epoch-001/, epoch-002/, ... whose audit.json
// says complete; when needModel, the last of those whose model
// (epoch-NNN.onnx) was saved. 0 when there is none.
func LastEpoch(run string, needModel bool) int {
	last := 0
	for e := 1; completeAudit(EpochDir(run, e)); e++ {
		last = e
	}
	for needModel && last > 0 {
		if _, err := os.Stat(EpochModel(run, last)); err == nil {
			break
		}
		last--
	}
	return last
}

// ReadTrainingRun reads the finished epochs of a training run directory
// (epoch-NNN/ with a complete audit.json and a report.json) in order,
// stopping at the first gap, and works out its status under rule. When
// needModels, the run ends at its last epoch whose model (epoch-NNN.onnx)
// was saved: the next epoch and the audits start from that model, so the
// earlier epochs' models need not be there (scale.sh keep commits only the
// last one, and a fresh machine restores the run from it).
func ReadTrainingRun(run, config string, seed int, rule PlateauRule, needModels bool) (*TrainingRun, error) {
	tr := &TrainingRun{Config: config, Seed: seed, Rule: rule, Status: "running", byStep: map[int]string{}}
	last := LastEpoch(run, needModels)
	first := 0
	for e := 1; e <= last; e++ {
		dir := EpochDir(run, e)
		r, err := reports.ReadFile(filepath.Join(dir, "report.json"))
		if err != nil {
			return nil, fmt.Errorf("training run %s: %w", run, err)
		}
		rec, err := epochOf(r, e, first)
		if err != nil {
			return nil, fmt.Errorf("training run %s: %w", run, err)
		}
		if b, err := os.ReadFile(dir + ".seconds"); err == nil {
			if s, err := strconv.ParseFloat(strings.TrimSpace(string(b)), 64); err == nil {
				rec.Seconds = s
			}
		}
		for _, c := range r.Checkpoints {
			tr.byStep[first+c.Step] = dir
		}
		first += rec.Steps
		tr.Epochs = append(tr.Epochs, rec)
	}
	tr.classify()
	return tr, nil
}

// classify assigns phases to the epochs (by their learning rate) and sets
// Status and Phase.
func (tr *TrainingRun) classify() {
	r := tr.Rule
	phase := 0
	var acc []float64
	for i := range tr.Epochs {
		e := &tr.Epochs[i]
		for phase < len(r.LRs) && e.LR != r.LRs[phase] {
			phase, acc = phase+1, nil
		}
		if phase == len(r.LRs) {
			tr.Notes = append(tr.Notes, fmt.Sprintf("epoch %d ran at lr %g, not in the rule's phases %v", e.Epoch, e.LR, r.LRs))
			phase = len(r.LRs) - 1
		}
		e.Phase = phase
		acc = append(acc, e.HeldOutAcc)
	}
	tr.Phase = phase
	if len(tr.Epochs) > 0 && r.Plateaued(acc) {
		tr.Phase = phase + 1
	}
	switch {
	case tr.Phase >= len(r.LRs):
		tr.Status, tr.Phase = "plateau", len(r.LRs)-1
	case len(tr.Epochs) >= r.MaxEpochs:
		tr.Status = "max_epochs"
	default:
		tr.Status = "running"
	}
}

// Next returns the next epoch to run and its learning rate, or done = the
// run's status when it has ended.
func (tr *TrainingRun) Next() (epoch int, lr float64, done string) {
	if tr.Status != "running" {
		return 0, 0, tr.Status
	}
	return len(tr.Epochs) + 1, tr.Rule.LRs[tr.Phase], ""
}

// EpochSeed is the --seed of epoch e of seed s: s itself for the first
// epoch (it initialises the zoo model), 1000·s + e after it (a fresh data
// order; the model comes from the previous epoch's file).
func EpochSeed(s, e int) int {
	if e <= 1 {
		return s
	}
	return 1000*s + e
}

// CoordsForHalfWidth is the number of tested coordinates a layer needs so
// that the normal-approximation 95 % half-width z·√(p(1−p)/T) of its pass
// rate is at most h (a fraction, e.g. 0.02) at the worst case p = 1/2,
// after a share d of the coordinates is degenerate (left out of the rate).
func CoordsForHalfWidth(h, z, d float64) int {
	t := z * z * 0.25 / (h * h)
	return int(math.Ceil(math.Ceil(t) / (1 - d)))
}

// WilsonHalfWidth is half the width of the Wilson score interval of k
// successes in n trials at normal quantile z, in the units of k/n.
func WilsonHalfWidth(k, n int, z float64) float64 {
	if n <= 0 {
		return math.NaN()
	}
	p, fn := float64(k)/float64(n), float64(n)
	return z / (1 + z*z/fn) * math.Sqrt(p*(1-p)/fn+z*z/(4*fn*fn))
}

// SpearmanPValue is the two-sided p-value of a rank correlation rho of n
// untied ranks under independence: exact (all n! orders) for n <= 9, else
// a permutation estimate from 20,000 seeded shuffles.
func SpearmanPValue(rho float64, n int) float64 {
	if n < 3 || math.IsNaN(rho) {
		return math.NaN()
	}
	x := make([]float64, n)
	for i := range x {
		x[i] = float64(i + 1)
	}
	y := append([]float64(nil), x...)
	count, total := 0, 0
	thr := math.Abs(rho) - 1e-12
	check := func() {
		total++
		if math.Abs(pearson(x, y)) >= thr {
			count++
		}
	}
	if n <= 9 {
		var perm func(k int)
		perm = func(k int) {
			if k == n {
				check()
				return
			}
			for i := k; i < n; i++ {
				y[k], y[i] = y[i], y[k]
				perm(k + 1)
				y[k], y[i] = y[i], y[k]
			}
		}
		perm(0)
		return float64(count) / float64(total)
	}
	// n > 9: 20000 shuffles of a fixed-seed linear congruential stream.
	state := uint64(0x9e3779b97f4a7c15)
	for it := 0; it < 20000; it++ {
		for i := n - 1; i > 0; i-- {
			state = state*6364136223846793005 + 1442695040888963407
			j := int((state >> 33) % uint64(i+1))
			y[i], y[j] = y[j], y[i]
		}
		check()
	}
	return (float64(count) + 1) / (float64(total) + 1)
}

// StepsAudited lists the global steps with a checkpoint audit, ascending.
func (tr *TrainingRun) StepsAudited() []int {
	var s []int
	for k := range tr.byStep {
		s = append(s, k)
	}
	sort.Ints(s)
	return s
}

// KeepBytes is what scalectl keep commits of the file name with content b:
// b itself when it has at most limit bytes; a JSON file over the limit
// compacted (the same values without indentation: a ResNet-56 report of
// 173 layers is 6.7 MB indented, 2.5 MB compact); else an error naming
// the file.
func KeepBytes(name string, b []byte, limit int) ([]byte, error) {
	if len(b) <= limit {
		return b, nil
	}
	if strings.HasSuffix(name, ".json") {
		var c bytes.Buffer
		if err := json.Compact(&c, b); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		c.WriteByte('\n')
		if c.Len() <= limit {
			return c.Bytes(), nil
		}
		return nil, fmt.Errorf("%s: %d bytes (%d compacted), over the %d-byte limit of committed results", name, len(b), c.Len(), limit)
	}
	return nil, fmt.Errorf("%s: %d bytes, over the %d-byte limit of committed results", name, len(b), limit)
}
