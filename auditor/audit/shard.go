package audit

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gnaudit/gnaudit/auditor/collect"
	"github.com/gnaudit/gnaudit/auditor/noise"
	"github.com/gnaudit/gnaudit/auditor/progress"
	"github.com/gnaudit/gnaudit/auditor/train"
)

// A sharded audit runs as three kinds of job (docs/scale.md):
//
//  1. gnaudit audit --prepare --out PREP: loads the data and the model,
//     fine-tunes once, and at every audit step saves the checkpoint (ONNX
//     and the exact float64 parameters) and its centre (ḡ, |ḡ|², Σ|g|²:
//     one full pass of per-sample gradients, collect.ComputeCentre);
//  2. gnaudit audit --shard k/K --from PREP, for k = 0…K−1, anywhere and in
//     any order: reads the prepared configuration, checkpoints and centres
//     and collects shard k of every checkpoint (collect.Shard) into its own
//     directory (default PREP/shards/shard-k-of-K);
//  3. gnaudit merge PREP [SHARD…]: checks that the shards belong together,
//     merges them (noise.Merge) into PREP/checkpoints/step-N/noise, runs
//     the analyses and writes the report in PREP.
//
// Every shard reads the same weights, centre and seed from PREP, so the
// merged set equals the one-process audit's (see MergeShards).

// Files and formats of a sharded audit.
const (
	PreparedName   = "prepared.json" // PREP: what every shard shares
	ShardName      = "shard.json"    // a shard's directory: its manifest
	CentreName     = "centre.json"   // PREP/checkpoints/step-N: collect.Centre
	ParamsName     = "params.bin"    // PREP/checkpoints/step-N: float64 parameters
	SegmentsName   = "segments.bin"  // a shard's checkpoints/step-N: collect.Segments
	ShardsDir      = "shards"        // PREP/shards: the default shard directories
	PreparedFormat = "gnaudit-prepared"
	ShardFormat    = "gnaudit-shard"
	ShardVersion   = 1
	// StatusPrepared is the status of a prepared audit before its merge.
	StatusPrepared = "prepared"
)

// Identity is what the shards of one collection share, recorded in
// prepared.json and in every shard.json and compared by the merge.
type Identity struct {
	Model          string `json:"model"`        // model name recorded in the sets
	ModelSHA256    string `json:"model_sha256"` // of the audited (base) ONNX file
	Data           string `json:"data"`
	DataSize       int    `json:"data_size"`
	Seed           int64  `json:"seed"`
	Pool           int    `json:"pool"`
	Batches        int    `json:"batches"`
	BatchSizes     []int  `json:"batch_sizes"`
	CoordsPerLayer int    `json:"coords_per_layer"`
	EngineBatch    int    `json:"engine_batch"`
}

func (a *Identity) diff(b *Identity) string {
	switch {
	case a.ModelSHA256 != b.ModelSHA256 || a.Model != b.Model:
		return fmt.Sprintf("model %s (sha256 %.12s) vs %s (sha256 %.12s)", a.Model, a.ModelSHA256, b.Model, b.ModelSHA256)
	case a.Seed != b.Seed:
		return fmt.Sprintf("seed %d vs %d", a.Seed, b.Seed)
	case a.Data != b.Data || a.DataSize != b.DataSize:
		return fmt.Sprintf("data %q (%d samples) vs %q (%d samples)", a.Data, a.DataSize, b.Data, b.DataSize)
	case a.Pool != b.Pool || a.Batches != b.Batches:
		return fmt.Sprintf("pool %d, %d mini-batches vs pool %d, %d mini-batches", a.Pool, a.Batches, b.Pool, b.Batches)
	case !slices.Equal(a.BatchSizes, b.BatchSizes):
		return fmt.Sprintf("batch sizes %v vs %v", a.BatchSizes, b.BatchSizes)
	case a.CoordsPerLayer != b.CoordsPerLayer:
		return fmt.Sprintf("%d vs %d coordinates per layer", a.CoordsPerLayer, b.CoordsPerLayer)
	case a.EngineBatch != b.EngineBatch:
		return fmt.Sprintf("engine batch %d vs %d", a.EngineBatch, b.EngineBatch)
	}
	return ""
}

// Prepared is PREP/prepared.json, written once by --prepare.
type Prepared struct {
	Format   string   `json:"format"`
	Version  int      `json:"version"`
	Tool     string   `json:"tool"`
	Created  string   `json:"created"`
	Identity Identity `json:"identity"`
	// ModelPath is relative to PREP when the model lies in it (a zoo
	// model), else absolute; DataDir (Images, Labels) are absolute, for
	// shards started in another directory. A shard may override them
	// (--model, --data) where they are mounted elsewhere: the model's hash
	// and the data's name and size are checked.
	ModelPath   string               `json:"model_path"`
	DataDir     string               `json:"data_dir"`
	Images      string               `json:"images,omitempty"`
	Labels      string               `json:"labels,omitempty"`
	Params      []ParamInfo          `json:"params,omitempty"` // layout of every params.bin
	Checkpoints []PreparedCheckpoint `json:"checkpoints"`
}

