// Package yamlerr rewrites the errors of gopkg.in/yaml.v3 in the words of
// the file: "line 3: cannot unmarshal !!str `abc` into int" becomes
// "line 3: collect.batches: want an integer, got the string `abc`" and
// "line 2: field layr not found in type gate.Rule" becomes
// "line 2: max_noise_scale[0]: unknown key "layr" (known keys: layer, …)".
// Go type names never reach the user.
package yamlerr

import (
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Error is a translated YAML error; Unwrap gives yaml.v3's.
type Error struct {
	msg string
	err error
}

func (e *Error) Error() string { return e.msg }
func (e *Error) Unwrap() error { return e.err }

var (
	reLine     = regexp.MustCompile(`^line (\d+): (.*)$`)
	reType     = regexp.MustCompile("^cannot unmarshal !!(\\w+)(?: `(.*)`)? into (.+)$")
	reField    = regexp.MustCompile(`^field (.+) not found in type (.+)$`)
	reYAMLLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)
)

// Explain translates err, returned by decoding data into target (a
// pointer to the decoded value, whose yaml tags name the keys). Errors it
// does not recognise are returned unchanged.
func Explain(data []byte, target any, err error) error {
	if err == nil {
		return nil
	}
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		if m := reYAMLLine.FindStringSubmatch(err.Error()); m != nil {
			return &Error{msg: fmt.Sprintf("line %s: %s (not valid YAML)", m[1], m[2]), err: err}
		}
		return err
	}
	var root yaml.Node
	if yaml.Unmarshal(data, &root) != nil {
		return err
	}
	idx := index(&root)
	t := reflect.TypeOf(target)
	lines := make([]string, 0, len(te.Errors))
	for _, e := range te.Errors {
		lines = append(lines, idx.translate(e, t))
	}
	return &Error{msg: strings.Join(lines, "; "), err: err}
}

// entry is a value or a key of the document with its path.
type entry struct {
	line  int
	path  string // e.g. min_gaussianity[0].batch_size
	kind  yaml.Kind
	value string
	key   bool
}

type docIndex []entry

func index(root *yaml.Node) docIndex {
	var d docIndex
	var walk func(n *yaml.Node, path string)
	walk = func(n *yaml.Node, path string) {
		switch n.Kind {
		case yaml.DocumentNode:
			for _, c := range n.Content {
				walk(c, path)
			}
			return
		case yaml.AliasNode:
			return
		}
		d = append(d, entry{line: n.Line, path: path, kind: n.Kind, value: n.Value})
		switch n.Kind {
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				k, v := n.Content[i], n.Content[i+1]
				p := k.Value
				if path != "" {
					p = path + "." + k.Value
				}
				d = append(d, entry{line: k.Line, path: p, kind: k.Kind, value: k.Value, key: true})
				walk(v, p)
			}
		case yaml.SequenceNode:
			for i, c := range n.Content {
				walk(c, fmt.Sprintf("%s[%d]", path, i))
			}
		}
	}
	walk(root, "")
	return d
}

// find returns the path of the value on line matching the tag and text.
func (d docIndex) find(line int, tag, text string) (string, bool) {
	kind := map[string]yaml.Kind{"map": yaml.MappingNode, "seq": yaml.SequenceNode}[tag]
	var candidates []entry
	for _, e := range d {
		if e.line != line || e.key {
			continue
		}
		if kind != 0 {
			if e.kind == kind {
				candidates = append(candidates, e)
			}
		} else if e.kind == yaml.ScalarNode && e.value == text {
			candidates = append(candidates, e)
		}
	}
	if len(candidates) == 0 {
		return "", false
	}
	return candidates[len(candidates)-1].path, true // the innermost
}

