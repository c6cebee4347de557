package grpcplugin

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin/runner"
)

// groupRunner runs a plugin executable in a process group of its own and
// kills the whole group: a plugin behind a wrapper script (#!/bin/sh
// without exec) leaves a child that keeps the plugin's stdout and stderr
// open, and go-plugin, which kills only the process it started, then
// waits for those pipes until the child exits on its own — past
// --plugin-timeout, possibly for ever. Killing the group closes them.
type groupRunner struct {
	cmd    *exec.Cmd
	stdout io.ReadCloser
	stderr io.ReadCloser

	pin []byte // the pinned SHA-256, or nil

	mu  sync.Mutex
	pid int
}

var _ runner.Runner = (*groupRunner)(nil)

// newGroupRunner is a plugin.ClientConfig.RunnerFunc for path and args
// (pin, when set, is checked right before the exec): spec carries the environment go-plugin prepared (handshake cookie,
// protocol versions, socket directory).
func newGroupRunner(path string, args []string, pin []byte) func(hclog.Logger, *exec.Cmd, string) (runner.Runner, error) {
	return func(_ hclog.Logger, spec *exec.Cmd, _ string) (runner.Runner, error) {
		cmd := exec.Command(path, args...)
		cmd.Env = spec.Env
		cmd.Stdin = spec.Stdin
		setProcessGroup(cmd)
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			return nil, err
		}
		stderr, err := cmd.StderrPipe()
		if err != nil {
			return nil, err
		}
		return &groupRunner{cmd: cmd, stdout: stdout, stderr: stderr, pin: pin}, nil
	}
}

func (r *groupRunner) Start(context.Context) error {
	if r.pin != nil {
		sum, err := FileSHA256(r.cmd.Path)
		if err != nil {
			return err
		}
		if !bytes.Equal(sum, r.pin) {
			return fmt.Errorf("%w: %s changed after it was checked; refusing to run it", ErrChecksum, r.cmd.Path)
		}
	}
	if err := r.cmd.Start(); err != nil {
		return err
	}
	r.mu.Lock()
	r.pid = r.cmd.Process.Pid
	r.mu.Unlock()
	return nil
}

func (r *groupRunner) Wait(context.Context) error { return r.cmd.Wait() }

// Kill kills the plugin's whole process group (it is safe to call more
// than once).
func (r *groupRunner) Kill(context.Context) error {
	r.mu.Lock()
	pid := r.pid
	r.mu.Unlock()
	if pid == 0 {
		return nil
	}
	err := killProcessGroup(r.cmd.Process, pid)
	if errors.Is(err, os.ErrProcessDone) {
		return nil
	}
	return err
}

func (r *groupRunner) Stdout() io.ReadCloser { return r.stdout }
func (r *groupRunner) Stderr() io.ReadCloser { return r.stderr }
func (r *groupRunner) Name() string          { return r.cmd.Path }

func (r *groupRunner) ID() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return fmt.Sprint(r.pid)
}

func (r *groupRunner) Diagnose(context.Context) string {
	return "the plugin did not complete go-plugin's handshake: is " + r.cmd.Path + " a gnaudit plugin built for this machine?"
}

func (r *groupRunner) PluginToHost(n, a string) (string, string, error) { return n, a, nil }
func (r *groupRunner) HostToPlugin(n, a string) (string, string, error) { return n, a, nil }
