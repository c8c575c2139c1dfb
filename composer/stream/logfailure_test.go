package stream

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/ssr-mfe/composer/composer/template"
)

// A fragment whose connection could not be made in the dial's own time
// (2 s) says so, not "timed out after" its deadline, which had not run
// out: an outside attack read "timed out after 10000 ms" with 2,000 ms
// elapsed.
func TestAFailureBeforeTheDeadlineIsNotCalledTheDeadline(t *testing.T) {
	var logs bytes.Buffer
	c := &Composer{Log: slog.New(slog.NewJSONHandler(&logs, nil)), Timeout: 10 * time.Second}
	pw := &pageWriter{c: c, requestID: "r"}
	s := &slot{frag: &template.Fragment{ID: "f"}, entry: &noEntry, started: time.Now().Add(-2 * time.Second)}
	dial := fmt.Errorf("%w: dial tcp 127.0.0.1:9: i/o timeout", context.DeadlineExceeded)
	pw.logFailure(s, dial)
	if line := logs.String(); strings.Contains(line, "timed out after 10000 ms") || !strings.Contains(line, "dial tcp") {
		t.Errorf("a dial that timed out 2 s into a 10 s deadline logs %s", line)
	}
	logs.Reset()
	s.started = time.Now().Add(-10 * time.Second)
	pw.logFailure(s, fmt.Errorf("%w: read: i/o timeout", context.DeadlineExceeded))
	if line := logs.String(); !strings.Contains(line, "timed out after 10000 ms") {
		t.Errorf("a fragment past its deadline logs %s", line)
	}
}
