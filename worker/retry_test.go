package worker

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/hibiken/asynq"
)

func TestRetryDelayLeaseExpiredRunsAtOnce(t *testing.T) {
	task := asynq.NewTask("lock:restore", nil)
	if d := retryDelay(3, asynq.ErrLeaseExpired, task); d != time.Second {
		t.Fatalf("a task taken back from a dead worker waits %v, want 1s", d)
	}
	if d := retryDelay(0, fmt.Errorf("recovered: %w", asynq.ErrLeaseExpired), task); d != time.Second {
		t.Fatalf("a wrapped lease expiry waits %v, want 1s", d)
	}
	// Any other failure keeps asynq's backoff: at least n^4 + 15 s.
	for n := range 5 {
		floor := time.Duration(n*n*n*n+15) * time.Second
		if d := retryDelay(n, errors.New("redis down"), task); d < floor {
			t.Fatalf("retry %d of an ordinary failure waits %v, want asynq's backoff (≥ %v)", n, d, floor)
		}
	}
}
