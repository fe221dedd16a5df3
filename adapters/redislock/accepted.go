package redislock

import (
	"errors"
	"fmt"
	"hash/fnv"
	"strconv"
	"strings"
	"sync"
)

// The accepted snapshot's occupations are stored as one string value (AcceptedSnapshotKey), not
// as a hash of 20,000 fields: a recovery writes every occupation at once, and every run reads
// the snapshot back to judge its own. One value is one SET of a few hundred kB for Redis and
// one string for Go, where a hash was 20,000 fields to insert, to reply and to allocate. Beside
// it, TrustKey's `accepted_digest` names the value's content, so a run reads the value only
// when it is not the one this process already holds (in steady state: never).
//
// The encoding is a sequence of length-prefixed strings, tag then holder for each occupation:
// "{len}:{tag}{len}:{holder}…" (lengths in bytes, decimal). Lengths rather than separators: a
// holder is whatever the sheet shows, any byte included.

// encodeOccupations writes occupations in the stored form, in map order (the order carries no
// meaning; the digest is of these bytes).
func encodeOccupations(occ map[string]string) string {
	size := 0
	for tag, holder := range occ {
		size += len(tag) + len(holder) + 8
	}
	var b strings.Builder
	b.Grow(size)
	var num [20]byte
	for tag, holder := range occ {
		b.Write(strconv.AppendInt(num[:0], int64(len(tag)), 10))
		b.WriteByte(':')
		b.WriteString(tag)
		b.Write(strconv.AppendInt(num[:0], int64(len(holder)), 10))
		b.WriteByte(':')
		b.WriteString(holder)
	}
	return b.String()
}

// decodeOccupations reads the stored form. Its strings share s's memory (no copy per
// occupation). A malformed value (truncated, a length that is not a number) is an error; a tag
// that appears twice keeps its last holder.
func decodeOccupations(s string) (map[string]string, error) {
	occ := make(map[string]string, strings.Count(s, ":")/2)
	for len(s) > 0 {
		tag, rest, err := lengthPrefixed(s)
		if err != nil {
			return nil, fmt.Errorf("tag at byte %d: %w", len(s)-len(rest), err)
		}
		holder, rest, err := lengthPrefixed(rest)
		if err != nil {
			return nil, fmt.Errorf("holder of %q: %w", tag, err)
		}
		occ[tag] = holder
		s = rest
	}
	return occ, nil
}

var errMalformed = errors.New("malformed accepted snapshot")

// lengthPrefixed cuts "{len}:{bytes}" off the front of s.
func lengthPrefixed(s string) (string, string, error) {
	colon := strings.IndexByte(s, ':')
	if colon <= 0 || colon > 9 {
		return "", "", errMalformed
	}
	n := 0
	for _, c := range s[:colon] {
		if c < '0' || c > '9' {
			return "", "", errMalformed
		}
		n = 10*n + int(c-'0')
	}
	s = s[colon+1:]
	if n > len(s) {
		return "", "", errMalformed
	}
	return s[:n], s[n:], nil
}

// occupationsDigest names an encoded value: FNV-1a (64 bits) of its bytes, in hex. It is a
// cache key for this process, not a security boundary: a collision would only make a process
// judge against an earlier snapshot it read itself.
func occupationsDigest(encoded string) string {
	h := fnv.New64a()
	_, _ = h.Write([]byte(encoded))
	return strconv.FormatUint(h.Sum64(), 16)
}

// acceptedMemory is the accepted occupations this process last read or wrote, by digest. The
// map is shared with the runs that read it, which only read it.
type acceptedMemory struct {
	mu     sync.Mutex
	digest string
	occ    map[string]string
}

func (m *acceptedMemory) get(digest string) (map[string]string, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if digest == "" || digest != m.digest {
		return nil, false
	}
	return m.occ, true
}

func (m *acceptedMemory) put(digest string, occ map[string]string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.digest, m.occ = digest, occ
}
