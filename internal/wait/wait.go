// Package wait holds the one context-aware sleep the binary's parts share.
package wait

import (
	"context"
	"time"
)

// Sleep waits d or until ctx is done, whichever comes first, and returns ctx's error in the
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
