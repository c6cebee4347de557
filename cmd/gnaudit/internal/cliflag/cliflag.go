// Package cliflag prints the flags of a flag.FlagSet the GNU way (--name),
// the one convention of gnaudit's help texts, and keeps renamed flags as
// hidden aliases. Go's flag package accepts -name and --name alike; only
// the help differs.
package cliflag

import (
	"flag"
	"fmt"
	"io"
	"reflect"
	"strings"
)

// Alias defines old as a hidden alias of the flag name of fs (same value;
// not listed by PrintDefaults). It panics if name is not defined, a
// programming error.
func Alias(fs *flag.FlagSet, old, name string) {
	f := fs.Lookup(name)
	if f == nil {
		panic("cliflag.Alias: flag --" + name + " is not defined")
	}
	fs.Var(f.Value, old, "")
}

// Hidden reports whether f is a hidden alias (defined with an empty usage).
func Hidden(f *flag.Flag) bool { return f.Usage == "" }

// HasVisible reports whether fs has a flag that PrintDefaults lists.
func HasVisible(fs *flag.FlagSet) bool {
	n := 0
	fs.VisitAll(func(f *flag.Flag) {
		if !Hidden(f) {
			n++
		}
	})
	return n > 0
}

// PrintDefaults writes the visible flags of fs to w, sorted by name, as
//
//	--name TYPE
//	    	usage (default value)
//
// like flag.PrintDefaults but with two dashes; hidden aliases are left out.
func PrintDefaults(w io.Writer, fs *flag.FlagSet) {
	fs.VisitAll(func(f *flag.Flag) {
		if Hidden(f) {
			return
		}
		var b strings.Builder
		fmt.Fprintf(&b, "  --%s", f.Name)
		name, usage := flag.UnquoteUsage(f)
		if name != "" {
			b.WriteString(" " + name)
		}
		b.WriteString("\n    \t")
		b.WriteString(strings.ReplaceAll(usage, "\n", "\n    \t"))
		switch {
		case isZeroValue(f):
		case isStringFlag(f):
			fmt.Fprintf(&b, " (default %q)", f.DefValue)
		default:
			fmt.Fprintf(&b, " (default %v)", f.DefValue)
		}
		fmt.Fprintln(w, b.String())
	})
}

func isStringFlag(f *flag.Flag) bool {
	return reflect.TypeOf(f.Value).String() == "*flag.stringValue"
}

// isZeroValue reports whether f's default is the zero value of its type,
// as the flag package decides when it leaves "(default …)" out.
func isZeroValue(f *flag.Flag) (zero bool) {
	switch f.DefValue {
	case "", "0", "false", "[]", "0s":
		return true
	}
	t := reflect.TypeOf(f.Value)
	var z reflect.Value
	if t.Kind() == reflect.Pointer {
		z = reflect.New(t.Elem())
	} else {
		z = reflect.Zero(t)
	}
	if v, ok := z.Interface().(flag.Value); ok {
		defer func() {
			if recover() != nil { // a Value whose String fails on its zero value
				zero = false
			}
		}()
		return f.DefValue == v.String()
	}
	return false
}
