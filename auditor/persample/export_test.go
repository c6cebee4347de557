package persample

import (
	"slices"
	"testing"
)

func TestFileNames(t *testing.T) {
	var ps []ParamInfo
	for _, n := range []string{"conv1.weight", "a/b:c", "A/b:c", "logits", "..hidden", "", "a_b_c", "x y"} {
		ps = append(ps, ParamInfo{Name: n})
	}
	got := fileNames(ps)
	want := []string{"conv1.weight.npy", "a_b_c.npy", "A_b_c_2.npy", "logits_2.npy", "hidden.npy", "param.npy", "a_b_c_3.npy", "x_y.npy"}
	if !slices.Equal(got, want) {
		t.Errorf("file names %q, want %q", got, want)
	}
}
