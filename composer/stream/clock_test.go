package stream

import (
	"context"
	"sync/atomic"
	"testing"
	"time"
)

// A clock is the Ender of its context (fetch.Waits): what it is given
// runs once, when the clock ends, after its context has ended with the
// cause the read's error will give; at once when it has ended already
// (its parent's end included, before the page has told the clock); never
// once taken back.
func TestAClockRunsItsCutWhenItEnds(t *testing.T) {
	t.Parallel()
	wait := func(t *testing.T, ran chan error) error {
		t.Helper()
		select {
		case err := <-ran:
			return err
		case <-time.After(5 * time.Second):
			t.Fatal("the cut never ran")
			return nil
		}
	}

	t.Run("deadline", func(t *testing.T) {
		t.Parallel()
		k := new(clock)
		ctx := k.start(context.Background(), 20*time.Millisecond)
		ran := make(chan error, 1)
		k.AfterEnd(func() { ran <- context.Cause(ctx) })
		if err := wait(t, ran); err != context.DeadlineExceeded {
			t.Errorf("cause when the cut ran: %v, want the deadline", err)
		}
	})

	t.Run("taken back", func(t *testing.T) {
		t.Parallel()
		k := new(clock)
		k.start(context.Background(), time.Hour)
		var runs atomic.Int32
		stop := k.AfterEnd(func() { runs.Add(1) })
		if !stop() {
			t.Error("stop of a cut that had not run: false")
		}
		if stop() {
			t.Error("a second stop: true")
		}
		k.stop()
		if n := runs.Load(); n != 0 {
			t.Errorf("a cut taken back ran %d times", n)
		}
	})

	t.Run("stopped", func(t *testing.T) {
		t.Parallel()
		k := new(clock)
		ctx := k.start(context.Background(), time.Hour)
		ran := make(chan error, 1)
		stop := k.AfterEnd(func() { ran <- ctx.Err() })
		k.stop()
		if err := wait(t, ran); err == nil {
			t.Error("the cut ran before the context ended")
		}
		if stop() {
			t.Error("stop after the cut ran: true")
		}
	})

	t.Run("ended already", func(t *testing.T) {
		t.Parallel()
		k := new(clock)
		k.start(context.Background(), 0)
		ran := make(chan error, 1)
		if stop := k.AfterEnd(func() { ran <- nil }); stop() {
			t.Error("stop of a cut given after the end: true")
		}
		wait(t, ran)
	})

	t.Run("parent ended first", func(t *testing.T) {
		t.Parallel()
		parent, cancel := context.WithCancel(context.Background())
		k := new(clock)
		k.start(parent, time.Hour)
		cancel() // and the page has not told the clock yet
		ran := make(chan error, 1)
		k.AfterEnd(func() { ran <- nil })
		wait(t, ran)
	})

	t.Run("a second read at once", func(t *testing.T) {
		t.Parallel()
		k := new(clock)
		ctx := k.start(context.Background(), time.Hour)
		first, second := make(chan error, 1), make(chan error, 1)
		k.AfterEnd(func() { first <- ctx.Err() })
		k.AfterEnd(func() { second <- ctx.Err() })
		k.stop()
		wait(t, first)
		wait(t, second)
	})
}