// ParamInfo names one parameter of params.bin (float64, little endian, in
// order).
type ParamInfo struct {
	Name  string `json:"name"`
	Shape []int  `json:"shape"`
}

// PreparedCheckpoint is one audit step of a prepared audit. Paths are
// relative to PREP.
type PreparedCheckpoint struct {
	Step         int    `json:"step"`
	Model        string `json:"model,omitempty"`
	ModelSHA256  string `json:"model_sha256,omitempty"`
	Params       string `json:"params,omitempty"` // "" at step 0 without fine-tuning: the model's own weights
	ParamsSHA256 string `json:"params_sha256,omitempty"`
	Centre       string `json:"centre"`
	CentreSHA256 string `json:"centre_sha256"`
}

// ShardManifest is a shard directory's shard.json.
type ShardManifest struct {
	Format  string `json:"format"`
	Version int    `json:"version"`
	Tool    string `json:"tool"`
	Created string `json:"created"`
	// Prepared is the SHA-256 of the prepared.json the shard was run from;
	// From is that directory as the shard saw it.
	Prepared string   `json:"prepared_sha256"`
	From     string   `json:"from"`
	Index    int      `json:"index"`
	Count    int      `json:"count"`
	Status   string   `json:"status"` // complete, partial (stopped) or failed
	Reason   string   `json:"reason,omitempty"`
	Identity Identity `json:"identity"`
	Seconds  float64  `json:"seconds"`
	// Checkpoints lists the collected sets (paths relative to the shard's
	// directory).
	Checkpoints []ShardCheckpoint `json:"checkpoints"`
}

// ShardCheckpoint is one checkpoint's part collected by a shard.
type ShardCheckpoint struct {
	Step         int    `json:"step"`
	ModelSHA256  string `json:"model_sha256,omitempty"`
	ParamsSHA256 string `json:"params_sha256,omitempty"`
	CentreSHA256 string `json:"centre_sha256"`
	Noise        string `json:"noise"`
	// Segments is the file of the shard's segment sums (collect.Segments;
	// "" for a stopped shard) and SegmentsSHA256 its hash.
	Segments       string   `json:"segments,omitempty"`
	SegmentsSHA256 string   `json:"segments_sha256,omitempty"`
	Pool           int      `json:"pool"`    // pool samples summed into the moments
	Batches        int      `json:"batches"` // mini-batch rows per batch size
	PoolRanges     [][2]int `json:"pool_ranges,omitempty"`
	Partial        bool     `json:"partial,omitempty"`
}

// ParseShard parses --shard: "k/K" with 0 ≤ k < K, or "env", which reads
// GNAUDIT_SHARD ("k/K"), else JOB_COMPLETION_INDEX (a Kubernetes Indexed
// Job) with the count in GNAUDIT_SHARDS, else SLURM_ARRAY_TASK_ID −
// SLURM_ARRAY_TASK_MIN with SLURM_ARRAY_TASK_COUNT (a contiguous Slurm job
// array). getenv is os.Getenv in the command.
func ParseShard(spec string, getenv func(string) string) (k, K int, err error) {
	if spec == "env" {
		return shardFromEnv(getenv)
	}
	a, b, ok := strings.Cut(spec, "/")
	if ok {
		k, err1 := strconv.Atoi(strings.TrimSpace(a))
		K, err2 := strconv.Atoi(strings.TrimSpace(b))
		if err1 == nil && err2 == nil && K >= 1 && k >= 0 && k < K {
			return k, K, nil
		}
	}
	return 0, 0, fmt.Errorf("--shard %q: want k/K with 0 ≤ k < K (e.g. 0/3, 1/3, 2/3), or env", spec)
}

func shardFromEnv(getenv func(string) string) (int, int, error) {
	if v := getenv("GNAUDIT_SHARD"); v != "" {
		if v == "env" {
			return 0, 0, fmt.Errorf("GNAUDIT_SHARD=%q: want k/K with 0 ≤ k < K", v)
		}
		k, K, err := ParseShard(v, getenv)
		if err != nil {
			return 0, 0, fmt.Errorf("GNAUDIT_SHARD=%q: want k/K with 0 ≤ k < K", v)
		}
		return k, K, nil
	}
	num := func(name string) (int, error) {
		v := getenv(name)
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil {
			return 0, fmt.Errorf("--shard env: %s=%q is not an integer", name, v)
		}
		return n, nil
	}
	if getenv("JOB_COMPLETION_INDEX") != "" {
		k, err := num("JOB_COMPLETION_INDEX")
		if err != nil {
			return 0, 0, err
		}
		if getenv("GNAUDIT_SHARDS") == "" {
			return 0, 0, errors.New("--shard env: JOB_COMPLETION_INDEX is set but GNAUDIT_SHARDS (the Job's completions) is not")
		}
		K, err := num("GNAUDIT_SHARDS")
		if err != nil {
			return 0, 0, err
		}
		if K < 1 || k < 0 || k >= K {
			return 0, 0, fmt.Errorf("--shard env: JOB_COMPLETION_INDEX=%d outside 0…GNAUDIT_SHARDS−1 = %d", k, K-1)
		}
		return k, K, nil
	}
	if getenv("SLURM_ARRAY_TASK_ID") != "" {
		id, err := num("SLURM_ARRAY_TASK_ID")
		if err != nil {
			return 0, 0, err
		}
		lo, err := num("SLURM_ARRAY_TASK_MIN")
		if err != nil {
			return 0, 0, err
		}
		hi, err := num("SLURM_ARRAY_TASK_MAX")
		if err != nil {
			return 0, 0, err
		}
		K, err := num("SLURM_ARRAY_TASK_COUNT")
		if err != nil {
			return 0, 0, err
		}
		if hi-lo+1 != K || id < lo || id > hi {
			return 0, 0, fmt.Errorf("--shard env: the Slurm array %d-%d has %d tasks: use a contiguous range without a step (e.g. --array=0-%d)", lo, hi, K, K-1)
		}
		return id - lo, K, nil
	}
	return 0, 0, errors.New("--shard env: none of GNAUDIT_SHARD, JOB_COMPLETION_INDEX (with GNAUDIT_SHARDS) or SLURM_ARRAY_TASK_ID is set")
}

