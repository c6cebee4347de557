package audit

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/gnaudit/gnaudit/auditor/data"
	"github.com/gnaudit/gnaudit/auditor/yamlerr"
	"github.com/gnaudit/gnaudit/models"
	"github.com/gnaudit/gnaudit/plugins"
)

// Config is everything an audit needs. Start from [Defaults]; a YAML file
// ([LoadConfig]) and the command-line flags (defined by cmd/gnaudit) override
// fields; [Config.Validate] checks the result.
// The YAML keys are the snake_case names given in the field tags; see
// docs/examples/audit.yaml for a commented example.
type Config struct {
	// Model is an ONNX file or the name of a zoo model (gnaudit models
	// list). Empty means the zoo's alexnet-cifar built for the data: its
	// input is the data's channels and at least 32×32 (smaller images are
	// padded to 32×32, the paper's CIFAR geometry), its classes the data's.
	Model string `yaml:"model" json:"model"`
	// Data says where the samples come from.
	Data DataConfig `yaml:"data" json:"data"`
	// Preprocess says how the samples are scaled, normalised and adapted
	// to the model's input shape.
	Preprocess PreprocessConfig `yaml:"preprocess" json:"preprocess"`
	// FineTune configures the SGD-momentum fine-tuning (METHOD.md §7).
	FineTune FineTuneConfig `yaml:"finetune" json:"finetune"`
	// AuditAt lists the fine-tuning steps at which the gradient noise is
	// collected; "last" is the last step. Empty means 0 and the last step.
	AuditAt StepList `yaml:"audit_at" json:"audit_at"`
	// Collect configures the noise collection at every checkpoint.
	Collect CollectConfig `yaml:"collect" json:"collect"`
	// Analyses selects the analyses (built-ins and plugins).
	Analyses AnalysesConfig `yaml:"analyses" json:"analyses"`
	// Dynamics, when set, runs the SGD-dynamics stage at the last
	// checkpoint (dynamics.go; --dynamics).
	Dynamics *DynamicsConfig `yaml:"dynamics" json:"dynamics,omitempty"`
	// Device computes the per-sample gradients: "cpu" or "cuda".
	Device string `yaml:"device" json:"device"`
	// Seed fixes everything random: the zoo model's initialisation, the
	// fine-tuning order, the pool, the tested coordinates and the batches.
	Seed int64 `yaml:"seed" json:"seed"`
	// Out is the output directory.
	Out string `yaml:"out" json:"out"`
	// PNG writes the plots as PNG instead of SVG.
	PNG bool `yaml:"png" json:"png"`
	// Gate is a gate policy file (YAML, see package gate): the audit exits
	// with status 1 when a check fails.
	Gate string `yaml:"gate" json:"gate,omitempty"`
	// JUnit, with Gate, writes the gate checks as JUnit XML to this file.
	JUnit string `yaml:"junit" json:"junit,omitempty"`
	// PlanOnly prints the plan (memory and time estimate) and stops.
	PlanOnly bool `yaml:"-" json:"-"`
	// Prepare, Shard and From split an audit into jobs (docs/scale.md):
	// Prepare fine-tunes and computes each checkpoint's centre in Out;
	// Shard ("k/K" or "env") collects shard k of K of the audit prepared
	// in From; gnaudit merge joins the shards.
	Prepare bool   `yaml:"-" json:"-"`
	Shard   string `yaml:"-" json:"-"`
	From    string `yaml:"-" json:"-"`
	// Force replaces a complete audit found in Out (refused otherwise).
	Force bool `yaml:"-" json:"-"`
}

