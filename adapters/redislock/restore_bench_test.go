package redislock

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
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

// BenchmarkRestoreFloor is the floor of a recovery's restore phase set by Redis itself: 20,000
// absent locks restored by 40 RestoreBatch calls of 500 (the batches a recovery queues) from
// 10 goroutines (the worker's slots), with no task queue, payload or worker around them,
// against the bench's pipelined limit (20,000 SET NX in pipelines of 1,000) on the same
// redis-server in the same iteration. It reports both walls, Redis's own CPU for each (INFO
// cpu: the scripts, parsing the requests, the sockets), and limit/restores, the share
// tests/bench calls "restore phase vs limit".
//
//	go test -run '^$' -bench RestoreFloor -benchtime 10x -count 3 ./adapters/redislock/
func BenchmarkRestoreFloor(b *testing.B) {
	const batches, size, slots = 40, 500, 10
	e := newEnv(b, Options{})
	now := time.Now()
	var limitWall, limitCPU, restoreWall, restoreCPU time.Duration
	for i := range b.N {
		e.client.FlushAll(b.Context())
		cpu0, start := redisCPU(b, e), time.Now()
		for k := range batches * size / 1000 {
			pipe := e.client.Pipeline()
			for j := range 1000 {
				pipe.SetNX(b.Context(), fmt.Sprintf("limit:MK-1335-CW-%05d-%03d", k, j), "93:0b7f5c62-1111-4222-8333-444455556666:1764777777777", 0)
			}
			if _, err := pipe.Exec(b.Context()); err != nil {
				b.Fatal(err)
			}
		}
		limitWall += time.Since(start)
		limitCPU += redisCPU(b, e) - cpu0

		work := make(chan []jobs.RestoreRequest, batches)
		for k := range batches {
			reqs := make([]jobs.RestoreRequest, size)
			for j := range reqs {
				reqs[j] = jobs.RestoreRequest{Tag: fmt.Sprintf("MK-1335-CW-%05d-%03d-%d", k, j, i), WorkerID: 93,
					OccupiedAt: now.Add(-time.Hour), SnapshotAt: now, MaxAge: 24 * time.Hour, Staleness: time.Minute,
					Settle: time.Minute, RunID: "0b7f5c62-1111-4222-8333-444455556666", Trigger: jobs.TriggerRedisRestart}
			}
			work <- reqs
		}
		close(work)
		cpu0, start = redisCPU(b, e), time.Now()
		var wg sync.WaitGroup
		for range slots {
			wg.Go(func() {
				for reqs := range work {
					if _, err := e.store.RestoreBatch(b.Context(), reqs); err != nil {
						b.Error(err)
					}
				}
			})
		}
		wg.Wait()
		restoreWall += time.Since(start)
		restoreCPU += redisCPU(b, e) - cpu0
	}
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 / float64(b.N) }
	b.ReportMetric(ms(limitWall), "limit-ms")
	b.ReportMetric(ms(restoreWall), "restores-ms")
	b.ReportMetric(ms(limitCPU), "limit-redis-cpu-ms")
	b.ReportMetric(ms(restoreCPU), "restores-redis-cpu-ms")
	b.ReportMetric(100*float64(limitWall)/float64(restoreWall), "%-of-limit")
}

// redisCPU is the CPU time redis-server has used (INFO cpu, user + system).
func redisCPU(b *testing.B, e *env) time.Duration {
	info, err := e.client.Info(b.Context(), "cpu").Result()
	if err != nil {
		b.Fatal(err)
	}
	var total float64
	for _, line := range strings.Split(info, "\n") {
		for _, field := range []string{"used_cpu_sys:", "used_cpu_user:"} {
			if v, ok := strings.CutPrefix(strings.TrimSpace(line), field); ok {
				s, _ := strconv.ParseFloat(v, 64)
				total += s
			}
		}
	}
	return time.Duration(total * float64(time.Second))
}

// BenchmarkGroupedSpools builds the history field of a batch of 500 restores (the string the
// script writes as the batch's one history entry).
//
//	go test -run '^$' -bench GroupedSpools -benchmem ./adapters/redislock/
func BenchmarkGroupedSpools(b *testing.B) {
	s := &Store{historyMax: 10000}
	reqs := make([]jobs.RestoreRequest, 500)
	values := make([]string, len(reqs))
	for i := range reqs {
		reqs[i].Tag = fmt.Sprintf("MK-1335-CW-25%05d-%03d", i, i%7)
		values[i] = "93:0b7f5c62-1111-4222-8333-444455556666:03-12-2026 14:05:03"
	}
	for b.Loop() {
		if s.groupedSpools(reqs, values) == "" {
			b.Fatal("no field")
		}
	}
}
