package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestDynamicsUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"dynamics", "-h"}, exitOK, "Usage: gnaudit dynamics"},
		{[]string{"dynamics"}, exitUsage, "--out is required"},
		{[]string{"dynamics", "--out", "x", "--lr", "-1"}, exitUsage, "learning rate"},
		{[]string{"dynamics", "--out", "x", "--momentum", "1"}, exitUsage, "momentum"},
		{[]string{"dynamics", "--out", "x", "--steps", "5"}, exitUsage, "steps 5"},
		{[]string{"dynamics", "--out", "x", "stray"}, exitUsage, "unexpected argument"},
		{[]string{"dynamics", "--out", t.TempDir(), "--model", "no-such.onnx", "--data", t.TempDir()}, exitUsage, "no-such.onnx"},
	} {
		var out, errb bytes.Buffer
		code := run(tc.args, &out, &errb)
		if code != tc.code || !strings.Contains(out.String()+errb.String(), tc.want) {
			t.Errorf("%v: exit %d, want %d; output lacks %q:\n%s%s", tc.args, code, tc.code, tc.want, out.String(), errb.String())
		}
	}
}
