package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/gnaudit/gnaudit/auditor/audit"
)

// The recipes of docs/scale.md (docs/examples/scale), run on this machine
// as far as it allows: the Slurm scripts through a stand-in sbatch that runs
// each job at once (array tasks one after another, with Slurm's array
// variables), and the Kubernetes Jobs by running each container's command
// with the Job's environment (JOB_COMPLETION_INDEX for the Indexed Job) and
// /shared mapped to a directory. Each merged audit must equal the
// single-process one. docs/examples/scale/validate.sh checks the files with
// shellcheck, actionlint, kubeconform and the k8s.io/api types.

const recipes = "../../docs/examples/scale"

// fakeSbatch stands in for sbatch: it runs the script now, an array's
// tasks in turn, and prints a job id (--parsable).
const fakeSbatch = `#!/usr/bin/env bash
set -euo pipefail
array="" script=""
for a in "$@"; do
  case "$a" in
    --array=*) array="${a#--array=}" ;;
    --export=*) IFS=, read -ra kv <<<"${a#--export=}"; for e in "${kv[@]}"; do [ "$e" = ALL ] || export "${e?}"; done ;;
    -*) ;;
    *) script="$a" ;;
  esac
done
log="${SBATCH_LOG:?}"
if [ -n "$array" ]; then
  lo="${array%-*}" hi="${array#*-}"
  for ((i = lo; i <= hi; i++)); do
    SLURM_ARRAY_TASK_ID=$i SLURM_ARRAY_TASK_MIN=$lo SLURM_ARRAY_TASK_MAX=$hi SLURM_ARRAY_TASK_COUNT=$((hi - lo + 1)) bash "$script" >>"$log" 2>&1
  done
else
  bash "$script" >>"$log" 2>&1
fi
echo $RANDOM
`