// ShardDirName is the default directory of shard k of K under PREP/shards.
func ShardDirName(k, K int) string { return fmt.Sprintf("shard-%d-of-%d", k, K) }

// prepareAt saves the checkpoint of one audit step and computes its centre
// (gnaudit audit --prepare).
func (r *runner) prepareAt(ctx context.Context, step int, params []train.Param) error {
	cfg := &r.cfg
	rel := filepath.Join(CheckpointDir, stepDir(step))
	dir := filepath.Join(cfg.Out, rel)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	cm := CheckpointMeta{Step: step, Reason: "prepared: its noise is collected by the shards and joined by gnaudit merge"}
	pc := PreparedCheckpoint{Step: step}
	mrel := filepath.Join(rel, ModelName)
	if err := train.SaveONNX(r.modelFile, filepath.Join(cfg.Out, mrel), params); err != nil {
		return fmt.Errorf("step %d: saving the checkpoint's model: %w", step, err)
	}
	cm.Model = mrel
	cm.SHA256, _ = fileSHA256(filepath.Join(cfg.Out, mrel))
	pc.Model, pc.ModelSHA256 = mrel, cm.SHA256
	if params != nil {
		if err := r.eng.SetParams(params); err != nil {
			return err
		}
		// The ONNX file rounds float32 parameters; the shards need the
		// exact float64 values the one-process audit uses.
		prel := filepath.Join(rel, ParamsName)
		sum, info, err := writeParams(filepath.Join(cfg.Out, prel), params)
		if err != nil {
			return fmt.Errorf("step %d: %w", step, err)
		}
		pc.Params, pc.ParamsSHA256 = prel, sum
		r.prepared.Params = info
	}
	cc := r.cc
	cc.Step = step
	bar := progress.New(r.env.Stderr, cc.Pool, progress.Options{Label: fmt.Sprintf("step %d centre", step), Mode: r.env.ProgressMode})
	cc.Progress = func(p collect.Progress) { bar.Update(p.Done, progress.F("phase", "centre")) }
	src, err := r.eng.Source(r.prep.train)
	if err != nil {
		return err
	}
	c, err := collect.ComputeCentre(ctx, src, cc)
	bar.Finish()
	if err != nil {
		return fmt.Errorf("step %d: the centre pass: %w", step, err)
	}
	b, err := json.Marshal(c)
	if err != nil {
		return err
	}
	crel := filepath.Join(rel, CentreName)
	if err := writeFileAtomic(filepath.Join(cfg.Out, crel), b); err != nil {
		return err
	}
	pc.Centre, pc.CentreSHA256 = crel, sha256Hex(b)
	r.prepared.Checkpoints = append(r.prepared.Checkpoints, pc)
	r.meta.Checks = append(r.meta.Checks, cm)
	fmt.Fprintf(r.env.Stderr, "step %d: checkpoint and centre saved in %s\n", step, dir)
	return writeMeta(cfg.Out, r.meta)
}

