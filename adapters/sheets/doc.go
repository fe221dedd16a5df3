// Package sheets reads the Operaciones sheet as rows of occupations ([]jobs.Row).
//
// Header matching (MapHeader) and cell parsing (CellText, ParseDate, ParseGrid) live in one
// place and are shared by every transport:
//   - API reads the Google Sheets v4 values API: one batchGet of only the three needed columns
//     (plus row 1, to validate the cached header map) per read, with retries for 429 and 5xx.
//     The generated client sends it; the columns' cells are decoded by a transport of ours
//     (columnsTransport, decodeBatchColumns) when the answer has the expected shape.
//   - CSV reads a CSV export of the sheet (SHEET_CSV).
//   - Static serves an in-memory grid, such as Sample, the embedded demo sheet.
package sheets
