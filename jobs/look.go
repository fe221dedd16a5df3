package jobs

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/hibiken/asynq"
)

// TypeLook is a delayed look: a targeted reconcile asked for at a later time (a restore's
// verification, an orphan's grace ending, the look after a release). It is an asynq task
// scheduled for its time (ProcessAt), so it lives in Redis, shows in asynqmon as scheduled,
// and survives a restart, a crash or a change of replica: any worker carries it out when it is
// due. Its handler queues the targeted reconcile into its trigger's group, where looks due
// together are aggregated into one run (asynq moves a scheduled task to pending without its
// group, so the group cannot be the scheduled task's own).
const TypeLook = "look:due"

// LookRetention is how long a finished look stays visible in asynqmon (and holds its TaskID,
// which names a due second already past, so it blocks nothing).
const LookRetention = time.Hour

// LookPayload is the payload of look:due.
type LookPayload struct {
	Trigger string    `json:"trigger"`
	Spools  []string  `json:"spools"` // sorted, without repeats
	Due     time.Time `json:"due"`    // the whole second it was scheduled for
}

// LookDue is when a look asked for at is scheduled: at rounded up to the whole second (never
// early), so the same request made twice names the same second.
func LookDue(at time.Time) time.Time {
	due := at.Truncate(time.Second)
	if due.Before(at) {
		due = due.Add(time.Second)
	}
	return due
}

// LookTaskID names a look by its trigger, its due second and its sorted tags: the same look
// asked for twice (two runs, two replicas, a retried task) is one task.
func LookTaskID(trigger string, due time.Time, tags []string) string {
	h := sha256.New()
	for _, tag := range tags { // length-prefixed: no two tag lists hash the same text
		h.Write([]byte(strconv.Itoa(len(tag)) + ":" + tag))
	}
	return "look:" + trigger + ":" + strconv.FormatInt(due.Unix(), 10) + ":" + hex.EncodeToString(h.Sum(nil)[:12])
}

// Look builds the look:due task for tags at at: scheduled for LookDue(at) (ProcessAt), TaskID
// LookTaskID over the sorted, unique tags, in the reconcile queue, with the restore deadline
// (its handler only queues a reconcile) and retries like a reconcile.
func (t Tasks) Look(trigger string, at time.Time, tags ...string) (*asynq.Task, error) {
	spools := slices.Clone(tags)
	slices.Sort(spools)
	spools = slices.Compact(spools)
	p := LookPayload{Trigger: trigger, Spools: spools, Due: LookDue(at).UTC()}
	body, err := json.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("encode look payload: %w", err)
	}
	return asynq.NewTask(TypeLook, body,
		asynq.Queue(QueueReconcile), asynq.TaskID(LookTaskID(trigger, p.Due, spools)), asynq.ProcessAt(p.Due),
		asynq.Timeout(wholeSeconds(t.restoreDeadline())), asynq.Retention(LookRetention), asynq.MaxRetry(5),
	), nil
}

// DecodeLookPayload reads a look:due payload.
func DecodeLookPayload(b []byte) (LookPayload, error) {
	var p LookPayload
	if err := json.Unmarshal(b, &p); err != nil {
		return p, fmt.Errorf("decode look payload: %w", err)
	}
	return p, nil
}
