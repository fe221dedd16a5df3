package sheetsemu

import "strings"

// Header names of the three columns the reconciler reads, as the real sheet spells them. The
// real sheet's whole header row is sheets.OperacionesHeader (one copy, embedded in the adapter).
const (
	ColTag    = "TAG_SPOOL"
	ColHolder = "Ocupado_Por"
	ColDate   = "Fecha_Ocupacion"
)

// Grid builds a sheet: header as row 1, then one row per map, each cell put in the column
// whose header equals the map key exactly (ColTag, ColHolder, ColDate or any other header),
// or else whose header's part before a "/" does, trimmed (ColTag finds the production header
// "TAG_SPOOL / CODIGO_BARRA"). When several headers are the key, the last one is used (where
// the backend writes). A row stops after its last set cell, as the API would send it. A nil
// map is an empty row. An unknown key panics: it is a mistake in the test.
func Grid(header []string, rows ...map[string]any) [][]any {
	index := make(map[string]int, len(header))
	for i, h := range header {
		if first, _, ok := strings.Cut(h, "/"); ok {
			index[strings.TrimSpace(first)] = i
		}
	}
	for i, h := range header {
		index[h] = i // an exact header goes before a part
	}
	grid := make([][]any, 0, len(rows)+1)
	head := make([]any, len(header))
	for i, h := range header {
		head[i] = h
	}
	grid = append(grid, head)
	for _, cells := range rows {
		width := 0
		for key := range cells {
			col, ok := index[key]
			if !ok {
				panic("sheetsemu.Grid: no column " + key + " in the header")
			}
			width = max(width, col+1)
		}
		row := make([]any, width)
		for key, v := range cells {
			row[index[key]] = v
		}
		grid = append(grid, row)
	}
	return grid
}

// Spool is a row with a tag, a holder and a date cell (nil or "" leave a cell empty).
func Spool(tag, holder string, date any) map[string]any {
	return map[string]any{ColTag: tag, ColHolder: holder, ColDate: date}
}
