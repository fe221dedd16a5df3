package worker

import (
	"time"

	"reconciler/jobs"
)

// ExplainStore is what explain reads in Redis: one spool's state, the history and the shared
// clock. It writes nothing through it.
type ExplainStore interface {
	jobs.SpoolReader
	jobs.HistoryReader
	jobs.Clock
}

// NewExplainer builds the explainer `reconciler explain` and GET /spools/ share, from the
// configuration: the rules, RELEASE_SETTLE, ORPHAN_GRACE, TIMEZONE and the schedule (the next
// full reconcile is when a missing lock is restored at the latest). suspect nil: never suspect.
func NewExplainer(cfg Config, sheet jobs.SheetReader, store ExplainStore, suspect jobs.SuspectReader) *jobs.Explainer {
	if suspect == nil {
		suspect = jobs.NotSuspect{}
	}
	x := &jobs.Explainer{
		Sheet: sheet, Spools: store, History: store, Suspect: suspect, Clock: store,
		Rules: cfg.Rules, Settle: cfg.ReleaseSettle, Grace: cfg.OrphanGrace, Location: cfg.Location,
	}
	if cfg.Schedule != nil {
		spec, loc := cfg.Schedule, cfg.Location
		if loc == nil {
			loc = time.UTC
		}
		x.NextRun = func(now time.Time) time.Time { return spec.Schedule.Next(now.In(loc)) }
	}
	return x
}
