package main

import (
	"errors"
	"flag"
	"strings"
	"testing"
)

// TestParseInterleaved: flags anywhere among the positional arguments, and
// flagError's mapping of -h (nil) and of a bad flag (usage error).
func TestParseInterleaved(t *testing.T) {
	for _, tc := range []struct {
		args []string
		pos  string
		o    string
		err  string
	}{
		{[]string{"a", "-o", "f", "b"}, "a b", "f", ""},
		{[]string{"-o", "f", "a"}, "a", "f", ""},
		{[]string{"a", "b", "--o=g"}, "a b", "g", ""},
		{[]string{"--", "-a", "-o", "g"}, "-a -o g", "", ""}, // everything after "--" is positional
		{[]string{"a", "--", "-o", "g"}, "a -o g", "", ""},
		{[]string{}, "", "", ""},
		{[]string{"a", "-x"}, "", "", "flag provided but not defined: -x"},
		{[]string{"a", "-o"}, "", "", "flag needs an argument: -o"},
	} {
		fs := newTestFlagSet()
		o := fs.String("o", "", "")
		pos, err := parseInterleaved(fs, tc.args)
		if tc.err != "" {
			var ue usageError
			if ferr := flagError(err); !errors.As(ferr, &ue) || !strings.Contains(ferr.Error(), tc.err) {
				t.Errorf("%v: error %v, want a usage error %q", tc.args, ferr, tc.err)
			}
			continue
		}
		if err != nil || strings.Join(pos, " ") != tc.pos || *o != tc.o {
			t.Errorf("%v: pos %q o %q err %v; want %q %q", tc.args, pos, *o, err, tc.pos, tc.o)
		}
	}
	fs := newTestFlagSet()
	if _, err := parseInterleaved(fs, []string{"a", "-h"}); !errors.Is(err, flag.ErrHelp) || flagError(err) != nil {
		t.Errorf("-h: %v, flagError %v", err, flagError(err))
	}
}

func TestGNUFlagError(t *testing.T) {
	for in, want := range map[string]string{
		"flag provided but not defined: -x":                    "unknown flag --x",
		"flag provided but not defined: --no-such":             "unknown flag --no-such",
		"flag needs an argument: -out":                         "flag needs an argument: --out",
		`invalid value "a" for flag -param: want analysis.p=v`: `invalid value "a" for flag --param: want analysis.p=v`,
		"unexpected argument \"x\"":                            "unexpected argument \"x\"",
	} {
		if got := gnuFlagError(errors.New(in)).Error(); got != want {
			t.Errorf("%q: %q, want %q", in, got, want)
		}
	}
}
