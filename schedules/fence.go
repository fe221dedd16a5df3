package schedules

import (
	"time"

	"github.com/hibiken/asynq"
)

// fenceOption is an inert asynq.Option (Client.Enqueue's composeOptions ignores option types
// it does not know) placed before and after the per-tick TaskID in the registered options.
//
// The scheduler's heartbeat goroutine (Scheduler.beat) calls String on every registered option,
// in order, to publish the entry to Redis for asynqmon, while ticks rewrite the TaskID element
// on their own goroutines. The opening fence takes the entry's lock and the closing fence
// releases it, so the heartbeat reads the TaskID under the same lock as the rewrite. A hold is
// bounded: should a String call ever come without its pair, the lock is released after
// fenceHold, and an opening fence that cannot get the lock within fenceWait reads without it
// rather than stall the heartbeat.
type fenceOption struct {
	e    *Entry
	open bool
}

const (
	fenceWait = 2 * time.Second
	fenceHold = 5 * time.Second
)

// fenceType is outside asynq's OptionType range.
//
// String must keep a "(": asynq's Inspector.SchedulerEntries re-parses the stored strings with
// parseOptionFunc, which slices up to the first "(" and would panic without one (it then
// drops the unknown name, so asynqmon shows neither the fences nor the TaskID).
const fenceType asynq.OptionType = -1

func (f fenceOption) String() string {
	if f.open {
		f.e.fenceEnter()
		return "PerTickTaskID(" + f.e.spec.Period.String() + " slots)"
	}
	f.e.fenceLeave()
	return "PerTickTaskID(end)"
}

func (f fenceOption) Type() asynq.OptionType { return fenceType }
func (f fenceOption) Value() any             { return nil }

func (e *Entry) fenceEnter() {
	select {
	case e.sem <- struct{}{}:
	case <-time.After(fenceWait):
		return
	}
	gen := e.fenceGen.Add(1)
	e.fence.Store(gen)
	time.AfterFunc(fenceHold, func() {
		if e.fence.CompareAndSwap(gen, 0) {
			<-e.sem
		}
	})
}

func (e *Entry) fenceLeave() {
	if gen := e.fence.Load(); gen != 0 && e.fence.CompareAndSwap(gen, 0) {
		<-e.sem
	}
}
