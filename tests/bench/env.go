package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// shim lets the bench use the test packages (tests/redisserver, tests/sheetsemu), which take
// a testing.TB: only Helper, Fatalf, Cleanup, TempDir and Logf are called by them. Anything
// else would hit the nil embedded interface and panic, which is a bug in the bench.
type shim struct {
	testing.TB
	mu       sync.Mutex
	cleanups []func()
}

// fatal is what shim.Fatalf panics with; main recovers it, runs the cleanups and exits 1.
type fatal string

func (s *shim) Helper()                        {}
func (s *shim) Logf(format string, a ...any)   { fmt.Fprintf(os.Stderr, format+"\n", a...) }
func (s *shim) Fatalf(format string, a ...any) { panic(fatal(fmt.Sprintf(format, a...))) }
func (s *shim) Cleanup(f func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cleanups = append(s.cleanups, f)
}

func (s *shim) TempDir() string {
	dir, err := os.MkdirTemp("", "reconciler-bench-")
	if err != nil {
		s.Fatalf("temp dir: %v", err)
	}
	s.Cleanup(func() {
		if os.Getenv("BENCH_KEEP") != "" {
			fmt.Fprintf(os.Stderr, "scratch directory kept (BENCH_KEEP): %s\n", dir)
			return
		}
		_ = os.RemoveAll(dir)
	})
	return dir
}

// runCleanups runs the registered cleanups, last first, and forgets them.
func (s *shim) runCleanups() {
	s.mu.Lock()
	fs := s.cleanups
	s.cleanups = nil
	s.mu.Unlock()
	for i := len(fs) - 1; i >= 0; i-- {
		fs[i]()
	}
}

// moduleRoot walks up from the working directory to go.mod.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod above %s", dir)
		}
		dir = parent
	}
}

// buildBinary builds cmd/reconciler (no -race: this measures the production build).
func buildBinary(root, dir string) (string, error) {
	bin := filepath.Join(dir, "reconciler")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/reconciler")
	cmd.Dir = root
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go build ./cmd/reconciler: %w", err)
	}
	return bin, nil
}

func freePort() int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(fatal("free port: " + err.Error()))
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// timingProxy sits between the worker and the Sheets emulator and records when each response
// body was completely written: the end of the "sheet read" on the wire.
type timingProxy struct {
	srv *httptest.Server
	mu  sync.Mutex
	log []proxied
}

type proxied struct {
	Path       string
	Start, End time.Time
	Bytes      int64
	Status     int
}

func newTimingProxy(target string) *timingProxy {
	u, err := url.Parse(target)
	if err != nil {
		panic(fatal("proxy target: " + err.Error()))
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	p := &timingProxy{}
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		cw := &countingWriter{ResponseWriter: w, status: 200}
		rp.ServeHTTP(cw, r)
		p.mu.Lock()
		p.log = append(p.log, proxied{Path: r.URL.Path, Start: start, End: time.Now(), Bytes: cw.n, Status: cw.status})
		p.mu.Unlock()
	}))
	return p
}

func (p *timingProxy) URL() string { return p.srv.URL + "/" }

// since returns the requests recorded from index i on.
func (p *timingProxy) since(i int) []proxied {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]proxied(nil), p.log[min(i, len(p.log)):]...)
}

func (p *timingProxy) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.log)
}

type countingWriter struct {
	http.ResponseWriter
	n      int64
	status int
}

func (c *countingWriter) WriteHeader(code int) { c.status = code; c.ResponseWriter.WriteHeader(code) }
func (c *countingWriter) Write(b []byte) (int, error) {
	n, err := c.ResponseWriter.Write(b)
	c.n += int64(n)
	return n, err
}
func (c *countingWriter) Flush() {
	if f, ok := c.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// worker is a running `reconciler worker` whose JSON log goes to a file.
type worker struct {
	cmd     *exec.Cmd
	port    int
	logPath string
	logFile *os.File
	done    chan struct{}
}

func startWorker(bin, dir string, env map[string]string) (*worker, error) {
	w := &worker{port: freePort(), done: make(chan struct{})}
	w.logPath = filepath.Join(dir, fmt.Sprintf("worker-%d.log", time.Now().UnixNano()))
	f, err := os.Create(w.logPath)
	if err != nil {
		return nil, err
	}
	w.logFile = f
	w.cmd = exec.Command(bin, "worker")
	w.cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "LOG_FORMAT=json",
		"PORT=" + strconv.Itoa(w.port)}
	for k, v := range env {
		w.cmd.Env = append(w.cmd.Env, k+"="+v)
	}
	w.cmd.Stdout, w.cmd.Stderr = f, f
	if err := w.cmd.Start(); err != nil {
		return nil, err
	}
	go func() { _ = w.cmd.Wait(); close(w.done) }()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(w.url("/healthz")); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return w, nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	w.stop()
	return nil, fmt.Errorf("worker did not serve /healthz within 15s; log: %s", w.logPath)
}

func (w *worker) url(path string) string { return "http://127.0.0.1:" + strconv.Itoa(w.port) + path }

func (w *worker) pid() int { return w.cmd.Process.Pid }

// stop sends SIGTERM and waits (SIGKILL after 10 s).
func (w *worker) stop() {
	select {
	case <-w.done:
	default:
		_ = w.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-w.done:
		case <-time.After(10 * time.Second):
			_ = w.cmd.Process.Kill()
			<-w.done
		}
	}
	_ = w.logFile.Close()
}

// logOffset is the current size of the log, to read what comes after.
func (w *worker) logOffset() int64 {
	st, err := os.Stat(w.logPath)
	if err != nil {
		return 0
	}
	return st.Size()
}

// logRecord is one JSON log line, with the fields the bench reads.
type logRecord struct {
	Time    time.Time `json:"time"`
	Msg     string    `json:"msg"`
	Outcome string    `json:"outcome"`
	Trigger string    `json:"trigger"`
	RunID   string    `json:"run_id"`
	TookMS  int64     `json:"took_ms"`
	Level   string    `json:"level"`
	Err     string    `json:"err"`
	// the line of a lock:restore-batch: how many locks it held, how many were restored, and
	// how long its script call took (so the restore phase starts when the first batch began
	// writing, not when it was done)
	Locks    int     `json:"locks"`
	Restored int     `json:"restored"`
	WriteMS  float64 `json:"write_ms"`
}

// records reads the log lines written after offset.
func (w *worker) records(offset int64) []logRecord {
	f, err := os.Open(w.logPath)
	if err != nil {
		return nil
	}
	defer f.Close()
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		return nil
	}
	var out []logRecord
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		var r logRecord
		if json.Unmarshal(sc.Bytes(), &r) == nil && r.Msg != "" {
			out = append(out, r)
		}
	}
	return out
}

// procStatus reads a field of /proc/PID/status in kB.
func procStatus(pid int, field string) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			n, _ := strconv.ParseInt(strings.Fields(v)[0], 10, 64)
			return n
		}
	}
	return -1
}

// cpuTime is user+system CPU time of pid so far.
func cpuTime(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	// Fields after the command name (which is in parentheses and may hold spaces).
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	if len(f) < 13 {
		return 0
	}
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(utime+stime) * time.Second / 100 // USER_HZ is 100 on Linux
}
