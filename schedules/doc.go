// Package schedules registers RECONCILE_SCHEDULE with asynq's scheduler so that each tick
// queues one reconcile across all replicas.
//
// asynq's Scheduler has no coordination: every process (and Railway runs the old and the new
// deployment side by side for a while) enqueues every tick. The tick is deduplicated by a
// TaskID derived from its time slot (Spec.SlotID), so the second replica gets
// asynq.ErrTaskIDConflict. The Scheduler freezes the options given to Register, but its
// PreEnqueueFunc receives that very slice (enqueueJob.Run passes j.opts to it and then to
// Client.Enqueue), so Entry rewrites the TaskID element in place before every enqueue.
//
// That slice is also read by the scheduler's heartbeat goroutine (beat → stringifyOptions),
// so an unsynchronised rewrite is a data race. Entry brackets the TaskID with two inert
// options whose String methods take the same lock as the rewrite (see fence.go).
//
// Wiring (the scheduler must carry only this entry; register others on another scheduler):
//
//	spec, err := schedules.Parse(os.Getenv("RECONCILE_SCHEDULE")) // exit 1 on error
//	if spec != nil { // nil: "off"
//		entry := schedules.NewEntry(spec, log)
//		opts := &asynq.SchedulerOpts{Location: zone, Logger: asynqLogger}
//		entry.Install(opts) // chains any PreEnqueueFunc/PostEnqueueFunc already set
//		sched := asynq.NewSchedulerFromRedisClient(rdb, opts)
//		if _, err := entry.Register(sched, reconcileDeadline); err != nil { … }
//		if err := sched.Start(); err != nil { … }
//		defer sched.Shutdown()
//	}
//
// Shutdown does not close rdb: a scheduler built by NewSchedulerFromRedisClient holds a
// shared-connection Client whose Close refuses, so Shutdown logs at error level "Failed to
// close redis client connection: redis connection is shared so the Client can't be closed
// through asynq" — expected and harmless. (asynq.NewScheduler with a RedisConnOpt would make
// and close its own pool instead.)
package schedules
