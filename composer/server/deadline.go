package server

import (
	"net/http"
	"time"
)

// writeDeadlines gives every write of a response its own deadline, d from
// the moment it starts: a client that stops reading is dropped once one
// write has waited d, while a long stream that the client keeps reading is
// never cut (unlike http.Server's WriteTimeout, one deadline for the whole
// response). A page whose write fails stops, and its fragment requests are
// cancelled.
func writeDeadlines(d time.Duration) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		if d <= 0 {
			return next
		}
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			dw := &deadlineWriter{ResponseWriter: w, rc: http.NewResponseController(w), d: d}
			// What is written without a Write of ours (the end of the
			// response after the handler) is bounded too.
			dw.extend()
			next.ServeHTTP(dw, r)
		})
	}
}

// deadlineWriter sets the connection's write deadline before each write
// and flush.
type deadlineWriter struct {
	http.ResponseWriter
	rc *http.ResponseController
	d  time.Duration
}

func (w *deadlineWriter) extend() {
	_ = w.rc.SetWriteDeadline(time.Now().Add(w.d))
}

func (w *deadlineWriter) Write(p []byte) (int, error) {
	w.extend()
	return w.ResponseWriter.Write(p)
}

func (w *deadlineWriter) Flush() {
	w.extend()
	_ = w.rc.Flush()
}

// FlushError lets http.ResponseController report a failed flush.
func (w *deadlineWriter) FlushError() error {
	w.extend()
	return w.rc.Flush()
}

func (w *deadlineWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
