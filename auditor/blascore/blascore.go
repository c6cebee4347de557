// Package blascore chooses the OpenBLAS kernels (its "core") for the CPU
// gnaudit runs on.
//
// OpenBLAS built with DYNAMIC_ARCH (Debian's) picks its kernels at start from
// the CPU's vendor, family and model. A release older than the CPU does not
// know the model and falls back to a generic core: Debian 12's OpenBLAS 0.3.21
// runs its Prescott (SSE3) kernels on an Intel Xeon of model 207, 3.6× slower
// than its SkylakeX (AVX-512) kernels on the same CPU. The choice can only be
// changed before the library initialises, through the OPENBLAS_CORETYPE
// environment variable.
//
// This package holds the decision as a table ([Levels]: each core's
// instruction level) and pure functions ([Best], [Decide]); [Start] applies
// it to the running process in the openblas build (re-executing the binary
// with OPENBLAS_CORETYPE set), and [Current] says what the process runs with,
// for `gnaudit doctor`, the audit plan and report.json. A user who sets
// OPENBLAS_CORETYPE keeps it.
package blascore

import (
	"fmt"
	"strings"
)

// Level is the instruction set an OpenBLAS core's kernels need, in
// increasing order. A core can run on every CPU of its level or above.
type Level int

// Levels of x86-64 cores.
const (
	LevelUnknown    Level = iota // not an x86-64 core this table knows
	LevelSSE2                    // Katmai … Opteron: SSE2 kernels
	LevelSSE3                    // Prescott, Core2, Penryn, Atom, Barcelona, …
	LevelSSE42                   // Nehalem
	LevelAVX                     // Sandybridge, Bulldozer … Excavator
	LevelAVX2                    // Haswell, Zen: AVX2 + FMA
	LevelAVX512                  // SkylakeX: AVX-512 F, CD, BW, DQ, VL
	LevelAVX512BF16              // Cooperlake: SkylakeX plus AVX-512 BF16
	LevelAMX                     // SapphireRapids (OpenBLAS ≥ 0.3.22)
)

// String names the level as the CPU feature it stands for.
func (l Level) String() string {
	switch l {
	case LevelSSE2:
		return "SSE2"
	case LevelSSE3:
		return "SSE3"
	case LevelSSE42:
		return "SSE4.2"
	case LevelAVX:
		return "AVX"
	case LevelAVX2:
		return "AVX2+FMA"
	case LevelAVX512:
		return "AVX-512"
	case LevelAVX512BF16:
		return "AVX-512 BF16"
	case LevelAMX:
		return "AMX"
	}
	return "unknown"
}

// Levels maps the x86-64 core names of OpenBLAS's DYNAMIC_ARCH build (as
// openblas_get_corename spells them, compared case-insensitively) to the
// level their kernels need.
var Levels = map[string]Level{
	"katmai": LevelSSE2, "coppermine": LevelSSE2, "northwood": LevelSSE2, "banias": LevelSSE2,
	"athlon": LevelSSE2, "opteron": LevelSSE2,
	"prescott": LevelSSE3, "atom": LevelSSE3, "core2": LevelSSE3, "penryn": LevelSSE3,
	"dunnington": LevelSSE3, "opteron_sse3": LevelSSE3, "barcelona": LevelSSE3, "nano": LevelSSE3,
	"bobcat":      LevelSSE3,
	"nehalem":     LevelSSE42,
	"sandybridge": LevelAVX, "bulldozer": LevelAVX, "piledriver": LevelAVX, "steamroller": LevelAVX,
	"excavator": LevelAVX,
	"haswell":   LevelAVX2, "zen": LevelAVX2,
	"skylakex":       LevelAVX512,
	"cooperlake":     LevelAVX512BF16,
	"sapphirerapids": LevelAMX,
}

// LevelOf returns the level of an OpenBLAS core name (LevelUnknown for a
// name the table lacks, e.g. an ARM core).
func LevelOf(core string) Level { return Levels[strings.ToLower(strings.TrimSpace(core))] }

// Features are the CPU properties the choice depends on. HostFeatures
// fills them for the running CPU; the AVX flags are set only when the
// operating system saves the wider registers.
type Features struct {
	Arch   string // GOARCH: "amd64", "arm64", …
	Vendor string // CPUID vendor on x86: "GenuineIntel", "AuthenticAMD", …

	// Family is the x86 CPU family (/proc/cpuinfo's "cpu family"): 25 for
	// AMD Zen 3 and Zen 4, 26 for Zen 5; 0 when unknown.
	Family int

	SSE3, SSSE3, SSE41, SSE42, AVX, AVX2, FMA                   bool
	AVX512F, AVX512CD, AVX512BW, AVX512DQ, AVX512VL, AVX512BF16 bool
}

