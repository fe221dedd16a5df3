package jobs

import (
	"testing"
	"time"
)

func TestLookDue(t *testing.T) {
	base := time.Date(2026, 5, 13, 11, 33, 48, 0, time.UTC)
	for _, tt := range []struct {
		at, want time.Time
	}{
		{base, base},
		{base.Add(time.Nanosecond), base.Add(time.Second)},
		{base.Add(999 * time.Millisecond), base.Add(time.Second)},
	} {
		if got := LookDue(tt.at); !got.Equal(tt.want) {
			t.Errorf("LookDue(%v) = %v, want %v", tt.at, got, tt.want)
		}
	}
}

// TestLookTask: the same look asked for twice (tags in another order, repeated, at another
// instant of the same second) is one TaskID; another trigger, second or tag set is another.
func TestLookTask(t *testing.T) {
	at := time.Date(2026, 5, 13, 11, 33, 48, 200e6, time.UTC)
	a, err := DefaultTasks.Look(TriggerVerify, at, "MK-2", "MK-1", "MK-2")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := DefaultTasks.Look(TriggerVerify, at.Add(500*time.Millisecond), "MK-1", "MK-2")
	p, err := DecodeLookPayload(a.Payload())
	if err != nil {
		t.Fatal(err)
	}
	if p.Trigger != TriggerVerify || len(p.Spools) != 2 || p.Spools[0] != "MK-1" || !p.Due.Equal(LookDue(at)) {
		t.Fatalf("payload %+v", p)
	}
	id := LookTaskID(TriggerVerify, p.Due, p.Spools)
	if string(b.Payload()) != string(a.Payload()) || a.Type() != TypeLook {
		t.Fatalf("the same look twice: %s / %s", a.Payload(), b.Payload())
	}
	others := []string{
		LookTaskID(TriggerOrphan, p.Due, p.Spools),
		LookTaskID(TriggerVerify, p.Due.Add(time.Second), p.Spools),
		LookTaskID(TriggerVerify, p.Due, []string{"MK-1"}),
		LookTaskID(TriggerVerify, p.Due, []string{"MK-1\x00MK-2"}),
	}
	for _, o := range others {
		if o == id {
			t.Errorf("another look has the same TaskID %s", id)
		}
	}
}
