package sheets

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"reconciler/jobs"
)

// CSV reads a CSV export of the sheet (SHEET_CSV), for running without the API. Each Read
// reads the file again, so an updated export is picked up. The file is UTF-8, with or without
// a byte-order mark; the delimiter, "," or ";" (or a tab), is detected from the header line.
// Cells are text: numbers in the date column are serial numbers (see ParseDate).
type CSV struct {
	path string
	loc  *time.Location
	warn *headerWarnings
}

var _ jobs.SheetReader = (*CSV)(nil)

// NewCSV returns a reader of the CSV file at path; a nil loc means UTC.
func NewCSV(path string, loc *time.Location) *CSV {
	return &CSV{path: path, loc: loc}
}

// WithLogger makes the reader log header warnings (a needed name on several columns, a column
// found only leniently) to log, once per header layout, and returns it.
func (c *CSV) WithLogger(log *slog.Logger) *CSV {
	c.warn = newHeaderWarnings(log)
	return c
}

// Read parses the file. Snapshot.ReadAt is when the read started; Requests is 0.
func (c *CSV) Read(ctx context.Context) (jobs.Snapshot, error) {
	snap := jobs.Snapshot{ReadAt: time.Now()}
	if err := ctx.Err(); err != nil {
		return snap, fmt.Errorf("read sheet CSV %q: %w", c.path, err)
	}
	data, err := os.ReadFile(c.path)
	if err != nil {
		return snap, fmt.Errorf("read sheet CSV: %w", err)
	}
	grid, err := parseCSV(ctx, data)
	if err != nil {
		return snap, fmt.Errorf("read sheet CSV %q: %w", c.path, err)
	}
	if len(grid) == 0 {
		return snap, fmt.Errorf("read sheet CSV %q: no header row", c.path)
	}
	cols, err := MapHeader(grid[0])
	if err != nil {
		return snap, fmt.Errorf("read sheet CSV %q: %w", c.path, err)
	}
	c.warn.note(c.path, cols)
	snap.Rows = parseRows(grid, 1, cols, c.loc)
	return snap, nil
}

// parseCSV splits a CSV export into a grid of string cells; grid[i] is record i, which is
// sheet row i+1 (blank lines, which a sheet export never writes, are not records).
func parseCSV(ctx context.Context, data []byte) ([][]any, error) {
	data = bytes.TrimPrefix(data, []byte("\uFEFF"))
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, errors.New("the file is empty: no header row")
	}
	r := csv.NewReader(bytes.NewReader(data))
	r.Comma = detectDelimiter(data)
	r.FieldsPerRecord = -1 // exports of short rows may have fewer fields
	var grid [][]any
	for {
		if len(grid)%1024 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			return grid, nil
		}
		if err != nil {
			var perr *csv.ParseError
			if errors.As(err, &perr) {
				return nil, fmt.Errorf("line %d, column %d: %w (delimiter %q)", perr.Line, perr.Column, perr.Err, r.Comma)
			}
			return nil, err
		}
		row := make([]any, len(rec))
		for i, cell := range rec {
			row[i] = cell
		}
		grid = append(grid, row)
	}
}

// detectDelimiter picks the most frequent of ',', ';' and tab outside quotes on the first
// line (a European-locale export uses ';'); ',' on a tie or when none appears.
func detectDelimiter(data []byte) rune {
	counts := map[byte]int{}
	quoted := false
	for _, c := range data {
		if c == '"' {
			quoted = !quoted
			continue
		}
		if quoted {
			continue
		}
		if c == '\n' || c == '\r' {
			break
		}
		if c == ',' || c == ';' || c == '\t' {
			counts[c]++
		}
	}
	best := byte(',')
	for _, c := range []byte{';', '\t'} {
		if counts[c] > counts[best] {
			best = c
		}
	}
	return rune(best)
}