// startPrepare fills the prepared identity once the plan is known.
func (r *runner) startPrepare(raw *rawData) error {
	cfg := &r.cfg
	abs := func(p string) string {
		if p == "" {
			return ""
		}
		a, err := filepath.Abs(p)
		if err != nil {
			return p
		}
		return a
	}
	sum, err := fileSHA256(r.modelFile)
	if err != nil {
		return err
	}
	if err := os.Remove(filepath.Join(cfg.Out, PreparedName)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	r.prepared = &Prepared{Format: PreparedFormat, Version: ShardVersion, Tool: r.env.ToolVersion,
		Created: r.env.Now().UTC().Format(time.RFC3339), Identity: r.identity(sum),
		ModelPath: modelPath(cfg.Out, r.modelFile), DataDir: abs(raw.dir), Images: abs(cfg.Data.Images), Labels: abs(cfg.Data.Labels),
		Checkpoints: []PreparedCheckpoint{}}
	return nil
}

func (r *runner) identity(modelSHA string) Identity {
	return Identity{Model: r.cc.Model, ModelSHA256: modelSHA, Data: r.cc.Data, DataSize: r.cc.DataSize, Seed: r.cc.Seed,
		Pool: r.cc.Pool, Batches: r.cc.Batches, BatchSizes: slices.Clone(r.cc.BatchSizes), CoordsPerLayer: r.cc.CoordsPerLayer,
		EngineBatch: r.cfg.Collect.EngineBatch}
}

// finishPrepare writes prepared.json and the final status of --prepare.
func (r *runner) finishPrepare(workErr error) error {
	cfg := &r.cfg
	if workErr != nil {
		r.meta.Status, r.meta.Reason = StatusFailed, "preparation: "+workErr.Error()
		r.out.Status = StatusFailed
		return errors.Join(workErr, writeMeta(cfg.Out, r.meta))
	}
	b, err := json.MarshalIndent(r.prepared, "", "  ")
	if err != nil {
		return err
	}
	if err := writeFileAtomic(filepath.Join(cfg.Out, PreparedName), append(b, '\n')); err != nil {
		return err
	}
	r.meta.Status, r.meta.Reason = StatusPrepared, "prepared for sharded collection; not merged yet (gnaudit merge)"
	r.out.Status = StatusPrepared
	if err := writeMeta(cfg.Out, r.meta); err != nil {
		return err
	}
	r.printf("prepared %d checkpoint(s) in %s\nnext: gnaudit audit --shard k/K --from %s for k = 0…K−1 (K ≤ %d), then gnaudit merge %s\n",
		len(r.prepared.Checkpoints), cfg.Out, cfg.Out, r.cc.Batches, cfg.Out)
	return nil
}

// writeParams writes the parameters as float64 little endian and returns
// the file's SHA-256 and layout.
func writeParams(path string, params []train.Param) (string, []ParamInfo, error) {
	var b []byte
	info := make([]ParamInfo, len(params))
	for i, p := range params {
		info[i] = ParamInfo{Name: p.Name, Shape: slices.Clone(p.Shape)}
		for _, v := range p.Value {
			b = binary.LittleEndian.AppendUint64(b, math.Float64bits(v))
		}
	}
	if err := writeFileAtomic(path, b); err != nil {
		return "", nil, fmt.Errorf("writing the parameters: %w", err)
	}
	return sha256Hex(b), info, nil
}

// readParams reads a params.bin written by writeParams.
func readParams(path, wantSHA string, info []ParamInfo) ([]train.Param, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if got := sha256Hex(b); got != wantSHA {
		return nil, fmt.Errorf("%s: SHA-256 %s, prepared.json records %s (the file changed after --prepare)", path, got, wantSHA)
	}
	out := make([]train.Param, len(info))
	off := 0
	for i, pi := range info {
		n := 1
		for _, d := range pi.Shape {
			n *= d
		}
		if off+8*n > len(b) {
			return nil, fmt.Errorf("%s: too short for parameter %q", path, pi.Name)
		}
		v := make([]float64, n)
		for j := range v {
			v[j] = math.Float64frombits(binary.LittleEndian.Uint64(b[off+8*j:]))
		}
		off += 8 * n
		out[i] = train.Param{Name: pi.Name, Shape: slices.Clone(pi.Shape), Value: v}
	}
	if off != len(b) {
		return nil, fmt.Errorf("%s: %d bytes, the parameters take %d", path, len(b), off)
	}
	return out, nil
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// ReadPrepared reads PREP/prepared.json and returns it with its SHA-256.
func ReadPrepared(dir string) (*Prepared, string, error) {
	path := filepath.Join(dir, PreparedName)
	b, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, "", fmt.Errorf("%s is not a prepared audit (no %s: run gnaudit audit --prepare --out %s first, and let it finish)", dir, PreparedName, dir)
		}
		return nil, "", err
	}
	var p Prepared
	if err := json.Unmarshal(b, &p); err != nil {
		return nil, "", fmt.Errorf("%s: %w", path, err)
	}
	if p.Format != PreparedFormat || p.Version != ShardVersion {
		return nil, "", fmt.Errorf("%s: format %q version %d, this gnaudit reads %q version %d", path, p.Format, p.Version, PreparedFormat, ShardVersion)
	}
	return &p, sha256Hex(b), nil
}

// ReadShard reads DIR/shard.json.
func ReadShard(dir string) (*ShardManifest, error) {
	path := filepath.Join(dir, ShardName)
	b, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("%s is not a finished shard (no %s): rerun its gnaudit audit --shard k/K", dir, ShardName)
		}
		return nil, err
	}
	var m ShardManifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if m.Format != ShardFormat || m.Version != ShardVersion {
		return nil, fmt.Errorf("%s: format %q version %d, this gnaudit reads %q version %d", path, m.Format, m.Version, ShardFormat, ShardVersion)
	}
	return &m, nil
}

