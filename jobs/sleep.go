package jobs

import (
	"context"
	"time"
)

// Sleep is the one context-aware pause of the module (the Sheets retries, enqueue --wait):
// a job's deadline always ends a wait. It waits d or until ctx is done, whichever comes first, and returns ctx's error in the
// second case. A d of zero or less does not wait (but still reports a done ctx).
func Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
