package redislock

import (
	"context"
	_ "embed"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"reconciler/jobs"
)

// HistoryKey is the history stream (docs/design.md, "Explaining a spool"): one entry per
// write, deletion, refusal and hold the worker makes, with fields tag, action, value, run_id,
// trigger and detail (empty ones left out); the entry's ID is its time on Redis's clock. The
// restores of one batch share one grouped entry (field `spools` instead of tag and value, see
// history.lua), which History expands. It is capped with XADD MAXLEN ~ HISTORY_MAX (entries,
// a grouped one counting once; approximate trimming: Redis trims whole nodes, so the stream may
// hold up to about a hundred entries more than the cap).
const HistoryKey = "reconciler:history"

// DefaultHistoryMax is HISTORY_MAX's default.
const DefaultHistoryMax = 100000

//go:embed history.lua
var historySource string

// historyScript is a script that appends to the history with history.lua's helpers
// (history_open, history_add), prepended to its own source.
func historyScript(src string) *redis.Script {
	return redis.NewScript(historySource + "\n" + src)
}

// HistoryMax is the stream's cap (0: the history is off).
func (s *Store) HistoryMax() int { return s.historyMax }

// historyArgs are the three arguments history_open takes besides its key: the cap, the run
// and the trigger.
func (s *Store) historyArgs(runID, trigger string) []any {
	return []any{s.historyMax, runID, trigger}
}

// AppendHistory appends entries from Go, for actions that are not a script (a script writes
// its own entry in its own step). All entries go in one pipelined round trip; none when the
// history is off. ID and At are ignored: Redis stamps them.
func (s *Store) AppendHistory(ctx context.Context, entries ...jobs.HistoryEntry) error {
	if s.historyMax <= 0 || len(entries) == 0 {
		return nil
	}
	pipe := s.client.Pipeline()
	for _, e := range entries {
		values := []any{"tag", e.Tag, "action", e.Action}
		for _, f := range [][2]string{{"value", e.Value}, {"run_id", e.RunID}, {"trigger", e.Trigger}, {"detail", e.Detail}} {
			if f[1] != "" {
				values = append(values, f[0], f[1])
			}
		}
		pipe.XAdd(ctx, &redis.XAddArgs{Stream: HistoryKey, MaxLen: int64(s.historyMax), Approx: true, Values: values})
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("redislock: append %d history entries: %w", len(entries), err)
	}
	return nil
}

// historyPage is how many entries one XREVRANGE reads while looking for a tag's entries.
const historyPage = 1000

// History reads the stream newest first: at most q.Limit entries (0: no limit), of q.Tag only
// when set, none older than q.Since when set. A tag's entries are found by paging back through
// the stream (historyPage entries a round trip), so the cost is bounded by HISTORY_MAX. It
// writes nothing.
func (s *Store) History(ctx context.Context, q jobs.HistoryQuery) ([]jobs.HistoryEntry, error) {
	out := []jobs.HistoryEntry{}
	end := "+"
	for {
		msgs, err := s.client.XRevRangeN(ctx, HistoryKey, end, "-", historyPage).Result()
		if err != nil {
			return nil, fmt.Errorf("redislock: read the history: %w", err)
		}
		for _, m := range msgs {
			for _, e := range historyEntries(m, q.Tag) {
				if !q.Since.IsZero() && e.At.Before(q.Since) {
					return out, nil
				}
				out = append(out, e)
				if q.Limit > 0 && len(out) >= q.Limit {
					return out, nil
				}
			}
		}
		if len(msgs) < historyPage {
			return out, nil
		}
		end = "(" + msgs[len(msgs)-1].ID
	}
}

// Separators of a grouped entry's `spools` field (history.lua's history_collect).
const (
	groupUnit   = "\x1f" // between a spool's tag and its value
	groupRecord = "\x1e" // between spools
)

// historyEntries reads one stream entry, only the spools of tag when tag is set; its time is
// the ID's milliseconds. A grouped entry (a batch's restores: field `spools`) is expanded into
// one entry per spool, in the order the script recorded them.
func historyEntries(m redis.XMessage, tag string) []jobs.HistoryEntry {
	str := func(k string) string {
		v, _ := m.Values[k].(string)
		return v
	}
	e := jobs.HistoryEntry{ID: m.ID, Tag: str("tag"), Action: str("action"), Value: str("value"),
		RunID: str("run_id"), Trigger: str("trigger"), Detail: str("detail")}
	ms, _, _ := strings.Cut(m.ID, "-")
	if n, err := strconv.ParseInt(ms, 10, 64); err == nil {
		e.At = time.UnixMilli(n)
	}
	spools, grouped := m.Values["spools"].(string)
	if !grouped {
		if tag != "" && e.Tag != tag {
			return nil
		}
		return []jobs.HistoryEntry{e}
	}
	if tag != "" && !strings.HasPrefix(spools, tag+groupUnit) && !strings.Contains(spools, groupRecord+tag+groupUnit) {
		return nil // the common case while looking for one tag: no split
	}
	var out []jobs.HistoryEntry
	for _, rec := range strings.Split(spools, groupRecord) {
		t, v, _ := strings.Cut(rec, groupUnit)
		if tag != "" && t != tag {
			continue
		}
		one := e
		one.Tag, one.Value = t, v
		out = append(out, one)
	}
	return out
}
