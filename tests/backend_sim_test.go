package tests

import (
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"reconciler/adapters/sheets"
	"reconciler/tests/redisserver"
	"reconciler/tests/sheetsemu"
)

// simBackend plays the shop-floor backend against the worker: INICIAR takes a lock and then
// writes the sheet; FINALIZAR releases the lock and then clears the sheet. Sheet writes reach
// readers late: with `stale`, the sheet before each write is served for that long (the real
// API's stale reads after a write); with `lag`, every read sees the sheet as it was `lag` ago.
type simBackend struct {
	rds   *redisserver.Server
	emu   *sheetsemu.Emulator
	stale time.Duration
	// seedRelease is the backend's release as it is: it compares `{id}:{uuid}` with the stored
	// `{id}:{uuid}:{timestamp}`, so it never deletes, and the row is cleared anyway.
	seedRelease bool
	pause       time.Duration

	mu     sync.Mutex
	grid   [][]any
	tagCol int
	holder int
	date   int
	held   map[string]string // tag → the lock value the backend wrote; absent: free

	blocked atomic.Int64 // INICIAR found a lock on a spool the backend had released
	ops     atomic.Int64
}

// simOptions shape a simulated backend (see simBackend).
type simOptions struct {
	stale, lag  time.Duration
	seedRelease bool
	// pause is the mean wait between one simulated worker's operations (default 35 ms).
	pause time.Duration
}

func newSimBackend(t *testing.T, rds *redisserver.Server, emu *sheetsemu.Emulator, spools int, stale time.Duration) *simBackend {
	return newSimBackendWith(t, rds, emu, spools, simOptions{stale: stale})
}

func newSimBackendWith(t *testing.T, rds *redisserver.Server, emu *sheetsemu.Emulator, spools int, o simOptions) *simBackend {
	header := sheets.OperacionesHeader()
	rows := make([]map[string]any, spools)
	for i := range rows {
		rows[i] = sheetsemu.Spool(fmt.Sprintf("SIM-%04d", i), "", "")
	}
	b := &simBackend{rds: rds, emu: emu, stale: o.stale, seedRelease: o.seedRelease, pause: o.pause, grid: sheetsemu.Grid(header, rows...), held: map[string]string{}}
	for i, h := range header {
		switch h {
		case sheetsemu.ColTag:
			b.tagCol = i
		case sheetsemu.ColHolder:
			b.holder = i
		case sheetsemu.ColDate:
			b.date = i
		}
	}
	emu.SetSheet("Operaciones", b.grid)
	if o.lag > 0 {
		emu.SetReadLag(o.lag)
	}
	return b
}

// writeRow sets a row's holder and date, then publishes the sheet with the old version
// served for `stale` first.
func (b *simBackend) writeRow(row int, holder, date string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	r := b.grid[row]
	for len(r) <= max(b.holder, b.date) {
		r = append(r, nil)
	}
	r[b.holder], r[b.date] = holder, date
	b.grid[row] = r
	if b.stale > 0 {
		b.emu.ServeStaleFor(b.stale)
	}
	b.emu.SetSheet("Operaciones", b.grid)
}

// iniciar takes the spool of grid row `row`; false when a lock was already there (the backend
// answers "occupied").
func (b *simBackend) iniciar(row, workerID int) (bool, error) {
	tag := fmt.Sprintf("SIM-%04d", row-1)
	now := time.Now().In(santiago)
	value := fmt.Sprintf("%d:%s:%s", workerID, uuid.NewString(), now.Format("02-01-2006 15:04:05"))
	ok, err := b.rds.Do("SET", "spool_lock:"+tag, value, "NX")
	if err != nil {
		return false, err
	}
	if ok != "OK" {
		b.blocked.Add(1)
		return false, nil
	}
	b.mu.Lock()
	b.held[tag] = value
	b.mu.Unlock()
	b.writeRow(row, fmt.Sprintf("SB(%d)", workerID), now.Format("02-01-2006 15:04:05"))
	return true, nil
}

func (b *simBackend) finalizar(row int) error {
	tag := fmt.Sprintf("SIM-%04d", row-1)
	b.mu.Lock()
	value := b.held[tag]
	b.mu.Unlock()
	if b.seedRelease {
		// The backend's own compare: the token it kept lacks the timestamp, so it never matches.
		parts := strings.SplitN(value, ":", 3)
		token := parts[0] + ":" + parts[1]
		if got, err := b.rds.Do("GET", "spool_lock:"+tag); err != nil {
			return err
		} else if got == token {
			return fmt.Errorf("the seed-era compare matched %q: the simulation is wrong", token)
		}
	} else if _, err := b.rds.Do("DEL", "spool_lock:"+tag); err != nil {
		return err
	}
	b.mu.Lock()
	delete(b.held, tag)
	b.mu.Unlock()
	b.writeRow(row, "", "")
	return nil
}