// DataConfig says where the samples come from.
type DataConfig struct {
	// Dir holds the data: an MNIST-layout directory (MNIST, Fashion-MNIST:
	// train-images-idx3-ubyte[.gz] …), the CIFAR-10 binary version
	// (data_batch_*.bin), or images.npy and labels.npy. Empty means Debian's
	// Fashion-MNIST (/usr/share/datasets/fashion-mnist).
	Dir string `yaml:"dir" json:"dir"`
	// Format is "auto" (from the files in Dir), "mnist" (any MNIST-layout
	// data set), "fashion-mnist", "cifar10" or "npy".
	Format string `yaml:"format" json:"format"`
	// Images and Labels name the .npy files of the npy format (default
	// Dir/images.npy and Dir/labels.npy); Classes is their class count
	// (0: the largest label plus one).
	Images  string `yaml:"images" json:"images,omitempty"`
	Labels  string `yaml:"labels" json:"labels,omitempty"`
	Classes int    `yaml:"classes" json:"classes,omitempty"`
	// Limit, when positive, keeps a seeded random subset of that many
	// training samples.
	Limit int `yaml:"limit" json:"limit,omitempty"`
	// EvalSamples is the size of the held-out set evaluated before and after
	// fine-tuning: the head of the test split for MNIST and CIFAR layouts,
	// a seeded split of the training samples for npy. 0: no evaluation.
	EvalSamples int `yaml:"eval_samples" json:"eval_samples"`
}

// PreprocessConfig says how samples are transformed before the model sees
// them, in this order: scale, adapt (pad/crop/resize, channel replication),
// normalise. Every step is recorded in the report.
type PreprocessConfig struct {
	// Scale is "auto" (÷255 for the 8-bit formats MNIST/Fashion-MNIST and
	// CIFAR-10, none for npy), "none", or a factor such as "0.5".
	Scale string `yaml:"scale" json:"scale"`
	// Normalize is "stats" (per-channel mean and standard deviation of the
	// training samples after scaling and adaptation), "none", or "given"
	// (Mean and Std).
	Normalize string    `yaml:"normalize" json:"normalize"`
	Mean      []float64 `yaml:"mean" json:"mean,omitempty"`
	Std       []float64 `yaml:"std" json:"std,omitempty"`
	// Spatial and Channels are the adaptation policy (data.Policy): spatial
	// strict, pad, pad-crop, nearest or bilinear; channels strict or
	// replicate.
	Spatial  string `yaml:"spatial" json:"spatial"`
	Channels string `yaml:"channels" json:"channels"`
}

// FineTuneConfig configures the fine-tuning (METHOD.md §7). Steps 0 audits
// the model as given (only step 0).
type FineTuneConfig struct {
	Steps     int `yaml:"steps" json:"steps"`
	BatchSize int `yaml:"batch_size" json:"batch_size"`
	// LR is the base learning rate; Schedule "paper" multiplies it by 0.1
	// at 50 % and 75 % of the steps, "constant" keeps it.
	LR          float64 `yaml:"lr" json:"lr"`
	Schedule    string  `yaml:"schedule" json:"schedule"`
	Momentum    float64 `yaml:"momentum" json:"momentum"`
	WeightDecay float64 `yaml:"weight_decay" json:"weight_decay"`
	// ClipNorm, when positive, clips the batch gradient's L2 norm.
	ClipNorm float64 `yaml:"clip_norm" json:"clip_norm,omitempty"`
	// Save, when set, is the ONNX file that receives the fine-tuned
	// weights (the model's graph with new initializers), also after Ctrl-C.
	Save string `yaml:"save" json:"save,omitempty"`
	// Optimizer is "sgd" (momentum, METHOD.md §7) or "adamw"
	// (torch.optim.AdamW; weight_decay is then its decoupled decay).
	Optimizer string `yaml:"optimizer" json:"optimizer,omitempty"`
	// WarmupSteps, when positive, warms the learning rate up linearly over
	// the first WarmupSteps updates.
	WarmupSteps int `yaml:"warmup_steps" json:"warmup_steps,omitempty"`
	// BN is the BatchNorm mode of the fine-tuning: "train" (batch
	// statistics, running statistics updated, as model.train()) or "eval"
	// (running statistics fixed). Models without BatchNorm ignore it.
	BN string `yaml:"bn" json:"bn,omitempty"`
}

