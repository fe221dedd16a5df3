package worker

import (
	"io"
	"os"
)

// IsTerminal says whether output goes to a terminal (colours, rewritten progress lines); cmd
// uses it too. It reports whether w is a character device such as a terminal. Anything that is not
// an *os.File (a buffer, a pipe wrapper) is not.
func IsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
