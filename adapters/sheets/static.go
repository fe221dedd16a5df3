package sheets

import (
	"context"
	"fmt"
	"time"

	"reconciler/jobs"
)

// Static serves a fixed grid (row 1 = header) as the sheet, such as Sample in the embedded
// demo mode. Each Read parses the grid again through ParseGrid, like a fresh read.
type Static struct {
	grid [][]any
	loc  *time.Location
}

var _ jobs.SheetReader = (*Static)(nil)

// NewStatic returns a reader of a copy of grid; a nil loc means UTC.
func NewStatic(grid [][]any, loc *time.Location) *Static {
	cp := make([][]any, len(grid))
	for i, row := range grid {
		cp[i] = append([]any(nil), row...)
	}
	return &Static{grid: cp, loc: loc}
}

// Read parses the grid. Snapshot.ReadAt is the time of the call; Requests is 0.
func (s *Static) Read(ctx context.Context) (jobs.Snapshot, error) {
	snap := jobs.Snapshot{ReadAt: time.Now()}
	if err := ctx.Err(); err != nil {
		return snap, fmt.Errorf("read static sheet: %w", err)
	}
	rows, err := ParseGrid(s.grid, s.loc)
	if err != nil {
		return snap, fmt.Errorf("read static sheet: %w", err)
	}
	snap.Rows = rows
	return snap, nil
}
