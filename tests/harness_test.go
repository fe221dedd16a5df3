package tests

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"reconciler/tests/logbuffer"
)

// binary is the reconciler built once for all end-to-end tests.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "reconciler-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "reconciler")
	build := exec.Command("go", "build", "-race", "-o", binary, "../cmd/reconciler")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build reconciler:", err)
		os.Exit(1)
	}
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// proc is a running reconciler worker.
type proc struct {
	t      *testing.T
	cmd    *exec.Cmd
	Port   int
	Stdout *logbuffer.Buffer
	Stderr *logbuffer.Buffer
	done   chan struct{}
	err    error
}

// startWorker runs `reconciler worker` with env (on top of a minimal environment) and waits
// for /healthz.
func startWorker(t *testing.T, env map[string]string) *proc {
	t.Helper()
	p := &proc{t: t, Port: freePort(t), Stdout: &logbuffer.Buffer{}, Stderr: &logbuffer.Buffer{}, done: make(chan struct{})}
	if v, ok := env["PORT"]; ok {
		p.Port, _ = strconv.Atoi(v)
	}
	env = withDefaults(env, map[string]string{"PORT": strconv.Itoa(p.Port)})
	p.cmd = exec.Command(binary, "worker")
	p.cmd.Env = environ(env)
	p.cmd.Stdout, p.cmd.Stderr = p.Stdout, p.Stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start worker: %v", err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		p.Signal(syscall.SIGKILL)
		<-p.done
		if t.Failed() {
			t.Logf("worker stderr:\n%s", tail(p.Stderr.String(), 60))
		}
	})
	if !eventually(15*time.Second, func() bool { return p.get("/healthz") == http.StatusOK }) {
		t.Fatalf("worker did not serve /healthz within 15s; stderr:\n%s", tail(p.Stderr.String(), 40))
	}
	return p
}

func (p *proc) URL(path string) string { return "http://127.0.0.1:" + strconv.Itoa(p.Port) + path }

func (p *proc) get(path string) int {
	select {
	case <-p.done:
		return 0
	default:
	}
	resp, err := http.Get(p.URL(path))
	if err != nil {
		return 0
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// Signal sends sig if the process still runs.
func (p *proc) Signal(sig os.Signal) {
	select {
	case <-p.done:
	default:
		_ = p.cmd.Process.Signal(sig)
	}
}

// Wait waits up to d for the process to exit and returns its exit code (-1: still running).
func (p *proc) Wait(d time.Duration) int {
	select {
	case <-p.done:
		return p.cmd.ProcessState.ExitCode()
	case <-time.After(d):
		return -1
	}
}

// cli runs the binary with args and env, returning stdout, stderr and the exit code.
func cli(t *testing.T, env map[string]string, args ...string) (string, string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Env = environ(env)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			t.Fatalf("run %v: %v", args, err)
		}
		code = ee.ExitCode()
	}
	return out.String(), errb.String(), code
}

// environ is a clean environment: PATH and HOME only, plus env. Nothing of the developer's
// own configuration leaks into a test.
func environ(env map[string]string) []string {
	out := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "LOG_FORMAT=json"}
	for k, v := range env {
		out = append(out, k+"="+v)
	}
	return out
}

func withDefaults(env, defaults map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range defaults {
		out[k] = v
	}
	for k, v := range env {
		out[k] = v
	}
	return out
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func eventually(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if cond() {
			return true
		}
		time.Sleep(50 * time.Millisecond)
	}
	return cond()
}

func tail(s string, lines int) string {
	parts := strings.Split(s, "\n")
	if len(parts) > lines {
		parts = parts[len(parts)-lines:]
	}
	return strings.Join(parts, "\n")
}

// logLines returns the JSON log records whose msg is msg.
func logLines(log, msg string) []map[string]any {
	var out []map[string]any
	for _, line := range strings.Split(log, "\n") {
		var rec map[string]any
		if json.Unmarshal([]byte(line), &rec) == nil && rec["msg"] == msg {
			out = append(out, rec)
		}
	}
	return out
}
