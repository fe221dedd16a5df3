// Package jobs is the centre of the reconciler: the domain (rows, classes, locks), the pure
// planner, the two task handlers and the small interfaces (ports) they need from the outside.
// It imports no adapter; adapters import it.
package jobs

import "time"

// DateState says what the Fecha_Ocupacion cell of a row held.
type DateState int

const (
	// DateMissing: the cell is empty (or absent: the API omits trailing empty cells).
	DateMissing DateState = iota
	// DateValid: the cell parsed; Row.OccupiedAt holds the instant.
	DateValid
	// DateInvalid: the cell holds something that is not an accepted date.
	DateInvalid
)

// Row is one data row of the Operaciones sheet, as the sheet adapter read it. Cells are kept
// as the sheet gave them (untrimmed) so reports can quote them; the date is already parsed
// because parsing depends on the transport (serial numbers, text) and on TIMEZONE.
type Row struct {
	Number     int       // sheet row number, 1-based; the header is row 1, so data starts at 2
	Tag        string    // TAG_SPOOL (or SPLIT where no TAG_SPOOL column exists)
	Holder     string    // Ocupado_Por
	Date       string    // Fecha_Ocupacion as text, for reports
	DateState  DateState // what Date held
	OccupiedAt time.Time // valid when DateState == DateValid
}

// Snapshot is one read of the sheet.
type Snapshot struct {
	Rows []Row
	// ReadAt is when the read started (before the request left), on the reader's own clock.
	// It is informational: the Reconciler stamps the snapshot with the shared Clock read just
	// before Read (Report.SnapshotAt), so every replica's snapshots are on one clock.
	ReadAt time.Time
	// Requests is how many HTTP requests the read made (retries included).
	Requests int
}
