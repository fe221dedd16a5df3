package jobs

import (
	"context"
	"testing"
	"time"

	"github.com/hibiken/asynq"
)

func restoreTask(t *testing.T, tag string) (*asynq.Task, string) {
	t.Helper()
	p := RestorePayload{Tag: tag, Holder: "MR(93)", WorkerID: 93, OccupiedAt: time.Now().Add(-time.Hour),
		SnapshotAt: time.Now(), RunID: "run"}
	task, err := DefaultTasks.Restore(p, false)
	if err != nil {
		t.Fatal(err)
	}
	return task, RestoreTaskID(p, false)
}

func taskState(t *testing.T, q asynqQueue, id string) asynq.TaskState {
	t.Helper()
	info, err := q.inspector.GetTaskInfo(QueueRestore, id)
	if err != nil {
		t.Fatalf("task %s: %v", id, err)
	}
	return info.State
}

// TestEnqueueRestoreQueuedIsAlreadyQueued: a restore that is still on its way is not queued
// twice, and stays as it is.
func TestEnqueueRestoreQueuedIsAlreadyQueued(t *testing.T) {
	q, _ := newQueue(t)
	task, id := restoreTask(t, "A")
	if res, err := enqueueRestore(ctxT(t), q, task, id); err != nil || res != enqueued {
		t.Fatalf("first: %v, %v", res, err)
	}
	if res, err := enqueueRestore(ctxT(t), q, task, id); err != nil || res != alreadyQueued {
		t.Fatalf("second: %v, %v; want already queued", res, err)
	}
	if st := taskState(t, q, id); st != asynq.TaskStatePending {
		t.Fatalf("state %v, want pending", st)
	}
}

// TestEnqueueRestoreRequeuesFinished: a TaskID held by a finished restore (completed, kept for
// its result, or archived after its retries) must not block a lock lost again: the old task is
// replaced by a pending one.
func TestEnqueueRestoreRequeuesFinished(t *testing.T) {
	q, addr := newQueue(t)

	// Archived: its retries ran out.
	task, id := restoreTask(t, "ARCHIVED")
	if _, err := enqueueRestore(ctxT(t), q, task, id); err != nil {
		t.Fatal(err)
	}
	if err := q.inspector.ArchiveTask(QueueRestore, id); err != nil {
		t.Fatal(err)
	}
	if res, err := enqueueRestore(ctxT(t), q, task, id); err != nil || res != enqueued {
		t.Fatalf("over an archived task: %v, %v; want queued anew", res, err)
	}
	if st := taskState(t, q, id); st != asynq.TaskStatePending {
		t.Fatalf("state %v, want pending", st)
	}
	if err := q.inspector.DeleteTask(QueueRestore, id); err != nil {
		t.Fatal(err)
	}

	// Completed: run it through a real asynq server, which keeps it (Retention) with its result.
	task, id = restoreTask(t, "COMPLETED")
	if _, err := enqueueRestore(ctxT(t), q, task, id); err != nil {
		t.Fatal(err)
	}
	srv := asynq.NewServer(asynq.RedisClientOpt{Addr: addr}, asynq.Config{
		Concurrency: 1, Queues: map[string]int{QueueRestore: 1}, Logger: quietAsynqLog{},
	})
	done := make(chan struct{}, 1)
	if err := srv.Start(asynq.HandlerFunc(func(context.Context, *asynq.Task) error {
		done <- struct{}{}
		return nil
	})); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the server did not run the restore")
	}
	deadline := time.Now().Add(10 * time.Second)
	for taskState(t, q, id) != asynq.TaskStateCompleted {
		if time.Now().After(deadline) {
			t.Fatalf("restore %s never completed", id)
		}
		time.Sleep(20 * time.Millisecond)
	}
	srv.Shutdown()
	if res, err := enqueueRestore(ctxT(t), q, task, id); err != nil || res != enqueued {
		t.Fatalf("over a completed task: %v, %v; want queued anew", res, err)
	}
	if st := taskState(t, q, id); st != asynq.TaskStatePending {
		t.Fatalf("state %v, want pending", st)
	}
}

// quietAsynqLog keeps asynq's server log out of the test output.
type quietAsynqLog struct{}

func (quietAsynqLog) Debug(...any) {}
func (quietAsynqLog) Info(...any)  {}
func (quietAsynqLog) Warn(...any)  {}
func (quietAsynqLog) Error(...any) {}
func (quietAsynqLog) Fatal(...any) {}
