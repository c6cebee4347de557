package paper

// AggregateScale: the tables, figures and verdicts of docs/paper.md's
// "At the paper's scale" section, from the committed results of
// scripts/paper/scale.sh (experiments/paper/scale/results).

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"

	"gonum.org/v1/plot/vg"

	"github.com/gnaudit/gnaudit/auditor/atomicfile"
	"github.com/gnaudit/gnaudit/reports"
)

// ScaleOptions configure AggregateScale.
type ScaleOptions struct {
	// Results is the committed results directory (scale.sh keep).
	Results string
	// Configs is experiments/paper/scale: the plan.
	Configs string
	// Out receives results.md, summary.json and the figures.
	Out string
	// Doc, when set, is the Markdown file whose "scale-..." blocks are
	// refreshed (docs/paper.md); all other text stays as it is.
	Doc string
	// AllowMissing lets a block of Doc that holds results be replaced by
	// "not run" when its results are missing (else that is refused).
	AllowMissing bool
}

// notRunText is the body of a block whose stage has no results.
const notRunText = "*Not run yet* (no committed results).\n"

// scaleConfig is one config of the plan with its header lines.
type scaleConfig struct {
	Name    string
	Seeds   []int
	Batches []int  // full: the n values
	Train   string // full: the training config it audits
	Header  map[string]string
}

func readScaleConfigs(dir string) (train, full []scaleConfig, err error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil {
		return nil, nil, err
	}
	if len(files) == 0 {
		return nil, nil, fmt.Errorf("no configs in %s", dir)
	}
	order := func(f string) int {
		for i, m := range []string{"alexnet-cifar.yaml", "alexnet-cifar-bn.yaml", "resnet20.yaml", "resnet56.yaml"} {
			if strings.HasSuffix(f, "-"+m) {
				return i
			}
		}
		return 9
	}
	sort.SliceStable(files, func(i, j int) bool { return order(files[i]) < order(files[j]) })
	for _, f := range files {
		h, err := Header(f)
		if err != nil {
			return nil, nil, err
		}
		c := scaleConfig{Name: strings.TrimSuffix(filepath.Base(f), ".yaml"), Header: h}
		if c.Seeds, err = Ints(h["seeds"]); err != nil || len(c.Seeds) == 0 {
			return nil, nil, fmt.Errorf("%s: want a '# seeds:' line (%v)", f, err)
		}
		switch {
		case strings.HasPrefix(c.Name, "train-"):
			if _, err := ParsePlateauRule(h); err != nil {
				return nil, nil, fmt.Errorf("%s: %w", f, err)
			}
			train = append(train, c)
		case strings.HasPrefix(c.Name, "full-"):
			if c.Batches, err = Ints(h["batches"]); err != nil || len(c.Batches) == 0 {
				return nil, nil, fmt.Errorf("%s: want a '# batches:' line (%v)", f, err)
			}
			if c.Train = h["train"]; c.Train == "" {
				return nil, nil, fmt.Errorf("%s: want a '# train:' line", f)
			}
			full = append(full, c)
		}
	}
	return train, full, nil
}

// fullRun is the results of one full-pool config at one n (one
// directory n-N, or a subset run n-N-B-...).
type fullRun struct {
	Config  string
	Sub     string // "n-200", "n-200-B-64-128"
	N       int
	Exp     *Experiment
	Sources map[int]map[string]any // per seed: source.json
}

func (f *fullRun) label() string { return f.Config + " " + f.Sub }

// source reads seed's source.json: the training epoch audited, "plateau"
// or "not plateaued", and the audit's seconds; ok is false without an
// epoch.
func (f *fullRun) source(seed int) (epoch int, state string, secs float64, ok bool) {
	m := f.Sources[seed]
	ep, ok := jf(m["epoch"])
	state = "plateau"
	if pl, _ := m["plateau"].(bool); !pl {
		state = "not plateaued"
	}
	secs, _ = jf(m["seconds"])
	return int(ep), state, secs, ok
}

func loadFull(results string, c scaleConfig) ([]*fullRun, error) {
	dir := filepath.Join(results, c.Name)
	if _, err := os.Stat(dir); err != nil {
		return nil, nil
	}
	exps, err := Load(dir)
	if err != nil {
		return nil, err
	}
	var out []*fullRun
	for _, e := range exps {
		var n int
		if _, err := fmt.Sscanf(e.Name, "n-%d", &n); err != nil {
			continue
		}
		if len(e.Partial) > 0 {
			return nil, fmt.Errorf("%s/%s: %s", dir, e.Name, strings.Join(e.Partial, "; "))
		}
		sources := map[int]map[string]any{}
		for _, r := range e.Runs {
			b, err := os.ReadFile(filepath.Join(dir, e.Name, fmt.Sprintf("seed-%d", r.Seed), "source.json"))
			if err != nil {
				return nil, fmt.Errorf("%s: seed %d has a report but no source.json (which training epoch it audits): %w", dir, r.Seed, err)
			}
			var m map[string]any
			if err := json.Unmarshal(b, &m); err != nil {
				return nil, fmt.Errorf("%s seed %d source.json: %w", dir, r.Seed, err)
			}
			sources[r.Seed] = m
		}
		for _, part := range splitEngines(e) {
			sub := e.Name
			if part.engine != "" {
				sub += "-" + part.engine
			}
			part.exp.Name = c.Name + "-" + sub
			out = append(out, &fullRun{Config: c.Name, Sub: sub, N: n, Exp: part.exp, Sources: sources})
		}
	}
	return out, nil
}

type enginePart struct {
	engine string // "" when the audit ran one engine
	exp    *Experiment
}

// splitEngines separates the checkpoints of an audit that ran both noise
// engines (--engine both: a per-sample and a "mini-batch" checkpoint per
// step) into one experiment per engine.
func splitEngines(e *Experiment) []enginePart {
	engines := map[string]bool{}
	for _, r := range e.Runs {
		for _, c := range r.Report.Checkpoints {
			engines[c.Engine] = true
		}
	}
	if len(engines) < 2 {
		return []enginePart{{"", e}}
	}
	var out []enginePart
	for _, eng := range []string{"", "mini-batch"} {
		x := &Experiment{Name: e.Name}
		for _, r := range e.Runs {
			rep := *r.Report
			rep.Checkpoints = nil
			for _, c := range r.Report.Checkpoints {
				if c.Engine == eng {
					rep.Checkpoints = append(rep.Checkpoints, c)
				}
			}
			if len(rep.Checkpoints) > 0 {
				x.Runs = append(x.Runs, Run{Seed: r.Seed, Report: &rep})
			}
		}
		name := eng
		if name == "" {
			name = "per-sample"
		}
		if len(x.Runs) > 0 {
			out = append(out, enginePart{name, x})
		}
	}
	return out
}

