package redislock

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/google/uuid"

	"reconciler/jobs"
)

//go:embed restore.lua
var restoreSource string

// restoreScript decides and writes in one atomic server-side step, so no other client can
// take, release or re-take the spool between the checks and the write. Run uses EVALSHA and
// falls back to EVAL when the server has not cached the script (after a restart, say).
// It writes its restore markers (markers.lua) and appends its history entries (history.lua)
// itself.
var restoreScript = historyScript(markersSource + "\n" + restoreSource)

// restore.lua reads a spool's tag off its tombstone key, after the prefix's 20 bytes: this
// fails to compile if the prefix changes length.
var _ = [1]struct{}{}[len(TombstonePrefix)-20]

// Restore runs the atomic decide-and-write step for one lock (docs/design.md, "Restoring a
// lock"): a batch of one. Now is Redis's TIME inside the script, never the caller's clock (see
// Store.Now). In order, the script answers:
//  1. already_locked when the lock key exists and its value starts with "{WorkerID}:";
//     holder_mismatch when it exists with anything else (another value, another type).
//     An existing key is never modified, not even its TTL.
//  2. too_old when Now − OccupiedAt > MaxAge (exactly MaxAge is not too old).
//  3. stale_snapshot when Now − SnapshotAt > Staleness.
//  4. recently_released when a tombstone holds T and SnapshotAt < T + Settle. A tombstone
//     that is not a number counts as a release happening now: the restore is refused and the
//     tombstone rewritten to now (with the normal tombstone TTL), so it cannot block forever.
//  5. restored otherwise: SET NX of a new value (fresh uuid4, OccupiedAt in the store's zone),
//     without TTL, and the restore marker: field Tag of RestoredKey = "{now ms}|{value}", for
//     RestoredMarkerTTL(Settle) (markers.lua), so the restore is verified later from a fresh
//     snapshot.
//
// Every outcome but already_locked (which writes nothing) is appended to the history in the
// same step: `restored`, or `refused` with the outcome and its reason as the detail, with the
// request's RunID and Trigger.
//
// With a RunID the outcome is also added to that run's tally (see AddTally) inside the same
// script: one round trip per restore instead of two, and no decision goes uncounted because a
// second call failed. A tally key that is not a hash of numbers loses the count, never the
// restore.
func (s *Store) Restore(ctx context.Context, req jobs.RestoreRequest) (jobs.RestoreOutcome, error) {
	out, err := s.RestoreBatch(ctx, []jobs.RestoreRequest{req})
	if err != nil {
		return "", err
	}
	return out[0], nil
}

// MaxRestoreBatch bounds the locks of one RestoreBatch call: the script holds Redis for the
// whole batch (a few µs per lock), so a batch must stay short next to the backend's commands.
const MaxRestoreBatch = 1000

// RestoreBatch runs Restore's decision for each request in one script call: each lock is
// decided on its own, with Restore's checks in Restore's order, atomically (a script runs
// alone), and never overwritten. The outcomes come back in the requests' order. Requests of
// one batch share MaxAge, Staleness, Settle and RunID (one run's restores); each has its
// own tag, worker, occupation and snapshot time. (A batch whose requests share their snapshot
// is sent without the occupations first; if the script finds a lock may be too old, it writes
// nothing and the batch is sent again with them: then two calls, the second deciding all.)
func (s *Store) RestoreBatch(ctx context.Context, reqs []jobs.RestoreRequest) ([]jobs.RestoreOutcome, error) {
	if err := validateBatch(reqs); err != nil {
		return nil, fmt.Errorf("redislock: restore %s: %w", batchName(reqs), err)
	}
	// The layout restore.lua reads: nine shared arguments (the last three history.lua's), the
	// batch's snapshot when every lock shares it ("" otherwise), its earliest occupation, its
	// history field for when every lock is restored (see groupedSpools), and how many
	// arguments a lock has; then per lock two keys (lock, tombstone) and its arguments: the
	// value, then its occupation and its snapshot where the batch does not stand for them; then
	// the history key, the two generations of the marker hash, and the tally key last. Nothing
	// per lock is what the script can read off another argument: the tag follows the tombstone
	// key's prefix, the worker prefix starts the value.
	first := reqs[0]
	snapshot, earliest, shared := first.SnapshotAt.UnixMilli(), first.OccupiedAt.UnixMilli(), true
	for _, req := range reqs {
		shared = shared && req.SnapshotAt.UnixMilli() == snapshot
		earliest = min(earliest, req.OccupiedAt.UnixMilli())
	}
	values := make([]string, len(reqs))
	for i, req := range reqs {
		id, err := uuid.NewRandom()
		if err != nil {
			return nil, fmt.Errorf("redislock: restore %q: new uuid: %w", req.Tag, err)
		}
		values[i] = FormatValue(req.WorkerID, id, req.OccupiedAt, s.loc)
	}
	keys := make([]string, 0, 2*len(reqs)+4)
	for _, req := range reqs {
		keys = append(keys, s.Key(req.Tag), TombstoneKey(req.Tag))
	}
	keys = append(keys, HistoryKey, RestoredKey, RestoredPreviousKey)
	if first.RunID != "" {
		keys = append(keys, TallyKey(first.RunID))
	}
	spools := s.groupedSpools(reqs, values)
	call := func(perLock int) (string, error) {
		args := make([]any, 0, 13+perLock*len(reqs))
		args = append(args, first.MaxAge.Milliseconds(), first.Staleness.Milliseconds(),
			first.Settle.Milliseconds(), s.tombTTL.Milliseconds(), TallyTTL.Milliseconds(),
			RestoredMarkerTTL(first.Settle).Milliseconds())
		args = append(args, s.historyArgs(first.RunID, first.Trigger)...)
		var sharedArg any = ""
		if shared {
			sharedArg = snapshot
		}
		args = append(args, sharedArg, earliest, spools, perLock)
		for i, req := range reqs {
			args = append(args, values[i])
			if perLock >= 2 {
				args = append(args, req.OccupiedAt.UnixMilli())
			}
			if perLock == 3 {
				args = append(args, req.SnapshotAt.UnixMilli())
			}
		}
		return restoreScript.Run(ctx, s.client, keys, args...).Text()
	}
	// A shared snapshot: the value alone, unless a lock may be too old ("" answered: the script
	// wrote nothing), then with the occupations.
	perLock := 3
	if shared {
		perLock = 1
	}
	res, err := call(perLock)
	if err == nil && res == "" && perLock == 1 {
		res, err = call(2)
	}
	if err != nil {
		return nil, fmt.Errorf("redislock: restore %s: %w", batchName(reqs), err)
	}
	if len(res) != len(reqs) {
		return nil, fmt.Errorf("redislock: restore %s: script answered %d outcomes for %d locks", batchName(reqs), len(res), len(reqs))
	}
	out := make([]jobs.RestoreOutcome, len(res))
	for i := range len(res) {
		o, ok := outcomeCodes[res[i]]
		if !ok {
			return nil, fmt.Errorf("redislock: restore %q: script answered unknown outcome %q", reqs[i].Tag, res[i])
		}
		out[i] = o
	}
	return out, nil
}

