package plugins

import (
	"fmt"
	"math"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// Params holds parameter values by name, as strings. Resolved params (see
// Description.Resolve) hold every declared parameter.
type Params map[string]string

var nameRE = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,63}$`)

// ValidName reports whether s is a valid analysis or parameter name.
func ValidName(s string) bool { return nameRE.MatchString(s) }

// Validate checks the description itself: names, parameter types and
// defaults.
func (d Description) Validate() error {
	if !ValidName(d.Name) {
		return fmt.Errorf("invalid analysis name %q (want lower case letters, digits, '-', '_')", d.Name)
	}
	if d.Version == "" {
		return fmt.Errorf("analysis %q: empty version", d.Name)
	}
	seen := map[string]bool{}
	for _, p := range d.Params {
		if !ValidName(p.Name) {
			return fmt.Errorf("analysis %q: invalid parameter name %q", d.Name, p.Name)
		}
		if seen[p.Name] {
			return fmt.Errorf("analysis %q: parameter %q declared twice", d.Name, p.Name)
		}
		seen[p.Name] = true
		if err := checkType(p.Type, p.Default); err != nil {
			return fmt.Errorf("analysis %q: default of parameter %q: %w", d.Name, p.Name, err)
		}
	}
	for _, n := range d.Needs {
		if !ValidName(n) || n == d.Name {
			return fmt.Errorf("analysis %q: invalid need %q", d.Name, n)
		}
	}
	return nil
}

func checkType(t ParamType, v string) error {
	switch t {
	case TypeFloat:
		if _, err := strconv.ParseFloat(v, 64); err != nil {
			return fmt.Errorf("%q is not a float", v)
		}
	case TypeInt:
		if _, err := strconv.ParseInt(v, 10, 64); err != nil {
			return fmt.Errorf("%q is not an integer", v)
		}
	case TypeBool:
		if _, err := strconv.ParseBool(v); err != nil {
			return fmt.Errorf("%q is not a boolean", v)
		}
	case TypeString:
	default:
		return fmt.Errorf("unknown parameter type %q", t)
	}
	return nil
}

// Resolve checks given against the declared parameters and returns the full
// set: every declared parameter, given values overriding defaults. Unknown
// names and values of the wrong type are errors.
func (d Description) Resolve(given map[string]string) (Params, error) {
	out := Params{}
	decl := map[string]Param{}
	for _, p := range d.Params {
		decl[p.Name] = p
		out[p.Name] = p.Default
	}
	names := make([]string, 0, len(given))
	for k := range given {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		p, ok := decl[k]
		if !ok {
			return nil, fmt.Errorf("analysis %q has no parameter %q (has: %s)", d.Name, k, strings.Join(d.paramNames(), ", "))
		}
		if err := checkType(p.Type, given[k]); err != nil {
			return nil, fmt.Errorf("analysis %q, parameter %q: %w", d.Name, k, err)
		}
		out[k] = given[k]
	}
	return out, nil
}

func (d Description) paramNames() []string {
	var s []string
	for _, p := range d.Params {
		s = append(s, p.Name)
	}
	if len(s) == 0 {
		return []string{"none"}
	}
	return s
}

// Float returns parameter name as a float64.
func (p Params) Float(name string) (float64, error) {
	v, ok := p[name]
	if !ok {
		return math.NaN(), fmt.Errorf("parameter %q missing", name)
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil {
		return math.NaN(), fmt.Errorf("parameter %q: %q is not a float", name, v)
	}
	return f, nil
}

// Int returns parameter name as an int.
func (p Params) Int(name string) (int, error) {
	v, ok := p[name]
	if !ok {
		return 0, fmt.Errorf("parameter %q missing", name)
	}
	i, err := strconv.Atoi(v)
	if err != nil {
		return 0, fmt.Errorf("parameter %q: %q is not an integer", name, v)
	}
	return i, nil
}

// Bool returns parameter name as a bool.
func (p Params) Bool(name string) (bool, error) {
	v, ok := p[name]
	if !ok {
		return false, fmt.Errorf("parameter %q missing", name)
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, fmt.Errorf("parameter %q: %q is not a boolean", name, v)
	}
	return b, nil
}

// ParseParamFlag parses "analysis.param=value" (the --param flag).
func ParseParamFlag(s string) (analysis, param, value string, err error) {
	kv := strings.SplitN(s, "=", 2)
	if len(kv) != 2 {
		return "", "", "", fmt.Errorf("parameter %q: want analysis.param=value", s)
	}
	ap := strings.SplitN(kv[0], ".", 2)
	if len(ap) != 2 || !ValidName(ap[0]) || !ValidName(ap[1]) {
		return "", "", "", fmt.Errorf("parameter %q: want analysis.param=value", s)
	}
	return ap[0], ap[1], kv[1], nil
}
