package redislock

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"reconciler/jobs"
)

var _ jobs.TrustStore = (*Store)(nil)

// Accepted reads the accepted snapshot: TrustKey's stamps and digest, then the occupations
// (AcceptedSnapshotKey) only when the digest is not that of the occupations this process last
// read or wrote. Before any snapshot was stored in that form (an earlier version wrote the hash
// LegacyAcceptedKey), the hash is read instead, and Migrate set so the next acceptance stores
// the value. A stored value that cannot be read counts as nothing accepted: the run is judged
// by the empty-sheet rule alone and, if sane, stores its own snapshot over it.
func (s *Store) Accepted(ctx context.Context) (jobs.Accepted, error) {
	vals, err := s.client.HMGet(ctx, TrustKey, "accepted_at", "judged_at", "accepted_digest").Result()
	if err != nil {
		return jobs.Accepted{}, fmt.Errorf("redislock: read the accepted snapshot: %w", err)
	}
	acceptedAt, judgedAt := msField(vals, 0), msField(vals, 1)
	a := jobs.Accepted{Present: !acceptedAt.IsZero(), JudgedAt: judgedAt}
	digest, _ := vals[2].(string)
	if occ, ok := s.accepted.get(digest); ok {
		a.Occupations = occ
		return a, nil
	}
	occ, form, err := s.readAcceptedOccupations(ctx)
	if err != nil {
		return jobs.Accepted{}, err
	}
	switch form {
	case unreadable:
		a.Present, occ = false, map[string]string{}
	case legacyHash:
		a.Migrate = true
	}
	a.Occupations = occ
	return a, nil
}

// storedForm is where readAcceptedOccupations found the occupations.
type storedForm int

const (
	snapshotValue storedForm = iota // AcceptedSnapshotKey
	legacyHash                      // LegacyAcceptedKey, written by an earlier version
	unreadable                      // malformed, or a key of another type
)

func msField(vals []any, i int) time.Time {
	if i >= len(vals) {
		return time.Time{}
	}
	str, ok := vals[i].(string)
	if !ok {
		return time.Time{}
	}
	ms, err := strconv.ParseInt(str, 10, 64)
	if err != nil || ms <= 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms)
}

// readAcceptedOccupations reads the stored occupations (remembering them by their digest), or
// the earlier version's hash when none is stored as a value, and says which it read.
func (s *Store) readAcceptedOccupations(ctx context.Context) (map[string]string, storedForm, error) {
	raw, err := s.client.Get(ctx, AcceptedSnapshotKey).Result()
	if errors.Is(err, redis.Nil) {
		legacy, err := s.client.HGetAll(ctx, LegacyAcceptedKey).Result()
		if isWrongType(err) {
			return nil, unreadable, nil
		}
		if err != nil {
			return nil, unreadable, fmt.Errorf("redislock: read the accepted snapshot: %w", err)
		}
		return legacy, legacyHash, nil
	}
	if isWrongType(err) {
		return nil, unreadable, nil
	}
	if err != nil {
		return nil, unreadable, fmt.Errorf("redislock: read the accepted snapshot: %w", err)
	}
	occ, err := decodeOccupations(raw)
	if err != nil {
		return nil, unreadable, nil
	}
	s.accepted.put(occupationsDigest(raw), occ)
	return occ, snapshotValue, nil
}

// Accept stores occupations as the accepted snapshot (one value, and its digest) and stamps
// accepted_at and judged_at, all in one MULTI/EXEC. The earlier version's hash is given an hour
// to live, so a replica of that version still running during a deploy keeps its own reads
// until it is replaced, and the hash does not outlive it.
func (s *Store) Accept(ctx context.Context, occupations map[string]string, at time.Time) error {
	encoded := encodeOccupations(occupations)
	digest := occupationsDigest(encoded)
	ms := at.UnixMilli()
	pipe := s.client.TxPipeline()
	pipe.Set(ctx, AcceptedSnapshotKey, encoded, 0)
	pipe.HSet(ctx, TrustKey, "accepted_at", ms, "judged_at", ms, "accepted_digest", digest)
	pipe.Expire(ctx, LegacyAcceptedKey, time.Hour)
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("redislock: store the accepted snapshot (%d occupations): %w", len(occupations), err)
	}
	s.accepted.put(digest, occupations)
	return nil
}

// Judged stamps judged_at only.
func (s *Store) Judged(ctx context.Context, at time.Time) error {
	if err := s.client.HSet(ctx, TrustKey, "judged_at", at.UnixMilli()).Err(); err != nil {
		return fmt.Errorf("redislock: stamp the judgement: %w", err)
	}
	return nil
}

// SetSuspect is SET NX of SuspectKey.
func (s *Store) SetSuspect(ctx context.Context, st jobs.SuspectState) (bool, error) {
	body, err := json.Marshal(st)
	if err != nil {
		return false, fmt.Errorf("redislock: encode the suspect state: %w", err)
	}
	began, err := s.client.SetNX(ctx, SuspectKey, body, 0).Result()
	if err != nil {
		return false, fmt.Errorf("redislock: record the suspect state: %w", err)
	}
	return began, nil
}

// ClearSuspect reads and deletes SuspectKey in one MULTI/EXEC; the DEL's count says whether
// this call ended the state.
func (s *Store) ClearSuspect(ctx context.Context) (jobs.SuspectState, bool, error) {
	pipe := s.client.TxPipeline()
	get := pipe.Get(ctx, SuspectKey)
	del := pipe.Del(ctx, SuspectKey)
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return jobs.SuspectState{}, false, fmt.Errorf("redislock: clear the suspect state: %w", err)
	}
	if del.Val() != 1 {
		return jobs.SuspectState{}, false, nil
	}
	var st jobs.SuspectState
	_ = json.Unmarshal([]byte(get.Val()), &st) // unreadable: ended all the same
	return st, true, nil
}

// Suspect reads SuspectKey.
func (s *Store) Suspect(ctx context.Context) (jobs.SuspectState, bool, error) {
	raw, err := s.client.Get(ctx, SuspectKey).Bytes()
	if errors.Is(err, redis.Nil) {
		return jobs.SuspectState{}, false, nil
	}
	if err != nil {
		return jobs.SuspectState{}, false, fmt.Errorf("redislock: read the suspect state: %w", err)
	}
	var st jobs.SuspectState
	if err := json.Unmarshal(raw, &st); err != nil {
		// Still suspect: a state nobody can read must not pass for a trusted sheet.
		return jobs.SuspectState{Reason: "unreadable suspect state: " + err.Error()}, true, nil
	}
	return st, true, nil
}
