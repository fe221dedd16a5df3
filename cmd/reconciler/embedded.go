package main

import (
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"reconciler/adapters/redislock"
	"reconciler/adapters/sheets"
	"reconciler/jobs"
)

// embedded is the demo mode: an in-process Redis (miniredis) and the built-in sample sheet,
// written to a CSV file so that `plan` can read the same sheet the worker reads.
type embedded struct {
	redis    *miniredis.Miniredis
	dir      string
	SheetCSV string
}

func startEmbedded(s settings, log *slog.Logger) (*embedded, error) {
	mr := miniredis.NewMiniRedis()
	if err := mr.StartAddr("127.0.0.1:0"); err != nil {
		return nil, fmt.Errorf("start in-process Redis: %w", err)
	}
	dir, err := os.MkdirTemp("", "reconciler-demo-")
	if err != nil {
		mr.Close()
		return nil, fmt.Errorf("make a folder for the sample sheet: %w", err)
	}
	e := &embedded{redis: mr, dir: dir, SheetCSV: filepath.Join(dir, "operaciones-sample.csv")}
	now := time.Now()
	grid := sheets.Sample(now, s.Location)
	if err := writeCSV(e.SheetCSV, grid); err != nil {
		e.Close()
		return nil, err
	}
	if err := e.seedLocks(grid, now, s); err != nil {
		e.Close()
		return nil, err
	}
	log.Debug("embedded mode ready", "redis", mr.Addr(), "sheet", e.SheetCSV)
	return e, nil
}

// seedLocks leaves Redis as a restart would, but not empty: one candidate already locked by its
// holder, one locked by somebody else, and one lock whose spool is free, so the first report
// shows already_locked, holder_mismatch and an orphan next to the restores.
func (e *embedded) seedLocks(grid [][]any, now time.Time, s settings) error {
	rows, err := sheets.ParseGrid(grid, s.Location)
	if err != nil {
		return fmt.Errorf("parse the sample sheet: %w", err)
	}
	rdb := redis.NewClient(&redis.Options{Addr: e.redis.Addr()})
	defer rdb.Close()
	store := redislock.New(rdb, redislock.Options{Prefix: s.LockPrefix, Location: s.Location})
	ctx := context.Background()
	var candidates []jobs.Classified
	for _, c := range jobs.Classify(rows, now, jobs.DefaultRules) {
		if c.Class == jobs.ClassCandidate && c.Warning == "" {
			candidates = append(candidates, c)
		}
	}
	if len(candidates) < 2 {
		return nil
	}
	seed := map[string]string{
		candidates[0].Tag: redislock.FormatValue(candidates[0].WorkerID, uuid.New(), candidates[0].OccupiedAt, s.Location),
		candidates[1].Tag: redislock.FormatValue(candidates[1].WorkerID+1000, uuid.New(), now, s.Location),
		"DEMO-ORPHAN-001": redislock.FormatValue(7, uuid.New(), now.Add(-2*time.Hour), s.Location),
	}
	for tag, value := range seed {
		if err := rdb.Set(ctx, store.Key(tag), value, 0).Err(); err != nil {
			return fmt.Errorf("seed demo lock: %w", err)
		}
	}
	return nil
}

func writeCSV(path string, grid [][]any) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("write the sample sheet: %w", err)
	}
	w := csv.NewWriter(f)
	for _, row := range grid {
		rec := make([]string, len(row))
		for i, cell := range row {
			rec[i] = sheets.CellText(cell)
		}
		if err := w.Write(rec); err != nil {
			f.Close()
			return fmt.Errorf("write the sample sheet: %w", err)
		}
	}
	w.Flush()
	if err := w.Error(); err != nil {
		f.Close()
		return fmt.Errorf("write the sample sheet: %w", err)
	}
	return f.Close()
}

// RedisURL is the in-process Redis as a URL for the other subcommands.
func (e *embedded) RedisURL() string { return "redis://" + e.redis.Addr() + "/0" }

// Close stops the in-process Redis and removes the sample sheet.
func (e *embedded) Close() {
	e.redis.Close()
	_ = os.RemoveAll(e.dir)
}

func (e *embedded) printBanner(out io.Writer, s settings) {
	url := "http://" + s.Worker.HTTPAddr
	fmt.Fprintf(out, `
  reconciler — embedded demo (nothing configured, so nothing real is touched)
    Redis    %s   (in-process, gone when this stops)
    Sheet    %s   (built-in sample)
    Monitor  %s/monitor/
    Spools   %s/spools/   (why is a spool locked? search a tag)
    Health   %s/readyz   Metrics %s/metrics
  In another terminal:
    REDIS_URL=%s SHEET_CSV=%s go run ./cmd/reconciler plan
    REDIS_URL=%s go run ./cmd/reconciler enqueue --wait
    REDIS_URL=%s SHEET_CSV=%s go run ./cmd/reconciler explain DEMO-ORPHAN-001
  Configure REDIS_URL and GOOGLE_SHEET_ID (see README.md) to run it for real. Ctrl-C stops.

`, e.RedisURL(), e.SheetCSV, url, url, url, url, e.RedisURL(), e.SheetCSV, e.RedisURL(), e.RedisURL(), e.SheetCSV)
}
