package blascore

import (
	"fmt"
	"strings"
	"testing"
)

// CPUs of the decision table, by their /proc/cpuinfo flags.
var (
	sse3Only = Features{Arch: "amd64", Vendor: "GenuineIntel", SSE3: true}
	nehalem  = Features{Arch: "amd64", Vendor: "GenuineIntel", SSE3: true, SSSE3: true, SSE41: true, SSE42: true}
	sandy    = with(nehalem, func(f *Features) { f.AVX = true })
	haswell  = with(sandy, func(f *Features) { f.AVX2, f.FMA = true, true })
	skylakeX = with(haswell, func(f *Features) {
		f.AVX512F, f.AVX512CD, f.AVX512BW, f.AVX512DQ, f.AVX512VL = true, true, true, true, true
	})
	// Intel Xeon model 207 (Emerald Rapids): AVX-512 with BF16.
	xeon207 = with(skylakeX, func(f *Features) { f.AVX512BF16 = true })
	// Xeon Phi: AVX-512 F and CD but not BW, DQ, VL.
	knl  = with(haswell, func(f *Features) { f.AVX512F, f.AVX512CD = true, true })
	zen2 = with(haswell, func(f *Features) { f.Vendor = "AuthenticAMD" })
	zen5 = with(xeon207, func(f *Features) { f.Vendor, f.Family = "AuthenticAMD", 26 })
	// AMD EPYC family 25 model 17 (Zen 4): AVX-512 with BF16 on 256-bit
	// units; Zen 3 is family 25 without AVX-512.
	zen4 = with(zen5, func(f *Features) { f.Family = 25 })
	zen3 = with(zen2, func(f *Features) { f.Family = 25 })
	// An Intel CPU of family 25 (none exists) is not Zen 4.
	intel25 = with(xeon207, func(f *Features) { f.Family = 25 })
	hygon   = with(haswell, func(f *Features) { f.Vendor = "HygonGenuine" })
	arm     = Features{Arch: "arm64"}
	// AVX-512 hardware whose OS does not save the ZMM registers: x/sys/cpu
	// reports no AVX-512.
	noZMM = haswell
)

func with(f Features, set func(*Features)) Features { set(&f); return f }

func TestBest(t *testing.T) {
	for _, c := range []struct {
		name string
		f    Features
		want string
		lvl  Level
	}{
		{"sse3", sse3Only, "Prescott", LevelSSE3},
		{"nehalem", nehalem, "Nehalem", LevelSSE42},
		{"sandybridge", sandy, "Sandybridge", LevelAVX},
		{"haswell", haswell, "Haswell", LevelAVX2},
		{"skylakex", skylakeX, "SkylakeX", LevelAVX512},
		{"xeon207", xeon207, "Cooperlake", LevelAVX512BF16},
		{"knl", knl, "Haswell", LevelAVX2},
		{"zen2", zen2, "Zen", LevelAVX2},
		{"hygon", hygon, "Zen", LevelAVX2},
		{"zen5", zen5, "Cooperlake", LevelAVX512BF16},
		{"zen4", zen4, "Haswell", LevelAVX512BF16},
		{"zen3", zen3, "Zen", LevelAVX2},
		{"intel family 25", intel25, "Cooperlake", LevelAVX512BF16},
		{"arm64", arm, "", LevelUnknown},
		{"sse2", Features{Arch: "amd64"}, "", LevelSSE2},
	} {
		if got := Best(c.f); got != c.want {
			t.Errorf("%s: Best = %q, want %q", c.name, got, c.want)
		}
		if got := c.f.Level(); got != c.lvl {
			t.Errorf("%s: Level = %v, want %v", c.name, got, c.lvl)
		}
		if got := c.f.HalfWidthAVX512(); got != (c.name == "zen4") {
			t.Errorf("%s: HalfWidthAVX512 = %v", c.name, got)
		}
		if b := Best(c.f); b != "" && LevelOf(b) != c.lvl && !c.f.HalfWidthAVX512() {
			t.Errorf("%s: Best %s has level %v, the CPU %v", c.name, b, LevelOf(b), c.lvl)
		}
	}
}

