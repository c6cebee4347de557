package reports

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
)

// SchemaJSON is the JSON Schema (draft 2020-12) of report.json.
//
//go:embed report.schema.json
var SchemaJSON []byte

// Validate checks a JSON document against the report schema. The validator
// implements the subset of JSON Schema 2020-12 that report.schema.json uses
// (type, const, enum, properties, required, additionalProperties, items,
// minItems, maxItems, minLength, pattern, minimum, maximum, $ref to $defs,
// oneOf, anyOf); a schema keyword outside that subset is an error, so the
// schema cannot silently say more than is checked.
func Validate(doc []byte) error {
	s, err := reportSchema()
	if err != nil {
		return err
	}
	return s.Validate(doc)
}

var (
	schemaOnce sync.Once
	schemaVal  *Schema
	schemaErr  error
)

func reportSchema() (*Schema, error) {
	schemaOnce.Do(func() { schemaVal, schemaErr = CompileSchema(SchemaJSON) })
	return schemaVal, schemaErr
}

// Schema is a compiled JSON Schema (the subset described at Validate).
type Schema struct {
	root map[string]any
	defs map[string]any
	res  map[string]*regexp.Regexp
}

var knownKeywords = map[string]bool{
	"$schema": true, "$id": true, "title": true, "description": true, "$defs": true,
	"type": true, "const": true, "enum": true, "properties": true, "required": true,
	"additionalProperties": true, "items": true, "minItems": true, "maxItems": true,
	"minLength": true, "pattern": true, "minimum": true, "maximum": true, "$ref": true,
	"oneOf": true, "anyOf": true,
}

// CompileSchema parses a schema and checks that it only uses the supported
// keywords and that its references resolve.
func CompileSchema(data []byte) (*Schema, error) {
	var root map[string]any
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(&root); err != nil {
		return nil, fmt.Errorf("schema: %w", err)
	}
	s := &Schema{root: root, res: map[string]*regexp.Regexp{}}
	s.defs, _ = root["$defs"].(map[string]any)
	if err := s.check(root, "#"); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *Schema) check(node any, at string) error {
	m, ok := node.(map[string]any)
	if !ok {
		if _, isBool := node.(bool); isBool {
			return nil
		}
		return fmt.Errorf("schema %s: not an object", at)
	}
	for k, v := range m {
		if !knownKeywords[k] {
			return fmt.Errorf("schema %s: unsupported keyword %q", at, k)
		}
		switch k {
		case "properties", "$defs":
			props, ok := v.(map[string]any)
			if !ok {
				return fmt.Errorf("schema %s/%s: not an object", at, k)
			}
			for name, sub := range props {
				if err := s.check(sub, at+"/"+k+"/"+name); err != nil {
					return err
				}
			}
		case "items", "additionalProperties":
			if err := s.check(v, at+"/"+k); err != nil {
				return err
			}
		case "oneOf", "anyOf":
			arr, ok := v.([]any)
			if !ok {
				return fmt.Errorf("schema %s/%s: not an array", at, k)
			}
			for i, sub := range arr {
				if err := s.check(sub, fmt.Sprintf("%s/%s/%d", at, k, i)); err != nil {
					return err
				}
			}
		case "$ref":
			ref, _ := v.(string)
			if _, err := s.resolve(ref); err != nil {
				return fmt.Errorf("schema %s: %w", at, err)
			}
		case "pattern":
			p, _ := v.(string)
			re, err := regexp.Compile(p)
			if err != nil {
				return fmt.Errorf("schema %s: pattern: %w", at, err)
			}
			s.res[p] = re
		}
	}
	return nil
}

func (s *Schema) resolve(ref string) (any, error) {
	const prefix = "#/$defs/"
	if !strings.HasPrefix(ref, prefix) {
		return nil, fmt.Errorf("unsupported $ref %q (only %s…)", ref, prefix)
	}
	d, ok := s.defs[strings.TrimPrefix(ref, prefix)]
	if !ok {
		return nil, fmt.Errorf("unresolved $ref %q", ref)
	}
	return d, nil
}

// Validate checks doc against the schema; the error names the JSON pointer
// of the first offending value.
func (s *Schema) Validate(doc []byte) error {
	var v any
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return fmt.Errorf("not JSON: %w", err)
	}
	if dec.More() {
		return fmt.Errorf("not JSON: trailing data")
	}
	return s.validate(s.root, v, "")
}

func typeOf(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case string:
		return "string"
	case json.Number:
		// As in JSON Schema 2020-12, 1.0 is an integer.
		f, err := x.Float64()
		if err == nil && f == math.Trunc(f) && !math.IsInf(f, 0) {
			return "integer"
		}
		return "number"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	}
	return "unknown"
}

func typeMatches(want, got string) bool {
	return want == got || (want == "number" && got == "integer")
}

func ptr(at string) string {
	if at == "" {
		return "/"
	}
	return at
}

