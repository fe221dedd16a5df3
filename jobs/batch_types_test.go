package jobs

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
)

func sampleBatch() RestoreBatchPayload {
	santiago, _ := time.LoadLocation("America/Santiago")
	at := time.Date(2026, 5, 13, 8, 41, 7, 0, santiago)
	return RestoreBatchPayload{RunID: "run-1", Trigger: TriggerRedisRestart, SnapshotAt: at.Add(time.Hour).UTC(),
		Spools: []BatchedSpool{
			{Tag: "MK-1335-CW-25238-011", Holder: "MR(93)", WorkerID: 93, OccupiedAt: at, Row: 2},
			{Tag: `Q "quoted" / ñandú`, Holder: "JP(7)", WorkerID: 7, OccupiedAt: at.Add(-time.Minute), Row: 90000},
		}}
}

// sameBatch compares payloads by instant for times (the stored form keeps unix ms, not zones).
func sameBatch(a, b RestoreBatchPayload) bool {
	if a.RunID != b.RunID || a.Trigger != b.Trigger || !a.SnapshotAt.Equal(b.SnapshotAt) || len(a.Spools) != len(b.Spools) {
		return false
	}
	for i := range a.Spools {
		x, y := a.Spools[i], b.Spools[i]
		if x.Tag != y.Tag || x.Holder != y.Holder || x.WorkerID != y.WorkerID || x.Row != y.Row || !x.OccupiedAt.Equal(y.OccupiedAt) {
			return false
		}
	}
	return true
}

// TestBatchPayloadRoundTrip: a batch comes back as it was queued, its spools stored as parallel
// arrays (not a list of objects).
func TestBatchPayloadRoundTrip(t *testing.T) {
	p := sampleBatch()
	b, err := EncodeRestoreBatchPayload(p)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), `"spools"`) || !strings.Contains(string(b), `"tags":["MK-1335-CW-25238-011",`) {
		t.Fatalf("stored form: %s", b)
	}
	got, err := DecodeRestoreBatchPayload(b)
	if err != nil || !sameBatch(got, p) {
		t.Fatalf("round trip: %+v, %v; want %+v", got, err, p)
	}
}

// TestBatchPayloadOlderForm: a batch queued by a worker of the earlier version (spools as a
// list of objects) is still read, so a deploy does not drop the restores in the queue.
func TestBatchPayloadOlderForm(t *testing.T) {
	p := sampleBatch()
	type older struct {
		RunID      string         `json:"run_id"`
		Trigger    string         `json:"trigger"`
		SnapshotAt time.Time      `json:"snapshot_at"`
		Spools     []BatchedSpool `json:"spools"`
	}
	b, err := json.Marshal(older{p.RunID, p.Trigger, p.SnapshotAt, p.Spools})
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeRestoreBatchPayload(b)
	if err != nil || !sameBatch(got, p) {
		t.Fatalf("older form: %+v, %v", got, err)
	}
}

// TestBatchPayloadRefusesMismatchedArrays: arrays of different lengths would pair a tag with
// another spool's holder or time: the payload is refused, never half-read.
func TestBatchPayloadRefusesMismatchedArrays(t *testing.T) {
	for _, body := range []string{
		`{"run_id":"r","tags":["A","B"],"holders":["MR(93)"],"worker_ids":[93,7],"occupied_at_ms":[1,2],"rows":[2,3]}`,
		`{"run_id":"r","tags":["A"],"holders":["MR(93)"],"worker_ids":[93],"occupied_at_ms":[1],"rows":[]}`,
		`{"run_id":"r","tags":["A"],"holders":["MR(93)"],"worker_ids":[93],"occupied_at_ms":[1],"rows":[2],"spools":[{"tag":"B"}]}`,
		`{"run_id":"r","tags":["A"],"holders":["MR(93)"],"worker_ids":["93"],"occupied_at_ms":[1],"rows":[2]}`,
	} {
		if p, err := DecodeRestoreBatchPayload([]byte(body)); err == nil {
			t.Errorf("%s: accepted as %+v", body, p)
		}
	}
}

// FuzzRestoreBatchPayload: any bytes either fail to decode or decode to a batch that survives
// its own round trip; nothing panics.
func FuzzRestoreBatchPayload(f *testing.F) {
	b, _ := EncodeRestoreBatchPayload(sampleBatch())
	f.Add(b)
	f.Add([]byte(`{"run_id":"r","spools":[{"tag":"A","holder":"MR(93)","worker_id":93,"occupied_at":"2026-05-13T08:41:07-04:00","row":2}]}`))
	f.Add([]byte(`{"tags":[],"holders":[]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		p, err := DecodeRestoreBatchPayload(body)
		if err != nil {
			return
		}
		again, err := EncodeRestoreBatchPayload(p)
		if err != nil {
			return // a time outside what encoding/json writes (year > 9999): refused, not lost
		}
		q, err := DecodeRestoreBatchPayload(again)
		if err != nil {
			t.Fatalf("re-decode of %s: %v", again, err)
		}
		// Times are kept to the millisecond.
		for i := range p.Spools {
			p.Spools[i].OccupiedAt = time.UnixMilli(p.Spools[i].OccupiedAt.UnixMilli())
		}
		if !sameBatch(p, q) {
			t.Fatalf("round trip changed the batch:\n%+v\n%+v", p, q)
		}
	})
}

// BenchmarkBatchPayload encodes and decodes a 500-spool batch in the stored form and, for
// comparison, in the earlier list-of-objects form:
//
//	go test -run '^$' -bench BatchPayload -count 5 ./jobs/
func BenchmarkBatchPayload(b *testing.B) {
	p := sampleBatch()
	for len(p.Spools) < RestoreBatchSize {
		s := p.Spools[0]
		s.Tag, s.Row = fmt.Sprintf("MK-1335-CW-%05d", len(p.Spools)), len(p.Spools)+2
		p.Spools = append(p.Spools, s)
	}
	type older struct {
		RunID      string         `json:"run_id"`
		Trigger    string         `json:"trigger"`
		SnapshotAt time.Time      `json:"snapshot_at"`
		Spools     []BatchedSpool `json:"spools"`
	}
	old := older{p.RunID, p.Trigger, p.SnapshotAt, p.Spools}
	oldBody, _ := json.Marshal(old)
	body, _ := EncodeRestoreBatchPayload(p)
	b.Run("encode/arrays", func(b *testing.B) {
		for b.Loop() {
			if _, err := EncodeRestoreBatchPayload(p); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encode/objects", func(b *testing.B) {
		for b.Loop() {
			if _, err := json.Marshal(old); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("decode/arrays", func(b *testing.B) {
		for b.Loop() {
			if q, err := DecodeRestoreBatchPayload(body); err != nil || len(q.Spools) != len(p.Spools) {
				b.Fatal(err)
			}
		}
	})
	b.Run("decode/objects", func(b *testing.B) {
		for b.Loop() {
			if q, err := DecodeRestoreBatchPayload(oldBody); err != nil || len(q.Spools) != len(p.Spools) {
				b.Fatal(err)
			}
		}
	})
}
