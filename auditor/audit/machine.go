package audit

import (
	"github.com/gnaudit/gnaudit/auditor/blascore"
	"github.com/gnaudit/gnaudit/reports"
)

// machine describes the CPU and BLAS of this process for audit.json and
// report.json.
func machine() *reports.Machine {
	i := blascore.Current()
	return &reports.Machine{CPU: i.CPU, BLAS: i.BLAS, BLASCore: i.Core, BLASCoreSource: i.Source}
}

// machineLine is the plan's line about the CPU and BLAS, with the note of
// a slow or switched core unless the start of the process printed it.
func machineLine() string {
	i := blascore.Current()
	s := "machine: " + i.String()
	if i.Note != "" && !i.Said {
		s += "\n  note: " + i.Note
	}
	return s
}