func (s *Schema) validate(node, v any, at string) error {
	if b, ok := node.(bool); ok {
		if !b {
			return fmt.Errorf("%s: not allowed", ptr(at))
		}
		return nil
	}
	m := node.(map[string]any)
	if ref, ok := m["$ref"].(string); ok {
		d, err := s.resolve(ref)
		if err != nil {
			return err
		}
		if err := s.validate(d, v, at); err != nil {
			return err
		}
	}
	got := typeOf(v)
	if t, ok := m["type"]; ok {
		var types []string
		switch x := t.(type) {
		case string:
			types = []string{x}
		case []any:
			for _, e := range x {
				if str, ok := e.(string); ok {
					types = append(types, str)
				}
			}
		}
		okType := false
		for _, w := range types {
			if typeMatches(w, got) {
				okType = true
			}
		}
		if !okType {
			return fmt.Errorf("%s: %s, want %s", ptr(at), got, strings.Join(types, " or "))
		}
	}
	if c, ok := m["const"]; ok && !jsonEqual(c, v) {
		return fmt.Errorf("%s: %s, want %s", ptr(at), show(v), show(c))
	}
	if e, ok := m["enum"].([]any); ok {
		found := false
		for _, x := range e {
			if jsonEqual(x, v) {
				found = true
			}
		}
		if !found {
			return fmt.Errorf("%s: %s is not one of %s", ptr(at), show(v), show(e))
		}
	}
	switch x := v.(type) {
	case json.Number:
		f, _ := x.Float64()
		if mn, ok := m["minimum"].(json.Number); ok {
			if lim, _ := mn.Float64(); f < lim {
				return fmt.Errorf("%s: %s < minimum %s", ptr(at), x, mn)
			}
		}
		if mx, ok := m["maximum"].(json.Number); ok {
			if lim, _ := mx.Float64(); f > lim {
				return fmt.Errorf("%s: %s > maximum %s", ptr(at), x, mx)
			}
		}
	case string:
		if ml, ok := m["minLength"].(json.Number); ok {
			if n, _ := ml.Int64(); int64(len([]rune(x))) < n {
				return fmt.Errorf("%s: string shorter than %d", ptr(at), n)
			}
		}
		if p, ok := m["pattern"].(string); ok && !s.res[p].MatchString(x) {
			return fmt.Errorf("%s: %q does not match %s", ptr(at), x, p)
		}
	case []any:
		if mi, ok := m["minItems"].(json.Number); ok {
			if n, _ := mi.Int64(); int64(len(x)) < n {
				return fmt.Errorf("%s: %d items, want at least %d", ptr(at), len(x), n)
			}
		}
		if mi, ok := m["maxItems"].(json.Number); ok {
			if n, _ := mi.Int64(); int64(len(x)) > n {
				return fmt.Errorf("%s: %d items, want at most %d", ptr(at), len(x), n)
			}
		}
		if it, ok := m["items"]; ok {
			for i, e := range x {
				if err := s.validate(it, e, at+"/"+strconv.Itoa(i)); err != nil {
					return err
				}
			}
		}
	case map[string]any:
		if req, ok := m["required"].([]any); ok {
			for _, r := range req {
				if name, _ := r.(string); name != "" {
					if _, ok := x[name]; !ok {
						return fmt.Errorf("%s: missing required property %q", ptr(at), name)
					}
				}
			}
		}
		props, _ := m["properties"].(map[string]any)
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			sub := at + "/" + strings.ReplaceAll(strings.ReplaceAll(k, "~", "~0"), "/", "~1")
			if p, ok := props[k]; ok {
				if err := s.validate(p, x[k], sub); err != nil {
					return err
				}
			} else if ap, ok := m["additionalProperties"]; ok {
				if b, isBool := ap.(bool); isBool && !b {
					return fmt.Errorf("%s: unknown property %q", ptr(at), k)
				}
				if err := s.validate(ap, x[k], sub); err != nil {
					return err
				}
			}
		}
	}
	if one, ok := m["oneOf"].([]any); ok {
		n := 0
		for _, sub := range one {
			if s.validate(sub, v, at) == nil {
				n++
			}
		}
		if n != 1 {
			return fmt.Errorf("%s: matches %d of the oneOf alternatives, want exactly 1", ptr(at), n)
		}
	}
	if anyOf, ok := m["anyOf"].([]any); ok {
		n := 0
		for _, sub := range anyOf {
			if s.validate(sub, v, at) == nil {
				n++
			}
		}
		if n == 0 {
			return fmt.Errorf("%s: matches none of the anyOf alternatives", ptr(at))
		}
	}
	return nil
}

func jsonEqual(a, b any) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	if an, ok := a.(json.Number); ok {
		if bn, ok := b.(json.Number); ok {
			fa, _ := an.Float64()
			fb, _ := bn.Float64()
			return fa == fb
		}
	}
	return bytes.Equal(ja, jb)
}

func show(v any) string {
	b, _ := json.Marshal(v)
	if len(b) > 80 {
		return string(b[:77]) + "..."
	}
	return string(b)
}
