package sheets

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"

	"cloud.google.com/go/auth"
	"google.golang.org/api/googleapi"

	"reconciler/jobs"
)

// Retry defaults: with a 10 s reconcile deadline they leave room for about four attempts.
const (
	DefaultBaseBackoff = 500 * time.Millisecond
	DefaultMaxBackoff  = 8 * time.Second
	DefaultMaxAttempts = 5
)

// retryPolicy retries 429, 408, 5xx and transport errors with exponential backoff and full
// jitter (a uniform wait in [0, min(max, base·2ⁿ)]), honouring Retry-After, and always inside
// the context: the Sheets Go client retries nothing itself.
type retryPolicy struct {
	base, max   time.Duration
	maxAttempts int
	// onAttempt, when set, is told the status code of every attempt (0: no HTTP response).
	onAttempt func(code int)
}

// do runs op until it succeeds, fails for good, runs out of attempts or would run past ctx's
// deadline. It returns how many attempts (HTTP requests) it made. A final error says why the
// retries stopped and wraps the last request's error.
func (p retryPolicy) do(ctx context.Context, op func(context.Context) error) (int, error) {
	for attempt := 1; ; attempt++ {
		err := op(ctx)
		code, retryable := classify(err)
		if p.onAttempt != nil {
			p.onAttempt(code)
		}
		if err == nil {
			return attempt, nil
		}
		if ctxErr := ctx.Err(); ctxErr != nil {
			if errors.Is(err, ctxErr) {
				return attempt, fmt.Errorf("%w (attempt %d)", ctxErr, attempt)
			}
			return attempt, fmt.Errorf("%w (after %s; last error: %w)", ctxErr, plural(attempt, "attempt"), err)
		}
		if !retryable {
			return attempt, err
		}
		if attempt >= p.maxAttempts {
			return attempt, fmt.Errorf("gave up after %s: %w", plural(attempt, "attempt"), err)
		}
		pause := p.backoff(attempt)
		if ra, ok := retryAfter(err, time.Now()); ok {
			pause = ra
		}
		if deadline, ok := ctx.Deadline(); ok {
			if left := time.Until(deadline); pause >= left {
				return attempt, fmt.Errorf("gave up after %s: the next retry, in %s, would pass the context deadline (%s left): %w",
					plural(attempt, "attempt"), pause.Round(time.Millisecond), left.Round(time.Millisecond), err)
			}
		}
		if serr := jobs.Sleep(ctx, pause); serr != nil {
			return attempt, fmt.Errorf("%w while waiting to retry (after %s; last error: %w)", serr, plural(attempt, "attempt"), err)
		}
	}
}

// backoff is the full-jitter wait before retry number attempt (1 for the first retry).
func (p retryPolicy) backoff(attempt int) time.Duration {
	limit := p.max
	if shift := attempt - 1; shift < 30 {
		if d := p.base << shift; d > 0 && d < limit {
			limit = d
		}
	}
	if limit <= 0 {
		return 0
	}
	return rand.N(limit + 1)
}

// classify returns the HTTP status of a request's outcome (200 for success and for a 2xx
// whose body did not decode, 0 when no response came) and whether it is worth retrying.
func classify(err error) (code int, retryable bool) {
	if err == nil {
		return http.StatusOK, false
	}
	var gerr *googleapi.Error
	if errors.As(err, &gerr) {
		c := gerr.Code
		return c, c == http.StatusTooManyRequests || c == http.StatusRequestTimeout || c >= 500
	}
	var aerr *auth.Error
	if errors.As(err, &aerr) {
		// The token endpoint answered: a rejected credential will not get better.
		return 0, aerr.Temporary()
	}
	if isDecodeError(err) {
		return http.StatusOK, false
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return 0, false
	}
	return 0, true // a transport error: connection refused, reset, timeout…
}

// isDecodeError reports whether err is a 2xx response whose body was not the JSON expected.
func isDecodeError(err error) bool {
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	return errors.As(err, &syntax) || errors.As(err, &typ)
}

// retryAfter reads the Retry-After header of an error response: delay seconds or an HTTP date.
func retryAfter(err error, now time.Time) (time.Duration, bool) {
	var gerr *googleapi.Error
	if !errors.As(err, &gerr) || gerr.Header == nil {
		return 0, false
	}
	v := strings.TrimSpace(gerr.Header.Get("Retry-After"))
	if v == "" {
		return 0, false
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs < 0 {
			return 0, false
		}
		if secs > 24*3600 {
			secs = 24 * 3600
		}
		return time.Duration(secs) * time.Second, true
	}
	if at, err := http.ParseTime(v); err == nil {
		return max(at.Sub(now), 0), true
	}
	return 0, false
}

// plural is "1 attempt", "2 attempts".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return strconv.Itoa(n) + " " + noun + "s"
}
