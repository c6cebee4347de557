package yamlerr_test

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/gnaudit/gnaudit/auditor/yamlerr"
)

type rule struct {
	Layer string   `yaml:"layer"`
	Size  int      `yaml:"batch_size"`
	Value *float64 `yaml:"value"`
}

type doc struct {
	Name   string            `yaml:"name"`
	Rules  []rule            `yaml:"rules"`
	Nested struct{ On bool } `yaml:"nested"`
	Tags   map[string]int    `yaml:"tags"`
	Hidden int               `yaml:"-"`
}

func decode(src string) error {
	var d doc
	dec := yaml.NewDecoder(bytes.NewReader([]byte(src)))
	dec.KnownFields(true)
	return yamlerr.Explain([]byte(src), &d, dec.Decode(&d))
}

func TestExplain(t *testing.T) {
	for _, c := range []struct{ src, want string }{
		{"rules: {layer: x}\n", "line 1: rules: want a list, got a mapping"},
		{"rules:\n  - {layer: x, batch_size: big}\n", "line 2: rules[0].batch_size: want an integer, got the string `big`"},
		{"rules:\n  - layer: x\n    value: [1]\n", "line 3: rules[0].value: want a number, got a list"},
		{"rules:\n  - {layr: x}\n", `line 2: rules[0]: unknown key "layr" (known keys: layer, batch_size, value)`},
		{"nam: x\n", `line 1: unknown key "nam" (known keys: name, rules, nested, tags)`},
		{"nested: {on: maybe}\n", "line 1: nested.on: want true or false, got the string `maybe`"},
		{"tags: [1]\n", "line 1: tags: want a mapping (key: value), got a list"},
		{"name: [a]\nrules: 3\n", "line 1: name: want a string, got a list; line 2: rules: want a list, got the integer 3"},
		{"rules: [\n", "not valid YAML"},
	} {
		err := decode(c.src)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: %v\nwant %q", c.src, err, c.want)
			continue
		}
		if strings.Contains(err.Error(), "yamlerr_test.") || strings.Contains(err.Error(), "!!") {
			t.Errorf("%q: Go type or YAML tag in %q", c.src, err)
		}
	}
	var te *yaml.TypeError
	if err := decode("rules: 3\n"); !errors.As(err, &te) {
		t.Errorf("the yaml.v3 error is not kept: %v", err)
	}
	if err := decode("name: ok\n"); err != nil {
		t.Errorf("valid document: %v", err)
	}
}

func ExampleExplain() {
	src := []byte("batch_size: many\n")
	var v struct {
		BatchSize int `yaml:"batch_size"`
	}
	err := yaml.Unmarshal(src, &v)
	fmt.Println(yamlerr.Explain(src, &v, err))
	// Output: line 1: batch_size: want an integer, got the string `many`
}
