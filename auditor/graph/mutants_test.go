package graph

import (
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gnaudit/gnaudit/auditor/onnx"
)

// TestAnalyzeMutatedModels is a deterministic fuzz smoke test of the
// executor's checks and constant folder (the registry's operators), which
// took over from the importer's: 600 copies of the PyTorch fixtures with
// 1-4 random bytes changed are analysed; none may end in an internal error
// (a panic recovered by build).
func TestAnalyzeMutatedModels(t *testing.T) {
	files, _ := filepath.Glob("../onnx/testdata/*.onnx")
	if len(files) == 0 {
		t.Fatal("no fixtures")
	}
	var seeds [][]byte
	for _, p := range files {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		seeds = append(seeds, data)
	}
	r := rand.New(rand.NewSource(20261202))
	decoded, clean := 0, 0
	for i := 0; i < 600; i++ {
		data := append([]byte{}, seeds[r.Intn(len(seeds))]...)
		for k := 0; k < 1+r.Intn(4); k++ {
			data[r.Intn(len(data))] = byte(r.Intn(256))
		}
		m, err := onnx.Decode(data, "mutant.onnx")
		if err != nil {
			continue
		}
		decoded++
		a := Analyze(m, 2)
		if len(a.Problems) == 0 {
			clean++
		}
		for _, p := range a.Problems {
			if strings.Contains(p.Cause, "internal error") {
				t.Errorf("mutant %d: %s", i, p)
			}
		}
	}
	t.Logf("%d of 600 mutants decoded, %d of them analysed without a problem", decoded, clean)
}
