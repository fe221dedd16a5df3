package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/hibiken/asynq"

	"reconciler/adapters/redislock"
	"reconciler/jobs"
	"reconciler/worker"
)

// spoolList collects repeated --spool flags.
type spoolList []string

func (s *spoolList) String() string { return strings.Join(*s, ",") }
func (s *spoolList) Set(v string) error {
	v = strings.TrimSpace(v)
	if v == "" {
		return errors.New("empty tag")
	}
	*s = append(*s, v)
	return nil
}

// runEnqueue queues a manual reconcile; with --wait it follows the job and the restores it
// spawned and prints the final tally.
func runEnqueue(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	var (
		cf      commonFlags
		spools  spoolList
		dryRun  bool
		wait    bool
		asJSON  bool
		timeout time.Duration
	)
	fs := flag.NewFlagSet("enqueue", flag.ContinueOnError)
	cf.register(fs, false, false)
	fs.Var(&spools, "spool", "reconcile only this TAG (repeatable)")
	fs.BoolVar(&dryRun, "dry-run", false, "plan and report without restoring")
	fs.BoolVar(&wait, "wait", false, "wait for the job and its restores, then print the tally")
	fs.BoolVar(&asJSON, "json", false, "print the result as JSON")
	fs.DurationVar(&timeout, "timeout", 5*time.Minute, "with --wait: give up after this long")
	if code, ok := parseFlags(fs, args, stderr); !ok {
		return code
	}
	s, err := loadSettings(cf.getenv(getenv), false)
	if err != nil {
		fmt.Fprintln(stderr, "reconciler:", err)
		return exitError
	}
	if s.RedisURL == "" {
		fmt.Fprintln(stderr, "reconciler enqueue: REDIS_URL is not set: point it at the worker's Redis (the embedded worker prints its URL)")
		return exitError
	}
	silenceRedisLog()
	rdb, err := connectRedis(s.RedisURL, 4)
	if err != nil {
		fmt.Fprintln(stderr, "reconciler:", err)
		return exitError
	}
	defer rdb.Close()
	if err := reachRedis(ctx, rdb); err != nil {
		fmt.Fprintln(stderr, "reconciler enqueue:", err)
		return exitError
	}
	task, err := s.Worker.Tasks.Reconcile(jobs.ReconcilePayload{Trigger: jobs.TriggerManual, Spools: spools, DryRun: dryRun})
	if err != nil {
		fmt.Fprintln(stderr, "reconciler enqueue:", err)
		return exitError
	}
	client := asynq.NewClientFromRedisClient(rdb)
	info, err := client.EnqueueContext(ctx, task)
	if err != nil {
		fmt.Fprintln(stderr, "reconciler enqueue: queue the reconcile:", err)
		return exitError
	}
	if !wait {
		if asJSON {
			_ = json.NewEncoder(stdout).Encode(map[string]string{"task_id": info.ID, "queue": info.Queue})
		} else {
			fmt.Fprintf(stdout, "queued reconcile %s (queue %s)\n", info.ID, info.Queue)
		}
		return exitOK
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	w := &waiter{
		inspector: asynq.NewInspectorFromRedisClient(rdb),
		store:     newStore(rdb, s),
		out:       stderr,
		terminal:  worker.IsTerminal(stderr),
	}
	res, err := w.wait(ctx, info)
	if err != nil {
		fmt.Fprintln(stderr, "reconciler enqueue:", err)
		return exitError
	}
	if asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(res)
	} else {
		PrintReport(stdout, res.Report)
		fmt.Fprintf(stdout, "restores: %s\n", res.tallyLine())
	}
	if res.Tally[jobs.TallyFailed] > 0 {
		return exitError
	}
	return exitOK
}

// waitResult is what --wait prints.
type waitResult struct {
	TaskID string           `json:"task_id"`
	Report *jobs.Report     `json:"report"`
	Tally  map[string]int64 `json:"tally"`
}

func (r waitResult) tallyLine() string {
	parts := []string{}
	for _, o := range jobs.RestoreOutcomes {
		parts = append(parts, fmt.Sprintf("%s %d", o, r.Tally[string(o)]))
	}
	parts = append(parts, fmt.Sprintf("failed %d", r.Tally[jobs.TallyFailed]))
	return strings.Join(parts, ", ")
}

type waiter struct {
	inspector *asynq.Inspector
	store     *redislock.Store
	out       io.Writer
	terminal  bool
}

// wait follows the reconcile until it completes, then its restores until every enqueued one
// has an outcome (or failed for good).
func (w *waiter) wait(ctx context.Context, info *asynq.TaskInfo) (waitResult, error) {
	res := waitResult{TaskID: info.ID}
	rep, err := w.waitReconcile(ctx, info)
	if err != nil {
		return res, err
	}
	res.Report = rep
	last := ""
	for {
		tally, err := w.store.Tally(ctx, rep.RunID)
		if err != nil && ctx.Err() == nil {
			return res, fmt.Errorf("read restore tally: %w", err)
		}
		res.Tally = tally
		var done int64
		for _, n := range tally {
			done += n
		}
		line := fmt.Sprintf("restores %d/%d done (%s)", done, rep.Enqueued, res.tallyLine())
		w.progress(line, &last)
		if done >= int64(rep.Enqueued) {
			w.endProgress()
			return res, nil
		}
		if err := jobs.Sleep(ctx, 200*time.Millisecond); err != nil {
			w.endProgress()
			return res, fmt.Errorf("gave up waiting for restores (%d of %d done): %w", done, rep.Enqueued, err)
		}
	}
}

func (w *waiter) waitReconcile(ctx context.Context, info *asynq.TaskInfo) (*jobs.Report, error) {
	last := ""
	for {
		ti, err := w.inspector.GetTaskInfo(info.Queue, info.ID)
		switch {
		case err != nil && !errors.Is(err, asynq.ErrTaskNotFound):
			w.progress("reconcile "+info.ID+": cannot read its state: "+err.Error(), &last)
		case err != nil:
			return nil, fmt.Errorf("reconcile %s vanished from queue %s (Redis restarted?)", info.ID, info.Queue)
		case ti.State == asynq.TaskStateCompleted:
			w.endProgress()
			var rep jobs.Report
			if err := json.Unmarshal(ti.Result, &rep); err != nil {
				return nil, fmt.Errorf("reconcile %s finished without a readable report: %w", info.ID, err)
			}
			return &rep, nil
		case ti.State == asynq.TaskStateArchived:
			w.endProgress()
			return nil, fmt.Errorf("reconcile %s failed for good: %s", info.ID, ti.LastErr)
		case ti.LastErr != "":
			w.progress(fmt.Sprintf("reconcile %s: %s (retry %d: %s)", info.ID, ti.State, ti.Retried, ti.LastErr), &last)
		default:
			w.progress(fmt.Sprintf("reconcile %s: %s", info.ID, ti.State), &last)
		}
		if err := jobs.Sleep(ctx, 100*time.Millisecond); err != nil {
			w.endProgress()
			return nil, fmt.Errorf("gave up waiting for reconcile %s: %w", info.ID, err)
		}
	}
}

// progress rewrites one line on a terminal and prints changed lines otherwise.
func (w *waiter) progress(line string, last *string) {
	if line == *last {
		return
	}
	*last = line
	if w.terminal {
		fmt.Fprintf(w.out, "\r\033[K%s", line)
	} else {
		fmt.Fprintln(w.out, line)
	}
}

func (w *waiter) endProgress() {
	if w.terminal {
		fmt.Fprintln(w.out)
	}
}