func (d docIndex) translate(msg string, target reflect.Type) string {
	m := reLine.FindStringSubmatch(msg)
	if m == nil {
		return msg
	}
	line, _ := strconv.Atoi(m[1])
	body := m[2]
	if t := reType.FindStringSubmatch(body); t != nil {
		tag, text, into := t[1], t[2], t[3]
		where := ""
		if p, ok := d.find(line, tag, text); ok && p != "" {
			where = p + ": "
		}
		return fmt.Sprintf("line %d: %swant %s, got %s", line, where, goWords(into), yamlWords(tag, text))
	}
	if f := reField.FindStringSubmatch(body); f != nil {
		key := f[1]
		parent := ""
		for _, e := range d {
			if e.key && e.line == line && e.value == key {
				parent = strings.TrimSuffix(strings.TrimSuffix(e.path, key), ".")
				break
			}
		}
		where := ""
		if parent != "" {
			where = parent + ": "
		}
		s := fmt.Sprintf("line %d: %sunknown key %q", line, where, key)
		if keys := knownKeys(target, parent); len(keys) > 0 {
			s += " (known keys: " + strings.Join(keys, ", ") + ")"
		}
		return s
	}
	return msg
}

// goWords names a Go type as the YAML it wants.
func goWords(t string) string {
	t = strings.TrimLeft(t, "*")
	switch {
	case strings.HasPrefix(t, "[]"):
		return "a list"
	case strings.HasPrefix(t, "map["):
		return "a mapping (key: value)"
	}
	switch t {
	case "int", "int8", "int16", "int32", "int64", "uint", "uint8", "uint16", "uint32", "uint64":
		return "an integer"
	case "float32", "float64":
		return "a number"
	case "string":
		return "a string"
	case "bool":
		return "true or false"
	}
	return "a mapping (key: value)"
}

// yamlWords names what the file holds.
func yamlWords(tag, text string) string {
	switch tag {
	case "map":
		return "a mapping"
	case "seq":
		return "a list"
	case "str":
		return "the string `" + text + "`"
	case "int":
		return "the integer " + text
	case "float":
		return "the number " + text
	case "bool":
		return "the boolean " + text
	case "null":
		return "nothing"
	}
	if text != "" {
		return "`" + text + "`"
	}
	return "a " + tag
}

// knownKeys lists the yaml keys of the struct at path in t.
func knownKeys(t reflect.Type, path string) []string {
	if t == nil {
		return nil
	}
	for _, part := range splitPath(path) {
		t = deref(t)
		for t.Kind() == reflect.Slice || t.Kind() == reflect.Array {
			t = deref(t.Elem())
		}
		if part == "" {
			continue
		}
		if t.Kind() != reflect.Struct {
			return nil
		}
		f, ok := fieldByKey(t, part)
		if !ok {
			return nil
		}
		t = f.Type
	}
	t = deref(t)
	for t.Kind() == reflect.Slice || t.Kind() == reflect.Array {
		t = deref(t.Elem())
	}
	if t.Kind() != reflect.Struct {
		return nil
	}
	var keys []string
	for i := 0; i < t.NumField(); i++ {
		if k := keyOf(t.Field(i)); k != "" {
			keys = append(keys, k)
		}
	}
	return keys
}

func deref(t reflect.Type) reflect.Type {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t
}

// splitPath splits a.b[0].c into a, b, c (indices dropped).
func splitPath(p string) []string {
	if p == "" {
		return nil
	}
	var out []string
	for _, s := range strings.Split(p, ".") {
		if i := strings.IndexByte(s, '['); i >= 0 {
			s = s[:i]
		}
		out = append(out, s)
	}
	return out
}

func fieldByKey(t reflect.Type, key string) (reflect.StructField, bool) {
	for i := 0; i < t.NumField(); i++ {
		if keyOf(t.Field(i)) == key {
			return t.Field(i), true
		}
	}
	return reflect.StructField{}, false
}

// keyOf is the yaml key of a struct field ("" when it has none).
func keyOf(f reflect.StructField) string {
	if !f.IsExported() {
		return ""
	}
	tag := f.Tag.Get("yaml")
	name := strings.Split(tag, ",")[0]
	if name == "-" {
		return ""
	}
	if name == "" {
		return strings.ToLower(f.Name)
	}
	return name
}