// nextPause is a random wait around the mean pause (10-50 ms by default).
func (b *simBackend) nextPause(rng *rand.Rand) time.Duration {
	if b.pause == 0 {
		return time.Duration(10+rng.IntN(40)) * time.Millisecond
	}
	return b.pause/2 + time.Duration(rng.Int64N(int64(b.pause)))
}

// run drives `workers` goroutines, each on its own spools, until stop closes.
func (b *simBackend) run(t *testing.T, workers, spools int, stop <-chan struct{}) {
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 42))
			taken := map[int]bool{}
			for {
				select {
				case <-stop:
					return
				case <-time.After(b.nextPause(rng)):
				}
				row := 1 + w + workers*rng.IntN(spools/workers) // grid row (1 = first data row)
				var err error
				if taken[row] {
					err = b.finalizar(row)
					taken[row] = false
				} else {
					taken[row], err = b.iniciar(row, 100+w)
				}
				if err != nil {
					t.Errorf("backend op: %v", err)
					return
				}
				b.ops.Add(1)
			}
		}()
	}
	wg.Wait()
}

// TestSimulatedBackend runs the backend's INICIAR/FINALIZAR against the worker for a minute
// with stale sheet reads: afterwards no released spool has a lock, every live lock is the
// backend's own value, and the backend was never blocked by a resurrected lock.
func TestSimulatedBackend(t *testing.T) {
	duration := time.Minute
	if testing.Short() || os.Getenv("SIM_SECONDS") != "" {
		var s int
		fmt.Sscan(os.Getenv("SIM_SECONDS"), &s)
		duration = time.Duration(max(s, 10)) * time.Second
	}
	const spools, workers = 200, 4
	rds := redisserver.Start(t)
	emu := sheetsemu.Start(t)
	b := newSimBackend(t, rds, emu, spools, 1500*time.Millisecond)
	w := startWorker(t, map[string]string{
		"REDIS_URL": rds.URL(), "GOOGLE_SHEET_ID": emu.SpreadsheetID(), "SHEETS_ENDPOINT": emu.Endpoint(),
		"KEYSPACE_EVENTS": "configure", "RECONCILE_SCHEDULE": "@every 1s",
		"RELEASE_SETTLE": "4s", "SHEETS_MAX_READS_PER_MINUTE": "600",
	})

	stop := make(chan struct{})
	done := make(chan struct{})
	go func() { b.run(t, workers, spools, stop); close(done) }()
	time.Sleep(duration)
	close(stop)
	<-done
	// Let the stale window, the settle window and a few ticks pass.
	time.Sleep(8 * time.Second)

	if n := b.blocked.Load(); n > 0 {
		t.Errorf("INICIAR found a lock on a released spool %d times: a lock was resurrected", n)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	for i := range spools {
		tag := fmt.Sprintf("SIM-%04d", i)
		got, err := rds.Do("GET", "spool_lock:"+tag)
		if err != nil {
			t.Fatal(err)
		}
		want, held := b.held[tag]
		switch {
		case !held && got != "":
			t.Errorf("released spool %s has a lock: %q", tag, got)
		case held && got != want:
			t.Errorf("live lock of %s is %q, the backend wrote %q", tag, got, want)
		}
	}
	if b.ops.Load() < 200 {
		t.Errorf("the simulated backend made only %d operations", b.ops.Load())
	}
	restores := logLines(w.Stderr.String(), "restore")
	outcomes := map[string]int{}
	for _, r := range restores {
		outcomes[fmt.Sprint(r["outcome"])]++
	}
	t.Logf("backend ops %d; restore outcomes %v; sheet reads %d", b.ops.Load(), outcomes, batchGets(emu))
	if t.Failed() || os.Getenv("SIM_DUMP") != "" {
		triggers := map[string]int{}
		for _, r := range logLines(w.Stderr.String(), "reconcile finished") {
			triggers[fmt.Sprint(r["trigger"])]++
		}
		t.Logf("reconciles by trigger: %v", triggers)
		for _, line := range strings.Split(w.Stderr.String(), "\n") {
			if strings.Contains(line, `"outcome":"restored"`) || strings.Contains(line, "deferred") && strings.Contains(line, "WARN") {
				t.Log(line)
			}
		}
		if os.Getenv("SIM_DUMP") != "" {
			_ = os.WriteFile(os.Getenv("SIM_DUMP"), []byte(w.Stderr.String()), 0o644)
		}
	}
}