// CollectConfig configures the noise collection at each checkpoint
// (METHOD.md §1, docs/collection.md).
type CollectConfig struct {
	// Pool is N, the samples whose per-sample gradients are computed. 0
	// means Batches × the largest batch size (every batch size disjoint),
	// capped at the training set. Batch sizes with Batches × B > Pool draw
	// overlapping batches (reported).
	Pool       int   `yaml:"pool" json:"pool"`
	BatchSizes []int `yaml:"batch_sizes" json:"batch_sizes"`
	// Batches is n, the mini-batches per batch size (3 ≤ n ≤ 5000 for
	// Shapiro–Wilk).
	Batches int `yaml:"batches" json:"batches"`
	// CoordsPerLayer is the number of tested coordinates of a parameter
	// larger than it (seeded uniform draw); 0 tests every coordinate.
	CoordsPerLayer int `yaml:"coords_per_layer" json:"coords_per_layer"`
	// EngineBatch is the number of samples of one batched backward pass of
	// the per-sample engine (0: the engine's default).
	EngineBatch int `yaml:"engine_batch" json:"engine_batch,omitempty"`
	// Engine computes the noise: "per-sample" (default; per-sample
	// gradients of the eval-mode network, every analysis), "mini-batch"
	// (true mini-batch gradients with train-mode BatchNorm) or "both"
	// (the report shows the two side by side). See docs/collection.md.
	Engine string `yaml:"engine" json:"engine,omitempty"`
	// MaxMemory is the memory budget of a collection (e.g. "4GiB"); the
	// audit refuses to start a run that would exceed it. 0 means 3/4 of
	// the machine's memory.
	MaxMemory ByteSize `yaml:"max_memory" json:"max_memory"`
	// MaxTime, when positive, refuses an audit whose estimated time exceeds
	// it (e.g. "10m").
	MaxTime Duration `yaml:"max_time" json:"max_time,omitempty"`
	// PoolCheck is what a pool smaller than 30 × the largest batch size
	// does (a batch then takes a large share f of the pool, which shrinks
	// its skewness and inflates the Gaussianity, METHOD.md §1): "warn"
	// (default, "" too), "refuse" or "off".
	PoolCheck string `yaml:"pool_check" json:"pool_check,omitempty"`
}

// AnalysesConfig selects the analyses of the noise sets (package
// plugins/host).
type AnalysesConfig struct {
	// Builtins lists the built-in analyses to run (empty: all; ["none"]:
	// none): normality, kurtosis-bound, alpha-stable, noise-scale.
	Builtins []string `yaml:"builtins" json:"builtins,omitempty"`
	// Plugins are external plugin executables, "PATH" or
	// "PATH@sha256:HEX" (pinned).
	Plugins []string `yaml:"plugins" json:"plugins,omitempty"`
	// PluginDir holds plugin executables (default $GNAUDIT_PLUGIN_DIR).
	PluginDir string `yaml:"plugin_dir" json:"plugin_dir,omitempty"`
	// Isolate runs the built-ins as plugin subprocesses.
	Isolate bool `yaml:"isolate" json:"isolate,omitempty"`
	// Timeout bounds each call into an analysis (0: none).
	Timeout Duration `yaml:"timeout" json:"timeout"`
	// Params are "analysis.param=value" settings, e.g. normality.alpha=0.01.
	Params []string `yaml:"params" json:"params,omitempty"`
}

// DefaultModel is the zoo model audited when Config.Model is empty.
const DefaultModel = "alexnet-cifar"

// DefaultFineTuneSteps is the default fine-tuning length: short, so that
// the default audit (make demo) runs in a few minutes on two cores; the
// paper fine-tunes for 300 epochs.
const DefaultFineTuneSteps = 100

