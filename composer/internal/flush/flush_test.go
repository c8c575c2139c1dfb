package flush

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
)

type withError struct {
	http.ResponseWriter
	err error
}

func (w withError) FlushError() error { return w.err }
func (w withError) Flush()            { panic("Flush, not FlushError") }

type wrapped struct{ http.ResponseWriter }

func (w wrapped) Unwrap() http.ResponseWriter { return w.ResponseWriter }

type bare struct{ http.ResponseWriter }

// Flush answers as http.ResponseController.Flush does: FlushError first,
// then Flush, then the writer's Unwrap, and ErrNotSupported at the end.
func TestFlushAnswersAsTheController(t *testing.T) {
	boom := errors.New("boom")
	rec := httptest.NewRecorder()
	for name, c := range map[string]struct {
		w    http.ResponseWriter
		want error
	}{
		"FlushError":         {withError{rec, boom}, boom},
		"Flush":              {rec, nil},
		"unwrapped":          {wrapped{withError{rec, boom}}, boom},
		"neither nor Unwrap": {bare{}, http.ErrNotSupported},
	} {
		same := func(err error) bool { return err == c.want || c.want != nil && errors.Is(err, c.want) }
		if err, rc := Flush(c.w), http.NewResponseController(c.w).Flush(); !same(err) || !same(rc) {
			t.Errorf("%s: %v (the controller: %v), want %v", name, err, rc, c.want)
		}
	}
}
