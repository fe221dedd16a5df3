package main

import (
	"time"

	"reconciler/tests/sheetsemu"
)

// sheet is a generated Operaciones sheet and the tags the reconciler must lock.
type sheet struct {
	grid       [][]any
	candidates []string // tags of the fresh occupations, in row order
}

// buildSheet is the end-to-end tests' sheet (sheetsemu.Generate) with the tags to lock.
func buildSheet(header []string, n int, now time.Time) sheet {
	g := sheetsemu.Generate(header, n, now)
	s := sheet{grid: g.Grid}
	for _, c := range g.Candidates {
		s.candidates = append(s.candidates, c.Tag)
	}
	return s
}