// Defaults returns the default audit: the zoo's alexnet-cifar on Debian's
// Fashion-MNIST (padded to 32×32, scaled to [0, 1] and normalised),
// fine-tuned for DefaultFineTuneSteps steps with the paper's optimiser and
// schedule shape (batch 128, momentum 0.9, weight decay 5·10⁻⁴, the rate ×0.1
// at 50 % and 75 % of the steps) but a base rate of 0.01 instead of the
// paper's 0.1, which makes the freshly initialised AlexNet (no BatchNorm, no
// warm-up) diverge within ten steps; audited at step 0 and at the last step with batch sizes 16, 32,
// 64 and 128, 200 mini-batches each, from a pool of 6400 samples (disjoint
// batches up to B = 32, overlapping ones above), 256 tested coordinates per
// parameter.
func Defaults() Config {
	return Config{
		Data: DataConfig{Format: "auto", EvalSamples: 1000},
		Preprocess: PreprocessConfig{Scale: "auto", Normalize: "stats",
			Spatial: data.SpatialPad, Channels: data.ChannelsReplicate},
		FineTune: FineTuneConfig{Steps: DefaultFineTuneSteps, BatchSize: 128, LR: 0.01, Schedule: "paper",
			Momentum: 0.9, WeightDecay: 5e-4, Optimizer: "sgd", BN: "train"},
		Collect: CollectConfig{Pool: 6400, BatchSizes: []int{16, 32, 64, 128}, Batches: 200,
			CoordsPerLayer: 256, Engine: EnginePerSample},
		Analyses: AnalysesConfig{Timeout: Duration(10 * time.Minute)},
		Device:   "cpu",
		Seed:     1,
		Out:      "out/audit",
	}
}

// LoadConfig reads a YAML configuration file over base: keys present in
// the file replace base's fields, the others keep their values. Unknown keys
// are errors (a misspelt key must not be silently ignored).
func LoadConfig(path string, base Config) (Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return base, fmt.Errorf("config: %w", err)
	}
	return ParseConfig(b, path, base)
}

// ParseConfig is LoadConfig on the file's content; name is used in errors.
func ParseConfig(b []byte, name string, base Config) (Config, error) {
	cfg := base
	// Lists replace, not merge: yaml.v3 decodes a sequence into a fresh
	// slice, so no list of base survives a key that sets it.
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil && !errors.Is(err, io.EOF) { // io.EOF: an empty file
		return base, fmt.Errorf("config %s: %w", name, yamlerr.Explain(b, &cfg, err))
	}
	return cfg, nil
}

