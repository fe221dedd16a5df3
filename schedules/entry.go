package schedules

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	"github.com/hibiken/asynq"

	"reconciler/jobs"
)

// placeholderID is the TaskID registered with asynq; PreEnqueue replaces it before every
// enqueue, so it is only ever queued if asynq stops sharing the options slice (logged).
const placeholderID = SlotPrefix + "placeholder"

// Entry is the scheduled reconcile: it registers the task and rewrites its TaskID to the tick's
// slot before each enqueue. Build one per scheduler with NewEntry, Install it in the
// SchedulerOpts, build the scheduler, then Register.
type Entry struct {
	spec *Spec
	log  *slog.Logger
	now  func() time.Time

	installed bool
	nextPre   func(*asynq.Task, []asynq.Option)
	nextPost  func(*asynq.TaskInfo, error)

	// sem (capacity 1) guards everything below and the TaskID element of opts. A channel rather
	// than a mutex so the heartbeat fence can give up after a wait (fence.go).
	sem      chan struct{}
	task     *asynq.Task    // the registered task: Pre recognises its entry by this pointer
	opts     []asynq.Option // the registered options; opts[idIndex] is the per-tick TaskID
	inflight int            // enqueues between Pre and Post
	lastID   string         // the TaskID of the latest tick
	warned   bool           // "options not shared" already logged
	fence    atomic.Uint64  // generation holding sem for the heartbeat, 0 if none
	fenceGen atomic.Uint64
}

const idIndex = 1 // opts = [fence open, TaskID, fence close, extra...]

// NewEntry builds the scheduled reconcile entry for spec (from Parse, not nil).
func NewEntry(spec *Spec, log *slog.Logger) *Entry {
	if log == nil {
		log = slog.Default()
	}
	return &Entry{spec: spec, log: log.With("component", "schedule"), now: time.Now, sem: make(chan struct{}, 1)}
}

// Install sets opts.PreEnqueueFunc and opts.PostEnqueueFunc to the entry's, calling any that
// were already set after its own (e.g. a metrics hook). Call it before building the scheduler:
// asynq copies the funcs at construction. Do not use the deprecated EnqueueErrorHandler: asynq
// calls it after PostEnqueueFunc with the options slice, outside the entry's lock.
func (e *Entry) Install(opts *asynq.SchedulerOpts) {
	e.nextPre, e.nextPost = opts.PreEnqueueFunc, opts.PostEnqueueFunc
	opts.PreEnqueueFunc, opts.PostEnqueueFunc = e.preEnqueue, e.postEnqueue
	e.installed = true
}

// Register registers task (the finished reconcile task, trigger "schedule", from jobs.Tasks)
// with scheduler under the spec, with a TaskID the entry rewrites per tick. extra options are added after it; Deadline (frozen at registration), Unique (leaks
// its lock on a TaskID conflict) and TaskID are refused. Call once, on a scheduler built from
// SchedulerOpts that went through Install; it returns asynq's entry ID.
func (e *Entry) Register(scheduler *asynq.Scheduler, task *asynq.Task, extra ...asynq.Option) (string, error) {
	if scheduler == nil {
		return "", errors.New("register the reconcile schedule: no scheduler")
	}
	if !e.installed {
		return "", errors.New("register the reconcile schedule: call Entry.Install on the SchedulerOpts before building the scheduler, or every replica queues every tick")
	}
	for _, o := range extra {
		switch o.Type() {
		case asynq.DeadlineOpt:
			return "", fmt.Errorf("register the reconcile schedule: %s is frozen at registration; the task's Timeout is its deadline", o)
		case asynq.UniqueOpt:
			return "", fmt.Errorf("register the reconcile schedule: %s must not be combined with the per-tick TaskID (a conflict leaks the unique lock)", o)
		case asynq.TaskIDOpt:
			return "", fmt.Errorf("register the reconcile schedule: %s: the entry sets the TaskID per tick", o)
		}
	}
	if task == nil || task.Type() != jobs.TypeReconcile {
		return "", errors.New("register the reconcile schedule: the task must be a reconcile:run task")
	}
	opts := append([]asynq.Option{fenceOption{e, true}, asynq.TaskID(placeholderID), fenceOption{e, false}}, extra...)

	e.lock()
	if e.task != nil {
		e.unlock()
		return "", errors.New("register the reconcile schedule: already registered (one Entry per scheduler)")
	}
	e.task, e.opts = task, opts
	e.unlock()

	id, err := scheduler.Register(e.spec.Raw, task, opts...)
	if err != nil {
		e.lock()
		e.task, e.opts = nil, nil
		e.unlock()
		return "", fmt.Errorf("register RECONCILE_SCHEDULE %q with the asynq scheduler: %w", e.spec.Raw, err)
	}
	e.log.Info("reconcile schedule registered", "spec", e.spec.Raw, "slot", e.spec.Period.String(), "entry", id)
	return id, nil
}

// preEnqueue runs on the tick's goroutine just before asynq enqueues: it writes the slot's
// TaskID into the registered options, which asynq passes on to Enqueue. If the previous tick's
// enqueue is still running (Redis slow or down), it leaves the TaskID alone: that enqueue is
// still reading the slice, and reusing its ID cannot queue a duplicate.
func (e *Entry) preEnqueue(task *asynq.Task, opts []asynq.Option) {
	e.lock()
	ours := e.task != nil && task == e.task
	var id string
	var shared, rewrote bool
	if ours {
		id = e.spec.SlotID(e.now())
		shared = len(opts) == len(e.opts) && &opts[0] == &e.opts[0]
		if shared && e.inflight == 0 {
			opts[idIndex] = asynq.TaskID(id)
			e.lastID, rewrote = id, true
		}
		e.inflight++
	}
	warn := ours && !shared && !e.warned
	if warn {
		e.warned = true
	}
	e.unlock()

	switch {
	case warn:
		e.log.Error("asynq no longer passes the registered options to PreEnqueueFunc: the per-tick TaskID cannot be set, so scheduled reconciles are not deduplicated per tick", "slot_id", id)
	case ours && shared && !rewrote:
		e.log.Warn("previous scheduled enqueue still running; this tick reuses its TaskID (no duplicate run)", "slot_id", id)
	}
	if e.nextPre != nil {
		e.nextPre(task, opts)
	}
}

// postEnqueue logs the outcome of a scheduled enqueue. A TaskID conflict means another replica
// (or an overlapping tick) already queued this slot: expected, debug only.
func (e *Entry) postEnqueue(info *asynq.TaskInfo, err error) {
	e.lock()
	ours := e.inflight > 0 && (info == nil || info.Type == jobs.TypeReconcile && strings.HasPrefix(info.ID, SlotPrefix))
	if ours {
		e.inflight--
	}
	last := e.lastID
	e.unlock()

	if ours {
		switch {
		case err == nil:
			e.log.Info("scheduled reconcile queued", "task_id", info.ID, "queue", info.Queue)
		case errors.Is(err, asynq.ErrTaskIDConflict):
			e.log.Debug("scheduled reconcile already queued by another replica for this tick", "task_id", last)
		default:
			e.log.Error("could not queue the scheduled reconcile; the next tick will try again", "task_id", last, "err", err)
		}
	}
	if e.nextPost != nil {
		e.nextPost(info, err)
	}
}

func (e *Entry) lock()   { e.sem <- struct{}{} }
func (e *Entry) unlock() { <-e.sem }