// runShard collects one shard of a prepared audit (gnaudit audit --shard).
func (r *runner) runShard(ctx context.Context) error {
	start := r.env.Now()
	given := r.cfg
	if given.From == "" {
		return inputErr(errors.New("--shard needs --from PREP, the directory of gnaudit audit --prepare --out PREP"))
	}
	if given.Prepare {
		return inputErr(errors.New("--shard and --prepare are separate steps: prepare once, then run the shards"))
	}
	k, K, err := ParseShard(given.Shard, os.Getenv)
	if err != nil {
		return inputErr(err)
	}
	prep, prepSHA, err := ReadPrepared(given.From)
	if err != nil {
		return inputErr(err)
	}
	meta, err := ReadMeta(given.From)
	if err != nil {
		return inputErr(err)
	}
	if K > prep.Identity.Batches {
		return inputErr(fmt.Errorf("--shard %d/%d: at most %d shards (one mini-batch row per batch size each)", k, K, prep.Identity.Batches))
	}
	// Everything comes from the prepared audit; only where the shard
	// writes and where it finds the data may differ.
	cfg := meta.Config
	cfg.Model = prep.ModelPath
	if !filepath.IsAbs(cfg.Model) {
		cfg.Model = filepath.Join(given.From, cfg.Model)
	}
	if given.Model != "" && given.Model != meta.Config.Model {
		cfg.Model = given.Model
	}
	cfg.Data.Dir, cfg.Data.Images, cfg.Data.Labels = prep.DataDir, prep.Images, prep.Labels
	if given.Data.Dir != "" && given.Data.Dir != meta.Config.Data.Dir {
		cfg.Data.Dir = given.Data.Dir
	}
	cfg.Out = given.Out
	if cfg.Out == "" || cfg.Out == Defaults().Out {
		cfg.Out = filepath.Join(given.From, ShardsDir, ShardDirName(k, K))
	}
	cfg.FineTune.Steps, cfg.FineTune.Save = 0, ""
	cfg.Gate, cfg.JUnit, cfg.Shard, cfg.From = "", "", given.Shard, given.From
	r.cfg = cfg

	for _, name := range []string{MetaName, PreparedName} {
		if _, err := os.Stat(filepath.Join(cfg.Out, name)); err == nil {
			return inputErr(fmt.Errorf("--out %s holds an audit (%s): a shard writes its own directory (default %s)", cfg.Out, name, filepath.Join(given.From, ShardsDir, ShardDirName(k, K))))
		}
	}
	if err := os.MkdirAll(cfg.Out, 0o755); err != nil {
		return fmt.Errorf("shard directory: %w", err)
	}
	// A rerun replaces the shard's earlier output.
	for _, name := range []string{ShardName, CheckpointDir} {
		if err := os.RemoveAll(filepath.Join(cfg.Out, name)); err != nil {
			return err
		}
	}
	raw, err := loadData(cfg.Data, cfg.Seed)
	if err != nil {
		return inputErr(err)
	}
	if err := r.loadModel(raw, cfg.Out); err != nil {
		return err
	}
	sum, err := fileSHA256(r.modelFile)
	if err != nil {
		return err
	}
	eng, err := r.factory(r.model, EngineOptions{Batch: cfg.Collect.EngineBatch, MaxMemory: int64(cfg.Collect.MaxMemory)})
	if err != nil {
		return inputErr(fmt.Errorf("model %s: %w", r.modelFile, err))
	}
	defer eng.Close()
	r.eng = eng
	if err := r.prepareData(raw); err != nil {
		return err
	}
	if err := r.plan(ctx); err != nil {
		return err
	}
	id := r.identity(sum)
	if d := prep.Identity.diff(&id); d != "" {
		return inputErr(fmt.Errorf("shard %d/%d: this machine's model and data differ from the prepared audit's (%s): is --data the same data set?", k, K, d))
	}
	man := &ShardManifest{Format: ShardFormat, Version: ShardVersion, Tool: r.env.ToolVersion,
		Created: start.UTC().Format(time.RFC3339), Prepared: prepSHA, From: given.From, Index: k, Count: K,
		Identity: prep.Identity, Checkpoints: []ShardCheckpoint{}}
	src, err := r.eng.Source(r.prep.train)
	if err != nil {
		return err
	}
	if est, err := collect.Plan(withShard(r.cc, k, K, nil), src.Layers()); err == nil {
		r.printf("shard %d/%d: mini-batch rows %d of %d per batch size, moments of %d of %d pool samples, %d per-sample gradients per checkpoint, %s\n",
			k, K, est.ShardRows, est.Batches, est.ShardPool, est.Pool, est.GradientSamples, ByteSize(est.Memory.Total))
	}
	workErr := r.collectShard(ctx, prep, man)
	man.Seconds = r.env.Now().Sub(start).Seconds()
	man.Status = StatusComplete
	switch {
	case workErr == nil:
	case ctx.Err() != nil && errors.Is(workErr, ctx.Err()):
		man.Status, man.Reason = StatusPartial, "interrupted: "+workErr.Error()
	default:
		man.Status, man.Reason = StatusFailed, workErr.Error()
	}
	r.out.Status = man.Status
	b, err := json.MarshalIndent(man, "", "  ")
	if err != nil {
		return errors.Join(workErr, err)
	}
	if err := writeFileAtomic(filepath.Join(cfg.Out, ShardName), append(b, '\n')); err != nil {
		return errors.Join(workErr, err)
	}
	if workErr == nil {
		r.printf("shard %d/%d done in %s: %s\n", k, K, secs(man.Seconds), cfg.Out)
	}
	return workErr
}

