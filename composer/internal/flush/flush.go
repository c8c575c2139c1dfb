// Package flush flushes a ResponseWriter as http.ResponseController does,
// without the controller: a page flushes from deep in its goroutine's
// stack, where a controller's frame at each writer it unwraps is stack
// every waiting page keeps (the root package's TestAPageFitsAStackOf8KiB).
package flush

import "net/http"

// Flush flushes w: its FlushError if it has one, else its Flush; a writer
// with neither goes to a ResponseController, which unwraps it.
func Flush(w http.ResponseWriter) error {
	switch f := w.(type) {
	case interface{ FlushError() error }:
		return f.FlushError()
	case http.Flusher:
		f.Flush()
		return nil
	}
	return controller(w)
}

// controller is Flush's way for a writer that does not flush itself, in
// a frame of its own: the controller's frame is not on the usual path.
//
//go:noinline
func controller(w http.ResponseWriter) error {
	return http.NewResponseController(w).Flush()
}