// Validate checks the configuration and returns the first problem, naming
// the YAML key (and flag) at fault.
func (c *Config) Validate() error {
	bad := func(key, format string, a ...any) error {
		return fmt.Errorf("%s: %s", key, fmt.Sprintf(format, a...))
	}
	switch c.Data.Format {
	case "", "auto", "mnist", "fashion-mnist", "cifar10", "npy":
	default:
		return bad("data.format (--data-format)", "%q: want auto, mnist, fashion-mnist, cifar10 or npy", c.Data.Format)
	}
	if c.Data.Limit < 0 {
		return bad("data.limit", "%d must be ≥ 0", c.Data.Limit)
	}
	if c.Data.EvalSamples < 0 {
		return bad("data.eval_samples (--eval-samples)", "%d must be ≥ 0", c.Data.EvalSamples)
	}
	if c.Data.Classes < 0 {
		return bad("data.classes", "%d must be ≥ 0", c.Data.Classes)
	}
	if _, err := c.Preprocess.scale(false); err != nil {
		return bad("preprocess.scale (--scale)", "%v", err)
	}
	switch c.Preprocess.Normalize {
	case "stats", "none":
	case "given":
		if len(c.Preprocess.Mean) == 0 || len(c.Preprocess.Mean) != len(c.Preprocess.Std) {
			return bad("preprocess.normalize", "given needs mean and std of the same length (one value, or one per channel)")
		}
		for _, s := range c.Preprocess.Std {
			if !(s > 0) || math.IsInf(s, 0) {
				return bad("preprocess.std", "%v must be positive and finite", s)
			}
		}
	default:
		return bad("preprocess.normalize (--normalize)", "%q: want stats, none or given", c.Preprocess.Normalize)
	}
	switch c.Preprocess.Spatial {
	case data.SpatialStrict, data.SpatialPad, data.SpatialPadCrop, data.SpatialNearest, data.SpatialBilinear:
	default:
		return bad("preprocess.spatial (--spatial)", "%q: want strict, pad, pad-crop, nearest or bilinear", c.Preprocess.Spatial)
	}
	switch c.Preprocess.Channels {
	case data.ChannelsStrict, data.ChannelsReplicate:
	default:
		return bad("preprocess.channels (--channels)", "%q: want strict or replicate", c.Preprocess.Channels)
	}
	ft := c.FineTune
	if ft.Steps < 0 {
		return bad("finetune.steps (--finetune-steps)", "%d must be ≥ 0", ft.Steps)
	}
	if ft.Steps > 0 {
		if ft.BatchSize < 1 {
			return bad("finetune.batch_size (--finetune-batch)", "%d must be positive", ft.BatchSize)
		}
		if !(ft.LR > 0) || math.IsInf(ft.LR, 0) {
			return bad("finetune.lr (--lr)", "%v must be positive and finite", ft.LR)
		}
		if ft.Schedule != "paper" && ft.Schedule != "constant" {
			return bad("finetune.schedule", "%q: want paper or constant", ft.Schedule)
		}
		if !(ft.Momentum >= 0 && ft.Momentum < 1) {
			return bad("finetune.momentum (--momentum)", "%v must lie in [0, 1)", ft.Momentum)
		}
		if !(ft.WeightDecay >= 0) || math.IsInf(ft.WeightDecay, 0) {
			return bad("finetune.weight_decay (--weight-decay)", "%v must be ≥ 0", ft.WeightDecay)
		}
		if !(ft.ClipNorm >= 0) || math.IsInf(ft.ClipNorm, 0) {
			return bad("finetune.clip_norm", "%v must be ≥ 0", ft.ClipNorm)
		}
		switch ft.Optimizer {
		case "", "sgd", "adamw":
		default:
			return bad("finetune.optimizer (--optimizer)", "%q: want sgd or adamw", ft.Optimizer)
		}
		if ft.WarmupSteps < 0 {
			return bad("finetune.warmup_steps (--warmup-steps)", "%d must be ≥ 0", ft.WarmupSteps)
		}
		switch ft.BN {
		case "", "train", "eval":
		default:
			return bad("finetune.bn (--bn)", "%q: want train or eval", ft.BN)
		}
	}
	for _, s := range c.AuditAt {
		if s < 0 && s != Last {
			return bad("audit_at (--audit-at)", "step %d must be ≥ 0", s)
		}
		if s > ft.Steps {
			return bad("audit_at (--audit-at)", "step %d is after the last fine-tuning step %d", s, ft.Steps)
		}
	}
	col := c.Collect
	if len(col.BatchSizes) == 0 {
		return bad("collect.batch_sizes (--batch-sizes)", "at least one batch size is needed")
	}
	for i, b := range col.BatchSizes {
		if b < 1 {
			return bad("collect.batch_sizes (--batch-sizes)", "%d must be positive", b)
		}
		if i > 0 && b <= col.BatchSizes[i-1] {
			return bad("collect.batch_sizes (--batch-sizes)", "%v must be strictly increasing", col.BatchSizes)
		}
	}
	if col.Batches < 3 || col.Batches > 5000 {
		return bad("collect.batches (--batches)", "%d: Shapiro–Wilk needs 3 to 5000 mini-batches", col.Batches)
	}
	if col.Pool < 0 {
		return bad("collect.pool (--pool)", "%d must be ≥ 0 (0: batches × largest batch size)", col.Pool)
	}
	if col.Pool > 0 && col.Pool < col.BatchSizes[len(col.BatchSizes)-1] {
		return bad("collect.pool (--pool)", "%d is smaller than the largest batch size %d", col.Pool, col.BatchSizes[len(col.BatchSizes)-1])
	}
	if col.CoordsPerLayer < 0 {
		return bad("collect.coords_per_layer (--coords-per-layer)", "%d must be ≥ 0", col.CoordsPerLayer)
	}
	switch col.PoolCheck {
	case "", "warn", "refuse", "off":
	default:
		return bad("collect.pool_check (--pool-check)", "%q: want warn, refuse or off", col.PoolCheck)
	}
	switch col.Engine {
	case "", EnginePerSample, EngineMiniBatch, EngineBoth:
	default:
		return bad("collect.engine (--engine)", "%q: want per-sample, mini-batch or both", col.Engine)
	}
	if col.EngineBatch < 0 {
		return bad("collect.engine_batch (--engine-batch)", "%d must be ≥ 0", col.EngineBatch)
	}
	if col.MaxMemory < 0 {
		return bad("collect.max_memory (--max-memory)", "%d must be ≥ 0", col.MaxMemory)
	}
	if col.MaxTime < 0 {
		return bad("collect.max_time (--max-time)", "%v must be ≥ 0", time.Duration(col.MaxTime))
	}
	for _, p := range c.Analyses.Params {
		if _, _, _, err := plugins.ParseParamFlag(p); err != nil {
			return bad("analyses.params (--param)", "%v", err)
		}
	}
	if c.Analyses.Timeout < 0 {
		return bad("analyses.timeout (--plugin-timeout)", "must be ≥ 0")
	}
	if !engineKnown(c.Device) {
		return bad("device (--device)", "%q: want cpu or cuda", c.Device)
	}
	if c.Out == "" {
		return bad("out (--out)", "an output directory is required")
	}
	if c.JUnit != "" && c.Gate == "" {
		return bad("junit (--junit)", "needs a gate policy (--gate)")
	}
	return c.validateDynamics() // dynamics.go
}

