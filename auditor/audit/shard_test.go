package audit

import (
	"strings"
	"testing"
)

func TestParseShard(t *testing.T) {
	cases := []struct {
		spec string
		env  map[string]string
		k, K int
		err  string
	}{
		{spec: "0/3", k: 0, K: 3},
		{spec: "2/3", k: 2, K: 3},
		{spec: " 1 / 2", k: 1, K: 2},
		{spec: "0/1", k: 0, K: 1},
		{spec: "3/3", err: "0 ≤ k < K"},
		{spec: "-1/3", err: "0 ≤ k < K"},
		{spec: "1", err: "want k/K"},
		{spec: "a/b", err: "want k/K"},
		{spec: "env", env: map[string]string{"GNAUDIT_SHARD": "1/4"}, k: 1, K: 4},
		{spec: "env", env: map[string]string{"GNAUDIT_SHARD": "4/4"}, err: "GNAUDIT_SHARD=\"4/4\""},
		{spec: "env", env: map[string]string{"GNAUDIT_SHARD": "env"}, err: "GNAUDIT_SHARD=\"env\""},
		{spec: "env", env: map[string]string{"JOB_COMPLETION_INDEX": "2", "GNAUDIT_SHARDS": "3"}, k: 2, K: 3},
		{spec: "env", env: map[string]string{"JOB_COMPLETION_INDEX": "2"}, err: "GNAUDIT_SHARDS"},
		{spec: "env", env: map[string]string{"JOB_COMPLETION_INDEX": "3", "GNAUDIT_SHARDS": "3"}, err: "outside"},
		{spec: "env", env: map[string]string{"JOB_COMPLETION_INDEX": "x", "GNAUDIT_SHARDS": "3"}, err: "not an integer"},
		{spec: "env", env: map[string]string{"SLURM_ARRAY_TASK_ID": "0", "SLURM_ARRAY_TASK_MIN": "0", "SLURM_ARRAY_TASK_MAX": "3", "SLURM_ARRAY_TASK_COUNT": "4"}, k: 0, K: 4},
		{spec: "env", env: map[string]string{"SLURM_ARRAY_TASK_ID": "12", "SLURM_ARRAY_TASK_MIN": "10", "SLURM_ARRAY_TASK_MAX": "12", "SLURM_ARRAY_TASK_COUNT": "3"}, k: 2, K: 3},
		{spec: "env", env: map[string]string{"SLURM_ARRAY_TASK_ID": "2", "SLURM_ARRAY_TASK_MIN": "0", "SLURM_ARRAY_TASK_MAX": "4", "SLURM_ARRAY_TASK_COUNT": "3"}, err: "contiguous"},
		{spec: "env", env: map[string]string{"SLURM_ARRAY_TASK_ID": "2"}, err: "SLURM_ARRAY_TASK_MIN"},
		{spec: "env", env: map[string]string{"GNAUDIT_SHARD": "0/2", "JOB_COMPLETION_INDEX": "1", "GNAUDIT_SHARDS": "2"}, k: 0, K: 2},
		{spec: "env", env: map[string]string{}, err: "none of GNAUDIT_SHARD"},
	}
	for _, c := range cases {
		k, K, err := ParseShard(c.spec, func(n string) string { return c.env[n] })
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%q %v: error %v, want %q", c.spec, c.env, err, c.err)
			}
			continue
		}
		if err != nil || k != c.k || K != c.K {
			t.Errorf("%q %v: %d/%d, %v; want %d/%d", c.spec, c.env, k, K, err, c.k, c.K)
		}
	}
}

func TestShardNeedsFrom(t *testing.T) {
	cfg := Defaults()
	cfg.Shard = "0/2"
	_, err := Run(t.Context(), cfg, nil)
	if err == nil || !strings.Contains(err.Error(), "--shard needs --from") {
		t.Errorf("--shard without --from: %v", err)
	}
	cfg.From = t.TempDir()
	_, err = Run(t.Context(), cfg, nil)
	if err == nil || !strings.Contains(err.Error(), "not a prepared audit") {
		t.Errorf("--from an empty directory: %v", err)
	}
}
