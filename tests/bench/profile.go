package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// profileSeconds is how long each phase's CPU profile runs: long enough for several
// recoveries or steady-state runs at every size.
const profileSeconds = 10

// profile takes a CPU profile of the worker (GET /debug/pprof/profile, PPROF=on) for seconds
// while it repeats once, then writes the profile to path and its summary (`go tool pprof -top
// -cum`, the binary's symbols) to path + ".txt". It returns how many times once ran.
func (b *sizeBench) profile(bin, path string, seconds int, once func() error) (int, error) {
	got := make(chan error, 1)
	go func() {
		req, err := http.NewRequest(http.MethodGet, b.w.url("/debug/pprof/profile?seconds="+strconv.Itoa(seconds)), nil)
		if err != nil {
			got <- err
			return
		}
		req.SetBasicAuth("admin", "bench")
		resp, err := (&http.Client{Timeout: time.Duration(seconds+30) * time.Second}).Do(req)
		if err != nil {
			got <- err
			return
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
			got <- fmt.Errorf("profile: %s %s", resp.Status, strings.TrimSpace(string(body)))
			return
		}
		f, err := os.Create(path)
		if err != nil {
			got <- err
			return
		}
		_, err = io.Copy(f, resp.Body)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		got <- err
	}()
	runs := 0
	for {
		select {
		case err := <-got:
			if err != nil {
				return runs, err
			}
			return runs, summarize(bin, path, runs, seconds)
		default:
		}
		if err := once(); err != nil {
			return runs, err
		}
		runs++
	}
}

// summarize writes the profile's top functions by cumulative time beside it.
func summarize(bin, path string, runs, seconds int) error {
	out, err := exec.Command("go", "tool", "pprof", "-top", "-cum", "-nodecount=45", bin, path).CombinedOutput()
	if err != nil {
		return fmt.Errorf("go tool pprof: %w: %s", err, out)
	}
	head := fmt.Sprintf("# %d runs in a %d s CPU profile of the worker; go tool pprof -top -cum -nodecount=45\n", runs, seconds)
	return os.WriteFile(path+".txt", append([]byte(head), out...), 0o644)
}
