package sheets

import (
	"testing"
	"time"
	_ "time/tzdata" // the tests need America/Santiago whatever the host has
)

func santiago(t testing.TB) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation("America/Santiago")
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

// anyRow turns strings into a grid row.
func anyRow(cells ...string) []any {
	out := make([]any, len(cells))
	for i, c := range cells {
		out[i] = c
	}
	return out
}
