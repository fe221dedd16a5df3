// Package logbuffer is the tests' goroutine-safe log sink: an io.Writer that keeps everything
// written to it, for asserting on the log lines of code that writes from other goroutines (a
// worker, a watcher, a child process's output copier).
package logbuffer

import (
	"bytes"
	"sync"
)

// Buffer is safe for concurrent Write and String. The zero value is ready to use.
type Buffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String is everything written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