// HalfWidthAVX512 reports whether the CPU runs AVX-512 on 256-bit units
// (each 512-bit operation in two halves): AMD Zen 4, the family-25 AMD
// CPUs with AVX-512 (Zen 3, also family 25, has none; Zen 5, family 26,
// has full-width units). There OpenBLAS 0.3.21's AVX2 kernels are faster
// than its AVX-512 ones on the products gnaudit runs (docs/performance.md:
// 1.3–1.7× on the few-row products of resnet20, equal on square ones).
func (f Features) HalfWidthAVX512() bool {
	return f.Vendor == "AuthenticAMD" && f.Family == 25 && f.Level() >= LevelAVX512
}

// Level is the highest level whose kernels the CPU runs. OpenBLAS's AVX-512
// kernels need F, CD, BW, DQ and VL (a Xeon Phi's AVX-512 F alone is not
// enough). Non-x86 CPUs are LevelUnknown.
func (f Features) Level() Level {
	if f.Arch != "amd64" && f.Arch != "386" {
		return LevelUnknown
	}
	avx512 := f.AVX512F && f.AVX512CD && f.AVX512BW && f.AVX512DQ && f.AVX512VL
	switch {
	case avx512 && f.AVX512BF16:
		return LevelAVX512BF16
	case avx512:
		return LevelAVX512
	case f.AVX2 && f.FMA:
		return LevelAVX2
	case f.AVX:
		return LevelAVX
	case f.SSE42:
		return LevelSSE42
	case f.SSE3:
		return LevelSSE3
	}
	return LevelSSE2
}

// Best is the OpenBLAS 0.3.21 core for the CPU's level: Cooperlake,
// SkylakeX, Haswell (Zen on AMD), Sandybridge, Nehalem or Prescott; "" for a
// CPU this table does not cover (non-x86), where OpenBLAS's choice stands.
// The one measured exception: on a CPU with half-width AVX-512 (Zen 4) it
// is zen4Core, the AVX2 kernels.
func Best(f Features) string {
	if f.HalfWidthAVX512() {
		return zen4Core
	}
	switch f.Level() {
	case LevelAVX512BF16:
		return "Cooperlake"
	case LevelAVX512:
		return "SkylakeX"
	case LevelAVX2:
		if f.Vendor == "AuthenticAMD" || f.Vendor == "HygonGenuine" {
			return "Zen"
		}
		return "Haswell"
	case LevelAVX:
		return "Sandybridge"
	case LevelSSE42:
		return "Nehalem"
	case LevelSSE3:
		return "Prescott"
	}
	return ""
}

// Decision is the outcome of Decide.
type Decision struct {
	// Core is the core to ask for with OPENBLAS_CORETYPE; "" keeps the one
	// OpenBLAS chose (or the user set).
	Core string
	// Best is the core the CPU supports (Best of the features), "" when
	// unknown.
	Best string
	// Note explains the decision in one sentence, for doctor and the plan
	// ("" when OpenBLAS's own choice is right).
	Note string
}

// zen4Core is Best on a CPU with half-width AVX-512 (Zen 4): measured on
// an AMD EPYC of family 25, model 17 (docs/performance.md).
const zen4Core = "Haswell"

// slower reports whether a known x86 core of level have runs slower on f
// than Best(f), whose level is want: an older core (a lower level), or, on
// half-width AVX-512, the AVX-512 cores (a higher level). A core of the same
// level as Best is kept (Zen and Haswell share their sgemm kernels).
func slower(f Features, have, want Level) bool {
	if have == LevelUnknown {
		return false
	}
	return have < want || (f.HalfWidthAVX512() && have > want)
}

// Decide compares the core OpenBLAS chose (detected) with Best. It switches
// only up, except where the table knows better: when detected is a known
// x86 core of a lower level than Best's, or an AVX-512 core on half-width
// AVX-512 (Zen 4), Core is Best; an unknown name (an ARM core, a newer
// release's core) or any other level is kept. userSet is the value of
// OPENBLAS_CORETYPE when the user set it: it always wins (Core is ""), with
// a Note when it is slower than Best.
func Decide(f Features, detected, userSet string) Decision {
	d := Decision{Best: Best(f)}
	if d.Best == "" {
		return d
	}
	have, best, want := LevelOf(detected), f.Level(), LevelOf(d.Best)
	why := "which supports " + best.String()
	if f.HalfWidthAVX512() {
		why = "whose AVX-512 units are 256 bits wide (AMD Zen 4), where the " + want.String() + " kernels are faster"
	}
	if userSet != "" {
		if slower(f, have, want) {
			d.Note = fmt.Sprintf("OPENBLAS_CORETYPE=%s is set: this CPU (%s) runs %s kernels, which are faster; unset it to let gnaudit choose", userSet, best, d.Best)
		}
		return d
	}
	if !slower(f, have, want) {
		return d
	}
	d.Core = d.Best
	d.Note = fmt.Sprintf("OpenBLAS chose its %s kernels (%s) for this CPU, %s: gnaudit runs its %s kernels", detected, have, why, d.Best)
	return d
}
