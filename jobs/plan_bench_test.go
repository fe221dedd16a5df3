package jobs

import (
	"fmt"
	"testing"
	"time"
)

// BenchmarkMakePlan plans a 100,000-row sheet with 20,000 occupied spools, against no lock
// (a Redis that came back empty) and against every lock in place (the steady state):
//
//	go test -run '^$' -bench MakePlan -count 5 ./jobs/
func BenchmarkMakePlan(b *testing.B) {
	santiago, err := time.LoadLocation("America/Santiago")
	if err != nil {
		b.Fatal(err)
	}
	now := time.Date(2026, 5, 13, 12, 0, 0, 0, santiago)
	rows := make([]Row, 100_000)
	locks := map[string]Lock{}
	for i := range rows {
		r := Row{Number: i + 2, Tag: fmt.Sprintf("MK-1335-CW-%06d", i)}
		if i%5 == 0 {
			at := now.Add(-time.Duration(i%3600) * time.Second)
			id := i%97 + 1
			r.Holder, r.Date, r.DateState, r.OccupiedAt = fmt.Sprintf("MR(%d)", id), at.Format("02-01-2006 15:04:05"), DateValid, at
			locks[r.Tag] = Lock{Value: fmt.Sprintf("%d:0b7f5c62-1111-4222-8333-444455556666:%s", id, at.Format("02-01-2006 15:04:05")),
				WorkerID: id, At: at}
		}
		rows[i] = r
	}
	for _, c := range []struct {
		name  string
		locks map[string]Lock
		want  int
	}{{"recovery", map[string]Lock{}, 20_000}, {"steady", locks, 0}} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				if p := MakePlan(rows, c.locks, now, DefaultRules, nil); len(p.Restores) != c.want {
					b.Fatalf("%d restores, want %d", len(p.Restores), c.want)
				}
			}
		})
	}
}

// BenchmarkOccupations: the snapshot's occupations of 100,000 rows, 20,000 taken (the trust
// verdict's input, computed beside the plan).
//
//	go test -run '^$' -bench Occupations -count 3 -benchmem ./jobs/
func BenchmarkOccupations(b *testing.B) {
	rows := make([]Row, 100_000)
	for i := range rows {
		rows[i] = Row{Number: i + 2, Tag: fmt.Sprintf("MK-1335-CW-%06d", i)}
		if i%5 == 0 {
			rows[i].Holder = fmt.Sprintf("MR(%d)", i%97+1)
		}
	}
	for b.Loop() {
		if n := len(Occupations(rows)); n != 20_000 {
			b.Fatalf("%d occupations, want 20,000", n)
		}
	}
}
