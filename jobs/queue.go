package jobs

import (
	"context"
	"errors"
	"fmt"

	"github.com/hibiken/asynq"
)

// enqueueResult says what happened to one restore task.
type enqueueResult int

const (
	enqueued enqueueResult = iota
	alreadyQueued
)

// enqueueRestore queues a restore. A TaskID that is taken by a pending, scheduled, retrying or
// active task means the restore is already on its way. A TaskID held only by a finished task
// (kept for a day so people can read its result) must not block a lock lost again: that task is
// deleted and the restore queued anew.
func enqueueRestore(ctx context.Context, q Queue, task *asynq.Task, id string) (enqueueResult, error) {
	for attempt := 0; attempt < 3; attempt++ {
		_, err := q.EnqueueContext(ctx, task)
		if err == nil {
			return enqueued, nil
		}
		if !errors.Is(err, asynq.ErrTaskIDConflict) {
			return 0, fmt.Errorf("enqueue %s: %w", id, err)
		}
		info, err := q.GetTaskInfo(QueueRestore, id)
		switch {
		case errors.Is(err, asynq.ErrTaskNotFound):
			continue // finished and deleted meanwhile: try again
		case err != nil:
			return 0, fmt.Errorf("inspect queued %s: %w", id, err)
		}
		if attempt > 0 || (info.State != asynq.TaskStateCompleted && info.State != asynq.TaskStateArchived) {
			return alreadyQueued, nil
		}
		if err := q.DeleteTask(QueueRestore, id); err != nil && !errors.Is(err, asynq.ErrTaskNotFound) {
			return 0, fmt.Errorf("delete finished %s: %w", id, err)
		}
	}
	return alreadyQueued, nil
}