// withShard returns cc for shard k of K around centre c.
func withShard(cc collect.Config, k, K int, c *collect.Centre) collect.Config {
	cc.Shard = collect.Shard{Index: k, Count: K}
	cc.Centre = c
	if c == nil {
		cc.Centre = &collect.Centre{} // Plan only checks that there is one
	}
	return cc
}

// collectShard collects the shard's part of every prepared checkpoint.
func (r *runner) collectShard(ctx context.Context, prep *Prepared, man *ShardManifest) error {
	from := r.cfg.From
	for _, pc := range prep.Checkpoints {
		b, err := os.ReadFile(filepath.Join(from, pc.Centre))
		if err != nil {
			return fmt.Errorf("step %d: %w", pc.Step, err)
		}
		if got := sha256Hex(b); got != pc.CentreSHA256 {
			return inputErr(fmt.Errorf("%s: SHA-256 %s, prepared.json records %s (the file changed after --prepare)", filepath.Join(from, pc.Centre), got, pc.CentreSHA256))
		}
		var c collect.Centre
		if err := json.Unmarshal(b, &c); err != nil {
			return fmt.Errorf("%s: %w", filepath.Join(from, pc.Centre), err)
		}
		if pc.Params != "" {
			params, err := readParams(filepath.Join(from, pc.Params), pc.ParamsSHA256, prep.Params)
			if err != nil {
				return inputErr(fmt.Errorf("step %d: %w", pc.Step, err))
			}
			if err := r.eng.SetParams(params); err != nil {
				return err
			}
		}
		cc := withShard(r.cc, man.Index, man.Count, &c)
		cc.Step = pc.Step
		var bar *progress.Bar // its total is the shard's sample count, known at the first block
		cc.Progress = func(p collect.Progress) {
			if bar == nil {
				bar = progress.New(r.env.Stderr, p.Total, progress.Options{Label: fmt.Sprintf("step %d shard %d/%d", pc.Step, man.Index, man.Count), Mode: r.env.ProgressMode})
			}
			bar.Update(p.Done)
		}
		src, err := r.eng.Source(r.prep.train)
		if err != nil {
			return err
		}
		set, segs, err := collect.CollectSegments(ctx, src, cc)
		if bar != nil {
			bar.Finish()
		}
		if set != nil {
			rel := filepath.Join(CheckpointDir, stepDir(pc.Step), NoiseDir)
			if serr := noise.Save(filepath.Join(r.cfg.Out, rel), set); serr != nil {
				return errors.Join(err, fmt.Errorf("step %d: saving the shard's noise set: %w", pc.Step, serr))
			}
			sc := ShardCheckpoint{Step: pc.Step, ModelSHA256: pc.ModelSHA256, ParamsSHA256: pc.ParamsSHA256,
				CentreSHA256: pc.CentreSHA256, Noise: rel, Pool: set.Pool, Batches: set.Batches, Partial: err != nil}
			if set.Collection != nil {
				sc.PoolRanges = set.Collection.PoolRanges
			}
			if segs != nil {
				b, merr := segs.MarshalBinary()
				if merr != nil {
					return errors.Join(err, merr)
				}
				sc.Segments = filepath.Join(CheckpointDir, stepDir(pc.Step), SegmentsName)
				if werr := writeFileAtomic(filepath.Join(r.cfg.Out, sc.Segments), b); werr != nil {
					return errors.Join(err, werr)
				}
				sc.SegmentsSHA256 = sha256Hex(b)
			}
			man.Checkpoints = append(man.Checkpoints, sc)
		}
		if err != nil {
			return fmt.Errorf("step %d, shard %d/%d: %w", pc.Step, man.Index, man.Count, err)
		}
	}
	return nil
}

// MergeOptions configure MergeShards.
type MergeOptions struct {
	// Partial accepts an incomplete set of shards (missing or stopped
	// ones); the report is then marked partial.
	Partial bool
}

