package worker

import (
	"context"
	"errors"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
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
	rdb redis.UniversalClient
}

// GetTaskInfo is the inspector's, with a stateless leftover reported as a completed task.
func (q queue) GetTaskInfo(qname, id string) (*asynq.TaskInfo, error) {
	info, err := q.Inspector.GetTaskInfo(qname, id)
	if err == nil || errors.Is(err, asynq.ErrTaskNotFound) {
		return info, err
	}
	// Any other failure (a state asynq cannot read; the queue registry lost with the rest of
	// Redis) may be a leftover.
	if q.isLeftover(qname, id) {
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
	if n, derr := deleteLeftoverScript.Run(context.Background(), q.rdb, []string{taskKey(qname, id)}).Int(); derr == nil && n == 1 {
		return nil
	}
	return err
}

func (q queue) isLeftover(qname, id string) bool {
	fields, err := q.rdb.HKeys(context.Background(), taskKey(qname, id)).Result()
	if err != nil || len(fields) == 0 {
		return false
	}
	for _, f := range fields {
		if f == "state" {
			return false
		}
	}
	return true
}

// taskKey is asynq's key of a task's hash (internal/base.TaskKey in asynq v0.26);
// TestLeftoverTaskHash fails if asynq stores tasks elsewhere.
func taskKey(qname, id string) string { return "asynq:{" + qname + "}:t:" + id }

// deleteLeftoverScript deletes a task hash only while it still has no state, so a task that
// asynq wrote meanwhile under the same ID is never touched.
var deleteLeftoverScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 1 and not redis.call('HGET', KEYS[1], 'state') then
  return redis.call('DEL', KEYS[1])
end
return 0
`)
