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

// hsetChunk bounds the fields of one HSET or HDEL: the first acceptance of a large sheet writes
// every occupation, in several commands of one transaction.
const hsetChunk = 1000

// Accepted reads the accepted snapshot: HGETALL of AcceptedKey and TrustKey in one pipeline.
func (s *Store) Accepted(ctx context.Context) (jobs.Accepted, error) {
	pipe := s.client.Pipeline()
	occ := pipe.HGetAll(ctx, AcceptedKey)
	meta := pipe.HMGet(ctx, TrustKey, "accepted_at", "judged_at")
	if _, err := pipe.Exec(ctx); err != nil {
		return jobs.Accepted{}, fmt.Errorf("redislock: read the accepted snapshot: %w", err)
	}
	vals := meta.Val()
	acceptedAt, judgedAt := msField(vals, 0), msField(vals, 1)
	a := jobs.Accepted{Present: !acceptedAt.IsZero(), Occupations: occ.Val(), JudgedAt: judgedAt}
	if a.Occupations == nil {
		a.Occupations = map[string]string{}
	}
	return a, nil
}

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

// Accept writes the difference (HSET of set, HDEL of remove) and stamps accepted_at and
// judged_at, all in one MULTI/EXEC.
func (s *Store) Accept(ctx context.Context, set map[string]string, remove []string, at time.Time) error {
	pipe := s.client.TxPipeline()
	fields := make([]any, 0, 2*min(len(set), hsetChunk))
	for tag, holder := range set {
		fields = append(fields, tag, holder)
		if len(fields) == 2*hsetChunk {
			pipe.HSet(ctx, AcceptedKey, fields...)
			fields = fields[:0:0]
		}
	}
	if len(fields) > 0 {
		pipe.HSet(ctx, AcceptedKey, fields...)
	}
	for start := 0; start < len(remove); start += hsetChunk {
		pipe.HDel(ctx, AcceptedKey, remove[start:min(start+hsetChunk, len(remove))]...)
	}
	ms := at.UnixMilli()
	pipe.HSet(ctx, TrustKey, "accepted_at", ms, "judged_at", ms)
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("redislock: store the accepted snapshot (%d set, %d removed): %w", len(set), len(remove), err)
	}
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