func TestDecide(t *testing.T) {
	for _, c := range []struct {
		name     string
		f        Features
		detected string
		user     string
		core     string // Decision.Core
		note     string // substring of the note ("" = no note)
	}{
		// The case behind this package: 0.3.21 on Xeon model 207.
		{"xeon207 prescott", xeon207, "Prescott", "", "Cooperlake", "chose its Prescott kernels (SSE3)"},
		{"skylakex prescott", skylakeX, "Prescott", "", "SkylakeX", "SkylakeX"},
		{"skylakex haswell", skylakeX, "Haswell", "", "SkylakeX", "Haswell"},
		{"skylakex sandybridge", skylakeX, "Sandybridge", "", "SkylakeX", "Sandybridge"},
		{"haswell prescott", haswell, "Prescott", "", "Haswell", "Prescott"},
		{"haswell core2", haswell, "Core2", "", "Haswell", "Core2"},
		{"zen2 prescott", zen2, "Prescott", "", "Zen", "Zen kernels"},
		{"zen2 nehalem lower case", zen2, "nehalem", "", "Zen", "nehalem"},
		{"zen5 zen", zen5, "Zen", "", "Cooperlake", "Zen"},
		{"zen5 haswell", zen5, "Haswell", "", "Cooperlake", "Haswell"},
		// Zen 4: OpenBLAS 0.3.21 chooses Cooperlake; its AVX2 kernels are
		// faster on half-width AVX-512 (docs/performance.md).
		{"zen4 cooperlake", zen4, "Cooperlake", "", "Haswell", "256 bits wide (AMD Zen 4)"},
		{"zen4 skylakex", zen4, "SkylakeX", "", "Haswell", "SkylakeX"},
		{"zen4 prescott", zen4, "Prescott", "", "Haswell", "Prescott"},
		{"zen4 haswell", zen4, "Haswell", "", "", ""},
		{"zen4 zen", zen4, "Zen", "", "", ""},
		{"zen4 unknown name", zen4, "SomeFutureCore", "", "", ""},
		{"zen3 zen", zen3, "Zen", "", "", ""},
		{"intel family 25 cooperlake", intel25, "Cooperlake", "", "", ""},
		// One level down (the same sgemm kernels): switched by the table's rule.
		{"xeon207 skylakex", xeon207, "SkylakeX", "", "Cooperlake", "SkylakeX"},
		// Right already: kept.
		{"xeon207 cooperlake", xeon207, "Cooperlake", "", "", ""},
		{"zen5 cooperlake", zen5, "Cooperlake", "", "", ""},
		{"haswell haswell", haswell, "Haswell", "", "", ""},
		{"zen2 haswell", zen2, "Haswell", "", "", ""},
		{"haswell zen", haswell, "Zen", "", "", ""},
		{"knl haswell", knl, "Haswell", "", "", ""},
		{"sse3 prescott", sse3Only, "Prescott", "", "", ""},
		// Never down, never to an unknown name.
		{"noZMM skylakex", noZMM, "SkylakeX", "", "", ""},
		{"haswell sapphirerapids", skylakeX, "SapphireRapids", "", "", ""},
		{"unknown name", skylakeX, "SomeFutureCore", "", "", ""},
		{"empty name", skylakeX, "", "", "", ""},
		{"arm", arm, "NEOVERSEN1", "", "", ""},
		// The user's setting wins, with a note when it is slower.
		{"user haswell on zen5", zen5, "Haswell", "Haswell", "", "OPENBLAS_CORETYPE=Haswell is set"},
		{"user prescott on xeon", xeon207, "Prescott", "Prescott", "", "Cooperlake kernels, which are faster"},
		{"user skylakex on skylakex", skylakeX, "SkylakeX", "SkylakeX", "", ""},
		{"user bogus", skylakeX, "Cooperlake", "Bogus", "", ""},
		{"user cooperlake on zen4", zen4, "Cooperlake", "Cooperlake", "", "runs Haswell kernels, which are faster"},
		{"user zen on zen4", zen4, "Zen", "Zen", "", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			d := Decide(c.f, c.detected, c.user)
			if d.Core != c.core {
				t.Errorf("Core = %q, want %q", d.Core, c.core)
			}
			if (c.note == "") != (d.Note == "") || !strings.Contains(d.Note, c.note) {
				t.Errorf("Note = %q, want one containing %q", d.Note, c.note)
			}
			if d.Best != Best(c.f) {
				t.Errorf("Best = %q, want %q", d.Best, Best(c.f))
			}
		})
	}
}

