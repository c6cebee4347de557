package reports

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/gnaudit/gnaudit/auditor/atomicfile"
)

// Report statuses (Report.Status).
const (
	StatusComplete = "complete"
	StatusPartial  = "partial"
)

// ErrWriteJSON marks WriteDir's failure to write report.json itself (after
// report.md and the plots were written); its message is "report.json".
var ErrWriteJSON = errors.New("report.json")

// DirOptions configure WriteDir.
type DirOptions struct {
	// Format of the plots: "svg" (default) or "png".
	Format string
	// Partial, when not empty, puts a "Partial audit" banner with this
	// reason under the title of report.md.
	Partial string
	// JSON, when not nil, is written as report.json instead of the
	// encoding of the report: the bytes r was read from, so that a
	// re-rendering leaves report.json byte for byte as it was.
	JSON []byte
	// BeforeJSON, when not nil, runs after report.md and the plots are
	// written and before report.json (e.g. a JUnit file of the gate).
	BeforeJSON func() error
}

// WriteDir writes a report directory: dir/report.md, its plots in
// dir/plots/ and dir/report.json. report.json is written last, so that its
// presence means the whole rendering succeeded; the stale one goes first,
// so that a failure part-way (a full disk) leaves no report.json from
// another rendering next to new plots. Plots of an earlier rendering (e.g.
// SVG before PNG) are removed. Every file is written atomically: none is
// ever truncated.
func WriteDir(dir string, r *Report, o DirOptions) error {
	jsonPath := filepath.Join(dir, "report.json")
	if err := os.Remove(jsonPath); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("report.json: %w", err)
	}
	if err := os.RemoveAll(filepath.Join(dir, "plots")); err != nil {
		return err
	}
	if err := RenderWith(dir, r, RenderOptions{Format: o.Format, Partial: o.Partial}); err != nil {
		return fmt.Errorf("report.md: %w", err)
	}
	if o.BeforeJSON != nil {
		if err := o.BeforeJSON(); err != nil {
			return err
		}
	}
	var err error
	if o.JSON != nil {
		if err = atomicfile.WriteFile(jsonPath, o.JSON); err != nil {
			err = fmt.Errorf("report: %w", err)
		}
	} else {
		err = WriteFile(jsonPath, r)
	}
	if err != nil {
		return fmt.Errorf("%w: %w", ErrWriteJSON, err)
	}
	return nil
}

// partialBanner is the warning under the title of a partial audit's
// report.md (RenderOptions.Partial).
func partialBanner(reason string) string {
	return fmt.Sprintf("> ⚠️ **Partial audit** — %s. The tables and plots cover only what was collected; see *Method* below.\n\n", reason)
}
