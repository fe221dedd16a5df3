package schedules

import (
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestParseAccepts(t *testing.T) {
	cases := map[string]time.Duration{
		"*/5 * * * *":        time.Minute,
		"  0 8 * * 1-5 ":     time.Minute,
		"@hourly":            time.Minute,
		"@every 1s":          time.Second,
		"@every 90s":         90 * time.Second,
		"@every 1500ms":      time.Second, // cron.Every truncates to whole seconds
		"CRON_TZ=UTC @daily": time.Minute,
	}
	for in, period := range cases {
		s, err := Parse(in)
		if err != nil {
			t.Errorf("Parse(%q): %v", in, err)
			continue
		}
		if s.Period != period || s.Raw != strings.TrimSpace(in) || s.Schedule == nil {
			t.Errorf("Parse(%q) = %+v, want period %v", in, s, period)
		}
	}
}

func TestParseOff(t *testing.T) {
	for _, in := range []string{"off", "OFF", " Off "} {
		if s, err := Parse(in); s != nil || err != nil {
			t.Errorf("Parse(%q) = %v, %v; want nil, nil", in, s, err)
		}
	}
}

func TestParseRejects(t *testing.T) {
	for _, in := range []string{"", "garbage", "* * * *", "*/5 * * * * *", "61 * * * *", "@sometimes", "on"} {
		s, err := Parse(in)
		if err == nil {
			t.Errorf("Parse(%q) = %+v, want an error", in, s)
			continue
		}
		for _, want := range []string{"RECONCILE_SCHEDULE", `"*/5 * * * *"`, "@every 1m", "off"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("Parse(%q) error %q does not mention %s", in, err, want)
			}
		}
	}
}

func TestSlotID(t *testing.T) {
	base := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	cases := []struct {
		spec       string
		same, next time.Duration // offsets from base: same slot, first instant of the next
	}{
		{"@every 1s", 999 * time.Millisecond, time.Second},
		{"*/5 * * * *", 59*time.Second + 999*time.Millisecond, time.Minute},
		{"@hourly", 59 * time.Second, time.Minute},
	}
	for _, c := range cases {
		s, err := Parse(c.spec)
		if err != nil {
			t.Fatal(err)
		}
		id := s.SlotID(base)
		if !strings.HasPrefix(id, SlotPrefix) {
			t.Errorf("%s: SlotID = %q", c.spec, id)
		}
		if got := s.SlotID(base.Add(c.same)); got != id {
			t.Errorf("%s: SlotID(+%v) = %q, want %q (same slot)", c.spec, c.same, got, id)
		}
		if got := s.SlotID(base.Add(c.next)); got == id {
			t.Errorf("%s: SlotID(+%v) = %q, want a new slot", c.spec, c.next, got)
		}
		if got := s.SlotID(base.Add(-time.Nanosecond)); got == id {
			t.Errorf("%s: the instant before the slot is in the slot", c.spec)
		}
		// The same instant in another zone is the same slot.
		if got := s.SlotID(base.In(time.FixedZone("CLT", -3*3600))); got != id {
			t.Errorf("%s: SlotID depends on the zone", c.spec)
		}
	}
}

// Cron specs fire on wall-clock minutes, so every replica names the same slot for a tick even
// when it fires late (scheduler wake-up, clock skew) by less than the slot.
func TestSlotIDCronTickSharedAcrossReplicas(t *testing.T) {
	for _, spec := range []string{"*/5 * * * *", "@hourly", "0 8 * * 1-5"} {
		s, err := Parse(spec)
		if err != nil {
			t.Fatal(err)
		}
		seen := map[string]bool{}
		tick := time.Date(2026, 3, 1, 11, 58, 7, 0, time.UTC)
		for i := 0; i < 20; i++ {
			tick = s.Schedule.Next(tick)
			id := s.SlotID(tick)
			if seen[id] {
				t.Errorf("%s: tick %v reuses slot %s", spec, tick, id)
			}
			seen[id] = true
			for _, late := range []time.Duration{time.Millisecond, 800 * time.Millisecond, 59 * time.Second} {
				if got := s.SlotID(tick.Add(late)); got != id {
					t.Errorf("%s: tick %v fired %v late names %s, want %s", spec, tick, late, got, id)
				}
			}
		}
	}
}

// @every ticks are anchored at each process's start (whole seconds), so replicas have different
// phases. Whatever the phase, and with wake-up delays under a second, each replica fires exactly
// once per slot: every slot is queued once, by whichever replica fires first in it.
func TestSlotIDEveryOncePerSlotPerReplica(t *testing.T) {
	for _, spec := range []string{"@every 1s", "@every 7s", "@every 90s", "@every 1m"} {
		s, err := Parse(spec)
		if err != nil {
			t.Fatal(err)
		}
		for _, startOffset := range []time.Duration{0, 13*time.Second + 400*time.Millisecond, 44 * time.Second, 89*time.Second + 900*time.Millisecond} {
			start := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC).Add(startOffset)
			tick, prev := start, int64(0)
			for i := 0; i < 50; i++ {
				tick = s.Schedule.Next(tick)
				fired := tick.Add(time.Duration(i%10) * 99 * time.Millisecond) // delays 0-891ms
				slot := slotNumber(t, s.SlotID(fired))
				if slot != slotNumber(t, s.SlotID(tick)) {
					t.Errorf("%s from %v: tick %v fired at %v changes slot", spec, start, tick, fired)
				}
				if i > 0 && slot != prev+1 {
					t.Errorf("%s from %v: tick %d in slot %d after slot %d, want consecutive slots", spec, start, i, slot, prev)
				}
				prev = slot
				tick = fired // robfig/cron computes the next tick from the wake-up time
			}
		}
	}
}

func slotNumber(t *testing.T, id string) int64 {
	t.Helper()
	n, err := strconv.ParseInt(strings.TrimPrefix(id, SlotPrefix), 10, 64)
	if err != nil {
		t.Fatalf("slot ID %q: %v", id, err)
	}
	return n
}