func TestLevelsCoverOpenBLAS(t *testing.T) {
	// Every x86-64 core of OpenBLAS 0.3.21's DYNAMIC_ARCH corename table
	// has a level (openblas_get_corename spells them so).
	for _, n := range []string{"Katmai", "Coppermine", "Northwood", "Prescott", "Banias", "Atom", "Core2",
		"Penryn", "Dunnington", "Nehalem", "Athlon", "Opteron", "Opteron_SSE3", "Barcelona", "Nano",
		"Sandybridge", "Bobcat", "Bulldozer", "Piledriver", "Haswell", "Steamroller", "Excavator", "Zen",
		"SkylakeX", "Cooperlake"} {
		if LevelOf(n) == LevelUnknown {
			t.Errorf("%s has no level", n)
		}
	}
	if LevelOf("Unknown") != LevelUnknown {
		t.Error("the name Unknown has a level")
	}
}

func TestPlan(t *testing.T) {
	env := func(kv ...string) func(string) (string, bool) {
		m := map[string]string{}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
	}
	for _, c := range []struct {
		name     string
		getenv   func(string) (string, bool)
		f        Features
		openblas bool
		core     string
		reexec   bool
		env      []string
		source   string
		message  string // substring; "" = none
	}{
		{name: "pure go", getenv: env(), f: xeon207, core: "", source: ""},
		{name: "switch", getenv: env(), f: xeon207, openblas: true, core: "Prescott", reexec: true,
			env: []string{"OPENBLAS_CORETYPE=Cooperlake", "GNAUDIT_BLAS_DETECTED=Prescott"}, source: SourceOpenBLAS},
		{name: "switch, empty variable", getenv: env("OPENBLAS_CORETYPE", ""), f: haswell, openblas: true, core: "Prescott",
			reexec: true, env: []string{"OPENBLAS_CORETYPE=Haswell", "GNAUDIT_BLAS_DETECTED=Prescott"}, source: SourceOpenBLAS},
		{name: "right already", getenv: env(), f: zen5, openblas: true, core: "Cooperlake", source: SourceOpenBLAS},
		{name: "switch zen4", getenv: env(), f: zen4, openblas: true, core: "Cooperlake", reexec: true,
			env: []string{"OPENBLAS_CORETYPE=Haswell", "GNAUDIT_BLAS_DETECTED=Cooperlake"}, source: SourceOpenBLAS},
		{name: "restarted zen4", getenv: env("OPENBLAS_CORETYPE", "Haswell", "GNAUDIT_BLAS_DETECTED", "Cooperlake"), f: zen4,
			openblas: true, core: "Haswell", source: SourceGnaudit, message: "256 bits wide"},
		{name: "restarted", getenv: env("OPENBLAS_CORETYPE", "Cooperlake", "GNAUDIT_BLAS_DETECTED", "Prescott"), f: xeon207,
			openblas: true, core: "Cooperlake", source: SourceGnaudit, message: "chose its Prescott kernels"},
		{name: "restarted, not taken", getenv: env("OPENBLAS_CORETYPE", "Cooperlake", "GNAUDIT_BLAS_DETECTED", "Prescott"), f: xeon207,
			openblas: true, core: "Prescott", source: SourceOpenBLAS, message: "but it runs Prescott"},
		{name: "user", getenv: env("OPENBLAS_CORETYPE", "Haswell"), f: zen5, openblas: true, core: "Haswell", source: SourceUser},
		{name: "disabled", getenv: env("GNAUDIT_BLAS_DETECT", "0"), f: xeon207, openblas: true, core: "Prescott", source: SourceOpenBLAS},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := plan(c.getenv, c.f, c.openblas, c.core)
			if s.reexec != c.reexec || fmt.Sprint(s.env) != fmt.Sprint(c.env) {
				t.Errorf("reexec %v env %v, want %v %v", s.reexec, s.env, c.reexec, c.env)
			}
			if s.info.Source != c.source {
				t.Errorf("source %q, want %q", s.info.Source, c.source)
			}
			if (c.message == "") != (s.message == "") || !strings.Contains(s.message, c.message) {
				t.Errorf("message %q, want one containing %q", s.message, c.message)
			}
			if want := map[bool]string{true: "openblas", false: "gonum"}[c.openblas]; s.info.BLAS != want {
				t.Errorf("BLAS %q, want %q", s.info.BLAS, want)
			}
			if s.unset != strings.Contains(c.name, "restarted") {
				t.Errorf("unset %v", s.unset)
			}
			// A restarted process never restarts again: OPENBLAS_CORETYPE
			// is set in it.
			if s.reexec {
				next := env(strings.Split(s.env[0], "=")[0], strings.Split(s.env[0], "=")[1], "GNAUDIT_BLAS_DETECTED", c.core)
				if plan(next, c.f, true, "Prescott").reexec || plan(next, c.f, true, strings.Split(s.env[0], "=")[1]).reexec {
					t.Error("the restarted process would restart again")
				}
			}
		})
	}
}