// trainRun is a training run read from the results.
type trainRun struct {
	Config string
	Run    *TrainingRun
	Dir    string
}

// AggregateScale writes o.Out/results.md, summary.json and the figures and
// refreshes the scale blocks of o.Doc. It refuses, before writing, when no
// results exist, a result is incomplete, or (without AllowMissing) a block
// of o.Doc holding results would become "not run".
func AggregateScale(o ScaleOptions) error {
	trainCfgs, fullCfgs, err := readScaleConfigs(o.Configs)
	if err != nil {
		return err
	}
	if _, err := os.Stat(o.Results); err != nil {
		return fmt.Errorf("results %s: %w", o.Results, err)
	}
	var trains []trainRun
	for _, c := range trainCfgs {
		rule, _ := ParsePlateauRule(c.Header)
		for _, s := range c.Seeds {
			dir := filepath.Join(o.Results, c.Name, fmt.Sprintf("seed-%d", s))
			if _, err := os.Stat(dir); err != nil {
				continue
			}
			tr, err := ReadTrainingRun(dir, c.Name+".yaml", s, rule, false)
			if err != nil {
				return err
			}
			if len(tr.Epochs) == 0 {
				continue
			}
			trains = append(trains, trainRun{Config: c.Name, Run: tr, Dir: dir})
		}
	}
	var fulls []*fullRun
	for _, c := range fullCfgs {
		fs, err := loadFull(o.Results, c)
		if err != nil {
			return err
		}
		fulls = append(fulls, fs...)
	}
	dynCfgs, err := readDynConfigs(o.Configs)
	if err != nil {
		return err
	}
	var dyns []dynRun
	for _, c := range dynCfgs {
		ds, err := loadDyn(o.Results, c)
		if err != nil {
			return err
		}
		dyns = append(dyns, ds...)
	}
	if len(trains) == 0 && len(fulls) == 0 && len(dyns) == 0 {
		return fmt.Errorf("no results in %s: nothing written", o.Results)
	}
	plan, _ := os.ReadFile(filepath.Join(o.Results, "plan.txt"))

	s := &scaleDoc{o: o, blocks: map[string]string{}, summary: map[string]any{}}
	s.ran(trainCfgs, fullCfgs, dynCfgs, trains, fulls, dyns)
	s.cost(string(plan), trainCfgs, fullCfgs, trains, fulls)
	if err := s.training(trains); err != nil {
		return err
	}
	if err := s.fullTables(fulls); err != nil {
		return err
	}
	s.claims(trains, fulls)
	s.dynamicsBlock(dynCfgs, dyns)

	// Check the document before writing anything.
	var doc string
	if o.Doc != "" {
		b, err := os.ReadFile(o.Doc)
		if err != nil {
			return err
		}
		doc = string(b)
		for _, name := range blockNames(doc) {
			if !strings.HasPrefix(name, "scale-") {
				continue
			}
			old := blockBody(doc, name)
			if nb, ok := s.blocks[name]; ok {
				for _, h := range headings(old) {
					if !strings.Contains(nb, "#### "+h+"\n") && !o.AllowMissing {
						return fmt.Errorf("%s: block %q holds %q, but %s has no results for it: nothing written (check -results, or pass -allow-missing)", o.Doc, name, h, o.Results)
					}
				}
				continue
			}
			if strings.TrimSpace(old) != strings.TrimSpace(notRunText) && strings.TrimSpace(old) != "" && !o.AllowMissing {
				return fmt.Errorf("%s: block %q holds results, but %s has none for it: nothing written (check -results, or pass -allow-missing)", o.Doc, name, o.Results)
			}
			s.blocks[name] = notRunText
		}
	}
	if err := os.MkdirAll(o.Out, 0o755); err != nil {
		return err
	}
	for _, f := range s.figs {
		if err := f(); err != nil {
			return err
		}
	}
	if err := atomicfile.WriteFile(filepath.Join(o.Out, "results.md"), s.md.Bytes()); err != nil {
		return err
	}
	js, err := json.MarshalIndent(s.summary, "", " ")
	if err != nil {
		return err
	}
	if err := atomicfile.WriteFile(filepath.Join(o.Out, "summary.json"), append(js, '\n')); err != nil {
		return err
	}
	if o.Doc == "" {
		return nil
	}
	out, _ := RefreshBlocks(doc, s.blocks)
	return atomicfile.WriteFile(o.Doc, []byte(out))
}

// blockNames lists the names of the BEGIN markers of a document.
func blockNames(doc string) []string {
	var out []string
	for {
		i := strings.Index(doc, "<!-- BEGIN ")
		if i < 0 {
			return out
		}
		doc = doc[i+len("<!-- BEGIN "):]
		j := strings.Index(doc, " -->")
		if j < 0 {
			return out
		}
		out = append(out, doc[:j])
	}
}

func blockBody(doc, name string) string {
	b, e := "<!-- BEGIN "+name+" -->", "<!-- END "+name+" -->"
	i := strings.Index(doc, b)
	j := strings.Index(doc, e)
	if i < 0 || j < i {
		return ""
	}
	return doc[i+len(b) : j]
}

type scaleDoc struct {
	o       ScaleOptions
	md      bytes.Buffer
	blocks  map[string]string
	summary map[string]any
	figs    []func() error
}

// section writes a block both to results.md (under a heading) and to
// blocks[name].
func (s *scaleDoc) section(heading, name, body string) {
	fmt.Fprintf(&s.md, "## %s\n\n%s\n", heading, local(body))
	s.blocks[name] = body
}

// part appends a table under a "#### heading" to results.md and to the
// group block (scale-during, scale-full): a block that gathers a table per
// audit, so that docs/paper.md need not name every run.
func (s *scaleDoc) part(group, heading, body string) {
	fmt.Fprintf(&s.md, "## %s\n\n%s\n", heading, local(body))
	s.blocks[group] += "#### " + heading + "\n\n" + body + "\n"
}

// local rewrites docs/paper.md's figure links for results.md, which lies
// beside the figures.
func local(body string) string { return strings.ReplaceAll(body, "](paper/scale/", "](") }

// headings lists the "#### " lines of a block body.
func headings(body string) []string {
	var out []string
	for _, l := range strings.Split(body, "\n") {
		if strings.HasPrefix(l, "#### ") {
			out = append(out, strings.TrimPrefix(l, "#### "))
		}
	}
	return out
}