// groupedSpools is the `spools` field of the history entry history.lua's history_collect and
// history_flush would write for reqs if every one is restored with values: tag US value RS tag
// US value ..., in order. The script writes it as it is when that happens (the usual batch),
// instead of building it lock by lock. "" for a single lock (its entry is not grouped) and
// with the history off.
func (s *Store) groupedSpools(reqs []jobs.RestoreRequest, values []string) string {
	if len(reqs) < 2 || s.historyMax <= 0 {
		return ""
	}
	size := (len(reqs)-1)*len(groupRecord) + len(reqs)*len(groupUnit)
	for i, req := range reqs {
		size += len(req.Tag) + len(values[i])
	}
	var b strings.Builder
	b.Grow(size) // ~35 kB for a batch of 500: built once instead of doubled ten times
	for i, req := range reqs {
		if i > 0 {
			b.WriteString(groupRecord)
		}
		b.WriteString(req.Tag)
		b.WriteString(groupUnit)
		b.WriteString(values[i])
	}
	return b.String()
}

// outcomeCodes are the letters restore.lua answers, one per lock (its CODES).
var outcomeCodes = map[byte]jobs.RestoreOutcome{
	'R': jobs.OutcomeRestored, 'A': jobs.OutcomeAlreadyLocked, 'H': jobs.OutcomeHolderMismatch,
	'O': jobs.OutcomeTooOld, 'S': jobs.OutcomeStaleSnapshot, 'L': jobs.OutcomeRecentlyReleased,
}

// batchName names a batch in errors: the tag of a single restore, the size and first tag of
// a larger one.
func batchName(reqs []jobs.RestoreRequest) string {
	switch len(reqs) {
	case 0:
		return "an empty batch"
	case 1:
		return strconv.Quote(reqs[0].Tag)
	}
	return fmt.Sprintf("a batch of %d locks from %q", len(reqs), reqs[0].Tag)
}

// validateBatch checks each request and that the batch shares what the script takes once.
func validateBatch(reqs []jobs.RestoreRequest) error {
	if len(reqs) == 0 {
		return errors.New("no locks")
	}
	if len(reqs) > MaxRestoreBatch {
		return fmt.Errorf("%d locks, more than %d", len(reqs), MaxRestoreBatch)
	}
	first := reqs[0]
	for _, req := range reqs {
		if err := validateRestore(req); err != nil {
			if len(reqs) > 1 {
				return fmt.Errorf("%q: %w", req.Tag, err)
			}
			return err
		}
		if req.MaxAge != first.MaxAge || req.Staleness != first.Staleness ||
			req.Settle != first.Settle || req.RunID != first.RunID || req.Trigger != first.Trigger {
			return fmt.Errorf("%q: max age, staleness, settle, run id and trigger differ from the batch's first lock", req.Tag)
		}
	}
	return nil
}

// validateRestore rejects requests that would make the script's arithmetic meaningless.
func validateRestore(req jobs.RestoreRequest) error {
	switch {
	case req.Tag == "":
		return errors.New("empty tag")
	case req.WorkerID <= 0:
		return fmt.Errorf("worker id %d is not positive", req.WorkerID)
	case req.OccupiedAt.IsZero(), req.SnapshotAt.IsZero():
		return errors.New("occupied-at and snapshot times are required")
	case req.MaxAge < 0, req.Staleness < 0, req.Settle < 0:
		return errors.New("negative max age, staleness or settle")
	}
	return nil
}
