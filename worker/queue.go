package worker

import (
	"context"
	"errors"

	"github.com/hibiken/asynq"
)

// queue joins the asynq client and inspector into jobs.Queue, and makes up for one gap in
// asynq: a task hash left with no state.
//
// asynq's ResultWriter is a plain HSET of the task's hash. When Redis restarts empty while a
// handler runs, the handler's result write creates a new hash holding only the result: no
// state, no TTL, in no queue. asynq then answers every Enqueue of that TaskID with a conflict,
// its Inspector cannot read the task ("" is not a supported state) and its DeleteTask script
// fails on it, so a restore TaskID (derived from tag + holder + time) would stay blocked, and
// every reconcile that needs it would fail, until someone deleted the key by hand. Such a
// leftover is what remains of a task that finished: GetTaskInfo reports it as completed, and
// DeleteTask deletes it, which is what the restore path already does with a finished task
// that holds its TaskID.
type queue struct {
	*asynq.Client
	*asynq.Inspector
	hashes TaskHashes
}

// GetTaskInfo is the inspector's, with a stateless leftover reported as a completed task.
func (q queue) GetTaskInfo(qname, id string) (*asynq.TaskInfo, error) {
	info, err := q.Inspector.GetTaskInfo(qname, id)
	if err == nil || errors.Is(err, asynq.ErrTaskNotFound) {
		return info, err
	}
	// Any other failure (a state asynq cannot read; the queue registry lost with the rest of
	// Redis) may be a leftover.
	if left, lerr := q.hashes.IsLeftoverTask(context.Background(), qname, id); lerr == nil && left {
		return &asynq.TaskInfo{ID: id, Queue: qname, State: asynq.TaskStateCompleted}, nil
	}
	return nil, err
}

// DeleteTask is the inspector's, and deletes a stateless leftover, which the inspector cannot.
func (q queue) DeleteTask(qname, id string) error {
	err := q.Inspector.DeleteTask(qname, id)
	if err == nil || errors.Is(err, asynq.ErrTaskNotFound) {
		return err
	}
	if deleted, derr := q.hashes.DeleteLeftoverTask(context.Background(), qname, id); derr == nil && deleted {
		return nil
	}
	return err
}