func seedsIn(tr []trainRun, cfg string) []*TrainingRun {
	var out []*TrainingRun
	for _, t := range tr {
		if t.Config == cfg {
			out = append(out, t.Run)
		}
	}
	return out
}

func intsString(xs []int) string {
	var p []string
	for _, x := range xs {
		p = append(p, strconv.Itoa(x))
	}
	return strings.Join(p, ", ")
}

// ran writes the scale table: what each planned stage ran.
func (s *scaleDoc) ran(trainCfgs, fullCfgs, dynCfgs []scaleConfig, trains []trainRun, fulls []*fullRun, dyns []dynRun) {
	var b strings.Builder
	b.WriteString("| stage | config | planned | ran | details |\n|---|---|---|---|---|\n")
	for _, c := range trainCfgs {
		runs := seedsIn(trains, c.Name)
		var det []string
		var seeds []int
		for _, r := range runs {
			seeds = append(seeds, r.Seed)
			last := r.Epochs[len(r.Epochs)-1]
			status := map[string]string{"plateau": "plateau reached", "max_epochs": "stopped at max_epochs, no plateau", "running": "**stopped before the plateau** (time)"}[r.Status]
			det = append(det, fmt.Sprintf("seed %d: %s (%d steps of 128), held-out %.2f %% after the last, %s", r.Seed, plural(len(r.Epochs), "epoch"), last.FirstStep+last.Steps, last.HeldOutAcc, status))
		}
		ran := "not run"
		if len(seeds) > 0 {
			ran = "seeds " + intsString(seeds)
		}
		if len(det) == 0 {
			det = []string{"–"}
		}
		fmt.Fprintf(&b, "| train until plateau | `%s` | seeds %s, rule: %s | %s | %s |\n", c.Name, intsString(c.Seeds), ruleText(c.Header), ran, strings.Join(det, "; "))
	}
	for _, c := range fullCfgs {
		for _, n := range c.Batches {
			var got []*fullRun
			for _, f := range fulls {
				if f.Config == c.Name && f.N == n {
					got = append(got, f)
				}
			}
			if len(got) == 0 {
				fmt.Fprintf(&b, "| full-pool audit | `%s` n = %d | seeds %s, B = 64…2048, N = 60,000 | not run | – |\n", c.Name, n, intsString(c.Seeds))
				continue
			}
			for _, f := range got {
				e := f.Exp
				ck := checkpoint(e.Runs[0].Report, -1)
				var src []string
				for _, r := range e.Runs {
					ep, state, sec, _ := f.source(r.Seed)
					src = append(src, fmt.Sprintf("seed %d: model of epoch %d (%s), %.0f s", r.Seed, ep, state, sec))
				}
				hw := maxHalfWidth(e)
				fmt.Fprintf(&b, "| full-pool audit | `%s` n = %d%s | seeds %s, B = 64…2048, N = 60,000 | seeds %s, B = %s | pool N = %d, engine %s, up to %d tested coordinates per parameter, largest 95 %% half-width %.1f points; %s |\n",
					c.Name, n, reducedNote(f, c), intsString(c.Seeds), intsString(seedsOf(e)), intsString(ck.BatchSizes), ck.Pool, engineOf(ck), maxTested(ck), hw, strings.Join(src, "; "))
			}
		}
	}
	for _, c := range dynCfgs {
		var seeds []int
		var det []string
		for _, r := range dyns {
			if r.Config != c.Name {
				continue
			}
			seeds = append(seeds, r.Seed)
			d := fmt.Sprintf("seed %d", r.Seed)
			if ep, ok := jf(r.Source["epoch"]); ok {
				sec, _ := jf(r.Source["seconds"])
				d += fmt.Sprintf(": model of epoch %d, %.0f s", int(ep), sec)
			}
			det = append(det, d)
		}
		ran := "not run"
		if len(seeds) > 0 {
			ran = "seeds " + intsString(seeds)
		}
		if len(det) == 0 {
			det = []string{"–"}
		}
		fmt.Fprintf(&b, "| dynamics at the trained model | `%s` | seeds %s, the trained model of `%s` | %s | %s |\n", c.Name, intsString(c.Seeds), c.Train, ran, strings.Join(det, "; "))
	}
	s.section("What ran", "scale-ran", b.String())
}

// reducedNote says how a run differs from its config's plan ("" when it
// is the planned run).
func reducedNote(f *fullRun, c scaleConfig) string {
	rest := strings.TrimPrefix(f.Sub, fmt.Sprintf("n-%d", f.N))
	if rest == "" {
		return ""
	}
	return fmt.Sprintf(" (**reduced**: `%s`)", f.Sub)
}

func plural(n int, w string) string {
	if n == 1 {
		return "1 " + w
	}
	return fmt.Sprintf("%d %ss", n, w)
}

func engineOf(c *reports.Checkpoint) string {
	if c.Engine == "" {
		return "per-sample"
	}
	return c.Engine
}

func ruleText(h map[string]string) string {
	p := strings.Fields(h["plateau"])
	if len(p) != 2 {
		return "?"
	}
	return fmt.Sprintf("best held-out accuracy up ≤ %s points over %s epochs ends a phase; rates %s; at most %s epochs", p[0], p[1], h["lr_phases"], h["max_epochs"])
}

// maxHalfWidth is the largest half-width (points) of a pass rate's Wilson
// interval over the weight layers, batch sizes and seeds of e.
func maxHalfWidth(e *Experiment) float64 {
	m := math.NaN()
	for _, r := range e.Runs {
		for _, l := range WeightLayers(checkpoint(r.Report, -1)) {
			for _, g := range l.Gaussianity {
				_, lo, hi, ok := g.PassRate()
				if ok && !math.IsNaN(lo) && !math.IsNaN(hi) {
					if h := (hi - lo) / 2; math.IsNaN(m) || h > m {
						m = h
					}
				}
			}
		}
	}
	return m
}

