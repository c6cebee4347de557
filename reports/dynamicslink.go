package reports

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
)

// dynamicsFigure is {"value": v, "se": s} of a dynamics.json (null: NaN).
type dynamicsFigure struct {
	Value *float64 `json:"value"`
	SE    *float64 `json:"se"`
}

func (f *dynamicsFigure) String() string {
	if f == nil || f.Value == nil {
		return "—"
	}
	s := fmt.Sprintf("%.4g", *f.Value)
	if f.SE != nil && !math.IsNaN(*f.SE) {
		s += fmt.Sprintf(" ± %.2g", *f.SE)
	}
	return s
}

// writeDynamicsLink adds a section linking dir/dynamics.md when
// gnaudit dynamics wrote its output into the report's directory, with the
// headline figures of its "gates" object (docs/dynamics.md). A missing or
// unreadable dynamics.json writes nothing (and one that is not
// gnaudit.dynamics/v1 a note).
func writeDynamicsLink(w io.Writer, dir string) {
	data, err := os.ReadFile(filepath.Join(dir, "dynamics.json"))
	if err != nil {
		return
	}
	var d struct {
		Schema   string `json:"schema"`
		Complete bool   `json:"complete"`
		Gates    struct {
			FDR       *dynamicsFigure `json:"fdr_ratio"`
			ModeFDR   *dynamicsFigure `json:"mode_fdr_worst"`
			TraceLaw  *dynamicsFigure `json:"trace_law_ratio"`
			Stability *float64        `json:"stability_margin"`
		} `json:"gates"`
	}
	if err := json.Unmarshal(data, &d); err != nil || !strings.HasPrefix(d.Schema, "gnaudit.dynamics/") {
		fmt.Fprintf(w, "## SGD dynamics\n\n`dynamics.json` in this directory is not a gnaudit dynamics output.\n\n")
		return
	}
	fmt.Fprintf(w, "## SGD dynamics\n\n[dynamics.md](dynamics.md) (`gnaudit dynamics`, [dynamics.json](dynamics.json)")
	if !d.Complete {
		fmt.Fprintf(w, ", **partial**")
	}
	fmt.Fprintf(w, "): FDR ratio %s, worst top-mode FDR %s", d.Gates.FDR, d.Gates.ModeFDR)
	if d.Gates.TraceLaw != nil {
		fmt.Fprintf(w, ", trace-law ratio %s", d.Gates.TraceLaw)
	}
	if d.Gates.Stability != nil {
		fmt.Fprintf(w, ", stability margin %.3g", *d.Gates.Stability)
	}
	fmt.Fprintf(w, ". Gate it with `gnaudit gate --policy dynamics-gates.yaml dynamics.json` (docs/dynamics.md).\n\n")
}
