package jobs

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"reconciler/tests/redisserver"
)

// These are small fakes of jobs' own ports; the queue is always the real asynq client and
// inspector on a real redis-server.

// fakeSheet serves fixed rows and counts its reads.
type fakeSheet struct {
	mu    sync.Mutex
	rows  []Row
	reads int
}

func (s *fakeSheet) Read(context.Context) (Snapshot, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reads++
	return Snapshot{Rows: s.rows, ReadAt: time.Now(), Requests: 1}, nil
}

func (s *fakeSheet) Reads() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reads
}

// fakeLocks is a lock keyspace in memory; Restore answers outcome and records the requests.
type fakeLocks struct {
	mu       sync.Mutex
	locks    map[string]Lock
	outcome  RestoreOutcome
	requests []RestoreRequest
	deletes  []fakeDelete // DeleteLock calls; each deletes when deleteOK
	deleteOK bool
}

// fakeDelete is one DeleteLock call.
type fakeDelete struct {
	tag, value, action string
	note               HistoryNote
}

func (l *fakeLocks) Locks(_ context.Context, tags []string) (map[string]Lock, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := map[string]Lock{}
	for _, t := range tags {
		if lk, ok := l.locks[t]; ok {
			out[t] = lk
		}
	}
	return out, nil
}

func (l *fakeLocks) AllLocks(context.Context) (map[string]Lock, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := map[string]Lock{}
	for t, lk := range l.locks {
		out[t] = lk
	}
	return out, nil
}

func (l *fakeLocks) Restore(_ context.Context, req RestoreRequest) (RestoreOutcome, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.requests = append(l.requests, req)
	return l.outcome, nil
}

func (l *fakeLocks) RestoreBatch(ctx context.Context, reqs []RestoreRequest) ([]RestoreOutcome, error) {
	out := make([]RestoreOutcome, len(reqs))
	for i, req := range reqs {
		out[i], _ = l.Restore(ctx, req)
	}
	return out, nil
}

func (l *fakeLocks) CountLocks(context.Context) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.locks), nil
}

// The verify and orphan bookkeeping is not what these tests are about: the fake keeps none.
func (l *fakeLocks) DeleteLock(_ context.Context, tag, value, action string, note HistoryNote) (bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.deletes = append(l.deletes, fakeDelete{tag, value, action, note})
	return l.deleteOK, nil
}
func (l *fakeLocks) ReplaceLock(context.Context, string, RestoreRequest, HistoryNote) (string, bool, error) {
	return "", false, nil
}

// fakeHistory records what is appended from Go.
type fakeHistory struct {
	mu      sync.Mutex
	entries []HistoryEntry
}

func (h *fakeHistory) AppendHistory(_ context.Context, entries ...HistoryEntry) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.entries = append(h.entries, entries...)
	return nil
}
func (l *fakeLocks) Markers(context.Context, []string) (map[string]RestoreMarker, error) {
	return nil, nil
}
func (l *fakeLocks) DropMarker(context.Context, string, RestoreMarker) error { return nil }
func (l *fakeLocks) OrphanSightings(context.Context, []string) (map[string]OrphanSighting, error) {
	return nil, nil
}
func (l *fakeLocks) UpdateOrphans(context.Context, map[string]OrphanSighting, map[string]OrphanSighting) error {
	return nil
}

// fakeRuns keeps the last saved report.
type fakeRuns struct {
	mu   sync.Mutex
	last []byte
}

func (r *fakeRuns) SaveReport(_ context.Context, b []byte) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.last = b
	return nil
}
func (r *fakeRuns) AddTally(context.Context, string, string, int64) error { return nil }

// fixedClock is the shared clock, stopped at one instant.
type fixedClock struct{ at time.Time }

func (c fixedClock) Now(context.Context) (time.Time, error) { return c.at, nil }

// spentBudget refuses every read until next.
type spentBudget struct{ next time.Time }

func (b spentBudget) Take(context.Context) (bool, time.Time, error) { return false, b.next, nil }

// triggers records Retrigger calls.
type triggers struct {
	mu    sync.Mutex
	calls []string // "trigger:tag,tag"
}

func (r *triggers) TriggerTags(_ context.Context, trigger string, tags ...string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	call := trigger + ":"
	for i, t := range tags {
		if i > 0 {
			call += ","
		}
		call += t
	}
	r.calls = append(r.calls, call)
	return nil
}

func (r *triggers) TriggerTagsAt(ctx context.Context, trigger string, _ time.Time, tags ...string) error {
	return r.TriggerTags(ctx, trigger, tags...)
}

// asynqQueue is the real Queue: asynq's client and inspector on one redis-server.
type asynqQueue struct {
	*asynq.Client
	inspector *asynq.Inspector
}

func (q asynqQueue) GetTaskInfo(queue, id string) (*asynq.TaskInfo, error) {
	return q.inspector.GetTaskInfo(queue, id)
}
func (q asynqQueue) DeleteTask(queue, id string) error { return q.inspector.DeleteTask(queue, id) }

// newQueue starts a redis-server and returns the queue on it and its address.
func newQueue(t *testing.T) (asynqQueue, string) {
	t.Helper()
	srv := redisserver.Start(t)
	opt := asynq.RedisClientOpt{Addr: srv.Addr()}
	q := asynqQueue{Client: asynq.NewClient(opt), inspector: asynq.NewInspector(opt)}
	t.Cleanup(func() { _ = q.Client.Close(); _ = q.inspector.Close() })
	return q, srv.Addr()
}

func ctxT(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// restorePayloads decodes the restore tasks of a list.
func restorePayloads(t *testing.T, infos []*asynq.TaskInfo) map[string]RestorePayload {
	t.Helper()
	out := map[string]RestorePayload{}
	for _, info := range infos {
		var p RestorePayload
		if err := json.Unmarshal(info.Payload, &p); err != nil {
			t.Fatal(err)
		}
		out[p.Tag] = p
	}
	return out
}
