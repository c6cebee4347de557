package command

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestWriteDocsExample regenerates docs/examples/dynamics.json (the
// example of docs/dynamics.md "Gating") from the command's test run:
//
//	GNAUDIT_WRITE_DYNAMICS_EXAMPLE=1 go test ./auditor/dynamics/command -run WriteDocsExample
//
// Skipped otherwise.
func TestWriteDocsExample(t *testing.T) {
	if os.Getenv("GNAUDIT_WRITE_DYNAMICS_EXAMPLE") == "" {
		t.Skip("set GNAUDIT_WRITE_DYNAMICS_EXAMPLE=1 to rewrite docs/examples/dynamics.json")
	}
	o := tinyOptions(t, tinyData(t, 300))
	res, err := Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	res.Model, res.Data = "auditor/onnx/testdata/tinycnn_opset13.onnx", "300 synthetic 1×8×8 images, 3 classes"
	var notes []string
	for _, n := range res.Notes {
		if strings.HasPrefix(n, "times measured on") {
			notes = append(notes, n)
		}
	}
	res.Notes = notes
	b, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join("..", "..", "..", "docs", "examples", "dynamics.json"), append(b, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
}