// cost writes the cost table from the committed plan output (scale.sh
// plan > plan.txt): each config's per-run estimate on this machine and the
// whole plan's CPU time here and on 16 cores.
func (s *scaleDoc) cost(plan string, trainCfgs, fullCfgs []scaleConfig, trains []trainRun, fulls []*fullRun) {
	if strings.TrimSpace(plan) == "" {
		return
	}
	est := map[string]string{}
	mem := map[string]string{}
	secs := map[string]float64{}
	machine := ""
	var cur string
	for _, line := range strings.Split(plan, "\n") {
		switch {
		case strings.HasPrefix(line, "== "):
			cur = strings.TrimSpace(strings.TrimPrefix(line, "== "))
		case strings.HasPrefix(line, "machine: ") && machine == "":
			machine = strings.TrimPrefix(line, "machine: ")
		case strings.HasPrefix(line, "  memory about "):
			if _, ok := mem[cur]; !ok { // the first: the per-sample collection's
				mem[cur] = strings.TrimSuffix(strings.TrimPrefix(line, "  memory about "), ":")
			}
		case strings.Contains(line, "plan refused"):
			if i := strings.Index(line, "plan refused: "); i >= 0 {
				est[cur] = "**refused by the plan**: " + strings.TrimPrefix(line[i:], "plan refused: ")
			}
		case strings.HasPrefix(line, "time estimate: "):
			est[cur] = strings.TrimPrefix(line, "time estimate: ")
			if i := strings.LastIndex(line, "total about "); i >= 0 {
				secs[cur] = parseDur(line[i+len("total about "):])
			}
		}
	}
	measured := map[string][]string{}
	for _, t := range trains {
		for _, e := range t.Run.Epochs {
			measured[t.Config] = append(measured[t.Config], fmt.Sprintf("epoch %d: %.0f s", e.Epoch, e.Seconds))
		}
	}
	for _, f := range fulls {
		for _, r := range f.Exp.Runs {
			if sec, ok := jf(f.Sources[r.Seed]["seconds"]); ok {
				measured[f.Config] = append(measured[f.Config], fmt.Sprintf("%s seed %d: %.0f s", f.Sub, r.Seed, sec))
			}
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Estimates of `gnaudit audit --plan` (one thread per run; machine: %s), per run, then for the whole plan. A training run is counted at its measured epochs where it ran, else at its `max_epochs` (an upper bound); a full-pool audit is planned at n = 600 (n = 200 costs the same per-sample gradients).\n\n", machine)
	b.WriteString("| config | one run (plan) | memory | measured here (this session) | runs in the plan | CPU time of the plan here | wall time on 16 cores (16 one-thread runs at once) |\n|---|---|---|---|---:|---:|---:|\n")
	var total, chain float64
	row := func(name string, runs int, perRun float64, chainLen float64) {
		cpu := float64(runs) * perRun
		total += cpu
		chain = math.Max(chain, chainLen)
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s | %d | %s | %s |\n", name, est[name], mem[name], orDash(measured[name]), runs, fmtHours(cpu), fmtHours(math.Max(cpu/16, chainLen)))
	}
	for _, c := range trainCfgs {
		h := c.Header
		rule, _ := ParsePlateauRule(h)
		epochs := rule.MaxEpochs
		if rs := seedsIn(trains, c.Name); len(rs) > 0 && rs[0].Status != "running" {
			epochs = len(rs[0].Epochs)
		}
		runs := epochs * len(c.Seeds)
		row(c.Name, runs, secs[c.Name], float64(epochs)*secs[c.Name])
	}
	for _, c := range fullCfgs {
		row(c.Name, len(c.Seeds)*len(c.Batches), secs[c.Name], secs[c.Name])
	}
	fmt.Fprintf(&b, "| **whole plan** | | | | **%s** | **%s** (the longest chain: one training run's epochs, then its audits) |\n", fmtHours(total), fmtHours(math.Max(total/16, chain)))
	s.section("Cost of the plan", "scale-cost", b.String())
	s.summary["cost_cpu_seconds_here"] = total
}

// parseDur reads a Go duration such as "1h2m3s" (0 when malformed).
func parseDur(x string) float64 {
	x = strings.Fields(x + " ")[0]
	var sec float64
	num := ""
	for _, r := range x {
		switch {
		case r >= '0' && r <= '9' || r == '.':
			num += string(r)
		default:
			v, _ := strconv.ParseFloat(num, 64)
			num = ""
			switch r {
			case 'h':
				sec += 3600 * v
			case 'm':
				sec += 60 * v
			case 's':
				sec += v
			}
		}
	}
	if strings.HasSuffix(x, "ms") {
		return 0
	}
	return sec
}

func fmtHours(sec float64) string {
	switch {
	case sec <= 0:
		return "–"
	case sec < 3600:
		return fmt.Sprintf("%.0f min", sec/60)
	default:
		return fmt.Sprintf("%.1f h", sec/3600)
	}
}

// training writes the training table, the held-out accuracy figure and,
// per run, the during-training Gaussianity table and figure.
func (s *scaleDoc) training(trains []trainRun) error {
	if len(trains) == 0 {
		return nil
	}
	var b strings.Builder
	b.WriteString("| model | seed | epoch | lr | held-out accuracy % | mean training batch loss | seconds |\n|---|---:|---:|---:|---:|---:|---:|\n")
	sum := map[string]any{}
	for _, t := range trains {
		for _, e := range t.Run.Epochs {
			fmt.Fprintf(&b, "| %s | %d | %d | %g | %.2f | %.3f | %.0f |\n", strings.TrimPrefix(t.Config, "train-"), t.Run.Seed, e.Epoch, e.LR, e.HeldOutAcc, e.TrainLoss, e.Seconds)
		}
		sum[fmt.Sprintf("%s/seed-%d", t.Config, t.Run.Seed)] = t.Run
	}
	fmt.Fprintf(&b, "\nHeld-out accuracy on the %d test images; its binomial standard error is about %.1f points at 90 %%. ", trains[0].Run.Epochs[0].HeldOutSamples, 100*math.Sqrt(0.09/math.Max(1, float64(trains[0].Run.Epochs[0].HeldOutSamples))))
	b.WriteString("Every epoch restarts SGD momentum at 0 (one audit run per epoch).\n\n![held-out accuracy](paper/scale/fig-train-accuracy.svg)\n")
	s.section("Training", "scale-training", b.String())
	s.summary["training"] = sum
	s.figs = append(s.figs, func() error { return plotTrainAcc(filepath.Join(s.o.Out, "fig-train-accuracy.svg"), trains) })

	dyn := map[string]any{}
	shown := map[string]bool{}
	for _, t := range trains {
		if shown[t.Config] {
			continue // the tables and figures show the first seed of each model
		}
		shown[t.Config] = true
		steps, reps := t.checkpoints()
		if len(steps) == 0 {
			continue
		}
		bs := reps[0].BatchSizes
		names := []string{}
		sizes := map[string]int{}
		for _, l := range WeightLayers(reps[0]) {
			names = append(names, l.Parameter)
			sizes[l.Parameter] = l.Size
		}
		for _, bsz := range bs {
			var tb strings.Builder
			tb.WriteString("| layer (weight) | size |")
			for _, st := range steps {
				fmt.Fprintf(&tb, " step %d |", st)
			}
			fmt.Fprintf(&tb, "\n|---|---:|%s\n", strings.Repeat("---:|", len(steps)))
			pct := make([][]float64, len(names))
			lo := make([][]float64, len(names))
			hi := make([][]float64, len(names))
			for i, n := range names {
				fmt.Fprintf(&tb, "| %s | %d |", n, sizes[n])
				for _, c := range reps {
					r, l, h := math.NaN(), math.NaN(), math.NaN()
					for _, m := range c.Layers {
						if m.Parameter == n {
							r, l, h = gaussAt(m, bsz)
						}
					}
					pct[i], lo[i], hi[i] = append(pct[i], r), append(lo[i], l), append(hi[i], h)
					fmt.Fprintf(&tb, " %s |", Stat{Mean: r, N: 1, Std: math.NaN(), Low: l, High: h}.Format(1))
				}
				tb.WriteString("\n")
			}
			name := fmt.Sprintf("scale-training-%s-B%d", strings.TrimPrefix(t.Config, "train-"), bsz)
			fig := name + ".svg"
			fmt.Fprintf(&tb, "\nPass rate %% over non-degenerate coordinates [95 %% Wilson interval], seed %d, checkpoint audits (pool %d, n = %d, up to %d coordinates per parameter).\n\n![%s](paper/scale/%s)\n",
				t.Run.Seed, reps[0].Pool, reps[0].Batches, maxTested(reps[0]), name, fig)
			s.part("scale-during", fmt.Sprintf("During training: %s, B = %d", t.Config, bsz), tb.String())
			dyn[fmt.Sprintf("%s/B=%d", t.Config, bsz)] = map[string]any{"steps": steps, "layers": names, "percent": nullNaN(pct), "low": nullNaN(lo), "high": nullNaN(hi)}
			title, st, nm, p, l, h := t.Config, steps, names, pct, lo, hi
			b := bsz
			s.figs = append(s.figs, func() error {
				return plotTrainingLH(filepath.Join(s.o.Out, fig), title, b, st, nm, p, l, h)
			})
		}
	}
	s.summary["during_training"] = dyn
	return nil
}

// checkpoints returns the audited global steps of a run and their
// checkpoints, in order.
func (t trainRun) checkpoints() ([]int, []*reports.Checkpoint) {
	var steps []int
	var out []*reports.Checkpoint
	for _, st := range t.Run.StepsAudited() {
		r, err := reports.ReadFile(filepath.Join(t.Run.byStep[st], "report.json"))
		if err != nil {
			continue
		}
		first := 0
		for _, e := range t.Run.Epochs {
			if EpochDir(t.Dir, e.Epoch) == t.Run.byStep[st] {
				first = e.FirstStep
			}
		}
		for i := range r.Checkpoints {
			if first+r.Checkpoints[i].Step == st {
				steps = append(steps, st)
				out = append(out, &r.Checkpoints[i])
			}
		}
	}
	return steps, out
}

// fullTables writes the supplemental tables (layers × batch sizes) of every
// full-pool audit, with the Berry–Esseen, tail-index and noise-scale rows.
func (s *scaleDoc) fullTables(fulls []*fullRun) error {
	sum := map[string]any{}
	for _, f := range fulls {
		e := f.Exp
		bs := e.BatchSizes()
		ck := checkpoint(e.Runs[0].Report, -1)
		var b strings.Builder
		fmt.Fprintf(&b, "Seeds %s; pool N = %d, n = %d, engine %s. Cells: Shapiro–Wilk pass rate %% over non-degenerate coordinates, mean ± std over seeds [95 %% Wilson interval]; † marks a half-width above 2 points.\n\n",
			intsString(seedsOf(e)), ck.Pool, ck.Batches, engineOf(ck))
		b.WriteString("| layer (weight) | size | tested |")
		for _, x := range bs {
			fmt.Fprintf(&b, " B = %d |", x)
		}
		fmt.Fprintf(&b, "\n|---|---:|---:|%s\n", strings.Repeat("---:|", len(bs)))
		tab := map[string]map[int]Stat{}
		for _, l := range WeightLayers(ck) {
			fmt.Fprintf(&b, "| %s | %d | %d |", l.Parameter, l.Size, l.TestedCoordinates)
			tab[l.Parameter] = map[int]Stat{}
			for _, x := range bs {
				st := e.Gaussianity(l.Parameter, x)
				tab[l.Parameter][x] = st
				mark := ""
				if !math.IsNaN(st.High) && (st.High-st.Low)/2 > 2 {
					mark = " †"
				}
				fmt.Fprintf(&b, " %s%s |", st.Format(1), mark)
			}
			b.WriteString("\n")
		}
		b.WriteString("| **mean over layers** | | |")
		for _, x := range bs {
			fmt.Fprintf(&b, " **%s** |", e.ModelGaussianity(x).Format(1))
		}
		fig := "fig-" + e.Name + ".svg"
		fmt.Fprintf(&b, "\n\n![Gaussianity against B, %s](paper/scale/%s)\n", e.Name, fig)
		s.part("scale-full", "Full pool: "+f.label(), b.String())
		ee := e
		s.figs = append(s.figs, func() error { return plotGaussVsB(filepath.Join(s.o.Out, fig), ee) })

		// Berry–Esseen, tail index, noise scale at this n.
		var be strings.Builder
		be.WriteString("| B | rank corr. (median ρ/σ³, pass rate) | exact p | calibrated predicted % | measured % | spine ρ/σ³ / √B | α Mohammadi | below null 5 % quantile % | α McCulloch |\n|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
		rows := []map[string]any{}
		for _, x := range bs {
			rc := e.RankCorrelation(x)
			p := SpearmanPValue(rc.Mean, len(e.LayerNames()))
			cal := StatOf(e.perSeedModel(func(l reports.Layer) float64 { return calibratedAt(l, x) }, mean))
			_, meas := e.PredictedMeasured(x)
			spine := StatOf(e.perSeedModel(func(l reports.Layer) float64 { return spineAt(l, x) }, median))
			moh, mcc := e.Alpha(x)
			below := StatOf(e.perSeedModel(func(l reports.Layer) float64 { return belowNullAt(l, x) }, mean))
			pv := "–"
			if !math.IsNaN(p) && len(e.Runs) == 1 {
				pv = fmtP(p)
			}
			fmt.Fprintf(&be, "| %d | %s | %s | %s | %s | %s | %s | %s | %s |\n", x, rc.Format(2), pv, cal.Format(1), meas.Format(1), spine.Format(3), moh.Format(3), below.Format(1), mcc.Format(3))
			rows = append(rows, map[string]any{"batch_size": x, "spearman": rc, "p": nanNull(p), "calibrated": cal, "measured": meas, "spine_over_sqrt_b": spine, "mohammadi": moh, "mcculloch": mcc, "below_null": below})
		}
		null := tailNull(ck)
		fmt.Fprintf(&be, "\nGaussian null of the tail index at n = %d (layer median of the per-coordinate estimates): %s. Spine: median over layers of t_B = Q_{p_B}(ρ/σ³)/√B (constant if the quantile spine grows like √B).\n", ck.Batches, null)
		ns := noiseScale(e)
		if ns != "" {
			be.WriteString("\n" + ns)
		}
		s.part("scale-full", "Full pool, Berry–Esseen, tail index, noise scale: "+f.label(), be.String())
		sum[e.Name] = map[string]any{"seeds": seedsOf(e), "batch_sizes": bs, "gaussianity": tab, "model": modelStats(e), "rows": rows, "sources": f.Sources}
	}
	s.summary["full_pool"] = sum
	return nil
}

func modelStats(e *Experiment) map[int]Stat {
	m := map[int]Stat{}
	for _, b := range e.BatchSizes() {
		m[b] = e.ModelGaussianity(b)
	}
	return m
}

func nanNull(x float64) any {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return nil
	}
	return x
}

func calibratedAt(l reports.Layer, b int) float64 {
	return boundField(l, b, func(p reports.BoundAtB) reports.Opt { return p.CalibratedPercent })
}

func spineAt(l reports.Layer, b int) float64 {
	return boundField(l, b, func(p reports.BoundAtB) reports.Opt { return p.SpineOverSqrtB })
}

// boundField is the kurtosis-bound figure field picks at batch size b, NaN
// where the layer has none.
func boundField(l reports.Layer, b int, field func(reports.BoundAtB) reports.Opt) float64 {
	if l.KurtosisBound == nil {
		return math.NaN()
	}
	for _, p := range l.KurtosisBound.PerBatch {
		if v := field(p); p.BatchSize == b && v.Defined() {
			return v.Float()
		}
	}
	return math.NaN()
}

func belowNullAt(l reports.Layer, b int) float64 {
	if l.TailIndex == nil {
		return math.NaN()
	}
	for _, t := range l.TailIndex.PerBatch {
		if t.BatchSize == b && t.BelowNullMohammadi.Defined() {
			return t.BelowNullMohammadi.Float()
		}
	}
	return math.NaN()
}

func tailNull(c *reports.Checkpoint) string {
	for _, l := range c.Layers {
		if l.TailIndex != nil && l.TailIndex.Null != nil {
			n := l.TailIndex.Null
			return fmt.Sprintf("Mohammadi median %.3f, 5 %% quantile %.3f; McCulloch median %.3f, 5 %% quantile %.3f",
				float64(n.MohammadiMedian), float64(n.MohammadiP05), float64(n.McCullochMedian), float64(n.McCullochP05))
		}
	}
	return "not in the report"
}

// noiseScale is the model's gradient noise scale line (unbiased estimate
// with its standard error), per seed.
func noiseScale(e *Experiment) string {
	var parts []string
	for _, r := range e.Runs {
		ns := checkpoint(r.Report, -1).NoiseScale
		if ns == nil {
			continue
		}
		g := func(x float64) string { return strconv.FormatFloat(x, 'g', 4, 64) }
		v := fmt.Sprintf("seed %d: B_simple = %s", r.Seed, g(float64(ns.BSimple)))
		if ns.SE.Defined() {
			v += fmt.Sprintf(" ± %s (SE)", g(ns.SE.Float()))
		}
		if ns.Low.Defined() && ns.High.Defined() {
			v += fmt.Sprintf(", %s interval [%s, %s]", confidence(ns), g(ns.Low.Float()), g(ns.High.Float()))
		}
		if ns.BSimplePlugIn.Defined() {
			v += fmt.Sprintf(", plug-in %s", g(ns.BSimplePlugIn.Float()))
		}
		if ns.BSimpleWeightDecay.Defined() {
			v += fmt.Sprintf(", with the weight-decay term %s", g(ns.BSimpleWeightDecay.Float()))
		}
		if ns.NoSignal {
			v += " (no signal: |G|² not above 0)"
		}
		parts = append(parts, v)
	}
	if len(parts) == 0 {
		return ""
	}
	return "Gradient noise scale of the model (METHOD.md §6, unbiased): " + strings.Join(parts, "; ") + ".\n"
}

func confidence(ns *reports.NoiseScale) string {
	if ns.Confidence.Defined() {
		return fmt.Sprintf("%g %%", 100*ns.Confidence.Float())
	}
	return ""
}

// claims writes the verdict table. The rules are stated in the table's
// note; a claim without the results it needs is "not testable (not run)".
func (s *scaleDoc) claims(trains []trainRun, fulls []*fullRun) {
	var b strings.Builder
	b.WriteString("| claim | numbers (this scale) | verdict |\n|---|---|---|\n")
	// pickFrom: a config's audit for the claims: the whole plan's run (n-N)
	// before a reduced one (fewer coordinates), the larger n first, the
	// per-sample engine before the mini-batch one; a subset of B only when
	// subsets is set (and then after every run with all of them); only
	// runs at n when n > 0.
	pickFrom := func(cfg string, subsets bool, n int) *fullRun {
		score := func(f *fullRun) int {
			s := f.N
			if f.Sub == fmt.Sprintf("n-%d", f.N) || f.Sub == fmt.Sprintf("n-%d-per-sample", f.N) {
				s += 1 << 20
			}
			if strings.HasSuffix(f.Sub, "-mini-batch") {
				s -= 1 << 22
			}
			if strings.Contains(f.Sub, "-B-") {
				s -= 1 << 24
			}
			return s
		}
		var best *fullRun
		for _, f := range fulls {
			if f.Config == cfg && (subsets || !strings.Contains(f.Sub, "-B-")) && (n == 0 || f.N == n) && (best == nil || score(f) > score(best)) {
				best = f
			}
		}
		return best
	}
	pick := func(cfg string) *fullRun { return pickFrom(cfg, false, 0) }
	verdicts := map[string]string{}
	add := func(key, claim, nums, v string) {
		verdicts[key] = v
		fmt.Fprintf(&b, "| %s | %s | **%s** |\n", claim, nums, v)
	}
	// Claim 1.
	{
		var nums []string
		v := "not testable (not run)"
		for _, cfg := range []string{"full-alexnet-cifar", "full-alexnet-cifar-bn", "full-resnet20", "full-resnet56"} {
			f := pick(cfg)
			if f == nil {
				continue
			}
			e := f.Exp
			bs := e.BatchSizes()
			lo, hi := e.ModelGaussianity(bs[0]), e.ModelGaussianity(bs[len(bs)-1])
			se := math.Hypot(meanSE(e, bs[0]), meanSE(e, bs[len(bs)-1]))
			falls := 0
			for _, n := range e.LayerNames() {
				a, z := e.Gaussianity(n, bs[0]), e.Gaussianity(n, bs[len(bs)-1])
				if !math.IsNaN(a.High) && z.High < a.Low {
					falls++
				}
			}
			nums = append(nums, fmt.Sprintf("%s: layer mean %.1f %% at B = %d → %.1f %% at B = %d (difference %.1f ± %.1f); %d of %d layers significantly lower at B = %d", f.label(), lo.Mean, bs[0], hi.Mean, bs[len(bs)-1], hi.Mean-lo.Mean, se, falls, len(e.LayerNames()), bs[len(bs)-1]))
			switch d := hi.Mean - lo.Mean; {
			case d > 2*se && falls == 0:
				v = agreeUnless(v, "agrees")
			case d < -2*se:
				v = "disagrees"
			default:
				v = agreeUnless(v, "inconclusive")
			}
		}
		add("1", "1. Gaussianity rises with B", orDash(nums), v)
	}
	// Claim 2: BN keeps the conv layers Gaussian during training.
	{
		v, nums := "not testable (not run)", "needs the during-training audits of train-alexnet-cifar and train-alexnet-cifar-bn"
		a, bn := firstRun(trains, "train-alexnet-cifar"), firstRun(trains, "train-alexnet-cifar-bn")
		if a != nil && bn != nil {
			sa, ca := a.checkpoints()
			sb, cb := bn.checkpoints()
			common := -1
			ia, ib := -1, -1
			for i, x := range sa {
				for j, y := range sb {
					if x == y && x > common {
						common, ia, ib = x, i, j
					}
				}
			}
			if common > 0 {
				bsz := ca[ia].BatchSizes[len(ca[ia].BatchSizes)-1]
				ma, sea := convMean(ca[ia], bsz)
				mb, seb := convMean(cb[ib], bsz)
				se := math.Hypot(sea, seb)
				nums = fmt.Sprintf("step %d, B = %d, mean pass rate of the conv layers: %.1f %% with BN against %.1f %% without (difference %.1f ± %.1f, binomial SE; one seed each)", common, bsz, mb, ma, mb-ma, se)
				switch d := mb - ma; {
				case d > 2*se:
					v = "agrees"
				case d < -2*se:
					v = "disagrees"
				default:
					v = "inconclusive"
				}
			}
		}
		add("2", "2. BatchNorm keeps the conv layers Gaussian during training", nums, v)
	}
	// Claim 3: ResNet more Gaussian than AlexNet, at every n and batch size
	// both have (a ResNet run on a subset of B counts at its B): agrees when
	// the ResNet's layer mean is higher by more than 2 SE at every common B,
	// disagrees when it is lower by more than 2 SE at every one, otherwise
	// inconclusive.
	{
		v, nums := "not testable (not run)", "needs full-pool audits of resnet20/resnet56 and alexnet-cifar at the same n"
		var found []string
		for _, rc := range []string{"full-resnet20", "full-resnet56"} {
			ns := map[int]bool{}
			for _, f := range fulls {
				if f.Config == rc {
					ns[f.N] = true
				}
			}
			for _, n := range slices.Sorted(maps.Keys(ns)) {
				r := pickFrom(rc, true, n)
				a := pickFrom("full-alexnet-cifar", false, n)
				if r == nil || a == nil {
					continue
				}
				var parts []string
				higher, lower, common := 0, 0, 0
				for _, x := range a.Exp.BatchSizes() {
					ga, gr := a.Exp.ModelGaussianity(x), r.Exp.ModelGaussianity(x)
					if math.IsNaN(gr.Mean) || math.IsNaN(ga.Mean) {
						continue
					}
					se := math.Hypot(meanSE(a.Exp, x), meanSE(r.Exp, x))
					parts = append(parts, fmt.Sprintf("B = %d: %.1f vs %.1f (difference %.1f ± %.1f)", x, gr.Mean, ga.Mean, gr.Mean-ga.Mean, se))
					common++
					switch d := gr.Mean - ga.Mean; {
					case d > 2*se:
						higher++
					case d < -2*se:
						lower++
					}
				}
				if common == 0 {
					continue
				}
				found = append(found, fmt.Sprintf("%s%s vs %s%s, layer means %%: %s", r.label(), trainedNote(r), a.label(), trainedNote(a), strings.Join(parts, "; ")))
				switch {
				case lower == common:
					v = "disagrees"
				case higher == common:
					v = agreeUnless(v, "agrees")
				default:
					v = agreeUnless(v, "inconclusive")
				}
			}
		}
		if len(found) > 0 {
			nums = strings.Join(found, "; ")
		}
		add("3", "3. ResNet is more Gaussian than AlexNet", nums, v)
	}
	// Claim 4: Berry–Esseen ordering.
	{
		var nums []string
		v := "not testable (not run)"
		for _, f := range fulls {
			if strings.Contains(f.Sub, "-B-") {
				continue
			}
			e := f.Exp
			neg, sig, pos := 0, 0, 0
			var parts []string
			for _, x := range e.BatchSizes() {
				rc := e.RankCorrelation(x)
				p := SpearmanPValue(rc.Mean, len(e.LayerNames()))
				parts = append(parts, fmt.Sprintf("%.2f (p %s)", rc.Mean, fmtP(p)))
				if rc.Mean < 0 {
					neg++
					if p < 0.05 {
						sig++
					}
				} else if p < 0.05 {
					pos++
				}
			}
			nb := len(e.BatchSizes())
			nums = append(nums, fmt.Sprintf("%s: rank correlations at B = %s: %s", f.label(), intsString(e.BatchSizes()), strings.Join(parts, ", ")))
			switch {
			case pos > 0:
				v = "disagrees"
			case neg == nb && 2*sig >= nb:
				v = agreeUnless(v, "agrees")
			default:
				v = agreeUnless(v, "inconclusive")
			}
		}
		add("4", "4. Layers with a longer ρ/σ³ tail are less Gaussian (ordering)", orDash(nums), v)
	}
	// Claim 5: α rises toward 2 with B.
	{
		var nums []string
		v := "not testable (not run)"
		for _, f := range fulls {
			if strings.Contains(f.Sub, "-B-") {
				continue
			}
			e := f.Exp
			bs := e.BatchSizes()
			a0, _ := e.Alpha(bs[0])
			a1, _ := e.Alpha(bs[len(bs)-1])
			b0 := StatOf(e.perSeedModel(func(l reports.Layer) float64 { return belowNullAt(l, bs[0]) }, mean))
			b1 := StatOf(e.perSeedModel(func(l reports.Layer) float64 { return belowNullAt(l, bs[len(bs)-1]) }, mean))
			nums = append(nums, fmt.Sprintf("%s: α (Mohammadi, median of layers) %.3f at B = %d → %.3f at B = %d; share below the null's 5 %% quantile %.1f → %.1f %%", f.label(), a0.Mean, bs[0], a1.Mean, bs[len(bs)-1], b0.Mean, b1.Mean))
			switch {
			case a1.Mean > a0.Mean && !(b1.Mean > b0.Mean):
				v = agreeUnless(v, "agrees")
			case a1.Mean < a0.Mean:
				v = "disagrees"
			default:
				v = agreeUnless(v, "inconclusive")
			}
		}
		add("5", "5. The tail index approaches 2 as B grows", orDash(nums), v)
	}
	b.WriteString("\nRules (applied by `scalectl aggregate`): claim 1 agrees when the layer mean at the largest B exceeds the one at the smallest by more than 2 standard errors and no layer is significantly lower there (Wilson intervals apart); claim 2 when the BN model's conv layers are more Gaussian by more than 2 binomial SEs at the last common checkpoint; claim 3, at each n both models have, when ResNet's layer mean exceeds AlexNet's by more than 2 SEs at every batch size both audits have (a ResNet run on a subset of B counts at its B), disagrees when it is lower by more than 2 SEs at every one, and is inconclusive otherwise (the models' training state is given with the numbers: the comparison is fair only at similar accuracy); claim 4 when the rank correlation is negative at every B and significant (exact permutation p < 0.05, one seed) at half of them or more; claim 5 when the median α rises from the smallest to the largest B and the share below the null's 5 % quantile does not. Several models: any \"disagrees\" wins, then \"inconclusive\". The dynamics propositions are in the Dynamics section.\n")
	s.section("Verdicts at this scale", "scale-claims", b.String())
	s.summary["verdicts"] = verdicts
}

func fmtP(p float64) string {
	switch {
	case math.IsNaN(p):
		return "–"
	case p < 0.001:
		return "< 0.001"
	}
	return fmt.Sprintf("%.3f", p)
}

// trainedNote: " (epoch 12, plateau)" from the run's source.json, one per
// seed; "" when there is none.
func trainedNote(f *fullRun) string {
	var parts []string
	for _, r := range f.Exp.Runs {
		if ep, state, _, ok := f.source(r.Seed); ok {
			parts = append(parts, fmt.Sprintf("epoch %d, %s", ep, state))
		}
	}
	if len(parts) == 0 {
		return ""
	}
	return " (" + strings.Join(parts, "; ") + ")"
}

func agreeUnless(cur, v string) string {
	switch {
	case cur == "disagrees":
		return cur
	case cur == "inconclusive" && v == "agrees":
		return cur
	}
	return v
}

func orDash(xs []string) string {
	if len(xs) == 0 {
		return "–"
	}
	return strings.Join(xs, "; ")
}

func firstRun(trains []trainRun, cfg string) *trainRun {
	for i := range trains {
		if trains[i].Config == cfg {
			return &trains[i]
		}
	}
	return nil
}

// meanSE is the standard error of the layer mean of the pass rate at b:
// the larger of the binomial part (Wilson half-widths / 1.96, combined over
// layers, over √seeds) and the seed spread (std / √seeds).
func meanSE(e *Experiment, b int) float64 {
	var ss float64
	var n int
	for _, name := range e.LayerNames() {
		g := e.Gaussianity(name, b)
		if !math.IsNaN(g.High) && !math.IsNaN(g.Low) {
			se := (g.High - g.Low) / 2 / 1.96
			ss += se * se
			n++
		}
	}
	runs := math.Max(1, float64(len(e.Runs)))
	bin := math.NaN()
	if n > 0 {
		bin = math.Sqrt(ss) / float64(n) / math.Sqrt(runs)
	}
	m := e.ModelGaussianity(b)
	seed := m.Std / math.Sqrt(runs)
	switch {
	case math.IsNaN(seed):
		return bin
	case math.IsNaN(bin):
		return seed
	}
	return math.Max(bin, seed)
}

// convMean is the mean pass rate over the conv weight layers of c at b and
// its binomial standard error.
func convMean(c *reports.Checkpoint, b int) (m, se float64) {
	var s, ss float64
	var n int
	for _, l := range WeightLayers(c) {
		if !strings.HasPrefix(l.Parameter, "conv") && len(l.Shape) != 4 {
			continue
		}
		r, lo, hi := gaussAt(l, b)
		if math.IsNaN(r) {
			continue
		}
		s += r
		if !math.IsNaN(lo) {
			e := (hi - lo) / 2 / 1.96
			ss += e * e
		}
		n++
	}
	if n == 0 {
		return math.NaN(), math.NaN()
	}
	return s / float64(n), math.Sqrt(ss) / float64(n)
}

func plotTrainAcc(path string, trains []trainRun) error {
	p := newPlot("Held-out accuracy during training", "epoch", "held-out accuracy (%)")
	for i, t := range trains {
		var xs, ys []float64
		for _, e := range t.Run.Epochs {
			xs, ys = append(xs, float64(e.Epoch)), append(ys, e.HeldOutAcc)
		}
		errs := make([]float64, len(ys))
		for k, y := range ys {
			n := math.Max(1, float64(t.Run.Epochs[k].HeldOutSamples))
			errs[k] = 196 * math.Sqrt(y/100*(1-y/100)/n)
		}
		if err := addLine(p, i, fmt.Sprintf("%s seed %d", strings.TrimPrefix(t.Config, "train-"), t.Run.Seed), xs, ys, errs); err != nil {
			return err
		}
	}
	p.Legend.Top, p.Legend.Left = false, false
	return save(p, path, 6*vg.Inch, 4*vg.Inch)
}

func plotTrainingLH(path, name string, b int, steps []int, names []string, pct, lo, hi [][]float64) error {
	p := newPlot(fmt.Sprintf("Gaussianity during training, %s, B = %d", name, b), "training step", passRateLabel)
	xs := make([]float64, len(steps))
	for i, s := range steps {
		xs[i] = float64(s)
	}
	for i, n := range names {
		if err := addLineLH(p, i, n, xs, pct[i], lo[i], hi[i]); err != nil {
			return err
		}
	}
	p.Y.Min, p.Y.Max = 0, 100
	p.Legend.Top, p.Legend.Left = false, true
	return save(p, path, 7*vg.Inch, 5*vg.Inch)
}