// zooModel reports whether the model is a zoo name (or the default).
func (c *Config) zooModel() (string, bool) {
	if c.Model == "" {
		return DefaultModel, true
	}
	if slices.Contains(models.Names(), c.Model) {
		if _, err := os.Stat(c.Model); err != nil {
			return c.Model, true
		}
	}
	return "", false
}

// auditSteps resolves AuditAt against the number of fine-tuning steps:
// sorted, unique, "last" replaced.
func (c *Config) auditSteps() []int {
	steps := c.AuditAt
	if len(steps) == 0 {
		steps = StepList{0, Last}
	}
	var out []int
	for _, s := range steps {
		if s == Last {
			s = c.FineTune.Steps
		}
		out = append(out, s)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// scale returns the scale factor; auto8bit says whether the format stores
// 8-bit pixels (then "auto" is 1/255).
func (p PreprocessConfig) scale(auto8bit bool) (float64, error) {
	switch p.Scale {
	case "", "auto":
		if auto8bit {
			return 1.0 / 255, nil
		}
		return 1, nil
	case "none":
		return 1, nil
	}
	f, err := strconv.ParseFloat(p.Scale, 64)
	if err != nil || !(f > 0) || math.IsInf(f, 0) {
		return 0, fmt.Errorf("%q: want auto, none or a positive factor", p.Scale)
	}
	return f, nil
}

// Last stands for the last fine-tuning step in a StepList.
const Last = -1

// StepList is a list of fine-tuning steps; Last (written "last") is the last
// step. In YAML it is a sequence of integers and "last"; on the command line
// a comma-separated list ("0,50,last").
type StepList []int

// ParseStepList parses "0,50,last".
func ParseStepList(s string) (StepList, error) {
	var out StepList
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if f == "last" {
			out = append(out, Last)
			continue
		}
		v, err := strconv.Atoi(f)
		if err != nil || v < 0 {
			return nil, fmt.Errorf("step %q: want a non-negative integer or \"last\"", f)
		}
		out = append(out, v)
	}
	return out, nil
}

// String formats the list as ParseStepList reads it.
func (l StepList) String() string {
	parts := make([]string, len(l))
	for i, v := range l {
		if v == Last {
			parts[i] = "last"
		} else {
			parts[i] = strconv.Itoa(v)
		}
	}
	return strings.Join(parts, ",")
}

// UnmarshalYAML reads a sequence of integers and "last" (or one such
// scalar, or a comma-separated string).
func (l *StepList) UnmarshalYAML(n *yaml.Node) error {
	var parts []string
	switch n.Kind {
	case yaml.SequenceNode:
		for _, c := range n.Content {
			parts = append(parts, c.Value)
		}
	case yaml.ScalarNode:
		parts = []string{n.Value}
	default:
		return fmt.Errorf("line %d: audit steps: want a list of steps", n.Line)
	}
	v, err := ParseStepList(strings.Join(parts, ","))
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	*l = v
	return nil
}

// MarshalJSON writes the list as strings and numbers ("last" for Last).
func (l StepList) MarshalJSON() ([]byte, error) {
	var b strings.Builder
	b.WriteByte('[')
	for i, v := range l {
		if i > 0 {
			b.WriteByte(',')
		}
		if v == Last {
			b.WriteString(`"last"`)
		} else {
			b.WriteString(strconv.Itoa(v))
		}
	}
	b.WriteByte(']')
	return []byte(b.String()), nil
}

// UnmarshalJSON reads what MarshalJSON writes.
func (l *StepList) UnmarshalJSON(b []byte) error {
	s := strings.Trim(strings.TrimSpace(string(b)), "[]")
	s = strings.ReplaceAll(s, `"`, "")
	v, err := ParseStepList(s)
	if err != nil {
		return err
	}
	*l = v
	return nil
}

// Duration is a time.Duration written "10m", "90s" in YAML and JSON.
type Duration time.Duration

// String formats the duration.
func (d Duration) String() string { return time.Duration(d).String() }

// UnmarshalYAML reads "10m", "1h30m", or 0.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := ParseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	*d = v
	return nil
}