func TestParseCPUInfo(t *testing.T) {
	const two = "processor\t: 0\nvendor_id\t: GenuineIntel\ncpu family\t: 6\nmodel\t\t: 207\n" +
		"model name\t: Intel(R) Xeon(R) Platinum 8581C CPU @ 2.10GHz\nflags\t\t: fpu sse3\n\n" +
		"processor\t: 1\nvendor_id\t: OtherVendor\nmodel name\t: other\n"
	c := ParseCPUInfo(strings.NewReader(two))
	if c.Vendor != "GenuineIntel" || c.Number != "207" || c.Family != "6" {
		t.Fatalf("%+v", c)
	}
	if got, want := c.String(), "Intel(R) Xeon(R) Platinum 8581C CPU @ 2.10GHz (family 6, model 207)"; got != want {
		t.Fatalf("String = %q, want %q", got, want)
	}
	arm := ParseCPUInfo(strings.NewReader("processor\t: 0\nBogoMIPS\t: 50.00\nCPU implementer\t: 0x41\n"))
	if arm.String() != "unknown CPU" {
		t.Fatalf("arm: %q", arm.String())
	}
}

func TestCurrent(t *testing.T) {
	i := Current()
	if i.CPU == "" || i.Level == "" {
		t.Fatalf("%+v", i)
	}
	if Built != (i.BLAS == "openblas") || Built != (i.Core != "") {
		t.Fatalf("Built %v, info %+v", Built, i)
	}
	if !strings.Contains(i.String(), i.CPU) {
		t.Fatalf("String %q", i.String())
	}
}

func ExampleDecide() {
	// Debian 12's OpenBLAS 0.3.21 on an Intel Xeon of model 207.
	f := Features{Arch: "amd64", Vendor: "GenuineIntel", SSE3: true, SSE42: true, AVX: true, AVX2: true, FMA: true,
		AVX512F: true, AVX512CD: true, AVX512BW: true, AVX512DQ: true, AVX512VL: true, AVX512BF16: true}
	d := Decide(f, "Prescott", "")
	fmt.Println(d.Core)
	fmt.Println(d.Note)
	fmt.Println(Decide(f, "Prescott", "Prescott").Core == "") // the user's setting wins
	// Output:
	// Cooperlake
	// OpenBLAS chose its Prescott kernels (SSE3) for this CPU, which supports AVX-512 BF16: gnaudit runs its Cooperlake kernels
	// true
}
