package jobs

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// Explainer answers "why is this spool locked (or free)?": it reads the sheet (one request)
// and Redis, and writes nothing anywhere, not even to the read budget (Budget, when set, is the
// HTTP page's: it takes one read, see Explain).
type Explainer struct {
	Sheet   SheetReader
	Spools  SpoolReader
	History HistoryReader
	Suspect SuspectReader // the recorded suspect state (TrustStore); nil: never suspect
	Clock   Clock         // nil: the process clock
	Rules   Rules
	Settle  time.Duration // RELEASE_SETTLE
	Grace   time.Duration // ORPHAN_GRACE; 0: off
	// NextRun, when set, says when the next full reconcile is due after now (zero: unknown).
	NextRun  func(now time.Time) time.Time
	Location *time.Location // TIMEZONE, the zone times are shown in
}

// Explain reads one spool's rows, Redis state, the suspect flag and newest history entries,
// and judges them with ExplainSpool. tag is trimmed, as the worker matches tags.
func (x *Explainer) Explain(ctx context.Context, tag string) (Explanation, error) {
	tag = strings.TrimSpace(tag)
	if tag == "" {
		return Explanation{}, fmt.Errorf("empty tag")
	}
	now := time.Now()
	if x.Clock != nil {
		t, err := x.Clock.Now(ctx)
		if err != nil {
			return Explanation{}, fmt.Errorf("read the shared clock: %w", err)
		}
		now = t
	}
	state, err := x.Spools.SpoolState(ctx, tag)
	if err != nil {
		return Explanation{}, err
	}
	suspect := false
	if x.Suspect != nil {
		if _, suspect, err = x.Suspect.Suspect(ctx); err != nil {
			return Explanation{}, fmt.Errorf("read whether the sheet is suspect: %w", err)
		}
	}
	var history []HistoryEntry
	if x.History != nil {
		if history, err = x.History.History(ctx, HistoryQuery{Tag: tag, Limit: ExplainHistoryLimit}); err != nil {
			return Explanation{}, err
		}
	}
	snap, err := x.Sheet.Read(ctx)
	if err != nil {
		return Explanation{}, fmt.Errorf("read sheet: %w", err)
	}
	in := ExplainInput{
		Tag: tag, Rows: RowsOfTag(snap.Rows, tag, now, x.Rules), State: state, Suspect: suspect,
		Now: now, Settle: x.Settle, Grace: x.Grace, Rules: x.Rules, History: history, Location: x.Location,
	}
	if x.NextRun != nil {
		in.NextRun = x.NextRun(now)
	}
	return ExplainSpool(in), nil
}