// MergeShards merges the shards of the audit prepared in prep (shard
// directories dirs; none: every PREP/shards/*/shard.json) into
// PREP/checkpoints/step-N/noise, runs the analyses and writes the report in
// PREP (gnaudit merge). It refuses shards of another prepared audit or
// configuration, a shard given twice, a different shard count and, unless
// o.Partial, a missing or unfinished shard, each error naming the
// directory. The merged set of a complete run equals the one-process
// audit's bit for bit in ḡ, |ḡ|², Σ|g|², tr Σ and every mini-batch value;
// S2…A3 are the sums of the shards' sums (equal up to the rounding of K−1
// additions; docs/scale.md).
func MergeShards(ctx context.Context, prep string, dirs []string, o MergeOptions, env *Env) (out *Outcome, err error) {
	env = env.withDefaults()
	p, prepSHA, err := ReadPrepared(prep)
	if err != nil {
		return nil, inputErr(err)
	}
	meta, err := ReadMeta(prep)
	if err != nil {
		return nil, inputErr(err)
	}
	if len(dirs) == 0 {
		found, _ := filepath.Glob(filepath.Join(prep, ShardsDir, "*", ShardName))
		for _, f := range found {
			dirs = append(dirs, filepath.Dir(f))
		}
		if len(dirs) == 0 {
			return nil, inputErr(fmt.Errorf("%s: no shards under %s (run gnaudit audit --shard k/K --from %s, or name the shard directories)", prep, filepath.Join(prep, ShardsDir), prep))
		}
	}
	byIndex := map[int]string{}
	mans := map[int]*ShardManifest{}
	count := 0
	var skipped []string
	for _, d := range dirs {
		m, err := ReadShard(d)
		if err != nil {
			if o.Partial {
				skipped = append(skipped, err.Error())
				continue
			}
			return nil, inputErr(err)
		}
		switch {
		case m.Prepared != prepSHA:
			return nil, inputErr(fmt.Errorf("shard %s (%d/%d) was run from another prepared audit (prepared.json SHA-256 %.12s, %s has %.12s)", d, m.Index, m.Count, m.Prepared, prep, prepSHA))
		case m.Identity.diff(&p.Identity) != "":
			return nil, inputErr(fmt.Errorf("shard %s (%d/%d) does not belong to %s: %s", d, m.Index, m.Count, prep, m.Identity.diff(&p.Identity)))
		case count != 0 && m.Count != count:
			return nil, inputErr(fmt.Errorf("shard %s is shard %d of %d, but %s is of %d: all shards must use the same K", d, m.Index, m.Count, byIndex[firstKey(byIndex)], count))
		case m.Index < 0 || m.Index >= m.Count:
			return nil, inputErr(fmt.Errorf("shard %s: index %d of %d", d, m.Index, m.Count))
		}
		if prev, dup := byIndex[m.Index]; dup {
			return nil, inputErr(fmt.Errorf("shard %d/%d given twice: %s and %s (a rerun goes to the same directory; remove one)", m.Index, m.Count, prev, d))
		}
		count = m.Count
		if m.Status != StatusComplete {
			msg := fmt.Sprintf("shard %s (%d/%d) did not finish (status %s: %s): rerun it alone with gnaudit audit --shard %d/%d --from %s", d, m.Index, m.Count, m.Status, m.Reason, m.Index, m.Count, prep)
			if !o.Partial {
				return nil, inputErr(errors.New(msg))
			}
			skipped = append(skipped, msg)
			if m.Status == StatusFailed {
				continue
			}
		}
		byIndex[m.Index], mans[m.Index] = d, m
	}
	if len(mans) == 0 {
		return nil, inputErr(fmt.Errorf("no usable shard: %s", strings.Join(skipped, "; ")))
	}
	var missing []string
	for k := range count {
		if _, ok := byIndex[k]; !ok {
			missing = append(missing, strconv.Itoa(k))
		}
	}
	if len(missing) > 0 {
		msg := fmt.Sprintf("shard(s) %s of %d missing (expected e.g. %s): run them with gnaudit audit --shard k/%d --from %s, or merge with --partial",
			strings.Join(missing, ", "), count, filepath.Join(prep, ShardsDir, ShardDirName(mustAtoi(missing[0]), count)), count, prep)
		if !o.Partial {
			return nil, inputErr(errors.New(msg))
		}
		skipped = append(skipped, msg)
	}
	order := make([]int, 0, len(mans))
	for k := range mans {
		order = append(order, k)
	}
	slices.Sort(order)

	partial := false
	meta.Checks = meta.Checks[:0]
	for _, pc := range p.Checkpoints {
		var merged *noise.Set
		var segs []*collect.Segments
		allSegs := true
		for _, k := range order {
			m := mans[k]
			i := slices.IndexFunc(m.Checkpoints, func(c ShardCheckpoint) bool { return c.Step == pc.Step })
			if i < 0 {
				continue // a stopped shard (only with --partial)
			}
			sc := m.Checkpoints[i]
			if sc.CentreSHA256 != pc.CentreSHA256 || sc.ModelSHA256 != pc.ModelSHA256 || sc.ParamsSHA256 != pc.ParamsSHA256 {
				return nil, inputErr(fmt.Errorf("shard %s: step %d was collected at another checkpoint or centre than %s records", byIndex[k], pc.Step, filepath.Join(prep, PreparedName)))
			}
			set, err := noise.Load(filepath.Join(byIndex[k], sc.Noise))
			if err != nil {
				return nil, inputErr(fmt.Errorf("shard %s, step %d: %w", byIndex[k], pc.Step, err))
			}
			if sc.Segments == "" {
				allSegs = false
			} else {
				sg, err := readSegments(filepath.Join(byIndex[k], sc.Segments), sc.SegmentsSHA256)
				if err != nil {
					return nil, inputErr(fmt.Errorf("shard %s, step %d: %w", byIndex[k], pc.Step, err))
				}
				segs = append(segs, sg)
			}
			if merged == nil {
				merged = set
				continue
			}
			if merged, err = noise.Merge(merged, set); err != nil {
				return nil, inputErr(fmt.Errorf("shard %s, step %d: %w", byIndex[k], pc.Step, err))
			}
		}
		cm := CheckpointMeta{Step: pc.Step, Model: pc.Model, SHA256: pc.ModelSHA256}
		if merged == nil {
			cm.Reason = "no shard collected this checkpoint"
			partial = true
			meta.Checks = append(meta.Checks, cm)
			continue
		}
		if allSegs {
			// The whole run's additions: the set equals a one-process
			// collection bit for bit.
			if err := collect.MergeSegments(merged, segs); err != nil {
				return nil, inputErr(fmt.Errorf("step %d: %w", pc.Step, err))
			}
		}
		if !merged.Partial {
			if err := exactNorms(merged, filepath.Join(prep, pc.Centre)); err != nil {
				return nil, err
			}
		} else if merged.Collection != nil {
			merged.Collection.Reason = fmt.Sprintf("%d of %d shards merged (%s)", len(order), count, merged.Collection.Reason)
		}
		rel := filepath.Join(CheckpointDir, stepDir(pc.Step), NoiseDir)
		if err := noise.Save(filepath.Join(prep, rel), merged); err != nil {
			return nil, fmt.Errorf("step %d: saving the merged noise set: %w", pc.Step, err)
		}
		_ = os.Remove(filepath.Join(prep, CheckpointDir, stepDir(pc.Step), ResultsName)) // analyses of an earlier merge
		cm.Noise, cm.Partial = rel, merged.Partial
		if merged.Partial {
			cm.Reason = reasonOf(merged)
			partial = true
		}
		meta.Checks = append(meta.Checks, cm)
	}
	meta.Status, meta.Reason = StatusComplete, ""
	if partial {
		meta.Status = StatusPartial
		meta.Reason = fmt.Sprintf("merged %d of %d shards: %s", len(order), count, strings.Join(skipped, "; "))
	}
	note := fmt.Sprintf("Collected in %d shards (gnaudit audit --shard k/%d) around the centres of gnaudit audit --prepare, merged by gnaudit merge.", count, count)
	meta.Notes = slices.DeleteFunc(meta.Notes, func(s string) bool {
		return strings.HasPrefix(s, "Collected in ") && strings.Contains(s, "gnaudit merge")
	})
	meta.Notes = append(meta.Notes, note)
	if err := writeMeta(prep, meta); err != nil {
		return nil, err
	}
	for _, s := range skipped {
		fmt.Fprintf(env.Stderr, "warning: %s\n", s)
	}
	out = &Outcome{Dir: prep, Status: meta.Status}
	rd, err := Render(ctx, prep, RenderOptions{}, env)
	if err != nil {
		return out, err
	}
	out.Rendered = rd
	return out, nil
}

