package audit

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/gnaudit/gnaudit/gate"
)

// nilEmpty replaces empty slices by nil, recursively in structs, so that a
// config decoded from "key: []" compares equal to one that never set it.
func nilEmpty(v reflect.Value) {
	switch v.Kind() {
	case reflect.Pointer:
		if !v.IsNil() {
			nilEmpty(v.Elem())
		}
	case reflect.Struct:
		for i := range v.NumField() {
			if v.Field(i).CanSet() {
				nilEmpty(v.Field(i))
			}
		}
	case reflect.Slice:
		if v.Len() == 0 && !v.IsNil() {
			v.Set(reflect.Zero(v.Type()))
		}
	}
}

// TestExampleConfigIsTheDefault: docs/examples/audit.yaml lists every key
// at its default value, so that the example cannot drift from the code.
func TestExampleConfigIsTheDefault(t *testing.T) {
	path := filepath.Join("..", "..", "docs", "examples", "audit.yaml")
	cfg, err := LoadConfig(path, Config{})
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("example config does not validate: %v", err)
	}
	def := Defaults()
	if got, want := cfg.auditSteps(), def.auditSteps(); !reflect.DeepEqual(got, want) {
		t.Errorf("audit steps %v, defaults %v", got, want)
	}
	cfg.AuditAt, def.AuditAt = nil, nil
	nilEmpty(reflect.ValueOf(&cfg))
	nilEmpty(reflect.ValueOf(&def))
	if !reflect.DeepEqual(cfg, def) {
		t.Errorf("example config differs from Defaults():\n got %+v\nwant %+v", cfg, def)
	}
	// Every key of the example is a key of Config: the file was decoded
	// over an empty Config with unknown keys rejected, so a key missing
	// from the file would have left a zero value that differs from the
	// defaults above.
}

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestValueParsers(t *testing.T) {
	for s, want := range map[string]ByteSize{"0": 0, "4GiB": 4 << 30, "512MiB": 512 << 20, "1.5KiB": 1536, "2GB": 2e9, "123": 123, " 3 MB ": 3e6} {
		if got, err := ParseByteSize(s); err != nil || got != want {
			t.Errorf("ParseByteSize(%q) = %d, %v; want %d", s, got, err, want)
		}
	}
	for _, s := range []string{"", "GiB", "-1GiB", "4 PiB", "x"} {
		if _, err := ParseByteSize(s); err == nil {
			t.Errorf("ParseByteSize(%q) accepted", s)
		}
	}
	if s := ByteSize(4 << 30).String(); s != "4GiB" {
		t.Errorf("String %q", s)
	}
	if s := ByteSize(3 << 29).String(); s != "1.5GiB" {
		t.Errorf("String %q", s)
	}
	l, err := ParseStepList("0, 50,last")
	if err != nil || !reflect.DeepEqual(l, StepList{0, 50, Last}) || l.String() != "0,50,last" {
		t.Errorf("ParseStepList: %v %v %q", l, err, l.String())
	}
	b, _ := l.MarshalJSON()
	var back StepList
	if err := back.UnmarshalJSON(b); err != nil || !reflect.DeepEqual(back, l) {
		t.Errorf("StepList JSON round trip %s → %v, %v", b, back, err)
	}
	for _, s := range []string{"-1", "x", "1.5"} {
		if _, err := ParseStepList(s); err == nil {
			t.Errorf("ParseStepList(%q) accepted", s)
		}
	}
	var d Duration
	if err := d.UnmarshalJSON([]byte(`"1m30s"`)); err != nil || time.Duration(d) != 90*time.Second {
		t.Errorf("Duration: %v %v", d, err)
	}
	c := Defaults()
	c.FineTune.Steps = 30
	c.AuditAt = StepList{Last, 10, 0, 10}
	if got := c.auditSteps(); !reflect.DeepEqual(got, []int{0, 10, 30}) {
		t.Errorf("auditSteps %v", got)
	}
}

// TestExampleGatePolicyParses: docs/examples/gates.yaml is a valid policy.
func TestExampleGatePolicyParses(t *testing.T) {
	p, err := gate.ReadPolicy(filepath.Join("..", "..", "docs", "examples", "gates.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(p.MinGaussianity) != 1 || len(p.MinTailIndexMedian) != 1 || len(p.MaxNoiseScale) != 1 {
		t.Errorf("policy %+v", p)
	}
}
