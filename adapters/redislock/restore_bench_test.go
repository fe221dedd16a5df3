package redislock

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"reconciler/jobs"
)

// BenchmarkRestoreBatch restores 500 absent locks per op in one script call (a recovery's
// batch), against a real redis-server: the per-lock cost of the script and its arguments,
// with the history (one grouped XADD per batch, in the script) and without (HISTORY_MAX off).
//
//	go test -run '^$' -bench RestoreBatch -benchtime 40x -count 5 ./adapters/redislock/
func BenchmarkRestoreBatch(b *testing.B) {
	b.Run("history=on", func(b *testing.B) { benchRestoreBatch(b, Options{}) })
	b.Run("history=off", func(b *testing.B) { benchRestoreBatch(b, Options{HistoryMax: -1}) })
}

func benchRestoreBatch(b *testing.B, opts Options) {
	srv := newEnv(b, opts)
	now := time.Now()
	usec0 := evalUsec(b, srv)
	b.ResetTimer()
	for i := range b.N {
		reqs := make([]jobs.RestoreRequest, 500)
		for j := range reqs {
			reqs[j] = jobs.RestoreRequest{Tag: fmt.Sprintf("B%d-%d", i, j), WorkerID: 93, OccupiedAt: now.Add(-time.Hour),
				SnapshotAt: now, MaxAge: 24 * time.Hour, Staleness: time.Minute, Settle: time.Minute,
				RunID: "0b7f5c62-1111-4222-8333-444455556666", Trigger: jobs.TriggerRedisRestart}
		}
		if _, err := srv.store.RestoreBatch(b.Context(), reqs); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*500), "ns/lock")
	b.ReportMetric(1000*float64(evalUsec(b, srv)-usec0)/float64(b.N*500), "redis-ns/lock")
}

// evalUsec is the time Redis has spent in EVAL and EVALSHA (INFO commandstats), in µs.
func evalUsec(b *testing.B, e *env) int64 {
	info, err := e.client.Info(b.Context(), "commandstats").Result()
	if err != nil {
		b.Fatal(err)
	}
	var total int64
	for _, line := range strings.Split(info, "\n") {
		if !strings.HasPrefix(line, "cmdstat_eval") {
			continue
		}
		for _, kv := range strings.Split(line, ",") {
			if v, ok := strings.CutPrefix(kv, "usec="); ok {
				n, _ := strconv.ParseInt(v, 10, 64)
				total += n
			}
		}
	}
	return total
}
