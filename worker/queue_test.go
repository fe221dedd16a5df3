package worker

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"reconciler/adapters/redislock"
	"reconciler/tests/redisserver"
)

// TestLeftoverTaskHash reproduces, with asynq itself, the hash a handler leaves when Redis
// restarts empty under it and it then writes its result, and checks that the queue adapter
// lets the TaskID be used again (which asynq alone does not).
func TestLeftoverTaskHash(t *testing.T) {
	rds := redisserver.Start(t)
	rdb := redis.NewClient(&redis.Options{Addr: rds.Addr(), PoolSize: 20})
	t.Cleanup(func() { _ = rdb.Close() })
	client := asynq.NewClientFromRedisClient(rdb)
	insp := asynq.NewInspectorFromRedisClient(rdb)
	q := queue{client, insp, redislock.New(rdb, redislock.Options{})}
	const qname, id = "restore", "restore:leftover-1"

	started, release, handled := make(chan struct{}, 4), make(chan struct{}), make(chan string, 4)
	srv := asynq.NewServerFromRedisClient(rdb, asynq.Config{
		Concurrency: 1, Queues: map[string]int{qname: 1}, LogLevel: asynq.FatalLevel,
		TaskCheckInterval: 50 * time.Millisecond, ShutdownTimeout: time.Second,
	})
	if err := srv.Start(asynq.HandlerFunc(func(ctx context.Context, task *asynq.Task) error {
		started <- struct{}{}
		if string(task.Payload()) == "first" {
			<-release
		}
		_, err := task.ResultWriter().Write([]byte(`{"outcome":"restored"}`))
		handled <- string(task.Payload())
		return err
	})); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)

	task := func(payload string) *asynq.Task {
		return asynq.NewTask("lock:restore", []byte(payload), asynq.Queue(qname), asynq.TaskID(id), asynq.Retention(time.Hour))
	}
	if _, err := client.Enqueue(task("first")); err != nil {
		t.Fatal(err)
	}
	<-started
	rds.MustDo("FLUSHALL") // Redis "restarted empty" while the handler runs
	close(release)
	if got := <-handled; got != "first" {
		t.Fatalf("handled %q", got)
	}
	key := redislock.AsynqTaskKey(qname, id)
	if !redisserver.WaitFor(context.Background(), 5*time.Second, func() bool { return rds.MustDo("EXISTS", key) == "1" }) {
		t.Fatalf("the result write did not create %s: has asynq moved its task hashes?", key)
	}
	if state := rds.MustDo("HGET", key, "state"); state != "" {
		t.Fatalf("leftover hash has state %q, want none", state)
	}
	rds.MustDo("SADD", "asynq:queues", qname) // as the restart watcher does

	// asynq alone: the TaskID is taken, the task cannot be read, nor deleted.
	if _, err := client.Enqueue(task("second")); !errors.Is(err, asynq.ErrTaskIDConflict) {
		t.Fatalf("Enqueue over the leftover: %v, want a TaskID conflict", err)
	}
	if _, err := insp.GetTaskInfo(qname, id); err == nil {
		t.Fatal("asynq's inspector read the leftover; the adapter may no longer be needed")
	}

	// The adapter: a finished task, deletable, and the TaskID works again.
	info, err := q.GetTaskInfo(qname, id)
	if err != nil || info.State != asynq.TaskStateCompleted {
		t.Fatalf("adapter GetTaskInfo = %+v, %v; want a completed task", info, err)
	}
	if err := q.DeleteTask(qname, id); err != nil {
		t.Fatalf("adapter DeleteTask: %v", err)
	}
	if _, err := q.EnqueueContext(context.Background(), task("second")); err != nil {
		t.Fatalf("Enqueue after deleting the leftover: %v", err)
	}
	select {
	case got := <-handled:
		if got != "second" {
			t.Fatalf("handled %q, want second", got)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the re-queued task did not run")
	}
}

// The leftover script never deletes a real task.
func TestDeleteLeftoverKeepsRealTasks(t *testing.T) {
	rds := redisserver.Start(t)
	rdb := redis.NewClient(&redis.Options{Addr: rds.Addr()})
	t.Cleanup(func() { _ = rdb.Close() })
	client := asynq.NewClientFromRedisClient(rdb)
	store := redislock.New(rdb, redislock.Options{})
	q := queue{client, asynq.NewInspectorFromRedisClient(rdb), store}
	if _, err := client.Enqueue(asynq.NewTask("lock:restore", nil, asynq.Queue("restore"), asynq.TaskID("real"))); err != nil {
		t.Fatal(err)
	}
	deleted, err := store.DeleteLeftoverTask(context.Background(), "restore", "real")
	if err != nil || deleted || rds.MustDo("EXISTS", redislock.AsynqTaskKey("restore", "real")) != "1" {
		t.Fatalf("leftover delete on a pending task: deleted %v, %v", deleted, err)
	}
	if info, err := q.GetTaskInfo("restore", "real"); err != nil || info.State != asynq.TaskStatePending {
		t.Fatalf("GetTaskInfo of a pending task = %+v, %v", info, err)
	}
	if _, err := q.GetTaskInfo("restore", "absent"); !errors.Is(err, asynq.ErrTaskNotFound) {
		t.Fatalf("GetTaskInfo of an absent task: %v, want ErrTaskNotFound", err)
	}
}
