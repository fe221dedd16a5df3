package main

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"
)

// idle is what a worker with nothing to do costs: Redis commands per second (INFO
// commandstats deltas, scripts' inner commands included, the bench's own INFO calls left out)
// and the share of one core its process uses.
type idle struct {
	Over      time.Duration
	PerSecond float64
	ByCommand map[string]float64 // per second
	CoreShare float64            // worker CPU / wall
}

// idleCost waits until the queues are empty and the worker runs only its always-on task
// server (the fast one it starts while it has work stops a few seconds after the last task),
// then measures the worker doing nothing for d.
func (b *sizeBench) idleCost(d time.Duration) idle {
	b.waitIdle()
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		n, err := b.rdb.ZCard(ctx, "asynq:servers").Result()
		cancel()
		if err == nil && n <= 1 {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	time.Sleep(time.Second) // the stopped server's last writes
	c0, cpu0, t0 := b.commandStats(), cpuTime(b.w.pid()), time.Now()
	time.Sleep(d)
	cmds, cpu, wall := diff(c0, b.commandStats()), cpuTime(b.w.pid())-cpu0, time.Since(t0)
	// The first INFO above is counted in the delta, the second not: the rest (the restart
	// watcher's INFO server, once a second) is the worker's.
	if cmds["info"]--; cmds["info"] <= 0 {
		delete(cmds, "info")
	}
	res := idle{Over: wall, ByCommand: map[string]float64{}, CoreShare: cpu.Seconds() / wall.Seconds()}
	for k, v := range cmds {
		res.ByCommand[k] = v / wall.Seconds()
		res.PerSecond += v / wall.Seconds()
	}
	return res
}

// top lists the most frequent commands, "name n/s".
func (i idle) top(n int) string {
	keys := make([]string, 0, len(i.ByCommand))
	for k := range i.ByCommand {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(a, b int) bool { return i.ByCommand[keys[a]] > i.ByCommand[keys[b]] })
	var parts []string
	for j, k := range keys {
		if j == n {
			break
		}
		parts = append(parts, fmt.Sprintf("%s %.1f", k, i.ByCommand[k]))
	}
	return strings.Join(parts, ", ")
}
