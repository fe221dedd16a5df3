package main

import (
	"testing"
	"time"
)

// TestRedisPoolRedialsQuickly: a command that starts while Redis is down retries its dial soon
// enough that a Redis back within milliseconds is used within milliseconds (go-redis's default
// waits 100 ms between attempts, which delayed every recovery's first task), and its five
// attempts still spread over more than a tenth of a second so a long outage is not hammered.
func TestRedisPoolRedialsQuickly(t *testing.T) {
	rdb, err := connectRedis("redis://127.0.0.1:1/0", 4)
	if err != nil {
		t.Fatal(err)
	}
	defer rdb.Close()
	backoff := rdb.Options().DialerRetryBackoff
	if backoff == nil {
		t.Fatal("connectRedis leaves go-redis's constant 100 ms dial retry pause")
	}
	if first := backoff(0); first > 10*time.Millisecond {
		t.Errorf("first dial retry after %v, want at most 10ms", first)
	}
	var total time.Duration
	for attempt := range 4 { // five attempts, four pauses
		d := backoff(attempt)
		if attempt > 0 && d < backoff(attempt-1) {
			t.Errorf("pause %d (%v) shorter than pause %d", attempt, d, attempt-1)
		}
		total += d
	}
	if total < 100*time.Millisecond || total > 400*time.Millisecond {
		t.Errorf("the five attempts span %v, want between 100ms and 400ms (go-redis's default)", total)
	}
}
