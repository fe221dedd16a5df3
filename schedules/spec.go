package schedules

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
)

// SlotPrefix starts every scheduled reconcile's TaskID.
const SlotPrefix = "reconcile:schedule:"

// Spec is a parsed RECONCILE_SCHEDULE.
type Spec struct {
	// Raw is the spec as registered with asynq (trimmed).
	Raw string
	// Schedule is the parsed spec (robfig/cron v3's standard parser, the one asynq uses).
	Schedule cron.Schedule
	// Period is the length of a dedup slot: the delay of an @every spec, else one minute
	// (standard specs and descriptors never fire twice in a minute).
	Period time.Duration
}

// Parse validates RECONCILE_SCHEDULE: "off" (any case) gives (nil, nil); anything else must be a
// 5-field cron spec or a descriptor (@every 1m, @hourly, …).
func Parse(spec string) (*Spec, error) {
	raw := strings.TrimSpace(spec)
	if strings.EqualFold(raw, "off") {
		return nil, nil
	}
	if raw == "" {
		return nil, fmt.Errorf("RECONCILE_SCHEDULE is empty: %s", specHelp)
	}
	sched, err := cron.ParseStandard(raw)
	if err != nil {
		return nil, fmt.Errorf("RECONCILE_SCHEDULE %q: %w; %s", raw, err, specHelp)
	}
	period := time.Minute
	if every, ok := sched.(cron.ConstantDelaySchedule); ok {
		period = every.Delay // whole seconds, at least 1s (cron.Every)
	}
	return &Spec{Raw: raw, Schedule: sched, Period: period}, nil
}

const specHelp = `use a 5-field cron spec such as "*/5 * * * *", a descriptor such as "@every 1m" or "@hourly", or "off"`

// SlotID is the TaskID of the tick at t: SlotPrefix + floor(unix seconds / Period).
//
// Cron specs and descriptors fire on wall-clock minutes, each replica when its own clock gets
// there, so all replicas name the same slot while wake-up delay plus clock skew stay under a
// minute. @every ticks are anchored at each process's start (robfig/cron ConstantDelaySchedule,
// on whole seconds), so replicas have different phases; each still fires exactly once per slot
// (wake-up delays under a second), and the first replica to fire in a slot queues it: one run
// per Period across replicas.
func (s *Spec) SlotID(t time.Time) string {
	period := int64(s.Period / time.Second)
	if period < 1 {
		period = 60
	}
	u := t.Unix()
	slot := u / period
	if u%period < 0 {
		slot-- // floor before 1970
	}
	return SlotPrefix + strconv.FormatInt(slot, 10)
}