// MarshalJSON writes the duration as a string.
func (d Duration) MarshalJSON() ([]byte, error) { return []byte(strconv.Quote(d.String())), nil }

// UnmarshalJSON reads what MarshalJSON writes.
func (d *Duration) UnmarshalJSON(b []byte) error {
	s, err := strconv.Unquote(string(b))
	if err != nil {
		s = string(b)
	}
	v, err := ParseDuration(s)
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// ParseDuration parses "90s", "10m", "1h30m" (Go durations) or 0.
func ParseDuration(s string) (Duration, error) {
	s = strings.TrimSpace(s)
	if s == "0" || s == "" {
		return 0, nil
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("duration %q: want e.g. 90s, 10m, 1h30m", s)
	}
	return Duration(v), nil
}

// ByteSize is a number of bytes written "4GiB", "512MiB", "2GB" or a plain
// integer in YAML, JSON and flags.
type ByteSize int64

// ParseByteSize parses a size with an optional unit (B, KB, MB, GB, TB —
// powers of 1000 — or KiB, MiB, GiB, TiB — powers of 1024).
func ParseByteSize(s string) (ByteSize, error) {
	t := strings.TrimSpace(s)
	units := []struct {
		suffix string
		mult   float64
	}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10},
		{"TB", 1e12}, {"GB", 1e9}, {"MB", 1e6}, {"KB", 1e3}, {"B", 1}}
	mult := 1.0
	for _, u := range units {
		if strings.HasSuffix(t, u.suffix) {
			t, mult = strings.TrimSpace(strings.TrimSuffix(t, u.suffix)), u.mult
			break
		}
	}
	f, err := strconv.ParseFloat(t, 64)
	if err != nil || f < 0 || math.IsInf(f, 0) || f*mult > math.MaxInt64/2 {
		return 0, fmt.Errorf("size %q: want e.g. 4GiB, 512MiB or a number of bytes", s)
	}
	return ByteSize(math.Round(f * mult)), nil
}

// String formats the size with a binary unit.
func (b ByteSize) String() string {
	v := float64(b)
	for _, u := range []struct {
		name string
		mult float64
	}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if v >= u.mult {
			q := v / u.mult
			if q == math.Trunc(q) {
				return strconv.FormatFloat(q, 'f', -1, 64) + u.name
			}
			return strconv.FormatFloat(q, 'f', 1, 64) + u.name
		}
	}
	return strconv.FormatInt(int64(b), 10)
}

// UnmarshalYAML reads a size.
func (b *ByteSize) UnmarshalYAML(n *yaml.Node) error {
	v, err := ParseByteSize(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	*b = v
	return nil
}

// MarshalJSON writes the number of bytes.
func (b ByteSize) MarshalJSON() ([]byte, error) { return []byte(strconv.FormatInt(int64(b), 10)), nil }
