// Command validate checks the Kubernetes manifests of the sharded-audit
// recipe against the Kubernetes API types (k8s.io/api): every document must
// decode strictly (no unknown or misspelt field, right types) into its
// kind's type, and the Jobs must hang together (Indexed shards whose
// GNAUDIT_SHARDS equals completions, restart policies a Job accepts,
// volumes that exist, the claim of storage.yaml). It is the offline stand-in
// for kubeconform, whose schemas are downloaded from GitHub. It is its own
// Go module so that gnaudit's go.mod does not depend on k8s.io/api.
//
// Usage: go run . ../kubernetes/*.yaml
package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"

	yamlv3 "gopkg.in/yaml.v3"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: validate FILE.yaml...")
		os.Exit(2)
	}
	var jobs []*batchv1.Job
	claims := map[string]bool{}
	bad := 0
	for _, path := range os.Args[1:] {
		docs, err := documents(path)
		if err != nil {
			fmt.Fprintf(os.Stderr, "%s: %v\n", path, err)
			bad++
			continue
		}
		for i, d := range docs {
			var head struct{ APIVersion, Kind string }
			if err := yaml.Unmarshal(d, &head); err != nil {
				fmt.Fprintf(os.Stderr, "%s: document %d: %v\n", path, i, err)
				bad++
				continue
			}
			switch head.APIVersion + " " + head.Kind {
			case "batch/v1 Job":
				var j batchv1.Job
				if err := yaml.UnmarshalStrict(d, &j); err != nil {
					fmt.Fprintf(os.Stderr, "%s: Job: %v\n", path, err)
					bad++
					continue
				}
				jobs = append(jobs, &j)
				fmt.Printf("%s: batch/v1 Job %s: decodes strictly\n", path, j.Name)
			case "v1 PersistentVolumeClaim":
				var c corev1.PersistentVolumeClaim
				if err := yaml.UnmarshalStrict(d, &c); err != nil {
					fmt.Fprintf(os.Stderr, "%s: PersistentVolumeClaim: %v\n", path, err)
					bad++
					continue
				}
				claims[c.Name] = true
				fmt.Printf("%s: v1 PersistentVolumeClaim %s: decodes strictly\n", path, c.Name)
			default:
				fmt.Fprintf(os.Stderr, "%s: document %d: unexpected %s %s\n", path, i, head.APIVersion, head.Kind)
				bad++
			}
		}
	}
	for _, j := range jobs {
		for _, err := range checkJob(j, claims) {
			fmt.Fprintf(os.Stderr, "Job %s: %v\n", j.Name, err)
			bad++
		}
	}
	if bad > 0 {
		fmt.Fprintf(os.Stderr, "%d problem(s)\n", bad)
		os.Exit(1)
	}
	fmt.Printf("%d Jobs and %d claims valid\n", len(jobs), len(claims))
}

// documents splits a YAML file into its documents (as YAML bytes).
func documents(path string) ([][]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	dec := yamlv3.NewDecoder(bytes.NewReader(b))
	var out [][]byte
	for {
		var n yamlv3.Node
		if err := dec.Decode(&n); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return nil, err
		}
		d, err := yamlv3.Marshal(&n)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, nil
}

// checkJob checks what the API server would refuse or what would break the
// sharded audit.
func checkJob(j *batchv1.Job, claims map[string]bool) []error {
	var errs []error
	p := j.Spec.Template.Spec
	if p.RestartPolicy != corev1.RestartPolicyNever && p.RestartPolicy != corev1.RestartPolicyOnFailure {
		errs = append(errs, fmt.Errorf("restartPolicy %q: a Job needs Never or OnFailure", p.RestartPolicy))
	}
	if j.Spec.BackoffLimitPerIndex != nil && (j.Spec.CompletionMode == nil || *j.Spec.CompletionMode != batchv1.IndexedCompletion) {
		errs = append(errs, errors.New("backoffLimitPerIndex needs completionMode Indexed"))
	}
	if j.Spec.BackoffLimitPerIndex != nil && p.RestartPolicy != corev1.RestartPolicyNever {
		errs = append(errs, errors.New("backoffLimitPerIndex needs restartPolicy Never"))
	}
	if len(p.Containers) == 0 {
		errs = append(errs, errors.New("no containers"))
	}
	vols := map[string]bool{}
	for _, v := range p.Volumes {
		vols[v.Name] = true
		if c := v.PersistentVolumeClaim; c != nil && !claims[c.ClaimName] {
			errs = append(errs, fmt.Errorf("volume %s: claim %q is not defined in the files checked", v.Name, c.ClaimName))
		}
	}
	indexed := j.Spec.CompletionMode != nil && *j.Spec.CompletionMode == batchv1.IndexedCompletion
	for _, c := range p.Containers {
		if c.Image == "" || len(c.Command) == 0 {
			errs = append(errs, fmt.Errorf("container %s: image and command are required", c.Name))
		}
		for _, m := range c.VolumeMounts {
			if !vols[m.Name] {
				errs = append(errs, fmt.Errorf("container %s: mount of undefined volume %q", c.Name, m.Name))
			}
		}
		if indexed {
			shards := ""
			for _, e := range c.Env {
				if e.Name == "GNAUDIT_SHARDS" {
					shards = e.Value
				}
			}
			completions := "unset"
			if j.Spec.Completions != nil {
				completions = strconv.Itoa(int(*j.Spec.Completions))
			}
			if completions != shards {
				errs = append(errs, fmt.Errorf("container %s: GNAUDIT_SHARDS=%q must equal completions (%s)", c.Name, shards, completions))
			}
		}
	}
	return errs
}