// testRecipes runs the recipes (called by TestShardedAuditEqualsSingle,
// which built bin and ran the single-process audit of cfg into single).
func testRecipes(t *testing.T, bin, dir, cfg, single string) {
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("no bash")
	}
	path := filepath.Dir(bin) + string(os.PathListSeparator) + os.Getenv("PATH")

	t.Run("slurm", func(t *testing.T) {
		fake := filepath.Join(t.TempDir(), "sbatch")
		if err := os.WriteFile(fake, []byte(fakeSbatch), 0o755); err != nil {
			t.Fatal(err)
		}
		prep := filepath.Join(dir, "slurm-prep")
		log := filepath.Join(dir, "slurm.log")
		cmd := exec.Command("bash", filepath.Join(recipes, "slurm", "submit.sh"), "3")
		cmd.Env = append(os.Environ(), "PATH="+filepath.Dir(fake)+string(os.PathListSeparator)+path,
			"PREP="+prep, "CONFIG="+cfg, "SBATCH_LOG="+log)
		out, err := cmd.CombinedOutput()
		if err != nil {
			b, _ := os.ReadFile(log)
			t.Fatalf("submit.sh: %v\n%s\n%s", err, out, b)
		}
		if !strings.Contains(string(out), "array 0-2") {
			t.Errorf("submit.sh output:\n%s", out)
		}
		compareAudits(t, single, prep)
	})

	t.Run("kubernetes", func(t *testing.T) {
		shared := filepath.Join(dir, "shared")
		os.MkdirAll(shared, 0o755)
		b, err := os.ReadFile(cfg)
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(shared, "audit.yaml"), b, 0o644)
		for _, file := range []string{"prepare-job.yaml", "shards-job.yaml", "merge-job.yaml"} {
			job := readJob(t, filepath.Join(recipes, "kubernetes", file))
			completions := 1
			if job.Spec.CompletionMode == "Indexed" {
				completions = job.Spec.Completions
			}
			c := job.Spec.Template.Spec.Containers[0]
			if c.Command[0] != "gnaudit" {
				t.Fatalf("%s: command %v", file, c.Command)
			}
			for idx := 0; idx < completions; idx++ {
				args := make([]string, len(c.Command)-1)
				for i, a := range c.Command[1:] {
					args[i] = strings.Replace(a, "/shared", shared, 1)
				}
				cmd := exec.Command(bin, args...)
				cmd.Env = append(os.Environ(), "PATH="+path)
				for _, e := range c.Env {
					cmd.Env = append(cmd.Env, e.Name+"="+e.Value)
				}
				if job.Spec.CompletionMode == "Indexed" {
					cmd.Env = append(cmd.Env, "JOB_COMPLETION_INDEX="+strconv.Itoa(idx))
				}
				if out, err := cmd.CombinedOutput(); err != nil {
					t.Fatalf("%s, index %d: %v\n%s", file, idx, err, out)
				}
			}
		}
		compareAudits(t, single, filepath.Join(shared, "prep"))
	})

	// The GitHub Actions workflow: its gnaudit steps with the matrix
	// expanded, the artefacts standing for directories of one work tree
	// (upload path → download path), the configuration replaced by the
	// small one.
	t.Run("github-actions", func(t *testing.T) {
		wf := readWorkflow(t, filepath.Join(recipes, "github-actions", "sharded-audit.yml"))
		work := filepath.Join(dir, "gha")
		os.MkdirAll(work, 0o755)
		shards := wf.Jobs["shard"].Strategy.Matrix["shard"]
		K := strconv.Itoa(len(shards))
		run := func(job string, env map[string]string) {
			for _, st := range wf.Jobs[job].Steps {
				for _, line := range strings.Split(st.Run, "\n") {
					line = strings.TrimSpace(line)
					if !strings.HasPrefix(line, "bin/gnaudit ") {
						continue
					}
					expand := func(s string) string {
						for k, v := range env {
							s = strings.ReplaceAll(s, "\"$"+k+"\"", v)
						}
						return s
					}
					args := strings.Fields(expand(line))[1:]
					for i, a := range args {
						if a == "--config" {
							args[i+1] = cfg
						}
					}
					cmd := exec.Command(bin, args...)
					cmd.Dir = work
					cmd.Env = os.Environ()
					for k, v := range env {
						cmd.Env = append(cmd.Env, k+"="+v)
					}
					if out, err := cmd.CombinedOutput(); err != nil {
						t.Fatalf("job %s: %s: %v\n%s", job, line, err, out)
					}
				}
			}
		}
		run("prepare", nil)
		for _, k := range shards {
			env := map[string]string{}
			for name, v := range wf.Jobs["shard"].Env {
				v = strings.ReplaceAll(v, "${{ matrix.shard }}", k)
				env[name] = strings.ReplaceAll(v, "${{ strategy.job-total }}", K)
			}
			kk, _ := strconv.Atoi(k)
			if want := "prep/shards/" + audit.ShardDirName(kk, len(shards)); env["SHARD_DIR"] != want {
				t.Fatalf("SHARD_DIR %q, the merge expects %q", env["SHARD_DIR"], want)
			}
			run("shard", env)
		}
		run("merge", nil)
		compareAudits(t, single, filepath.Join(work, "prep"))
	})
}

// workflow is the part of a GitHub Actions workflow the test runs.
type workflow struct {
	Jobs map[string]struct {
		Env      map[string]string `yaml:"env"`
		Strategy struct {
			Matrix map[string][]string `yaml:"matrix"`
		} `yaml:"strategy"`
		Steps []struct {
			Run string `yaml:"run"`
		} `yaml:"steps"`
	} `yaml:"jobs"`
}

func readWorkflow(t *testing.T, path string) *workflow {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var w workflow
	if err := yaml.Unmarshal(b, &w); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	for _, j := range []string{"prepare", "shard", "merge"} {
		if _, ok := w.Jobs[j]; !ok {
			t.Fatalf("%s: no job %q", path, j)
		}
	}
	return &w
}

// job is the part of a batch/v1 Job the test runs.
type job struct {
	Spec struct {
		CompletionMode string `yaml:"completionMode"`
		Completions    int    `yaml:"completions"`
		Template       struct {
			Spec struct {
				Containers []struct {
					Command []string `yaml:"command"`
					Env     []struct {
						Name  string `yaml:"name"`
						Value string `yaml:"value"`
					} `yaml:"env"`
				} `yaml:"containers"`
			} `yaml:"spec"`
		} `yaml:"template"`
	} `yaml:"spec"`
}

func readJob(t *testing.T, path string) *job {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var j job
	if err := yaml.Unmarshal(b, &j); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if len(j.Spec.Template.Spec.Containers) != 1 {
		t.Fatalf("%s: %d containers", path, len(j.Spec.Template.Spec.Containers))
	}
	return &j
}