// exactNorms replaces the merged Σ|g|² of a complete set with the centre
// pass's, summed in pool order as a one-process run sums it, after
// checking that the shards' sums agree with it, and recomputes tr Σ.
func exactNorms(s *noise.Set, centrePath string) error {
	b, err := os.ReadFile(centrePath)
	if err != nil {
		return err
	}
	var c collect.Centre
	if err := json.Unmarshal(b, &c); err != nil {
		return fmt.Errorf("%s: %w", centrePath, err)
	}
	if len(c.Layers) != len(s.Layers) {
		return fmt.Errorf("%s: %d layers, the merged set %d", centrePath, len(c.Layers), len(s.Layers))
	}
	for i := range s.Layers {
		l, cl := &s.Layers[i], c.Layers[i]
		if cl.SumNormSq == 0 && l.SumNormSq != 0 {
			continue // a centre without the norms
		}
		if d := math.Abs(l.SumNormSq - cl.SumNormSq); d > 1e-9*math.Abs(cl.SumNormSq) {
			return fmt.Errorf("layer %q: the shards' Σ|g|² = %g differs from the centre pass's %g: the shards did not compute the same gradients as --prepare (another engine, BLAS or machine type?)", l.Parameter, l.SumNormSq, cl.SumNormSq)
		}
		l.SumNormSq = cl.SumNormSq
		l.TraceCov = 0
		if s.Pool > 0 {
			l.TraceCov = max(0, l.SumNormSq/float64(s.Pool)-l.GradNormSq)
		}
	}
	return nil
}

func firstKey(m map[int]string) int {
	for k := range m {
		return k
	}
	return 0
}

func mustAtoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}

// schemeNote is the scheme named in the report's notes: a prepared audit
// is collected around its centres, in shards.
func schemeNote(cfg *Config, s collect.Scheme) string {
	if cfg.Prepare {
		return string(collect.SchemeCentred) + " (in shards: gnaudit audit --prepare, --shard, gnaudit merge)"
	}
	return string(s)
}

// readSegments reads a shard's segment sums and checks their hash.
func readSegments(path, wantSHA string) (*collect.Segments, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if got := sha256Hex(b); got != wantSHA {
		return nil, fmt.Errorf("%s: SHA-256 %s, shard.json records %s", path, got, wantSHA)
	}
	var sg collect.Segments
	if err := sg.UnmarshalBinary(b); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &sg, nil
}

// modelPath is the model file as prepared.json records it: relative to
// the prepared directory when inside it, else absolute.
func modelPath(dir, file string) string {
	if r := relPath(dir, file); !filepath.IsAbs(r) && !strings.HasPrefix(r, "..") && r != file {
		return r
	}
	if a, err := filepath.Abs(file); err == nil {
		return a
	}
	return file
}
