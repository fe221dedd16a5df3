package sheets

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	"google.golang.org/api/googleapi"
)

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 5, 13, 12, 0, 0, 0, time.UTC)
	withHeader := func(v string) error {
		return &googleapi.Error{Code: 429, Header: http.Header{"Retry-After": {v}}}
	}
	tests := []struct {
		err  error
		want time.Duration
		ok   bool
	}{
		{withHeader("1"), time.Second, true},
		{withHeader(" 30 "), 30 * time.Second, true},
		{withHeader("0"), 0, true},
		{withHeader("999999999"), 24 * time.Hour, true},
		{withHeader("Wed, 13 May 2026 12:00:05 GMT"), 5 * time.Second, true},
		{withHeader("Wed, 13 May 2026 11:00:00 GMT"), 0, true},
		{withHeader("-3"), 0, false},
		{withHeader("soon"), 0, false},
		{withHeader(""), 0, false},
		{&googleapi.Error{Code: 500}, 0, false},
		{fmt.Errorf("wrapped: %w", withHeader("2")), 2 * time.Second, true},
		{errors.New("plain"), 0, false},
	}
	for _, tt := range tests {
		got, ok := retryAfter(tt.err, now)
		if got != tt.want || ok != tt.ok {
			t.Errorf("retryAfter(%v) = %s, %v; want %s, %v", tt.err, got, ok, tt.want, tt.ok)
		}
	}
}

func TestBackoffIsBoundedFullJitter(t *testing.T) {
	p := retryPolicy{base: 100 * time.Millisecond, max: time.Second, maxAttempts: 10}
	for attempt := 1; attempt <= 40; attempt++ {
		limit := min(p.base<<min(attempt-1, 20), p.max)
		var top time.Duration
		for i := 0; i < 200; i++ {
			d := p.backoff(attempt)
			if d < 0 || d > limit {
				t.Fatalf("backoff(%d) = %s, outside [0, %s]", attempt, d, limit)
			}
			top = max(top, d)
		}
		if top < limit/2 {
			t.Errorf("backoff(%d) never exceeded %s in 200 draws (limit %s): not jittered over the full range", attempt, top, limit)
		}
	}
}

func TestClassify(t *testing.T) {
	var syntax error = &json.SyntaxError{}
	tests := []struct {
		err   error
		code  int
		retry bool
	}{
		{nil, 200, false},
		{&googleapi.Error{Code: 429}, 429, true},
		{&googleapi.Error{Code: 408}, 408, true},
		{&googleapi.Error{Code: 500}, 500, true},
		{&googleapi.Error{Code: 503}, 503, true},
		{&googleapi.Error{Code: 400}, 400, false},
		{&googleapi.Error{Code: 403}, 403, false},
		{&googleapi.Error{Code: 404}, 404, false},
		{fmt.Errorf("x: %w", syntax), 200, false},
		{context.DeadlineExceeded, 0, false},
		{errors.New("connection refused"), 0, true},
	}
	for _, tt := range tests {
		code, retry := classify(tt.err)
		if code != tt.code || retry != tt.retry {
			t.Errorf("classify(%v) = %d, %v; want %d, %v", tt.err, code, retry, tt.code, tt.retry)
		}
	}
}

func TestRetryPolicyStops(t *testing.T) {
	fail := &googleapi.Error{Code: 503}
	p := retryPolicy{base: time.Millisecond, max: 2 * time.Millisecond, maxAttempts: 3}
	calls := 0
	n, err := p.do(context.Background(), func(context.Context) error { calls++; return fail })
	if n != 3 || calls != 3 || !errors.Is(err, fail) {
		t.Errorf("max attempts: n=%d calls=%d err=%v", n, calls, err)
	}

	// A non-retryable error stops at once.
	calls = 0
	n, err = p.do(context.Background(), func(context.Context) error { calls++; return &googleapi.Error{Code: 404} })
	if n != 1 || calls != 1 || err == nil {
		t.Errorf("404: n=%d calls=%d err=%v", n, calls, err)
	}

	// A cancelled context stops the wait.
	ctx, cancel := context.WithCancel(context.Background())
	p = retryPolicy{base: time.Hour, max: time.Hour, maxAttempts: 5}
	go func() { time.Sleep(20 * time.Millisecond); cancel() }()
	start := time.Now()
	n, err = p.do(ctx, func(context.Context) error { return fail })
	if !errors.Is(err, context.Canceled) || !errors.Is(err, fail) || time.Since(start) > time.Second {
		t.Errorf("cancel: n=%d err=%v after %s", n, err, time.Since(start))
	}
}
