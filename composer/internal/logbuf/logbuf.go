// Package logbuf is a log sink for tests: a buffer that many goroutines
// may write to while a test reads it.
package logbuf

import (
	"strings"
	"sync"
)

// Buffer collects what is written to it. The zero value is ready.
type Buffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *Buffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String is everything written so far.
func (s *Buffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
